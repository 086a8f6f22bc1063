//! Request counters and the last minute of requests, for `GET /metrics`, and the cumulative
//! counter and histogram `GET /metrics/prometheus` renders in the Prometheus text format.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window `error_rate` and `p95_ms` are computed over.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Requests kept for the window at most: memory stays bounded under any load; past it the
/// oldest requests of the minute are dropped (the figures then cover a shorter span).
const MAX_KEPT: usize = 200_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    at: Instant,
    latency_ms: f64,
    error: bool,
}

/// Upper bounds (seconds) of the latency histogram's buckets: Prometheus client libraries'
/// defaults, so the usual `histogram_quantile` queries and dashboards fit.
pub const BUCKETS_S: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug, Default)]
struct Inner {
    requests: u64,
    errors: u64,
    window: VecDeque<Entry>,
    /// Requests since start by status code (the counter's `code` label).
    by_code: BTreeMap<u16, u64>,
    /// Non-cumulative count per bucket of BUCKETS_S; `+Inf` is `requests`.
    buckets: [u64; BUCKETS_S.len()],
    latency_sum_s: f64,
}

#[derive(Debug, Default)]
pub struct Stats {
    inner: Mutex<Inner>,
}

/// What `/metrics` reports.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Snapshot {
    pub requests: u64,
    pub errors: u64,
    pub window_s: u64,
    pub window_requests: u64,
    pub window_errors: u64,
    pub error_rate: f64,
    pub p95_ms: Option<f64>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Counts one served request; a status of 500 and above is an error.
    pub fn record(&self, now: Instant, latency_ms: f64, status: u16) {
        let error = status >= 500;
        let mut s = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        s.requests += 1;
        *s.by_code.entry(status).or_insert(0) += 1;
        let secs = latency_ms / 1000.0;
        s.latency_sum_s += secs;
        if let Some(i) = BUCKETS_S.iter().position(|&le| secs <= le) {
            s.buckets[i] += 1;
        }
        s.errors += u64::from(error);
        if s.window.len() >= MAX_KEPT {
            s.window.pop_front();
        }
        s.window.push_back(Entry {
            at: now,
            latency_ms,
            error,
        });
        expire(&mut s.window, now);
    }

    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let mut s = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        expire(&mut s.window, now);
        let n = s.window.len();
        let errors = s.window.iter().filter(|e| e.error).count();
        let mut lat: Vec<f64> = s.window.iter().map(|e| e.latency_ms).collect();
        lat.sort_by(f64::total_cmp);
        Snapshot {
            requests: s.requests,
            errors: s.errors,
            window_s: WINDOW.as_secs(),
            window_requests: n as u64,
            window_errors: errors as u64,
            error_rate: if n == 0 {
                0.0
            } else {
                errors as f64 / n as f64
            },
            p95_ms: percentile_sorted(&lat, 95.0).map(|v| (v * 1000.0).round() / 1000.0),
        }
    }
}

impl Stats {
    /// The counter `mobius_demo_http_requests_total{code}` and the histogram
    /// `mobius_demo_http_request_duration_seconds` in the text exposition format 0.0.4.
    pub fn prometheus(&self) -> String {
        let s = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP mobius_demo_http_requests_total Requests served, by status code (metrics paths not counted).\n");
        out.push_str("# TYPE mobius_demo_http_requests_total counter\n");
        for (code, n) in &s.by_code {
            let _ = writeln!(
                out,
                "mobius_demo_http_requests_total{{code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP mobius_demo_http_request_duration_seconds Time to answer a request (metrics paths not counted).\n");
        out.push_str("# TYPE mobius_demo_http_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (le, n) in BUCKETS_S.iter().zip(s.buckets.iter()) {
            cumulative += n;
            let _ = writeln!(
                out,
                "mobius_demo_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "mobius_demo_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            s.requests
        );
        let _ = writeln!(
            out,
            "mobius_demo_http_request_duration_seconds_sum {}",
            s.latency_sum_s
        );
        let _ = writeln!(
            out,
            "mobius_demo_http_request_duration_seconds_count {}",
            s.requests
        );
        out
    }
}

fn expire(window: &mut VecDeque<Entry>, now: Instant) {
    while let Some(front) = window.front() {
        if now.saturating_duration_since(front.at) > WINDOW {
            window.pop_front();
        } else {
            break;
        }
    }
}

/// Percentile by linear interpolation between closest ranks (numpy's default,
/// PERCENTILE.INC): the method docs/CONTRACT.md §5 names.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = p / 100.0 * (n - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    let frac = rank - lo as f64;
    Some(sorted[lo] + (sorted[hi.min(n - 1)] - sorted[lo]) * frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        // numpy.percentile(range(1, 21), 95) == 19.05
        assert!((percentile_sorted(&v, 95.0).unwrap() - 19.05).abs() < 1e-9);
        assert_eq!(percentile_sorted(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile_sorted(&[], 95.0), None);
    }

    #[test]
    fn window_forgets_requests_older_than_a_minute() {
        let s = Stats::new();
        let t0 = Instant::now();
        s.record(t0, 10.0, 500);
        s.record(t0 + Duration::from_secs(30), 20.0, 200);
        let snap = s.snapshot(t0 + Duration::from_secs(61));
        assert_eq!((snap.requests, snap.errors), (2, 1));
        assert_eq!((snap.window_requests, snap.window_errors), (1, 0));
        assert_eq!(snap.error_rate, 0.0);
        assert_eq!(snap.p95_ms, Some(20.0));
    }

    #[test]
    fn prometheus_text_counts_codes_and_fills_cumulative_buckets() {
        let s = Stats::new();
        let t0 = Instant::now();
        s.record(t0, 3.0, 200);
        s.record(t0, 30.0, 200);
        s.record(t0, 20_000.0, 500);
        let text = s.prometheus();
        assert!(text.contains("mobius_demo_http_requests_total{code=\"200\"} 2\n"));
        assert!(text.contains("mobius_demo_http_requests_total{code=\"500\"} 1\n"));
        assert!(text.contains("_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("_bucket{le=\"10\"} 2\n"));
        assert!(text.contains("_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("mobius_demo_http_request_duration_seconds_count 3\n"));
        assert!(text.contains("mobius_demo_http_request_duration_seconds_sum 20.033\n"));
    }
}
