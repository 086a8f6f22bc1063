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

use serde_json::{Map, Value};

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
                render_text_into(inner, ctx, out, missing)?;
            }
        } else if tag.starts_with('/') {
            return Err(RenderError::Syntax(format!(
                "{{{{{tag}}}}} closes a section that was not opened"
            )));
        } else if !valid_name(tag) {
            return Err(bad());
        } else {
            match ctx.get(tag) {
                Some(v) => out.push_str(&v),
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
    render_text_into(tpl, ctx, &mut out, &mut missing)?;
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(RenderError::Missing(missing))
    }
}

/// Renders a parsed JSON template (see the module docs).
pub fn render_json(tpl: &Value, ctx: &Context<'_>) -> Result<Value, RenderError> {
    let mut missing = Vec::new();
    let v = render_value(tpl, ctx, &mut missing)?;
    if missing.is_empty() {
        Ok(v)
    } else {
        Err(RenderError::Missing(missing))
    }
}

fn render_value(
    v: &Value,
    ctx: &Context<'_>,
    missing: &mut Vec<String>,
) -> Result<Value, RenderError> {
    Ok(match v {
        Value::String(s) => {
            let mut out = String::new();
            render_text_into(s, ctx, &mut out, missing)?;
            Value::String(out)
        }
        Value::Array(items) => {
            let mut kept = Vec::with_capacity(items.len());
            for item in items {
                if keep(item, ctx)? {
                    kept.push(render_value(item, ctx, missing)?);
                }
            }
            Value::Array(kept)
        }
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, val) in map {
                if k != IF_KEY {
                    out.insert(k.clone(), render_value(val, ctx, missing)?);
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
        let out = render_json(&tpl, &ctx).unwrap();
        assert_eq!(out["text"], "why: 3 \"failed\" checks\nin a row");
        assert_eq!(out["buttons"], json!([{"url": "file:///x"}, "plain"]));
        let text = serde_json::to_string(&out).unwrap();
        assert!(text.contains(r#"3 \"failed\" checks\nin a row"#), "{text}");
        assert!(matches!(
            render_json(&json!([{"mobius_if": 3}]), &ctx),
            Err(RenderError::Syntax(_))
        ));
    }
}
