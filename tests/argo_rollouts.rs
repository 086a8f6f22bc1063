//! integrations/argo-rollouts/: the AnalysisTemplate is a well-formed Argo Rollouts object
//! (the fields its CRD requires, every `{{args.X}}` declared, a Job that never retries), and
//! the command its container runs, run here with this build's binaries against a real
//! mobius-demo, exits as the README documents: 0 for a good service, 1 for a bad one, and 1
//! (never 0) when the run is inconclusive, because Argo's Job provider has no inconclusive.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use mobius_core::records::{Decision, Record, Rule};
use mobius_tests::{bin_dir, ensure_bins, records, repo_dir, wait_guarded, Demo};
use serde_yaml::Value;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const HANG_GUARD: Duration = Duration::from_secs(30);
/// Where the Dockerfile puts the repository's layout in the image.
const IMAGE_ROOT: &str = "/opt/mobius/";

fn argo_dir() -> PathBuf {
    repo_dir().join("integrations").join("argo-rollouts")
}

fn template() -> (String, Value) {
    let text = fs::read_to_string(argo_dir().join("analysis-template.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).expect("analysis-template.yaml parses");
    (text, doc)
}

fn field<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("{} is missing", path.join(".")))
    })
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    field(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{} is not a string", path.join(".")))
}

fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    field(v, path)
        .as_sequence()
        .unwrap_or_else(|| panic!("{} is not a list", path.join(".")))
}

