//! The records on stdout, shared by all tools (docs/CONTRACT.md §3). Each is a struct; [`Record`]
//! wraps them with their `"type"` for writing and for reading mixed streams.
//!
//! Example lines:
//!
//! ```text
//! {"type":"sample","seq":1,"ts":"2026-11-26T12:00:00.123Z","target":"http://127.0.0.1:8080/health","ok":true,"status":200,"latency_ms":3.2,"error":null,"detail":"200 OK"}
//! {"type":"verdict","ts":"2026-11-26T12:00:50.000Z","target":"*","decision":"rollback","rule":"consecutive_failures","reason":"3 consecutive failed checks ...","checks":5,"consecutive_failures":3,"success_rate":0.4,"p95_ms":12.0,"error_rate":null}
//! {"type":"backup","env":"production","path":"backups/dhash_production_20261126T120000.123Z.zip","sha256":"…","files":12,"bytes_in":4096,"bytes_out":2048,"duration_ms":15,"deleted":[],"dry_run":false}
//! {"type":"verify","path":"backups/…zip","ok":false,"mode":"deep","entries":12,"problems":[{"kind":"sha256_mismatch","entry":"app.json","detail":"…"}]}
//! {"type":"history_check","env":"production","path":"history/production.jsonl","ok":false,"lines":7,"first_bad_line":7,"problem":"line 7: prev hash mismatch; …"}
//! {"type":"smoke_check","name":"health","ok":false,"method":"GET","url":"http://127.0.0.1:8080/health","status":503,"duration_ms":1.2,"attempts":1,"error":null,"failures":[{"expectation":"status","expected":"200","actual":"503"}]}
//! {"type":"smoke_summary","env":"staging","spec":"config/staging/smoke.json","total":4,"passed":3,"failed":1,"duration_ms":12.5,"junit":"junit.xml"}
//! {"type":"rollback","env":"production","backup":"backups/dhash_production_20261126T120000.123Z.zip","sha256":"…","target":"config/production","files_restored":3,"added":0,"changed":1,"removed":0,"safety_backup":"backups/pre-rollback_production_20261126T130000.000Z.zip","health":{"checks":3,"ok":true,"url":"http://127.0.0.1:8080/health"},"outcome":"success","reason":null,"problems":[],"duration_ms":3120,"dry_run":false}
//! {"type":"event","seq":3,"ts":"…","env":"production","action":"backup","outcome":"success","actor":{"user":"ops","host":"web1"},"details":{},"prev":"…"}
//! ```
//!
//! Fields may be added, never renamed or removed; readers ignore fields they do not know.

use serde::{Deserialize, Serialize};

/// Figures as records carry them: milliseconds to three decimals (a microsecond), rates to six,
/// so no record says `0.4391999999999998` for what was measured as 0.4392. Only the written
/// form is rounded; the tools compute with the full values.
mod round {
    use serde::Serializer;

    fn to(x: f64, scale: f64) -> f64 {
        if x.is_finite() {
            (x * scale).round() / scale
        } else {
            x
        }
    }

    pub fn ms<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(to(*x, 1e3))
    }

    pub fn opt_ms<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => s.serialize_some(&to(*x, 1e3)),
            None => s.serialize_none(),
        }
    }

    pub fn opt_rate<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(x) => s.serialize_some(&to(*x, 1e6)),
            None => s.serialize_none(),
        }
    }
}
use serde_json::Value;

/// Any record, tagged by `"type"`. Unknown types decode as [`Record::Other`] so that a reader
/// passes over what a newer tool added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    Sample(Sample),
    Verdict(Verdict),
    Backup(BackupRecord),
    Verify(VerifyRecord),
    Event(Event),
    HistoryCheck(HistoryCheck),
    SmokeCheck(SmokeCheck),
    SmokeSummary(SmokeSummary),
    Rollback(RollbackRecord),
    Export(ExportRecord),
    Pruned(PrunedRecord),
    Migration(MigrationCheck),
    MigrationsSummary(MigrationsSummary),
    ConfigCheck(ConfigCheck),
    Notification(NotificationRecord),
    #[serde(other)]
    Other,
}

/// Why a health check failed (docs/CONTRACT.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Timeout,
    Connect,
    Dns,
    Tls,
    Status,
    Body,
    Redirect,
    Io,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Dns => "dns",
            ErrorClass::Tls => "tls",
            ErrorClass::Status => "status",
            ErrorClass::Body => "body",
            ErrorClass::Redirect => "redirect",
            ErrorClass::Io => "io",
        }
    }
}

