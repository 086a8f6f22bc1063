//! The rules against hand-computed sequences (the exact check at which each fires, and
//! sequences that must not fire), a naive reference model, and input-splitting invariance.

use super::*;
use clap::CommandFactory;
use mobius_core::records::Rule;
use proptest::prelude::*;

mod duration;
mod metrics;

/// One sample to write, for target A unless `target` says otherwise.
#[derive(Debug, Clone)]
struct S {
    target: &'static str,
    ok: bool,
    latency: Option<f64>,
    error: Option<&'static str>,
    status: Option<u16>,
    error_rate: Option<f64>,
    p95: Option<f64>,
}

const A: &str = "http://127.0.0.1:9/health";
const B: &str = "http://127.0.0.2:9/health";

fn ok(latency: f64) -> S {
    S {
        target: A,
        ok: true,
        latency: Some(latency),
        error: None,
        status: Some(200),
        error_rate: None,
        p95: None,
    }
}

fn fail(error: &'static str) -> S {
    let (status, latency) = match error {
        "status" => (Some(503), Some(2.0)),
        "timeout" => (None, Some(5000.0)),
        "dns" => (None, None),
        _ => (None, Some(1.0)),
    };
    S {
        target: A,
        ok: false,
        latency,
        error: Some(error),
        status,
        error_rate: None,
        p95: None,
    }
}

impl S {
    fn er(mut self, e: f64) -> S {
        self.error_rate = Some(e);
        self
    }
    fn p95(mut self, p: f64) -> S {
        self.p95 = Some(p);
        self
    }
    fn on(mut self, t: &'static str) -> S {
        self.target = t;
        self
    }
    fn lat(mut self, l: Option<f64>) -> S {
        self.latency = l;
        self
    }
}

fn rep<T: Clone>(s: T, n: usize) -> Vec<T> {
    vec![s; n]
}

fn cat(parts: Vec<Vec<S>>) -> Vec<S> {
    parts.into_iter().flatten().collect()
}

/// Samples as the probe writes them, 10 s apart from 2026-11-26T12:00:00.000Z.
fn to_lines(seq: &[S]) -> String {
    let base = 1_795_694_400_000u64;
    let mut out = String::new();
    for (i, s) in seq.iter().enumerate() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(base + i as u64 * 10_000);
        let rec = mobius_core::records::Sample {
            seq: i as u64 + 1,
            ts: mobius_core::time::rfc3339(t),
            target: s.target.to_owned(),
            ok: s.ok,
            status: s.status,
            latency_ms: s.latency,
            error: s
                .error
                .map(|e| serde_json::from_value(serde_json::json!(e)).unwrap()),
            detail: "x".to_owned(),
            error_rate: s.error_rate,
            p95_ms: s.p95,
            metrics: None,
        };
        out.push_str(&serde_json::to_string(&Record::Sample(rec)).unwrap());
        out.push('\n');
    }
    out
}

fn args(flags: &[&str]) -> Args {
    let mut argv = vec!["mobius-judge", "--quiet"];
    argv.extend_from_slice(flags);
    Args::try_parse_from(argv).unwrap()
}

fn judge_bytes(flags: &[&str], input: impl Read) -> (Exit, Vec<u8>) {
    let mut out = Vec::new();
    // A usage error found at the end (a quorum above the targets) still leaves the verdicts
    // written before it.
    let exit = run(&args(flags), input, &mut out).unwrap_or_else(|e| e.exit());
    (exit, out)
}

fn verdicts(out: &[u8]) -> Vec<Verdict> {
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| match serde_json::from_str::<Record>(l).unwrap() {
            Record::Verdict(v) => v,
            other => panic!("not a verdict: {other:?}"),
        })
        .collect()
}

fn judge(flags: &[&str], seq: &[S]) -> (Exit, Vec<Verdict>) {
    let (exit, out) = judge_bytes(flags, to_lines(seq).as_bytes());
    (exit, verdicts(&out))
}

