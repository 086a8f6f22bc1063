//! The template language: `{{field}}` placeholders filled from an event record (dotted paths
//! such as `{{actor.user}}` and `{{details.reason}}`) or from `--var NAME=VALUE`, and
//! `{{#field}}…{{/field}}` / `{{^field}}…{{/field}}` sections kept only when the field is set
//! (present, not null, not empty, not false) / not set.
//!
//! JSON templates are rendered structurally: the template is parsed, every string in it is
//! rendered as text and stays a JSON string, so substituted values are escaped by
//! construction and the result always parses. An array element that is an object with a
//! `"mobius_if"` member (a field name, or a list of them) is kept only when one of those
//! fields is set; the member itself is removed. That is how a button linking to
//! `{{runbook_url}}` disappears when no runbook URL is given.
//!
//! Substituted values are escaped for where they land ([`Escape`]); the template's own text
//! is kept as written, so a template's `<{{url}}|link>` stays a link while the same markup
//! inside an event field does not.

use serde_json::{Map, Value};
use std::borrow::Cow;

/// The member of a JSON array element that makes it conditional.
pub const IF_KEY: &str = "mobius_if";

/// Where placeholder values come from: `--var` first, then the event.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub event: &'a Value,
    pub vars: &'a [(String, String)],
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error(
        "missing field{}: {}; not in the event — give {} with --var NAME=VALUE",
        if .0.len() == 1 { "" } else { "s" },
        .0.join(", "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    Missing(Vec<String>),
    #[error("the template is broken: {0}")]
    Syntax(String),
}

/// How a substituted value is made safe for its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Email text: as it is (MIME encoding is the transport's job).
    None,
    /// Slack mrkdwn and plain_text: `&`, `<` and `>` as entities (Slack's own escaping), so
    /// `<!channel>` cannot ping and `<https://x|text>` cannot forge a link; control
    /// characters but newline and tab are dropped.
    Slack,
    /// Adaptive Card text (a Markdown subset): `](` is broken apart so `[text](url)` is no
    /// link; control characters but newline and tab are dropped.
    Teams,
    /// A URL field (a Slack button's or an Action.OpenUrl's `url`): spaces, quotes, angle
    /// brackets, `|` and control characters percent-encoded, nothing else changed.
    Url,
}