/// One health check of one target (mobius-probe → mobius-judge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub seq: u64,
    pub ts: String,
    pub target: String,
    pub ok: bool,
    pub status: Option<u16>,
    /// Null only where no request was sent.
    #[serde(serialize_with = "round::opt_ms")]
    pub latency_ms: Option<f64>,
    pub error: Option<ErrorClass>,
    #[serde(default)]
    pub detail: String,
    /// Share of failed requests as the service itself reports it (0..1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "round::opt_rate"
    )]
    pub error_rate: Option<f64>,
    /// P95 latency as the service itself reports it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "round::opt_ms"
    )]
    pub p95_ms: Option<f64>,
    /// Whether the service's metrics were read with this check: absent when no metrics
    /// source is configured (and in logs older than the field), so the judge can tell
    /// "metrics never asked for" from "metrics asked for and never got".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsRead>,
}

/// The `metrics` field of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsRead {
    /// Every configured figure was read.
    Ok,
    /// A figure could not be read; `detail` says why ("metrics: ...").
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Continue,
    Pass,
    Rollback,
    Inconclusive,
}

/// The rollback rules of docs/CONTRACT.md §5, in evaluation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    ConsecutiveFailures,
    SuccessRate,
    P95Latency,
    ErrorRate,
}

/// A decision of mobius-judge about one target, or about all (`target: "*"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub ts: String,
    pub target: String,
    pub decision: Decision,
    pub rule: Option<Rule>,
    pub reason: String,
    pub checks: u64,
    pub consecutive_failures: u64,
    #[serde(serialize_with = "round::opt_rate")]
    pub success_rate: Option<f64>,
    #[serde(serialize_with = "round::opt_ms")]
    pub p95_ms: Option<f64>,
    #[serde(serialize_with = "round::opt_rate")]
    pub error_rate: Option<f64>,
}

/// What mobius-backup made (or, with `dry_run`, would make).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub env: String,
    pub path: String,
    /// SHA-256 of the zip; empty in a dry run.
    pub sha256: String,
    pub files: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_ms: u64,
    /// Older backups removed by retention (zip paths; their sidecars went with them).
    pub deleted: Vec<String>,
    pub dry_run: bool,
}

/// One problem found while verifying a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Machine-readable class, e.g. `sidecar_missing`, `sha256_mismatch`, `entry_missing`.
    pub kind: String,
    /// The zip entry concerned, if any.
    pub entry: Option<String>,
    /// One sentence for the operator.
    pub detail: String,
}

/// mobius-verify's result for one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyRecord {
    pub path: String,
    pub ok: bool,
    /// `deep` or `quick`.
    pub mode: String,
    /// Entries checked against the manifest (0 in quick mode).
    pub entries: u64,
    pub problems: Vec<Problem>,
}

/// mobius-verify `--history`: the result of walking one history file's hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCheck {
    pub env: String,
    pub path: String,
    pub ok: bool,
    /// Lines read (up to and including the first bad one).
    pub lines: u64,
    /// The first line where the chain breaks, if it does.
    pub first_bad_line: Option<u64>,
    /// Why it breaks (or that the file is missing); null when intact.
    pub problem: Option<String>,
}

/// One expectation of a smoke check that did not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeFailure {
    /// Which expectation: `status`, `header content-type`, `body_contains`, `body_matches`,
    /// `json /status`, `max_duration_ms`, `capture token`, `response` (no response at all),
    /// `dependency` (not run because a check it needs failed).
    pub expectation: String,
    pub expected: String,
    pub actual: String,
}

/// mobius-smoke: the result of one check (after its retries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmokeCheck {
    pub name: String,
    pub ok: bool,
    pub method: String,
    /// The URL requested, secrets replaced by `***`.
    pub url: String,
    /// HTTP status of the last attempt; null when no response came (or the check did not run).
    pub status: Option<u16>,
    /// Duration of the last attempt; null when the check did not run.
    #[serde(serialize_with = "round::opt_ms")]
    pub duration_ms: Option<f64>,
    /// Requests sent (1 + retries used; 0 when the check did not run).
    pub attempts: u32,
    /// Why no response came, when none did.
    pub error: Option<ErrorClass>,
    pub failures: Vec<SmokeFailure>,
}

/// mobius-smoke: the totals of one run, the last line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmokeSummary {
    pub env: Option<String>,
    pub spec: String,
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    #[serde(serialize_with = "round::ms")]
    pub duration_ms: f64,
    /// The JUnit report written, if any.
    pub junit: Option<String>,
}