/// The rule and check number at which target A fired, if it did; and the final verdict.
fn fired(flags: &[&str], seq: &[S]) -> (Option<(Rule, u64)>, Verdict, Exit) {
    let (exit, vs) = judge(flags, seq);
    let firing: Vec<&Verdict> = vs
        .iter()
        .filter(|v| v.target == A && v.decision == Decision::Rollback)
        .collect();
    assert!(
        firing.len() <= 1,
        "a target reports its rule once: {firing:#?}"
    );
    let last = vs.last().unwrap().clone();
    assert_eq!(last.target, "*");
    (
        firing.first().map(|v| (v.rule.unwrap(), v.checks)),
        last,
        exit,
    )
}

/// 999 checks whose success rate is never below 70%: check i is ok iff ceil(0.7 i) grows.
fn seventy_percent(n: u64) -> Vec<S> {
    (1..=n)
        .map(|i| {
            if (7 * i).div_ceil(10) > (7 * (i - 1)).div_ceil(10) {
                ok(100.0)
            } else {
                fail("status")
            }
        })
        .collect()
}

/// A case: name, flags, samples, and the rule and check number at which it must fire.
type Case = (&'static str, Vec<&'static str>, Vec<S>, Option<(Rule, u64)>);

#[test]
fn rules_fire_at_the_exact_check() {
    let slow = ok(6000.0);
    let cases: Vec<Case> = vec![
        ("3 failures in a row", vec![], rep(fail("timeout"), 3), Some((Rule::ConsecutiveFailures, 3))),
        (
            "ok then 3 failures",
            vec![],
            cat(vec![vec![ok(1.0)], rep(fail("connect"), 5)]),
            Some((Rule::ConsecutiveFailures, 4)),
        ),
        (
            "2 failures then success, healthy otherwise",
            vec![],
            cat(vec![rep(ok(1.0), 10), rep(fail("timeout"), 2), rep(ok(1.0), 6)]),
            None,
        ),
        (
            "F,F,OK,F,F: 20% at check 5, never 3 in a row",
            vec![],
            vec![fail("status"), fail("status"), ok(1.0), fail("status"), fail("status")],
            Some((Rule::SuccessRate, 5)),
        ),
        (
            "not evaluated before check 5: F,OK,F,F then OK",
            vec![],
            vec![fail("io"), ok(1.0), fail("io"), fail("io"), ok(1.0), ok(1.0)],
            Some((Rule::SuccessRate, 5)),
        ),
        (
            "5 ok, F, F, OK, F: 66.7% at check 9",
            vec![],
            cat(vec![rep(ok(1.0), 5), vec![fail("dns"), fail("dns"), ok(1.0), fail("dns")]]),
            Some((Rule::SuccessRate, 9)),
        ),
        (
            "CF and SR both true at check 5: CF comes first",
            vec![],
            vec![ok(1.0), ok(1.0), fail("io"), fail("io"), fail("io")],
            Some((Rule::ConsecutiveFailures, 5)),
        ),
        (
            "exactly 70% (700 of 1000) does not fire",
            vec![],
            cat(vec![seventy_percent(999), vec![fail("status")]]),
            None,
        ),
        (
            "69.93% (700 of 1001) fires at check 1001",
            vec![],
            cat(vec![seventy_percent(999), vec![fail("status"), fail("status")]]),
            Some((Rule::SuccessRate, 1001)),
        ),
        (
            "--min-success-rate 60%: 2 of 3 ok never fires",
            vec!["--min-success-rate", "60%"],
            rep(vec![ok(1.0), ok(1.0), fail("io")], 10).concat(),
            None,
        ),
        ("slow from the start: P95 streak counts from check 5", vec![], rep(slow.clone(), 12), Some((Rule::P95Latency, 9))),
        (
            "two slow latencies among 20 put the P95 above: fires at check 26",
            vec![],
            cat(vec![rep(ok(100.0), 20), rep(slow.clone(), 10)]),
            Some((Rule::P95Latency, 26)),
        ),
        (
            "a single 60 s outlier among 20 latencies does not fire (P95 3095 ms)",
            vec![],
            cat(vec![rep(ok(100.0), 25), vec![ok(60000.0)], rep(ok(100.0), 30)]),
            None,
        ),
        (
            "an outlier in the short window at the start weighs more (contract: fewer at the start)",
            vec![],
            cat(vec![vec![ok(60000.0)], rep(ok(100.0), 20)]),
            Some((Rule::P95Latency, 9)),
        ),
        (
            "failed checks' latencies count (timeouts at 6000 ms)",
            vec![],
            cat(vec![
                rep(ok(100.0), 20),
                rep(vec![fail("timeout").lat(Some(6000.0)), ok(100.0)], 10).concat(),
            ]),
            Some((Rule::P95Latency, 27)),
        ),
        (
            "checks without a latency (dns) are not in the window",
            vec![],
            cat(vec![rep(ok(100.0), 20), rep(vec![fail("dns"), ok(100.0)], 10).concat()]),
            None,
        ),
        (
            "service p95_ms: 4 above then 1 below, repeated, never fires",
            vec![],
            rep(cat(vec![rep(ok(1.0).p95(6000.0), 4), vec![ok(1.0).p95(10.0)]]), 6).concat(),
            None,
        ),
        (
            "service p95_ms replaces the computed P95",
            vec![],
            cat(vec![rep(ok(1.0), 7), rep(ok(1.0).p95(5001.0), 5)]),
            Some((Rule::P95Latency, 12)),
        ),
        (
            "slow at checks 1-4 do not start the streak: fast 5, slow 6-10",
            vec![],
            cat(vec![rep(ok(1.0).p95(6000.0), 4), vec![ok(1.0).p95(100.0)], rep(ok(1.0).p95(6000.0), 5)]),
            Some((Rule::P95Latency, 10)),
        ),
        (
            "--latency-window 1: 4 slow then a fast one, repeated, never fires",
            vec!["--latency-window", "1"],
            rep(cat(vec![rep(slow.clone(), 4), vec![ok(100.0)]]), 6).concat(),
            None,
        ),
        (
            "P95 exactly at the threshold is not above it",
            vec![],
            rep(ok(5000.0), 20),
            None,
        ),
        ("error rate above 5% from check 1: fires at check 5", vec![], rep(ok(1.0).er(0.10), 8), Some((Rule::ErrorRate, 5))),
        (
            "error rate 4 over then 1 under, repeated, never fires",
            vec![],
            rep(cat(vec![rep(ok(1.0).er(0.10), 4), vec![ok(1.0).er(0.01)]]), 6).concat(),
            None,
        ),
        (
            "a sample without error_rate breaks the streak",
            vec![],
            cat(vec![rep(ok(1.0).er(0.10), 4), vec![ok(1.0)], rep(ok(1.0).er(0.10), 4)]),
            None,
        ),
        (
            "error rate exactly 5% is not above it",
            vec![],
            rep(ok(1.0).er(0.05), 10),
            None,
        ),
        (
            "--sustained 2 --error-rate 10%",
            vec!["--sustained", "2", "--error-rate", "10%"],
            vec![ok(1.0).er(0.2), ok(1.0).er(0.05), ok(1.0).er(0.11), ok(1.0).er(0.5)],
            Some((Rule::ErrorRate, 4)),
        ),
        (
            "--consecutive-failures 5",
            vec!["--consecutive-failures", "5", "--min-success-rate", "0"],
            rep(fail("timeout"), 6),
            Some((Rule::ConsecutiveFailures, 5)),
        ),
    ];
    for (name, flags, seq, want) in cases {
        let (got, last, exit) = fired(&flags, &seq);
        assert_eq!(got, want, "case: {name}");
        if want.is_some() {
            assert_eq!(last.decision, Decision::Rollback, "case: {name}");
            assert_eq!(last.rule, want.map(|w| w.0), "case: {name}");
            assert_eq!(exit, Exit::Bad, "case: {name}");
        } else {
            assert_eq!(
                last.decision,
                Decision::Pass,
                "case: {name}: {}",
                last.reason
            );
            assert_eq!(last.checks, seq.len() as u64, "case: {name}");
            assert_eq!(exit, Exit::Success, "case: {name}");
        }
    }
}

