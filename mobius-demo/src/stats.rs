//! Request counters and the last minute of requests, for `GET /metrics`.

use std::collections::VecDeque;
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

#[derive(Debug, Default)]
struct Inner {
    requests: u64,
    errors: u64,
    window: VecDeque<Entry>,
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

    pub fn record(&self, now: Instant, latency_ms: f64, error: bool) {
        let mut s = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        s.requests += 1;
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
/// PERCENTILE.INC): the method CONTRACT.md §5 names.
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
        s.record(t0, 10.0, true);
        s.record(t0 + Duration::from_secs(30), 20.0, false);
        let snap = s.snapshot(t0 + Duration::from_secs(61));
        assert_eq!((snap.requests, snap.errors), (2, 1));
        assert_eq!((snap.window_requests, snap.window_errors), (1, 0));
        assert_eq!(snap.error_rate, 0.0);
        assert_eq!(snap.p95_ms, Some(20.0));
    }
}