/// The one container of the one metric's Job.
fn container(doc: &Value) -> &Value {
    let metrics = list(doc, &["spec", "metrics"]);
    assert_eq!(metrics.len(), 1, "one metric: the judge's verdict");
    let containers = list(
        &metrics[0],
        &["provider", "job", "spec", "template", "spec", "containers"],
    );
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// `spec.args`: name → default value (None when the Rollout must give it).
fn declared_args(doc: &Value) -> Vec<(String, Option<String>)> {
    list(doc, &["spec", "args"])
        .iter()
        .map(|a| {
            let value = a.get("value").map(|v| match v {
                Value::String(s) => s.clone(),
                other => panic!("arg default {other:?} must be a string (Argo's args are)"),
            });
            (text(a, &["name"]).to_owned(), value)
        })
        .collect()
}

/// Every `{{args.NAME}}` in the text.
fn used_args(text: &str) -> Vec<String> {
    text.split("{{args.")
        .skip(1)
        .map(|rest| {
            let end = rest.find("}}").expect("{{args. closed by }}");
            rest[..end].to_owned()
        })
        .collect()
}

#[test]
fn the_template_has_what_argos_crd_requires() {
    let (raw, doc) = template();
    assert_eq!(text(&doc, &["apiVersion"]), "argoproj.io/v1alpha1");
    assert_eq!(text(&doc, &["kind"]), "AnalysisTemplate");
    assert!(!text(&doc, &["metadata", "name"]).is_empty());

    let metric = &list(&doc, &["spec", "metrics"])[0];
    assert!(!text(metric, &["name"]).is_empty());
    // One failed measurement is final: a rollback, or an inconclusive run, aborts.
    assert_eq!(field(metric, &["failureLimit"]).as_u64(), Some(0));
    let job = field(metric, &["provider", "job", "spec"]);
    assert_eq!(
        field(job, &["backoffLimit"]).as_u64(),
        Some(0),
        "never rerun"
    );
    assert_eq!(
        text(job, &["template", "spec", "restartPolicy"]),
        "Never",
        "a Job's pod must not restart a failed analysis"
    );
    let c = container(&doc);
    assert!(!text(c, &["name"]).is_empty());
    assert!(!text(c, &["image"]).is_empty());
    assert_eq!(list(c, &["command"]).len(), 1);
    assert!(!list(c, &["args"]).is_empty());

    let declared = declared_args(&doc);
    let names: Vec<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    let used = used_args(&raw);
    assert!(used.iter().any(|u| u == "service-url"));
    for u in &used {
        assert!(
            names.contains(&u.as_str()),
            "{{{{args.{u}}}}} is not in spec.args"
        );
    }
    for n in &names {
        assert!(used.iter().any(|u| u == n), "spec.args {n} is never used");
    }
}

#[test]
fn the_image_holds_the_command_where_the_template_runs_it() {
    let (_, doc) = template();
    let command = list(container(&doc), &["command"])[0].as_str().unwrap();
    let rel = command
        .strip_prefix(IMAGE_ROOT)
        .unwrap_or_else(|| panic!("{command} is not under {IMAGE_ROOT}"));
    assert!(repo_dir().join(rel).is_file(), "{rel} is not in the repo");
    let dockerfile = fs::read_to_string(argo_dir().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains(&format!("COPY {rel} {IMAGE_ROOT}")),
        "the Dockerfile does not copy {rel} to {IMAGE_ROOT}"
    );
    assert!(dockerfile.contains(&format!("COPY scripts/ {IMAGE_ROOT}scripts/")));
}

struct Ran {
    code: i32,
    verdicts: Vec<(Decision, Option<Rule>)>,
    stderr: String,
}

/// Runs the container's command and args as Argo would, `{{args.X}}` replaced by `given`
/// or else the template's defaults, with this build's binaries in place of the image's.
fn run_analysis(given: &[(&str, &str)]) -> Ran {
    ensure_bins();
    let (_, doc) = template();
    let defaults = declared_args(&doc);
    let c = container(&doc);
    let command = list(c, &["command"])[0].as_str().unwrap();
    let script = repo_dir().join(command.strip_prefix(IMAGE_ROOT).unwrap());
    let args: Vec<String> = list(c, &["args"])
        .iter()
        .map(|a| {
            let mut s = a.as_str().expect("args are strings").to_owned();
            for (name, default) in &defaults {
                let value = given
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| (*v).to_owned())
                    .or_else(|| default.clone())
                    .unwrap_or_else(|| panic!("the test gives no {name}"));
                s = s.replace(&format!("{{{{args.{name}}}}}"), &value);
            }
            s
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    let (o, e) = (out.path().join("out"), out.path().join("err"));
    let mut child = Command::new(&script)
        .args(&args)
        .env("MOBIUS_BIN_DIR", bin_dir())
        .env_remove("MOBIUS_ROOT")
        .env_remove("MOBIUS_MONITOR_DURATION")
        .env_remove("MOBIUS_MONITOR_INTERVAL")
        .current_dir(out.path())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap())
        .spawn()
        .unwrap();
    let what = format!("{} {args:?}", script.display());
    let status = wait_guarded(&mut child, HANG_GUARD, &what);
    let verdicts = records(&fs::read(&o).unwrap())
        .into_iter()
        .filter_map(|r| match r {
            Record::Verdict(v) if v.target == "*" => Some((v.decision, v.rule)),
            _ => None,
        })
        .collect();
    Ran {
        code: status.code().expect("exited, not killed by a signal"),
        verdicts,
        stderr: String::from_utf8_lossy(&fs::read(&e).unwrap()).into_owned(),
    }
}

/// Runs the analysis against a demo serving `demo` (config/argo/app.json's `demo` section)
/// at /health, for `duration` every `interval`, the other args `more` or else the template's
/// defaults.
fn analyse(demo: &str, duration: &str, interval: &str, more: &[(&str, &str)]) -> Ran {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("config").join("argo");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("app.json"), format!(r#"{{"demo":{demo}}}"#)).unwrap();
    let d = Demo::start(root.path(), "argo");
    let url = format!("{}/health", d.url);
    let mut given = vec![
        ("service-url", url.as_str()),
        ("duration", duration),
        ("interval", interval),
    ];
    given.extend_from_slice(more);
    run_analysis(&given)
}

const GOOD: &str = r#"{"healthy":true,"error_share":0,"latency_ms":0}"#;
const BAD: &str = r#"{"healthy":false,"error_share":0,"latency_ms":0}"#;

#[test]
fn a_good_service_passes_the_analysis() {
    let ran = analyse(GOOD, "3s", "300ms", &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.verdicts.last(), Some(&(Decision::Pass, None)));
    assert!(ran.stderr.contains("analysis: pass"), "{}", ran.stderr);
}

#[test]
fn a_bad_service_fails_the_analysis() {
    let ran = analyse(BAD, "20s", "200ms", &[]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rolled_back = (Decision::Rollback, Some(Rule::ConsecutiveFailures));
    assert_eq!(ran.verdicts.last(), Some(&rolled_back));
    assert!(ran.stderr.contains("analysis: rollback"), "{}", ran.stderr);
}

#[test]
fn an_inconclusive_run_fails_the_analysis_and_says_why() {
    // Two checks of a healthy service: too few for the judge (it needs 5) to say pass.
    let ran = analyse(GOOD, "1s", "600ms", &[]);
    assert_eq!(ran.verdicts.last(), Some(&(Decision::Inconclusive, None)));
    assert_eq!(
        ran.code, 1,
        "inconclusive must fail the Job: {}",
        ran.stderr
    );
    let said = ran.stderr.contains("inconclusive counts as failure");
    assert!(said, "{}", ran.stderr);
}

#[test]
fn the_templates_thresholds_reach_the_judge() {
    // Healthy answers 30 ms late: a pass at the default 5000 ms, a rollback at 5 ms.
    let slow = r#"{"healthy":true,"error_share":0,"latency_ms":30}"#;
    let ran = analyse(slow, "20s", "200ms", &[("p95-ms", "5")]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let rolled_back = (Decision::Rollback, Some(Rule::P95Latency));
    assert_eq!(ran.verdicts.last(), Some(&rolled_back));
}