#[test]
fn reasons_name_value_threshold_and_target() {
    let (_, vs) = judge(
        &[],
        &[ok(1.0), fail("timeout"), fail("timeout"), fail("status")],
    );
    assert_eq!(
        vs[0].reason,
        format!("3 consecutive failed checks of {A} (threshold 3): timeout, timeout, status 503")
    );
    assert_eq!((vs[0].checks, vs[0].consecutive_failures), (4, 3));
    assert_eq!(vs[0].success_rate, Some(0.25));
    assert_eq!(
        vs[1].reason, vs[0].reason,
        "the overall verdict carries the reason"
    );
    assert_eq!(vs[1].ts, vs[0].ts);

    let (_, vs) = judge(
        &[],
        &[
            ok(1.0),
            fail("io"),
            ok(1.0),
            fail("io"),
            fail("dns").lat(Some(3.0)),
        ],
    );
    assert_eq!(
        vs[0].reason,
        format!("success rate 40.0% after 5 checks of {A} is below 70.0% (2 of 5 ok)")
    );

    let (_, vs) = judge(
        &[],
        &cat(vec![seventy_percent(999), rep(fail("status"), 2)]),
    );
    assert!(
        vs[0]
            .reason
            .starts_with("success rate 69.9% after 1001 checks of"),
        "{}",
        vs[0].reason
    );

    let (_, vs) = judge(&[], &rep(ok(5210.0), 9));
    assert_eq!(
        vs[0].reason,
        format!("P95 latency 5210 ms of {A} above 5000 ms at 5 consecutive checks (checks 5-9, over the last 9 latencies)")
    );
    assert_eq!(vs[0].p95_ms, Some(5210.0));

    let (_, vs) = judge(&[], &rep(ok(1.0).er(0.075), 5));
    assert_eq!(
        vs[0].reason,
        format!("error rate 7.5% of {A} above 5.0% at 5 consecutive checks (checks 1-5)")
    );
    assert_eq!(vs[0].error_rate, Some(0.075));
}

