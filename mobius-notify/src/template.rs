//! Templates: the built-in ones (shipped in templates/notifications and compiled in, so the
//! tool works wherever it is copied), finding one by channel and name, and rendering one
//! into what a channel sends (JSON for Slack and Teams, subject and body for email).

use crate::render::{self, Context, RenderError};
use crate::{Channel, Error, Rendered};
use mobius_core::fsafe;
use serde_json::Value;
use std::io;
use std::path::Path;

/// The shipped templates, built in so the tool works wherever it is copied.
pub(crate) const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "slack",
        "deploy_started",
        include_str!("../../templates/notifications/slack/deploy_started.json"),
    ),
    (
        "slack",
        "deploy_succeeded",
        include_str!("../../templates/notifications/slack/deploy_succeeded.json"),
    ),
    (
        "slack",
        "rolled_back",
        include_str!("../../templates/notifications/slack/rolled_back.json"),
    ),
    (
        "slack",
        "rollback_failed",
        include_str!("../../templates/notifications/slack/rollback_failed.json"),
    ),
    (
        "teams",
        "deploy_started",
        include_str!("../../templates/notifications/teams/deploy_started.json"),
    ),
    (
        "teams",
        "deploy_succeeded",
        include_str!("../../templates/notifications/teams/deploy_succeeded.json"),
    ),
    (
        "teams",
        "rolled_back",
        include_str!("../../templates/notifications/teams/rolled_back.json"),
    ),
    (
        "teams",
        "rollback_failed",
        include_str!("../../templates/notifications/teams/rollback_failed.json"),
    ),
    (
        "email",
        "deploy_started",
        include_str!("../../templates/notifications/email/deploy_started.txt"),
    ),
    (
        "email",
        "deploy_succeeded",
        include_str!("../../templates/notifications/email/deploy_succeeded.txt"),
    ),
    (
        "email",
        "rolled_back",
        include_str!("../../templates/notifications/email/rolled_back.txt"),
    ),
    (
        "email",
        "rollback_failed",
        include_str!("../../templates/notifications/email/rollback_failed.txt"),
    ),
];

/// The names of the built-in templates.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN
        .iter()
        .filter(|(c, _, _)| *c == "slack")
        .map(|(_, n, _)| *n)
}

/// Finds a template: `dir/<channel>/<name>.<ext>`, or the built-in one when `dir` is None.
/// Returns the text and a name for messages.
pub fn load_template(
    dir: Option<&Path>,
    channel: Channel,
    name: &str,
) -> Result<(String, String), Error> {
    let file = format!("{}/{name}.{}", channel.as_str(), channel.extension());
    let known = || builtin_names().collect::<Vec<_>>().join(", ");
    match dir {
        Some(dir) => {
            let path = dir.join(&file);
            match fsafe::read_input_string(&path, fsafe::Kind::Text) {
                Ok(text) => Ok((text, path.display().to_string())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NoTemplate {
                    path: path.display().to_string(),
                    known: known(),
                }),
                Err(source) => Err(Error::Read {
                    path: path.display().to_string(),
                    source,
                }),
            }
        }
        None => BUILTIN
            .iter()
            .find(|(c, n, _)| *c == channel.as_str() && *n == name)
            .map(|(_, _, t)| ((*t).to_owned(), format!("(built in) {file}")))
            .ok_or_else(|| Error::NoTemplate {
                path: format!("(built in) {file}"),
                known: known(),
            }),
    }
}

