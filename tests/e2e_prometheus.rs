//! A real Prometheus (Debian's `prometheus` binary, installed by .ci/run) scraping the demo's
//! /metrics/prometheus every second, queried by mobius-probe with PromQL, judged by
//! mobius-judge: a healthy demo passes, a demo failing 20 % of requests is rolled back by
//! `error_rate`, a slow one by `p95_latency` through `histogram_quantile`, and with
//! Prometheus down the run is inconclusive, never a pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(unix)]

use mobius_core::records::{MetricsRead, Record, Rule, Sample, Verdict};
use mobius_tests::{bin, free_port, http_get, Demo};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The issue's queries over a 15 s range (the runs are short). `or vector(0)`: with no 5xx
/// yet there is no 5xx series, and a ratio over no series is an empty vector, not 0.
const ERROR_RATE: &str = r#"(sum(rate(mobius_demo_http_requests_total{code=~"5.."}[15s])) or vector(0)) / sum(rate(mobius_demo_http_requests_total[15s]))"#;
const P95: &str = "histogram_quantile(0.95, sum(rate(mobius_demo_http_request_duration_seconds_bucket[15s])) by (le))";

/// The Prometheus binary, or None (after saying so loudly) where it is missing outside CI.
fn prometheus_bin() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file());
    if found.is_none() {
        mobius_tests::component_missing("prometheus (apt-get install prometheus)");
    }
    found
}

/// Our own Prometheus on a free loopback port, scraping `target` (host:port) every second;
/// killed on drop.
struct Prometheus {
    child: Child,
    url: String,
}

impl Prometheus {
    fn start(bin: &Path, dir: &Path, target: &str) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: demo\n    metrics_path: /metrics/prometheus\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        let p = Prometheus {
            child,
            url: format!("http://{addr}"),
        };
        // Ready, and the demo scraped at least twice (rate() needs two points).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let q = format!("{}/api/v1/query?query=count_over_time(up[1m])", p.url);
            if let Some((200, body)) = http_get(&q) {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let n = v["data"]["result"][0]["value"][1].as_str().unwrap_or("0");
                if n.parse::<f64>().unwrap_or(0.0) >= 3.0 {
                    return p;
                }
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus did not scrape the demo in 30 s: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests to the demo's API, 20 a second, until dropped: traffic for the rates.
struct Load(Arc<AtomicBool>);

impl Load {
    fn start(url: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, url) = (Arc::clone(&stop), format!("{url}/api/items"));
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                let _ = http_get(&url);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Load(stop)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn demo(root: &Path, behaviour: &str) -> Demo {
    let dir = root.join("config/staging");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("app.json"),
        format!(r#"{{"version":"1","demo":{behaviour}}}"#),
    )
    .unwrap();
    Demo::start(root, "staging")
}

/// Probes `health` 12 times a second apart with metrics from `prom`, then judges the samples
/// (lowered minimums for a short run; the other rules kept out of the way): the samples and
/// the final verdict with the judge's exit code.
fn probe_and_judge(health: &str, prom: &str, judge: &[&str]) -> (Vec<Sample>, Verdict, i32) {
    let probe = Command::new(bin("mobius-probe"))
        .args(["--url", &format!("{health}/health"), "--interval", "1s"])
        .args(["--count", "12", "--timeout", "900ms", "--prometheus", prom])
        .args([
            "--error-rate-query",
            ERROR_RATE,
            "--p95-query",
            P95,
            "--p95-unit",
            "s",
        ])
        .output()
        .unwrap();
    assert_eq!(probe.status.code(), Some(0), "{probe:?}");
    let mut j = Command::new(bin("mobius-judge"))
        .args(["--quiet", "--min-checks", "5", "--sustained", "3"])
        .args(["--consecutive-failures", "100", "--min-success-rate", "0.5"])
        .args(judge)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    j.stdin.take().unwrap().write_all(&probe.stdout).unwrap();
    let out = j.wait_with_output().unwrap();
    let samples = mobius_tests::records(&probe.stdout)
        .into_iter()
        .filter_map(|r| match r {
            Record::Sample(s) => Some(s),
            _ => None,
        })
        .collect();
    let last = mobius_tests::records(&out.stdout)
        .into_iter()
        .filter_map(|r| match r {
            Record::Verdict(v) => Some(v),
            _ => None,
        })
        .next_back()
        .expect("a final verdict");
    (samples, last, out.status.code().unwrap())
}

fn run_case(behaviour: &str, judge: &[&str]) -> Option<(Vec<Sample>, Verdict, i32)> {
    let bin = prometheus_bin()?;
    let root = tempfile::tempdir().unwrap();
    let demo = demo(root.path(), behaviour);
    let _load = Load::start(&demo.url);
    let prom = Prometheus::start(&bin, root.path(), demo.url.trim_start_matches("http://"));
    Some(probe_and_judge(&demo.url, &prom.url, judge))
}

#[test]
fn healthy_demo_passes_on_promql_metrics() {
    let Some((samples, v, code)) = run_case("{}", &["--p95-ms", "200"]) else {
        return;
    };
    assert_eq!(code, 0, "{v:?}");
    assert_eq!(v.decision, mobius_core::records::Decision::Pass, "{v:?}");
    let read: Vec<&Sample> = samples.iter().filter(|s| s.error_rate.is_some()).collect();
    assert!(read.len() >= 10, "{samples:?}");
    assert!(
        read.iter().all(|s| s.error_rate == Some(0.0)),
        "{samples:?}"
    );
    assert!(samples.iter().all(|s| s.metrics.is_some()));
}

#[test]
fn error_share_is_rolled_back_by_error_rate_through_promql() {
    let Some((samples, v, code)) = run_case(r#"{"error_share":0.2}"#, &["--p95-ms", "5000"]) else {
        return;
    };
    assert_eq!(code, 1, "{v:?}");
    assert_eq!(v.rule, Some(Rule::ErrorRate), "{v:?}");
    let rates: Vec<f64> = samples.iter().filter_map(|s| s.error_rate).collect();
    assert!(
        rates.iter().filter(|r| **r > 0.1 && **r < 0.3).count() >= 3,
        "{rates:?}"
    );
}

#[test]
fn slow_demo_is_rolled_back_by_p95_through_histogram_quantile() {
    let Some((samples, v, code)) = run_case(r#"{"latency_ms":300}"#, &["--p95-ms", "200"]) else {
        return;
    };
    assert_eq!(code, 1, "{v:?}");
    assert_eq!(v.rule, Some(Rule::P95Latency), "{v:?}");
    // The service's P95 came from Prometheus, in seconds turned into ms: between the
    // 0.25 s and 0.5 s buckets.
    let p95: Vec<f64> = samples.iter().filter_map(|s| s.p95_ms).collect();
    assert!(p95.len() >= 3, "{samples:?}");
    assert!(p95.iter().all(|p| (250.0..=500.0).contains(p)), "{p95:?}");
}

#[test]
fn prometheus_down_is_inconclusive_never_a_pass() {
    if prometheus_bin().is_none() {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let demo = demo(root.path(), "{}");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (samples, v, code) = probe_and_judge(&demo.url, &dead, &[]);
    assert_eq!(code, 5, "{v:?}");
    assert_eq!(v.decision, mobius_core::records::Decision::Inconclusive);
    assert_eq!(v.rule, Some(Rule::ErrorRate), "{v:?}");
    assert!(samples
        .iter()
        .all(|s| s.ok && s.metrics == Some(MetricsRead::Failed)));
    assert!(
        samples[0].detail.contains("Prometheus unreachable"),
        "{:?}",
        samples[0]
    );
}