#[test]
fn final_pass_says_what_was_not_evaluated() {
    let (exit, vs) = judge(&[], &rep(ok(1.0), 6));
    assert_eq!(exit, Exit::Success);
    assert_eq!(vs.len(), 1);
    assert_eq!(
        vs[0].reason,
        format!("{A} passed 6 checks over 50s; error_rate rule not evaluated (no error_rate in samples)")
    );
    assert_eq!(
        vs[0].ts, "2026-11-26T12:00:50.000Z",
        "the last sample's time"
    );

    let seq: Vec<S> = (0..10)
        .map(|i| {
            if i % 2 == 0 {
                ok(1.0).er(0.0)
            } else {
                ok(1.0).on(B)
            }
        })
        .collect();
    let (_, vs) = judge(&[], &seq);
    assert_eq!(
        vs[0].reason,
        format!("all 2 targets passed 10 checks over 1m 30s; error_rate rule not evaluated for {B} (no error_rate in its samples)")
    );
}

#[test]
fn too_few_checks_or_no_samples_is_inconclusive() {
    let (exit, vs) = judge(&[], &rep(ok(1.0), 4));
    assert_eq!(exit, Exit::Inconclusive);
    assert_eq!(vs[0].decision, Decision::Inconclusive);
    assert!(
        vs[0]
            .reason
            .starts_with(&format!("only 4 checks of {A}, but at least 5")),
        "{}",
        vs[0].reason
    );

    let (exit, vs) = judge(&[], &[]);
    assert_eq!(exit, Exit::Inconclusive);
    assert_eq!((vs[0].checks, vs[0].ts.as_str()), (0, judge::NO_TIME));

    let (exit, _) = judge_bytes(&[], &b"{\"type\":\"event\",\"x\":1}\n\n"[..]);
    assert_eq!(exit, Exit::Inconclusive);
}