impl Escape {
    pub fn apply(self, v: &str) -> Cow<'_, str> {
        let dropped = |c: char| c.is_control() && c != '\n' && c != '\t';
        match self {
            Escape::None => Cow::Borrowed(v),
            Escape::Slack => {
                if !v.contains(['&', '<', '>']) && !v.chars().any(dropped) {
                    return Cow::Borrowed(v);
                }
                let mut out = String::with_capacity(v.len() + 16);
                for c in v.chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        c if dropped(c) => {}
                        c => out.push(c),
                    }
                }
                Cow::Owned(out)
            }
            Escape::Teams => {
                if !v.contains("](") && !v.chars().any(dropped) {
                    return Cow::Borrowed(v);
                }
                let kept: String = v.chars().filter(|&c| !dropped(c)).collect();
                Cow::Owned(kept.replace("](", "] ("))
            }
            Escape::Url => {
                let bad = |c: char| c.is_control() || matches!(c, ' ' | '"' | '<' | '>' | '|');
                if !v.chars().any(bad) {
                    return Cow::Borrowed(v);
                }
                let mut out = String::with_capacity(v.len() + 16);
                for c in v.chars() {
                    if bad(c) {
                        let mut buf = [0u8; 4];
                        for b in c.encode_utf8(&mut buf).bytes() {
                            out.push_str(&format!("%{b:02X}"));
                        }
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// The escaping for the value of member `key` of a JSON template.
    fn for_key(self, key: &str) -> Escape {
        match self {
            Escape::Slack | Escape::Teams if key == "url" => Escape::Url,
            other => other,
        }
    }
}

impl Context<'_> {
    /// The value of a field: `None` when absent. Null is present and renders empty, so
    /// `reason: null` on a successful rollback is not an error.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some((_, v)) = self.vars.iter().rev().find(|(k, _)| k == name) {
            return Some(v.clone());
        }
        let mut cur = self.event;
        for part in name.split('.') {
            cur = match cur {
                Value::Object(m) => m.get(part)?,
                Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(match cur {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// Set: present, and not null, empty or false.
    pub fn is_set(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| !v.is_empty() && v != "false")
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        })
}

/// Renders text; fields missing from the context are collected in `missing` (rendered empty)
/// so that one error can name all of them.
pub fn render_text_into(
    tpl: &str,
    ctx: &Context<'_>,
    esc: Escape,
    out: &mut String,
    missing: &mut Vec<String>,
) -> Result<(), RenderError> {
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            RenderError::Syntax(format!(
                "'{{{{' without '}}}}' near {:?}",
                after.chars().take(20).collect::<String>()
            ))
        })?;
        let tag = after[..end].trim();
        rest = &after[end + 2..];
        let bad = || RenderError::Syntax(format!("bad placeholder {{{{{tag}}}}}"));
        if let Some(name) = tag.strip_prefix('#').or_else(|| tag.strip_prefix('^')) {
            let name = name.trim();
            if !valid_name(name) {
                return Err(bad());
            }
            let close = format!("{{{{/{name}}}}}");
            let pos = rest.find(&close).ok_or_else(|| {
                RenderError::Syntax(format!("section {{{{{tag}}}}} has no {close}"))
            })?;
            let inner = &rest[..pos];
            rest = &rest[pos + close.len()..];
            if ctx.is_set(name) != tag.starts_with('^') {
                render_text_into(inner, ctx, esc, out, missing)?;
            }
        } else if tag.starts_with('/') {
            return Err(RenderError::Syntax(format!(
                "{{{{{tag}}}}} closes a section that was not opened"
            )));
        } else if !valid_name(tag) {
            return Err(bad());
        } else {
            match ctx.get(tag) {
                Some(v) => out.push_str(&esc.apply(&v)),
                None => {
                    if !missing.iter().any(|m| m == tag) {
                        missing.push(tag.to_owned());
                    }
                }
            }
        }
    }
    out.push_str(rest);
    Ok(())
}

/// Renders a text template.
pub fn render_text(tpl: &str, ctx: &Context<'_>) -> Result<String, RenderError> {
    let mut out = String::new();
    let mut missing = Vec::new();
    render_text_into(tpl, ctx, Escape::None, &mut out, &mut missing)?;
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(RenderError::Missing(missing))
    }
}

/// Renders a parsed JSON template (see the module docs), values escaped with `esc`.
pub fn render_json(tpl: &Value, ctx: &Context<'_>, esc: Escape) -> Result<Value, RenderError> {
    let mut missing = Vec::new();
    let v = render_value(tpl, ctx, esc, &mut missing)?;
    if missing.is_empty() {
        Ok(v)
    } else {
        Err(RenderError::Missing(missing))
    }
}

