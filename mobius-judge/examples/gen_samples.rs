//! Writes N healthy `sample` lines, as mobius-probe would, for the benchmark (bench/judge.sh).
//! Deterministic: the same N gives the same bytes. Four targets checked every 10 s; one of
//! them also carries the service's own `error_rate` and `p95_ms`, as with `--metrics-url`.
//!
//! With a second argument T, the lines cycle through T targets of their own instead (a fleet
//! on one probe, for bench/judge_fleet.sh), and every target carries the metrics, so that the
//! lines are alike whatever T is.
//!
//! `cargo run --release -p mobius-judge --example gen_samples -- 5000000 [T] > samples.jsonl`
use mobius_core::records::{Record, Sample};
use std::io::{BufWriter, Write};
use std::time::{Duration, UNIX_EPOCH};

const TARGETS: [&str; 4] = [
    "http://10.0.0.11:8080/health",
    "http://10.0.0.12:8080/health",
    "https://api.example.internal/health",
    "http://127.0.0.1:8080/health",
];

fn main() -> std::io::Result<()> {
    let usage = || -> ! {
        eprintln!("usage: gen_samples N [TARGETS]  (writes N sample lines to stdout)");
        std::process::exit(2);
    };
    let n: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        Some(Ok(n)) => n,
        _ => usage(),
    };
    let fleet = std::env::args().nth(2).is_some();
    let targets: Vec<String> = match std::env::args().nth(2).map(|a| a.parse::<u32>()) {
        None => TARGETS.iter().map(|t| (*t).to_owned()).collect(),
        Some(Ok(t)) if t > 0 => (0..t)
            .map(|i| format!("http://10.1.{}.{}:8080/health", i / 250, i % 250 + 1))
            .collect(),
        Some(_) => usage(),
    };
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut rng = 0x2026_1126_u64;
    let mut next = move || {
        // xorshift64*: deterministic and good enough for plausible latencies.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let start = 1_795_694_400_000u64;
    for i in 0..n {
        let t = i % targets.len() as u64;
        let round = i / targets.len() as u64;
        let jitter = next() % 7;
        let r = next();
        // Mostly 5-40 ms, now and then a slow one; never enough to breach the thresholds.
        let latency = if r % 100 == 0 {
            250.0 + (r >> 32) as f64 % 900.0
        } else {
            5.0 + (r >> 20) as f64 % 35_000.0 / 1000.0
        };
        let ts = UNIX_EPOCH + Duration::from_millis(start + round * 10_000 + t * 3 + jitter);
        let metrics = fleet || t == 0;
        let s = Sample {
            seq: round + 1,
            ts: mobius_core::time::rfc3339(ts),
            target: targets[t as usize].clone(),
            ok: true,
            status: Some(200),
            latency_ms: Some((latency * 1000.0).round() / 1000.0),
            error: None,
            detail: "200 OK".to_owned(),
            error_rate: metrics.then(|| (next() % 200) as f64 / 10_000.0),
            p95_ms: metrics.then(|| 40.0 + (next() % 300) as f64 / 10.0),
            metrics: None,
        };
        serde_json::to_writer(&mut out, &Record::Sample(s))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