#[test]
fn quorum_needs_k_targets() {
    let seq = cat(vec![
        rep(fail("timeout"), 3),
        rep(ok(1.0).on(B), 7),
        rep(fail("timeout").on(B), 3),
    ]);
    let (exit, vs) = judge(&["--quorum", "2"], &seq);
    assert_eq!(exit, Exit::Bad);
    assert_eq!(vs.len(), 3, "A fires, B fires, overall");
    let last = vs.last().unwrap();
    assert_eq!(
        (last.target.as_str(), last.decision),
        ("*", Decision::Rollback)
    );
    assert_eq!((vs[1].target.as_str(), vs[1].checks), (B, 10));
    assert_eq!(
        last.ts, "2026-11-26T12:02:00.000Z",
        "the check that made the quorum"
    );
    assert_eq!(last.ts, vs[1].ts);
    assert!(last.reason.starts_with("2 of 2 targets call for rollback (quorum 2): 3 consecutive failed checks of http://127.0.0.1:9"), "{}", last.reason);

    // A quorum above the number of targets can never be met: a usage error, never a pass,
    // whether or not targets fired.
    for input in [
        cat(vec![seq.clone(), rep(ok(1.0), 2)]),
        cat(vec![rep(ok(1.0), 6), rep(ok(1.0).on(B), 6)]),
    ] {
        let (exit, vs) = judge(&["--quorum", "3"], &input);
        assert_eq!(exit, Exit::Usage);
        assert!(
            vs.iter().all(|v| v.target != "*"),
            "no overall verdict: {vs:?}"
        );
    }
    let err = run(
        &args(&["--quorum", "3"]),
        to_lines(&rep(ok(1.0), 6)).as_bytes(),
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "--quorum 3 is more than the 1 target in the input, so no verdict can be rollback; give --quorum 1 or less"
    );

    // One target of two failing is below the quorum: pass, and the reason says so.
    let below = cat(vec![seq[..10].to_vec(), rep(ok(1.0), 2)]);
    let (exit, vs) = judge(&["--quorum", "2"], &below);
    let last = vs.last().unwrap();
    assert_eq!(
        (exit, last.decision),
        (Exit::Success, Decision::Pass),
        "{}",
        last.reason
    );
    assert!(
        last.reason.starts_with(
            "no rollback, as 1 of 2 targets called for rollback, below the quorum of 2: 3 consecutive failed checks of http://127.0.0.1:9/health"
        ),
        "{}",
        last.reason
    );
    assert!(
        last.reason.contains("; 1 target passed (12 checks over"),
        "{}",
        last.reason
    );
    assert!(!last.reason.contains("all "), "{}", last.reason);
}

#[test]
fn every_writes_one_verdict_per_sample_and_the_target_stays_at_rollback() {
    let seq = cat(vec![
        rep(ok(1.0), 2),
        rep(fail("status"), 3),
        rep(ok(1.0), 2),
    ]);
    let (_, vs) = judge(&["--every"], &seq);
    assert_eq!(vs.len(), seq.len() + 1);
    let decisions: Vec<Decision> = vs.iter().map(|v| v.decision).collect();
    use Decision::*;
    assert_eq!(
        decisions,
        vec![Continue, Continue, Continue, Continue, Rollback, Rollback, Rollback, Rollback]
    );
    assert_eq!(
        vs[1].reason,
        format!(
            "check 2 of {A}: no rule fired (success rate 100.0%, P95 1 ms, 0 consecutive failures)"
        )
    );
    assert_eq!(vs[6].reason, vs[4].reason, "the reason of when it fired");
    assert_eq!(vs[6].checks, 7, "figures keep running");
    // Without --every: the firing once, then the overall verdict.
    let (_, vs) = judge(&[], &seq);
    assert_eq!(vs.len(), 2);
}

