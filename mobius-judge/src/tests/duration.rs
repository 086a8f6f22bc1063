//! The --duration check: what the samples cover, and why one outlying timestamp cannot
//! make a run look long enough.

use super::*;

/// Healthy samples of A stamped at these offsets (ms) from 2026-11-26T12:00:00.000Z, in
/// this order.
fn at_times(times: &[i64]) -> String {
    let base = 1_795_694_400_000i64;
    let mut out = String::new();
    for (i, &t) in times.iter().enumerate() {
        let ms = u64::try_from(base + t).unwrap();
        let rec = mobius_core::records::Sample {
            seq: i as u64 + 1,
            ts: mobius_core::time::rfc3339(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
            ),
            target: A.to_owned(),
            ok: true,
            status: Some(200),
            latency_ms: Some(1.0),
            error: None,
            detail: "x".to_owned(),
            error_rate: None,
            p95_ms: None,
            metrics: None,
        };
        out.push_str(&serde_json::to_string(&Record::Sample(rec)).unwrap());
        out.push('\n');
    }
    out
}

fn final_of(flags: &[&str], times: &[i64]) -> (Exit, Verdict) {
    let (exit, out) = judge_bytes(flags, at_times(times).as_bytes());
    (exit, verdicts(&out).pop().unwrap())
}

#[test]
fn one_outlying_timestamp_cannot_make_a_run_long_enough() {
    // Ten checks 10 s apart cover 90 s. An eleventh stamped an hour away, ahead or back,
    // anywhere in the run, must not make a 1 h run look complete.
    let honest: Vec<i64> = (0..10).map(|i| i * 10_000).collect();
    for outlier in [3_600_000i64, 7_200_000, -3_600_000, i64::from(i32::MAX)] {
        for at in 0..=honest.len() {
            let mut times = honest.clone();
            times.insert(at, outlier);
            for flags in [
                vec!["--duration", "1h"],
                vec!["--duration", "1h", "--interval", "10s"],
            ] {
                let (exit, v) = final_of(&flags, &times);
                assert_eq!(
                    (exit, v.decision),
                    (Exit::Inconclusive, Decision::Inconclusive),
                    "outlier {outlier} at {at}, {flags:?}: {}",
                    v.reason
                );
                assert!(v.reason.starts_with("samples cover "), "{}", v.reason);
                assert!(v.reason.contains("their timestamps span"), "{}", v.reason);
            }
        }
    }
    // Timestamps running backwards cover nothing.
    let backwards: Vec<i64> = (0..400).map(|i| -i * 10_000).collect();
    let (exit, v) = final_of(&["--duration", "1h"], &backwards);
    assert_eq!(exit, Exit::Inconclusive, "{}", v.reason);
    assert!(v.reason.contains("399 went backwards"), "{}", v.reason);
}

#[test]
fn an_honest_run_passes_despite_one_clock_step() {
    // 361 checks 10 s apart: exactly 1 h. One stamp stepped back (an NTP correction) or
    // ahead costs at most a gap; the two intervals of slack absorb it.
    let honest: Vec<i64> = (0..=360).map(|i| i * 10_000).collect();
    let (exit, v) = final_of(&["--duration", "1h"], &honest);
    assert_eq!(
        (exit, v.decision),
        (Exit::Success, Decision::Pass),
        "{}",
        v.reason
    );
    assert!(
        v.reason
            .starts_with(&format!("{A} passed 361 checks over 1h;")),
        "{}",
        v.reason
    );
    for step in [-5_000i64, -3_600_000, 3_600_000] {
        let mut times = honest.clone();
        times[200] += step;
        let (exit, v) = final_of(&["--duration", "1h"], &times);
        assert_eq!(exit, Exit::Success, "step {step}: {}", v.reason);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever one timestamp says, a run of n checks i apart covers at most two intervals
    /// more than it really does (a last one far ahead counts as two). Without --interval the
    /// median gap must be an honest one, which five checks (--min-checks) ensure.
    #[test]
    fn one_outlier_adds_at_most_an_interval(
        n in 5usize..60,
        interval_s in 1i64..30,
        at in 0usize..60,
        outlier in -100_000_000i64..100_000_000,
        given in any::<bool>(),
    ) {
        let i = interval_s * 1000;
        let mut times: Vec<i64> = (0..n as i64).map(|k| k * i).collect();
        times.insert(at.min(n), outlier);
        let truly = (n as i64 - 1) * i;
        // Slack (2 intervals) + what the outlier may add (2) + 1 ms: never complete.
        let d = format!("{}ms", truly + 4 * i + 1);
        let is = format!("{interval_s}s");
        let mut flags = vec!["--duration", d.as_str(), "--min-checks", "1"];
        if given {
            flags.extend(["--interval", is.as_str()]);
        }
        let (exit, v) = final_of(&flags, &times);
        prop_assert_eq!(exit, Exit::Inconclusive, "{}", v.reason);
    }
}

#[test]
fn duration_allows_two_intervals_of_slack() {
    // 6 checks 10 s apart span 50 s; the estimated interval is 10 s.
    let seq = rep(ok(1.0), 6);
    for (flags, want) in [
        (vec!["--duration", "70s"], Decision::Pass),
        (vec!["--duration", "71s"], Decision::Inconclusive),
        (
            vec!["--duration", "60s", "--interval", "5s"],
            Decision::Pass,
        ),
        (
            vec!["--duration", "61s", "--interval", "5s"],
            Decision::Inconclusive,
        ),
        (vec!["--duration", "1h"], Decision::Inconclusive),
    ] {
        let (_, vs) = judge(&flags, &seq);
        assert_eq!(vs[0].decision, want, "{flags:?}: {}", vs[0].reason);
    }
    let (_, vs) = judge(&["--duration", "60m"], &seq);
    assert_eq!(
        vs[0].reason,
        "samples cover 50s, short of --duration 1h (allowing 2 intervals of 10s), so the run was cut short; error_rate rule not evaluated (no error_rate in samples)"
    );
}

#[test]
fn gaps_keep_four_significant_digits() {
    for (gap, want) in [
        (0, 0),
        (9_999, 9_999),
        (10_004, 10_000),
        (10_005, 10_010),
        (123_456, 123_500),
        (u64::MAX, u64::MAX),
    ] {
        assert_eq!(judge::quantize(gap), want, "{gap}");
    }
}
