//! The artifact names export and retention recognise. Retention deletes only what matches
//! one of these exactly; anything else in those directories is left alone.

use mobius_core::time::{parse_file_stamp, parse_rfc3339};
use mobius_core::EnvName;
use std::time::SystemTime;

/// A stamp in a file or directory name: `YYYYmmddTHHMMSS` (UTC, written by monitor.sh and
/// smoke_tests.sh with `date -u`) or the core's `YYYYmmddTHHMMSS.mmmZ`.
pub fn parse_stamp(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() == 15
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..].iter().all(u8::is_ascii_digit)
    {
        let rfc = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &s[0..4],
            &s[4..6],
            &s[6..8],
            &s[9..11],
            &s[11..13],
            &s[13..15]
        );
        return parse_rfc3339(&rfc);
    }
    parse_file_stamp(s)
}

/// A stamp optionally followed by `-N` (smoke_tests.sh's suffix for a second run in the
/// same second).
fn parse_stamp_with_counter(s: &str) -> Option<SystemTime> {
    if let Some(t) = parse_stamp(s) {
        return Some(t);
    }
    let (stamp, n) = s.rsplit_once('-')?;
    if n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    parse_stamp(stamp)
}

/// `monitor_logs/<env>_<stamp>.jsonl`.
pub fn monitor_log(file: &str) -> Option<(EnvName, SystemTime)> {
    let base = file.strip_suffix(".jsonl")?;
    let (env, stamp) = base.rsplit_once('_')?;
    Some((EnvName::parse(env).ok()?, parse_stamp(stamp)?))
}

/// `premerge_artifacts/smoke_<env>_<stamp>[-N]/`.
pub fn smoke_dir(name: &str) -> Option<(EnvName, SystemTime)> {
    let rest = name.strip_prefix("smoke_")?;
    let (env, stamp) = rest.rsplit_once('_')?;
    Some((EnvName::parse(env).ok()?, parse_stamp_with_counter(stamp)?))
}

/// `premerge_artifacts/<stamp>[-N]/`: one pre-merge run.
pub fn premerge_dir(name: &str) -> Option<SystemTime> {
    parse_stamp_with_counter(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn stamps() {
        let t = parse_stamp("20261126T120000").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_secs(1_795_694_400)
        );
        assert_eq!(parse_stamp("20261126T120000.000Z"), Some(t));
        for bad in ["20261126T1200", "20261126T120000x", "", "20261326T120000"] {
            assert_eq!(parse_stamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn names() {
        let (env, _) = monitor_log("production_20261126T120000.jsonl").unwrap();
        assert_eq!(env.as_str(), "production");
        let (env, _) = monitor_log("prod_eu_20261126T120000.jsonl").unwrap();
        assert_eq!(env.as_str(), "prod_eu");
        assert!(monitor_log("production_20261126T120000.jsonl.bak").is_none());
        assert!(monitor_log("notes.jsonl").is_none());
        assert!(monitor_log("Production_20261126T120000.jsonl").is_none());
        let (env, _) = smoke_dir("smoke_staging_20261126T120000-2").unwrap();
        assert_eq!(env.as_str(), "staging");
        assert!(smoke_dir("smoke_staging_20261126T120000-x").is_none());
        assert!(smoke_dir("smoke_staging").is_none());
        assert!(premerge_dir("20261126T120000").is_some());
        assert!(premerge_dir("20261126T120000-3").is_some());
        assert!(premerge_dir("keep-me").is_none());
    }
}