#[test]
fn follow_stops_at_the_first_rollback() {
    let mut input = to_lines(&rep(fail("timeout"), 3));
    input.push_str("this line is never read\n");
    let (exit, out) = judge_bytes(&["--follow"], input.as_bytes());
    assert_eq!(exit, Exit::Bad);
    assert_eq!(verdicts(&out).len(), 2);
    // Without --follow the bad line is read, and stops the judge.
    let err = run(&args(&[]), input.as_bytes(), Vec::new()).unwrap_err();
    assert_eq!(err.exit(), Exit::Malformed);
}

#[test]
fn malformed_input_stops_with_the_line_number() {
    let mut input = to_lines(&rep(ok(1.0), 2));
    input.push_str("{\"type\":\"sample\",\"seq\":3}\n");
    let err = run(&args(&[]), input.as_bytes(), Vec::new()).unwrap_err();
    assert_eq!(err.exit(), Exit::Malformed);
    assert_eq!(
        err.to_string(),
        "malformed input at line 3: sample has no `ts`; fix or remove that line, then replay the log"
    );
}

#[test]
fn args_are_consistent_and_parse_percentages() {
    Args::command().debug_assert();
    let a = args(&[
        "--min-success-rate",
        "65%",
        "--error-rate",
        "0.1",
        "--duration",
        "90s",
    ]);
    assert_eq!(a.min_success_rate, 0.65);
    assert_eq!(a.error_rate, 0.1);
    assert_eq!(a.duration, Some(Duration::from_secs(90)));
    assert_eq!(a.config().latency_window, 20);
    for bad in [
        vec!["--min-success-rate", "1.5"],
        vec!["--quorum", "0"],
        vec!["--p95-ms", "-1"],
        vec!["--interval", "0s"],
        vec!["--duration", "soon"],
        vec!["--env", "../prod"],
        vec!["--log", "x.jsonl"],
    ] {
        let mut argv = vec!["mobius-judge"];
        argv.extend(&bad);
        assert!(Args::try_parse_from(argv).is_err(), "{bad:?}");
    }
}

/// Returns the input in reads of the given sizes (cycled), as a pipe would.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: Vec<usize>,
    i: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = self.sizes[self.i % self.sizes.len()].max(1);
        self.i += 1;
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn arb_sample() -> impl Strategy<Value = S> {
    (
        0..3usize,
        prop::bool::weighted(0.8),
        prop_oneof![Just(None), (0.0f64..9000.0).prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => (0.0f64..0.2).prop_map(Some)],
        prop_oneof![4 => Just(None), 1 => (0.0f64..8000.0).prop_map(Some)],
    )
        .prop_map(|(t, good, latency, error_rate, p95)| {
            let target = [A, B, "https://c.example/health"][t];
            let mut s = if good { ok(1.0) } else { fail("timeout") };
            s.target = target;
            s.latency = latency;
            s.error_rate = error_rate;
            s.p95 = p95;
            s
        })
}

