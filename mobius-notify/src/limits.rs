//! Keeps a rendered Slack message or Teams card within what the service accepts: a field
//! past its limit is cut and ends with [`MARK`], never refused by the service (a refused
//! notification is one nobody reads).
//!
//! Slack (Block Kit reference): header `plain_text` 150 characters; section `text` 3000;
//! section `fields` at most 10, each 2000; context at most 10 elements, each text object
//! 3000; actions at most 25 elements, a button's text 75 and its `url` 3000; at most 50
//! blocks; the top-level `text` (the notification fallback) is truncated by Slack past
//! 40,000 characters. Teams: an incoming webhook refuses (HTTP 413) a message past about
//! 28 KB; we keep the whole body under [`TEAMS_MAX_BYTES`] by cutting the longest texts.

use serde_json::Value;

/// What a cut field ends with.
pub const MARK: &str = "…";

pub const SLACK_TEXT: usize = 40_000;
pub const SLACK_BLOCKS: usize = 50;
pub const SLACK_HEADER: usize = 150;
pub const SLACK_SECTION_TEXT: usize = 3000;
pub const SLACK_FIELDS: usize = 10;
pub const SLACK_FIELD_TEXT: usize = 2000;
pub const SLACK_CONTEXT_ELEMENTS: usize = 10;
pub const SLACK_TEXT_OBJECT: usize = 3000;
pub const SLACK_ACTION_ELEMENTS: usize = 25;
pub const SLACK_BUTTON_TEXT: usize = 75;
pub const SLACK_URL: usize = 3000;

/// The whole Teams body, in bytes: under the ~28 KB webhooks take, with room for the
/// service's own wrapping.
pub const TEAMS_MAX_BYTES: usize = 24_000;
/// One Teams text (TextBlock, fact value) before the whole-body budget applies.
pub const TEAMS_TEXT: usize = 8000;

/// Cuts `s` to at most `max` characters (the marker included). A cut never ends inside a
/// Slack entity (`&amp;`), which would show as broken text.
pub fn truncate(s: &mut String, max: usize) -> bool {
    if s.chars().count() <= max {
        return false;
    }
    let keep = max.saturating_sub(MARK.chars().count());
    let mut end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
    if let Some(amp) = s[..end].rfind('&') {
        if end - amp < 6 && !s[amp..end].contains(';') {
            end = amp;
        }
    }
    s.truncate(end);
    s.push_str(MARK);
    true
}

fn cut_at(v: &mut Value, key: &str, max: usize) {
    if let Some(Value::String(s)) = v.get_mut(key) {
        truncate(s, max);
    }
}

/// The `text` of a text object (`{"type": "mrkdwn", "text": ...}`) under `key`.
fn cut_text_object(v: &mut Value, key: &str, max: usize) {
    if let Some(obj) = v.get_mut(key) {
        cut_at(obj, "text", max);
    }
}

fn cap_array(v: &mut Value, key: &str, max: usize) {
    if let Some(Value::Array(a)) = v.get_mut(key) {
        a.truncate(max);
    }
}

/// Fits a Slack message (see the module docs).
pub fn fit_slack(msg: &mut Value) {
    cut_at(msg, "text", SLACK_TEXT);
    cap_array(msg, "blocks", SLACK_BLOCKS);
    let Some(Value::Array(blocks)) = msg.get_mut("blocks") else {
        return;
    };
    for block in blocks {
        match block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "header" => cut_text_object(block, "text", SLACK_HEADER),
            "section" => {
                cut_text_object(block, "text", SLACK_SECTION_TEXT);
                cap_array(block, "fields", SLACK_FIELDS);
                if let Some(Value::Array(fields)) = block.get_mut("fields") {
                    for f in fields {
                        cut_at(f, "text", SLACK_FIELD_TEXT);
                    }
                }
            }
            "context" => {
                cap_array(block, "elements", SLACK_CONTEXT_ELEMENTS);
                if let Some(Value::Array(els)) = block.get_mut("elements") {
                    for e in els {
                        cut_at(e, "text", SLACK_TEXT_OBJECT);
                    }
                }
            }
            "actions" => {
                cap_array(block, "elements", SLACK_ACTION_ELEMENTS);
                if let Some(Value::Array(els)) = block.get_mut("elements") {
                    // A cut URL leads somewhere else: a button with a too-long one goes.
                    els.retain(|e| {
                        e.get("url")
                            .and_then(Value::as_str)
                            .is_none_or(|u| u.chars().count() <= SLACK_URL)
                    });
                    for e in els {
                        cut_text_object(e, "text", SLACK_BUTTON_TEXT);
                    }
                }
            }
            _ => cut_text_object(block, "text", SLACK_TEXT_OBJECT),
        }
    }
}