/// Renders a template's text for a channel.
pub fn render(
    channel: Channel,
    template: &str,
    template_name: &str,
    ctx: &Context<'_>,
) -> Result<Rendered, Error> {
    let render_err = |source| Error::Render {
        template: template_name.to_owned(),
        source,
    };
    let bad = |msg: String| Error::BadTemplate {
        template: template_name.to_owned(),
        msg,
    };
    match channel {
        Channel::Slack | Channel::Teams => {
            let tpl: Value =
                serde_json::from_str(template).map_err(|e| bad(format!("not JSON: {e}")))?;
            let esc = if channel == Channel::Slack {
                render::Escape::Slack
            } else {
                render::Escape::Teams
            };
            let v = render::render_json(&tpl, ctx, esc).map_err(render_err)?;
            let text = serde_json::to_string(&v).map_err(|e| bad(e.to_string()))?;
            Ok(Rendered::Json(text))
        }
        Channel::Email => {
            let text = template.replace("\r\n", "\n");
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            let subject_tpl = first
                .strip_prefix("Subject:")
                .ok_or_else(|| bad("the first line must be `Subject: ...`".into()))?;
            let body_tpl = rest
                .strip_prefix('\n')
                .ok_or_else(|| bad("a blank line must follow the Subject line".into()))?;
            // Both parts at once, so one error names every missing field.
            let mut missing = Vec::new();
            let mut subject = String::new();
            let mut body = String::new();
            render::render_text_into(
                subject_tpl.trim(),
                ctx,
                render::Escape::None,
                &mut subject,
                &mut missing,
            )
            .map_err(render_err)?;
            render::render_text_into(body_tpl, ctx, render::Escape::None, &mut body, &mut missing)
                .map_err(render_err)?;
            if !missing.is_empty() {
                return Err(render_err(RenderError::Missing(missing)));
            }
            // One line: a newline from an event field must not end the header early.
            let subject: String = subject
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Ok(Rendered::Email {
                subject: subject.trim().to_owned(),
                body,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;
    use mobius_core::{Exit, ToolError};
    use serde_json::json;

    fn sample_event() -> Value {
        json!({"type": "event", "seq": 12, "ts": "2026-11-26T12:00:00.000Z", "env": "production",
               "action": "rollback", "outcome": "success",
               "actor": {"user": "ops", "host": "web1"},
               "details": {"backup": "backups/dhash_production_20261126T110000.000Z.zip",
                           "sha256": "ab", "safety_backup": "backups/pre-rollback_production_x.zip",
                           "files_restored": 3, "reason": "3 consecutive \"failed\" checks\nat 12:00",
                           "version": "1.5.0", "commit": "3f2c1ab",
                           "health": {"checks": 3, "ok": true, "url": "http://127.0.0.1:1/health"}},
               "prev": "00"})
    }

    #[test]
    fn every_builtin_template_renders_with_and_without_optional_fields() {
        let full = sample_event();
        let bare = json!({"seq": 1, "ts": "t", "env": "staging", "action": "rollback",
                          "outcome": "failure", "actor": {"user": "u", "host": "h"}, "details": {}});
        let vars = [
            (
                "runbook_url".to_owned(),
                "https://wiki.example/rb".to_owned(),
            ),
            ("log_url".to_owned(), "https://ci.example/log/1".to_owned()),
        ];
        let mut n = 0;
        for (channel, name, _) in BUILTIN {
            let ch = Channel::from_str(channel, true).unwrap();
            let (tpl, label) = load_template(None, ch, name).unwrap();
            for (ev, vars) in [(&full, &vars[..]), (&bare, &[][..])] {
                let ctx = Context { event: ev, vars };
                let r = render(ch, &tpl, &label, &ctx).unwrap_or_else(|e| panic!("{label}: {e}"));
                match r {
                    Rendered::Json(s) => {
                        let v: Value = serde_json::from_str(&s).unwrap();
                        assert!(!s.contains("{{"), "{label}: {s}");
                        assert!(!s.contains(render::IF_KEY), "{label}: {s}");
                        assert!(s.contains(ev["env"].as_str().unwrap()), "{label}");
                        let has_buttons = s.contains("wiki.example/rb");
                        assert_eq!(has_buttons, !vars.is_empty(), "{label}: {v}");
                    }
                    Rendered::Email { subject, body } => {
                        assert!(subject.contains(ev["env"].as_str().unwrap()), "{label}");
                        assert!(!body.contains("{{") && !subject.contains("{{"), "{label}");
                        assert!(!subject.contains('\n'));
                    }
                }
                n += 1;
            }
        }
        assert_eq!(n, 24);
        assert_eq!(
            builtin_names().collect::<Vec<_>>(),
            [
                "deploy_started",
                "deploy_succeeded",
                "rolled_back",
                "rollback_failed"
            ]
        );
    }

    #[test]
    fn email_template_shape_is_checked() {
        let ev = sample_event();
        let ctx = Context {
            event: &ev,
            vars: &[],
        };
        for bad in ["no subject\n\nbody", "Subject: x\nbody right away"] {
            assert!(matches!(
                render(Channel::Email, bad, "t", &ctx),
                Err(Error::BadTemplate { .. })
            ));
        }
        let r = render(
            Channel::Email,
            "Subject: {{env}} {{x}}\r\n\r\n{{y}}",
            "t",
            &ctx,
        );
        match r {
            Err(e @ Error::Render { .. }) => {
                assert_eq!(e.exit(), Exit::Malformed);
                assert!(e.to_string().contains("x, y"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