/// The health checks a rollback ran after the swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackHealth {
    /// Checks sent.
    pub checks: u64,
    /// Whether the required number of consecutive healthy checks was reached in time.
    pub ok: bool,
    pub url: String,
}

/// The one health check a rollback makes before it touches anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthBefore {
    pub url: String,
    /// Answered 2xx.
    pub ok: bool,
    /// The HTTP status; null when nothing answered (refused, timed out).
    pub status: Option<u16>,
    pub detail: String,
}

/// A backup `--latest` passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedBackup {
    pub backup: String,
    pub reason: String,
}

/// One place a rollback restored: the source as the backup names it, and where it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredPlace {
    pub source: String,
    pub target: String,
}

/// mobius-rollback: what was restored (or, with `dry_run`, would be), and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackRecord {
    pub env: String,
    /// The backup zip restored from.
    pub backup: String,
    /// SHA-256 of the backup zip (empty when it could not be read).
    pub sha256: String,
    /// The directory restored (with several places: the first, usually the config).
    pub target: String,
    /// Every place restored, in the order they were swapped.
    #[serde(default)]
    pub places: Vec<RestoredPlace>,
    /// Files in the backup, written to the target (0 when refused).
    pub files_restored: u64,
    /// Files the restore adds, changes (content or mode) and removes, compared with the tree
    /// that was live before it.
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    /// The backup of the tree that was live, taken first so the rollback can be undone.
    pub safety_backup: Option<String>,
    /// Null when no health check ran (dry run, refused, `--no-health-check`).
    pub health: Option<RollbackHealth>,
    /// The service's health before anything was touched; null without a health URL.
    #[serde(default)]
    pub health_before: Option<HealthBefore>,
    /// For a failure: `service_down` (not answering before the restore and still not),
    /// `restart_failed` (the restart command failed) or `restored_unhealthy` (the restored
    /// state answers unhealthy: choose another backup).
    #[serde(default)]
    pub failure_cause: Option<String>,
    /// Newer backups `--latest` passed over, and why.
    #[serde(default)]
    pub skipped: Vec<SkippedBackup>,
    /// `success`, `failure` (restored, then put back because the service stayed
    /// unhealthy), `refused` (the backup failed verification or the entry checks), or
    /// `checked` (a dry run that found nothing to refuse).
    pub outcome: String,
    /// Why, for anything but success.
    #[serde(default)]
    pub reason: Option<String>,
    /// What refused the backup: verification's problems and the entry checks' (whose
    /// `detail` starts with `entry check:`). Empty unless refused.
    #[serde(default)]
    pub problems: Vec<Problem>,
    pub duration_ms: u64,
    pub dry_run: bool,
}

/// mobius-export: the compliance bundle written (or, with `dry_run`, what it would hold).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    pub env: String,
    /// The bundle: `exports/lcm_<env>_<stamp>.zip` (or the directory with `--format dir`).
    pub path: String,
    /// `zip` or `dir`.
    pub format: String,
    /// SHA-256 of the zip (as its `.zip.sha256` sidecar says); for a directory, of its
    /// `MANIFEST.json`, which lists every other file's SHA-256. Empty in a dry run.
    pub sha256: String,
    /// Files in the bundle (MANIFEST.json included).
    pub files: u64,
    /// Uncompressed bytes of those files.
    pub bytes: u64,
    pub period_start: String,
    pub period_end: String,
    /// Whether the history's hash chain is intact; null when there is no history.
    pub chain_ok: Option<bool>,
    /// The first history line where the chain breaks.
    pub chain_first_bad_line: Option<u64>,
    pub deployments: u64,
    pub backups: u64,
    /// Backups that do not verify now.
    pub backups_failing: u64,
    pub monitor_runs: u64,
    pub smoke_runs: u64,
    /// Inputs that were not there (stated in the bundle too).
    pub missing: Vec<String>,
    pub duration_ms: u64,
    pub dry_run: bool,
}

/// mobius-export `--prune`: one path deleted by retention (or, with `dry_run`, that would be).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedRecord {
    pub path: String,
    /// `backup`, `backup_sidecar`, `monitor_log`, `premerge_artifacts` or `smoke_report`.
    pub kind: String,
    /// Which retention rule, with the limit.
    pub reason: String,
    pub dry_run: bool,
}

/// mobius-verify `--migrations`: one SQL migration file (or one applied migration whose file
/// is gone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationCheck {
    /// The file name inside the migrations directory.
    pub file: String,
    /// The version as written, `_` shown as `.` (empty when the name does not parse).
    pub version: String,
    pub description: String,
    /// SHA-256 of the file's bytes (empty when the file is missing).
    pub sha256: String,
    /// `pending`, `applied`, `changed`, `missing` or `invalid`.
    pub status: String,
    /// What is wrong, for `changed`, `missing` and `invalid`.
    pub problem: Option<String>,
}

