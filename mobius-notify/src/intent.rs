//! Which events the built-in template names are written for, so a template that contradicts
//! its event ("Rolled back" for a deploy that succeeded, "Deployment started" for a rollback)
//! is flagged. It is still sent: the deploy scripts send `rollback_failed` for a rollback
//! that failed before it could be recorded (the last event is then an older one), and a
//! notification that says too much beats one that never arrives. The warning tells the
//! operator to look at the event.

use serde_json::Value;

/// (template, action, outcomes it is for).
const INTENDED: &[(&str, &str, &[&str])] = &[
    ("deploy_started", "deploy", &["started"]),
    ("deploy_succeeded", "deploy", &["success"]),
    ("rolled_back", "rollback", &["success"]),
    ("rollback_failed", "rollback", &["failure", "refused"]),
];

/// A short, printable form of an event value for a one-line message.
fn shown(v: &str) -> String {
    let clean: String = v
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(40)
        .collect();
    if v.chars().count() > 40 {
        format!("{clean}…")
    } else {
        clean
    }
}

/// Why `template` does not fit `event`, or None when it fits, is not a built-in name, or the
/// event says nothing about what happened (no `action`/`outcome`: values from --var only).
pub fn contradiction(template: &str, event: &Value) -> Option<String> {
    let (_, action, outcomes) = INTENDED.iter().find(|(t, _, _)| *t == template)?;
    let got_action = event.get("action").and_then(Value::as_str)?;
    let got_outcome = event.get("outcome").and_then(Value::as_str)?;
    if got_action == *action && outcomes.contains(&got_outcome) {
        return None;
    }
    let seq = event
        .get("seq")
        .and_then(Value::as_u64)
        .map_or_else(String::new, |s| format!(" #{s}"));
    Some(format!(
        "template {template} is for a {action} {} event, but event{seq} is \"{} {}\"",
        outcomes.join("/"),
        shown(got_action),
        shown(got_outcome)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contradictions() {
        let ev = |a: &str, o: &str| json!({"seq": 4, "action": a, "outcome": o});
        assert_eq!(
            contradiction("rolled_back", &ev("rollback", "success")),
            None
        );
        assert_eq!(
            contradiction("rollback_failed", &ev("rollback", "refused")),
            None
        );
        assert_eq!(
            contradiction("deploy_started", &ev("deploy", "started")),
            None
        );
        assert_eq!(contradiction("custom", &ev("deploy", "success")), None);
        assert_eq!(contradiction("rolled_back", &json!({})), None);
        let w = contradiction("deploy_started", &ev("deploy", "success")).unwrap();
        assert_eq!(
            w,
            "template deploy_started is for a deploy started event, but event #4 is \"deploy success\""
        );
        assert!(contradiction("rolled_back", &ev("rollback", "failure")).is_some());
        let long = contradiction("rolled_back", &ev(&"x\n".repeat(100), "success")).unwrap();
        assert!(!long.contains('\n') && long.len() < 200, "{long}");
    }
}