/// Fits a Teams message holding an Adaptive Card (see the module docs).
pub fn fit_teams(msg: &mut Value) {
    cut_strings(msg, TEAMS_TEXT);
    // The whole body: halve the longest text until it fits. Each round shortens a string,
    // so this ends; strings of 64 characters or less are left alone.
    loop {
        let size = serde_json::to_string(msg).map_or(0, |s| s.len());
        if size <= TEAMS_MAX_BYTES {
            return;
        }
        let mut best = (0, String::new());
        longest(msg, &mut String::new(), &mut best);
        let (len, ptr) = best;
        if len <= 64 {
            return;
        }
        match msg.pointer_mut(&ptr) {
            Some(Value::String(s)) => {
                truncate(s, len / 2);
            }
            _ => return,
        }
    }
}

/// Keys whose values are identifiers or links, not text to cut.
fn is_structural(key: &str) -> bool {
    matches!(
        key,
        "type" | "url" | "$schema" | "version" | "contentType" | "contentUrl" | "id"
    )
}

fn cut_strings(v: &mut Value, max: usize) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if is_structural(k) {
                    continue;
                }
                if let Value::String(s) = val {
                    truncate(s, max);
                } else {
                    cut_strings(val, max);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| cut_strings(x, max)),
        _ => {}
    }
}

/// The JSON pointer and character length of the longest text string in `v`.
fn longest(v: &Value, path: &mut String, best: &mut (usize, String)) {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if is_structural(k) {
                    continue;
                }
                let len = path.len();
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                if let Value::String(s) = val {
                    let n = s.chars().count();
                    if n > best.0 {
                        *best = (n, path.clone());
                    }
                } else {
                    longest(val, path, best);
                }
                path.truncate(len);
            }
        }
        Value::Array(a) => {
            for (i, val) in a.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                longest(val, path, best);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truncation_marks_and_never_splits_an_entity() {
        let mut s = "abcdef".to_owned();
        assert!(!truncate(&mut s, 6));
        assert!(truncate(&mut s, 4));
        assert_eq!(s, "abc…");
        let mut s = "ab&amp;cdef".to_owned();
        truncate(&mut s, 6);
        assert_eq!(s, "ab…");
        let mut s = "ééééé".to_owned();
        truncate(&mut s, 3);
        assert_eq!(s, "éé…");
    }

    #[test]
    fn slack_blocks_are_cut_to_their_limits() {
        let long = "x".repeat(10_000);
        let mut m = json!({"text": "y".repeat(50_000), "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": long}},
            {"type": "section", "text": {"type": "mrkdwn", "text": long},
             "fields": vec![json!({"type": "mrkdwn", "text": long}); 12]},
            {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": long}, "url": "https://ok"},
                {"type": "button", "text": {"type": "plain_text", "text": "b"}, "url": long}]},
        ]});
        fit_slack(&mut m);
        let n = |p: &str| {
            m.pointer(p)
                .and_then(Value::as_str)
                .unwrap()
                .chars()
                .count()
        };
        assert_eq!(n("/text"), SLACK_TEXT);
        assert_eq!(n("/blocks/0/text/text"), SLACK_HEADER);
        assert_eq!(n("/blocks/1/text/text"), SLACK_SECTION_TEXT);
        assert_eq!(m["blocks"][1]["fields"].as_array().unwrap().len(), 10);
        assert_eq!(n("/blocks/1/fields/9/text"), SLACK_FIELD_TEXT);
        assert_eq!(m["blocks"][2]["elements"].as_array().unwrap().len(), 1);
        assert_eq!(n("/blocks/2/elements/0/text/text"), SLACK_BUTTON_TEXT);
        assert!(m["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .ends_with(MARK));
    }

    #[test]
    fn teams_cards_fit_the_webhook_budget() {
        let long = "é".repeat(30_000);
        let mut m = json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "version": "1.4", "body": [
                {"type": "TextBlock", "text": long},
                {"type": "FactSet", "facts": vec![json!({"title": "t", "value": long}); 8]}],
                "actions": [{"type": "Action.OpenUrl", "title": "x", "url": "https://ok"}]}}]});
        fit_teams(&mut m);
        assert!(serde_json::to_string(&m).unwrap().len() <= TEAMS_MAX_BYTES);
        let c = &m["attachments"][0]["content"];
        assert_eq!(c["type"], "AdaptiveCard");
        assert_eq!(c["actions"][0]["url"], "https://ok");
        assert!(c["body"][0]["text"].as_str().unwrap().ends_with(MARK));
    }
}