/// The rules recomputed from scratch at every check, straight from the contract's text.
fn naive_first_firing(cfg: &Config, seq: &[S], target: &str) -> Option<(Rule, u64)> {
    let mine: Vec<&S> = seq.iter().filter(|s| s.target == target).collect();
    let p95_at = |k: usize| -> Option<f64> {
        mine[k].p95.or_else(|| {
            let lats: Vec<f64> = mine[..=k].iter().filter_map(|s| s.latency).collect();
            let tail = &lats[lats.len().saturating_sub(cfg.latency_window)..];
            window::percentile(tail, 0.95)
        })
    };
    for n in 0..mine.len() {
        let checks = n as u64 + 1;
        let trailing =
            |pred: &dyn Fn(usize) -> bool| (0..=n).rev().take_while(|&k| pred(k)).count() as u64;
        let cf = trailing(&|k| !mine[k].ok);
        let succ = mine[..=n].iter().filter(|s| s.ok).count() as f64;
        let p95_streak = trailing(&|k| {
            k as u64 + 1 >= cfg.min_checks && p95_at(k).is_some_and(|p| p > cfg.p95_ms)
        });
        let er_streak = trailing(&|k| mine[k].error_rate.is_some_and(|e| e > cfg.error_rate));
        if cf >= cfg.consecutive_failures {
            return Some((Rule::ConsecutiveFailures, checks));
        }
        if checks >= cfg.min_checks && succ / (checks as f64) < cfg.min_success_rate {
            return Some((Rule::SuccessRate, checks));
        }
        if p95_streak >= cfg.sustained {
            return Some((Rule::P95Latency, checks));
        }
        if er_streak >= cfg.sustained {
            return Some((Rule::ErrorRate, checks));
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn judge_agrees_with_the_naive_model(seq in prop::collection::vec(arb_sample(), 0..80), window in 1usize..25) {
        let w = window.to_string();
        let flags = ["--latency-window", w.as_str(), "--quorum", "3"];
        let cfg = args(&flags).config();
        let (_, vs) = judge(&flags, &seq);
        for t in [A, B, "https://c.example/health"] {
            let got: Vec<(Rule, u64)> = vs
                .iter()
                .filter(|v| v.target == t)
                .map(|v| (v.rule.unwrap(), v.checks))
                .collect();
            let want: Vec<(Rule, u64)> = naive_first_firing(&cfg, &seq, t).into_iter().collect();
            prop_assert_eq!(got, want, "target {}", t);
        }
    }

    #[test]
    fn output_does_not_depend_on_how_input_is_split(
        seq in prop::collection::vec(arb_sample(), 0..60),
        sizes in prop::collection::vec(1usize..300, 1..20),
        extra in prop::collection::vec(0usize..3, 0..60),
        follow in any::<bool>(),
    ) {
        // Mixed in: other record types and blank lines, which are passed over.
        let mut input = String::new();
        for (i, line) in to_lines(&seq).lines().enumerate() {
            match extra.get(i) {
                Some(1) => input.push_str("{\"type\":\"verdict\",\"ts\":\"x\"}\n"),
                Some(2) => input.push_str("\r\n"),
                _ => {}
            }
            input.push_str(line);
            input.push('\n');
        }
        let mut flags = vec!["--every"];
        if follow {
            flags.push("--follow");
        }
        let whole = judge_bytes(&flags, input.as_bytes());
        let chunked = judge_bytes(&flags, Chunked { data: input.as_bytes(), sizes, i: 0 });
        prop_assert_eq!(&whole, &chunked);
        // Deterministic: the same again.
        prop_assert_eq!(&whole, &judge_bytes(&flags, input.as_bytes()));
        // And without the trailing newline the last line still counts.
        let trimmed = judge_bytes(&flags, input.trim_end_matches('\n').as_bytes());
        prop_assert_eq!(&whole, &trimmed);
    }
}

#[test]
fn library_callers_can_feed_owned_samples() {
    let lines = to_lines(&[ok(1.0), fail("timeout"), fail("timeout"), fail("status")]);
    let samples: Vec<mobius_core::records::Sample> = lines
        .lines()
        .map(|l| match serde_json::from_str(l).unwrap() {
            Record::Sample(s) => s,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut j = Judge::new(Config::default());
    let mut fired_at = None;
    for s in &samples {
        let c = input::Check::from_sample(s).unwrap();
        let obs = j.observe(&c).unwrap();
        if obs.overall_rollback {
            fired_at = Some(j.target_verdict(&obs, &c.ts).checks);
        }
    }
    assert_eq!(fired_at, Some(4));
    assert_eq!(j.final_verdict(), j.rollback().unwrap().clone());

    let mut bad = samples[0].clone();
    bad.latency_ms = Some(-3.0);
    assert!(input::Check::from_sample(&bad)
        .unwrap_err()
        .contains("latency_ms"));
}