fn render_value(
    v: &Value,
    ctx: &Context<'_>,
    esc: Escape,
    missing: &mut Vec<String>,
) -> Result<Value, RenderError> {
    Ok(match v {
        Value::String(s) => {
            let mut out = String::new();
            render_text_into(s, ctx, esc, &mut out, missing)?;
            Value::String(out)
        }
        Value::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                if keep(item, ctx)? {
                    kept.push(render_value(item, ctx, esc, missing)?);
                }
            }
            Value::Array(kept)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, val) in map {
                if k != IF_KEY {
                    out.insert(k.clone(), render_value(val, ctx, esc.for_key(k), missing)?);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn keep(item: &Value, ctx: &Context<'_>) -> Result<bool, RenderError> {
    let Some(cond) = item.get(IF_KEY) else {
        return Ok(true);
    };
    let names: Vec<&str> = match cond {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if names.is_empty() || !names.iter().all(|n| valid_name(n)) {
        return Err(RenderError::Syntax(format!(
            "\"{IF_KEY}\" must be a field name or a list of them, not {cond}"
        )));
    }
    Ok(names.iter().any(|n| ctx.is_set(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev() -> Value {
        json!({"env": "prod", "seq": 7, "actor": {"user": "ops", "host": "web1"},
               "details": {"reason": "3 \"failed\" checks\nin a row", "safety_backup": null}})
    }

    #[test]
    fn placeholders_dotted_paths_vars_and_sections() {
        let e = ev();
        let vars = vec![("runbook_url".to_owned(), "https://wiki/rb".to_owned())];
        let ctx = Context {
            event: &e,
            vars: &vars,
        };
        let out = render_text(
            "{{env}} #{{ seq }} by {{actor.user}}@{{actor.host}}{{#runbook_url}} see {{runbook_url}}{{/runbook_url}}{{#log_url}} log {{log_url}}{{/log_url}}{{^details.safety_backup}} (no safety backup){{/details.safety_backup}}",
            &ctx,
        )
        .unwrap();
        assert_eq!(
            out,
            "prod #7 by ops@web1 see https://wiki/rb (no safety backup)"
        );
    }

    #[test]
    fn missing_fields_are_all_named() {
        let e = ev();
        let ctx = Context {
            event: &e,
            vars: &[],
        };
        let err =
            render_text("{{details.backup}} {{actor.uid}} {{details.backup}}", &ctx).unwrap_err();
        assert_eq!(
            err,
            RenderError::Missing(vec!["details.backup".into(), "actor.uid".into()])
        );
        assert!(
            err.to_string().contains("details.backup, actor.uid"),
            "{err}"
        );
        // A field used only inside a section that is not rendered is not needed.
        assert_eq!(render_text("{{#x}}{{y}}{{/x}}ok", &ctx).unwrap(), "ok");
    }

    #[test]
    fn syntax_errors() {
        let e = ev();
        let ctx = Context {
            event: &e,
            vars: &[],
        };
        for bad in [
            "{{env",
            "{{#env}}x",
            "{{/env}}",
            "{{a b}}",
            "{{}}",
            "{{a..b}}",
        ] {
            assert!(
                matches!(render_text(bad, &ctx), Err(RenderError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_values_are_escaped_and_conditional_elements_dropped() {
        let e = ev();
        let vars = vec![("log_url".to_owned(), "file:///x".to_owned())];
        let ctx = Context {
            event: &e,
            vars: &vars,
        };
        let tpl = json!({"text": "why: {{details.reason}}", "n": 1, "buttons": [
            {"mobius_if": "runbook_url", "url": "{{runbook_url}}"},
            {"mobius_if": ["runbook_url", "log_url"], "url": "{{log_url}}"},
            "plain"
        ]});
        let out = render_json(&tpl, &ctx, Escape::None).unwrap();
        assert_eq!(out["text"], "why: 3 \"failed\" checks\nin a row");
        assert_eq!(out["buttons"], json!([{"url": "file:///x"}, "plain"]));
        let text = serde_json::to_string(&out).unwrap();
        assert!(text.contains(r#"3 \"failed\" checks\nin a row"#), "{text}");
        assert!(matches!(
            render_json(&json!([{"mobius_if": 3}]), &ctx, Escape::None),
            Err(RenderError::Syntax(_))
        ));
    }

    #[test]
    fn values_are_escaped_per_output_and_the_template_markup_kept() {
        let e = json!({"env": "<!channel> & <https://evil|click> [x](https://evil)\u{1b}[31m\nok"});
        let ctx = Context {
            event: &e,
            vars: &[],
        };
        let tpl = json!({"text": "<https://ok|ours> {{env}}", "url": "https://x/?q={{env}}"});
        let slack = render_json(&tpl, &ctx, Escape::Slack).unwrap();
        assert_eq!(
            slack["text"],
            "<https://ok|ours> &lt;!channel&gt; &amp; &lt;https://evil|click&gt; [x](https://evil)[31m\nok"
        );
        let url = slack["url"].as_str().unwrap();
        assert!(!url.contains(['<', '>', ' ', '|', '\n']), "{url}");
        assert!(
            url.starts_with("https://x/?q=%3C!channel%3E%20&%20"),
            "{url}"
        );
        let teams = render_json(&tpl, &ctx, Escape::Teams).unwrap();
        let t = teams["text"].as_str().unwrap();
        assert!(
            t.contains("[x] (https://evil)") && !t.contains('\u{1b}'),
            "{t}"
        );
        assert_eq!(Escape::None.apply("<&>"), "<&>");
    }
}