/// mobius-verify `--migrations`: the totals, the last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationsSummary {
    pub dir: String,
    pub env: Option<String>,
    pub ok: bool,
    pub pending: u64,
    pub applied: u64,
    /// Migrations with status `changed`, `missing` or `invalid`.
    pub problems: u64,
    /// Said when there is nothing to check (e.g. no migrations directory).
    pub note: Option<String>,
}

/// mobius-verify `--config`: whether an environment's configuration directory is deployable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigCheck {
    pub env: String,
    pub dir: String,
    pub ok: bool,
    /// JSON files parsed.
    pub files: u64,
    /// Kinds: `missing_dir`, `missing_file`, `unreadable`, `bad_json`, `bad_field`.
    pub problems: Vec<Problem>,
}

/// mobius-notify: one notification rendered and sent (or, with `dry_run`, only rendered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// `slack`, `teams` or `email`.
    pub channel: String,
    /// The template's name, e.g. `rolled_back`.
    pub template: String,
    /// The event's environment, when known.
    pub env: Option<String>,
    /// The `seq` of the history event notified about, when it has one.
    pub event_seq: Option<u64>,
    /// Where it went, never a secret: the name of the webhook's variable
    /// (`$MOBIUS_SLACK_WEBHOOK`) or `smtp://host:port`. Null in a dry run.
    pub destination: Option<String>,
    pub sent: bool,
    /// The HTTP status of the webhook's answer, or the SMTP reply code to the message.
    pub status: Option<u16>,
    /// The email's subject line.
    pub subject: Option<String>,
    /// The rendered message; only in a dry run.
    pub rendered: Option<String>,
    pub bytes: u64,
    pub duration_ms: u64,
    pub dry_run: bool,
}

/// Who did something: recorded in every history event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub host: String,
}

/// One line of `history/<env>.jsonl` (docs/CONTRACT.md §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub ts: String,
    pub env: String,
    pub action: String,
    pub outcome: String,
    pub actor: Actor,
    #[serde(default)]
    pub details: Value,
    /// SHA-256 (hex) of the previous line's bytes without its newline; 64 zeros for the first.
    pub prev: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_rounded() {
        let v = Verdict {
            ts: "2026-11-26T12:00:00.000Z".into(),
            target: "*".into(),
            decision: Decision::Pass,
            rule: None,
            reason: String::new(),
            checks: 3,
            consecutive_failures: 0,
            success_rate: Some(2.0 / 3.0),
            p95_ms: Some(0.1 + 0.2),
            error_rate: Some(0.4391999999999998),
        };
        let line = serde_json::to_string(&Record::Verdict(v)).expect("json");
        assert!(line.contains(r#""success_rate":0.666667"#), "{line}");
        assert!(line.contains(r#""p95_ms":0.3,"#), "{line}");
        assert!(line.contains(r#""error_rate":0.4392"#), "{line}");
    }

    #[test]
    fn sample_round_trips_with_type_tag() {
        let s = Sample {
            seq: 1,
            ts: "2026-11-26T12:00:00.123Z".into(),
            target: "http://127.0.0.1:1/health".into(),
            ok: false,
            status: None,
            latency_ms: Some(5000.0),
            error: Some(ErrorClass::Timeout),
            detail: "timed out after 5s".into(),
            error_rate: None,
            p95_ms: None,
            metrics: None,
        };
        let line = serde_json::to_string(&Record::Sample(s.clone())).unwrap();
        assert!(line.starts_with("{\"type\":\"sample\""), "{line}");
        assert!(line.contains("\"error\":\"timeout\""));
        assert!(!line.contains("error_rate"));
        assert_eq!(
            serde_json::from_str::<Record>(&line).unwrap(),
            Record::Sample(s)
        );
    }

    #[test]
    fn unknown_types_and_fields_are_tolerated() {
        let r: Record = serde_json::from_str("{\"type\":\"future_thing\",\"x\":1}").unwrap();
        assert_eq!(r, Record::Other);
        let s: Sample = serde_json::from_str(
            "{\"seq\":2,\"ts\":\"t\",\"target\":\"x\",\"ok\":true,\"status\":200,\"latency_ms\":1.5,\"error\":null,\"new_field\":true}",
        )
        .unwrap();
        assert_eq!(s.detail, "");
        assert_eq!(s.latency_ms, Some(1.5));
    }
}
