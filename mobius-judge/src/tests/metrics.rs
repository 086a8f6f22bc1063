//! Metrics asked for and never got: a run whose samples say a metrics source was
//! configured (`"metrics"`) but whose error rates did not arrive must not pass.

use super::*;

/// Ten healthy samples of A, 1 s apart; `rate(i)` is check i's error rate and `read(i)` its
/// `metrics` field.
fn lines(
    rate: impl Fn(usize) -> Option<f64>,
    read: impl Fn(usize) -> Option<MetricsRead>,
) -> String {
    let base = 1_795_694_400_000u64;
    let mut out = String::new();
    for i in 0..10 {
        let rec = mobius_core::records::Sample {
            seq: i as u64 + 1,
            ts: mobius_core::time::rfc3339(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(base + i as u64 * 1000),
            ),
            target: A.to_owned(),
            ok: true,
            status: Some(200),
            latency_ms: Some(1.0),
            error: None,
            detail: String::new(),
            error_rate: rate(i),
            p95_ms: None,
            metrics: read(i),
        };
        out.push_str(&serde_json::to_string(&Record::Sample(rec)).unwrap());
        out.push('\n');
    }
    out
}

use mobius_core::records::MetricsRead;

fn final_of(text: &str) -> (Exit, Verdict) {
    let (exit, out) = judge_bytes(&[], text.as_bytes());
    (exit, verdicts(&out).pop().unwrap())
}

#[test]
fn metrics_configured_but_never_arrived_is_inconclusive_naming_error_rate() {
    let (exit, v) = final_of(&lines(|_| None, |_| Some(MetricsRead::Failed)));
    assert_eq!(
        (exit, v.decision),
        (Exit::Inconclusive, Decision::Inconclusive)
    );
    assert_eq!(v.rule, Some(Rule::ErrorRate));
    assert!(
        v.reason.starts_with("error_rate rule not evaluated"),
        "{}",
        v.reason
    );
    assert!(
        v.reason.contains(&format!("{A} (0 of 10 checks)")),
        "{}",
        v.reason
    );
}

#[test]
fn too_few_error_rates_to_evaluate_is_inconclusive() {
    // 4 error rates, below --sustained 5: the rule could never have fired.
    let (exit, v) = final_of(&lines(
        |i| (i < 4).then_some(0.0),
        |i| {
            Some(if i < 4 {
                MetricsRead::Ok
            } else {
                MetricsRead::Failed
            })
        },
    ));
    assert_eq!(exit, Exit::Inconclusive, "{}", v.reason);
    assert!(v.reason.contains("(4 of 10 checks)"), "{}", v.reason);
    // Enough of them: a pass.
    let (exit, v) = final_of(&lines(
        |i| (i < 5).then_some(0.0),
        |i| {
            Some(if i < 5 {
                MetricsRead::Ok
            } else {
                MetricsRead::Failed
            })
        },
    ));
    assert_eq!(
        (exit, v.decision),
        (Exit::Success, Decision::Pass),
        "{}",
        v.reason
    );
}

#[test]
fn no_metrics_source_still_passes_as_before() {
    let (exit, v) = final_of(&lines(|_| None, |_| None));
    assert_eq!(
        (exit, v.decision),
        (Exit::Success, Decision::Pass),
        "{}",
        v.reason
    );
    assert!(
        v.reason
            .contains("error_rate rule not evaluated (no error_rate"),
        "{}",
        v.reason
    );
}
