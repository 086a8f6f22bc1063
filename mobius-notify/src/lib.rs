//! mobius-notify: tells people what a deployment did. Renders a template (Slack Block Kit,
//! Teams Adaptive Card, or a plain-text email) from a history event and sends it: Slack and
//! Teams by HTTP POST to a webhook URL read from the environment, email over SMTP.
//!
//! Webhook URLs are secrets (whoever has one can post to the channel): they are read only
//! from `MOBIUS_SLACK_WEBHOOK` / `MOBIUS_TEAMS_WEBHOOK`, never from argv, and are scrubbed
//! from every message this tool prints.

pub mod email;
pub mod intent;
pub mod limits;
pub mod render;
pub mod smtp;
pub mod template;

pub use template::{builtin_names, load_template, render};

use clap::{Parser, ValueEnum};
use mobius_core::cli::CommonArgs;
use mobius_core::exit::EXIT_CODE_HELP;
use mobius_core::fsafe;
use mobius_core::jsonl::JsonlWriter;
use mobius_core::records::{Event, NotificationRecord, Record};
use mobius_core::redact::{
    is_secret_key, redact_json_line, redact_lines, redact_text, redact_value, REDACTED,
};
use mobius_core::{EnvName, Exit, ToolError};
use render::{Context, RenderError};
use serde_json::Value;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ABOUT_EXAMPLES: &str = "\
Templates: DIR/<channel>/<name>.json (slack, teams) or DIR/email/<name>.txt, where DIR is
--templates, else ROOT/templates/notifications if it exists, else the templates built into
this binary: deploy_started, deploy_succeeded, rolled_back, rollback_failed.
{{field}} is a field of the event (dotted: {{actor.user}}, {{details.reason}}) or a
--var; {{#field}}...{{/field}} is kept only when the field is set, {{^field}}...{{/field}}
only when it is not. A field the template needs that is missing is an error (exit 3).
An email template's first line is `Subject: ...`, then a blank line, then the body.

Environment (never on the command line; the webhook URLs are never printed):
  MOBIUS_SLACK_WEBHOOK   Slack incoming-webhook URL (--channel slack)
  MOBIUS_TEAMS_WEBHOOK   Teams incoming-webhook URL (--channel teams)
  MOBIUS_SMTP_URL        smtps://host[:port] (TLS, port 465) or smtp://host[:port] (port 25,
                         STARTTLS when offered; required when credentials are set)
  MOBIUS_SMTP_USERNAME   SMTP AUTH user and password (both or neither; never printed;
  MOBIUS_SMTP_PASSWORD   never sent without TLS)
  MOBIUS_SMTP_CACERT     PEM file of a private CA to trust instead of the public roots
  MOBIUS_EMAIL_FROM      sender: addr@domain or Name <addr@domain>
  MOBIUS_EMAIL_TO        recipients, comma-separated, same forms
A channel whose variables are not set is a usage error (exit 2), except with --dry-run.

Examples:
  mobius-notify --channel slack --template rolled_back --env production \\
      --var runbook_url=https://wiki.example/rollback
  mobius-history --env staging --list | tail -n1 | mobius-notify --channel email --template deploy_started --event -
  mobius-notify --channel teams --template rollback_failed --event event.json --dry-run

Record:
  {\"type\":\"notification\",\"channel\":\"slack\",\"template\":\"rolled_back\",\"env\":\"production\",\"event_seq\":42,\"destination\":\"$MOBIUS_SLACK_WEBHOOK\",\"sent\":true,\"status\":200,\"subject\":null,\"rendered\":null,\"bytes\":1234,\"duration_ms\":180,\"dry_run\":false}";

/// Render a deployment notification from a history event and send it.
#[derive(Debug, Parser)]
#[command(
    name = "mobius-notify",
    version = mobius_core::VERSION,
    about = "Renders a deployment notification from a history event and sends it to Slack, Teams or email",
    after_help = format!("{ABOUT_EXAMPLES}\n\n{EXIT_CODE_HELP}")
)]
pub struct Args {
    /// Where to send it
    #[arg(long, value_enum)]
    pub channel: Channel,
    /// The template's name: deploy_started, deploy_succeeded, rolled_back, rollback_failed, ...
    #[arg(long, value_name = "NAME", value_parser = template_name)]
    pub template: String,
    /// The event as JSON (an object, or JSON lines of which the last is used; `-` = stdin).
    /// Default with --env: the last event of history/ENV.jsonl
    #[arg(long, value_name = "FILE|-")]
    pub event: Option<PathBuf>,
    /// A value for a placeholder, NAME=VALUE (repeatable; wins over the event's field)
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = var)]
    pub vars: Vec<(String, String)>,
    /// Directory of templates (<channel>/<name>.json|txt)
    #[arg(long, value_name = "DIR", env = "MOBIUS_TEMPLATES")]
    pub templates: Option<PathBuf>,
    /// The environment: whose history's last event to use when no --event is given
    #[arg(long, value_name = "ENV")]
    pub env: Option<EnvName>,
    /// Give up sending after this long (humantime: 10s, 1m)
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Channel {
    Slack,
    Teams,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Email => "email",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Channel::Email => "txt",
            _ => "json",
        }
    }

    /// The variable holding the webhook URL, for the webhook channels.
    pub fn webhook_var(self) -> Option<&'static str> {
        match self {
            Channel::Slack => Some("MOBIUS_SLACK_WEBHOOK"),
            Channel::Teams => Some("MOBIUS_TEAMS_WEBHOOK"),
            Channel::Email => None,
        }
    }
}

fn template_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} is not a template name (a-z, 0-9, _ and -; e.g. rolled_back)"
        ))
    }
}

fn var(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{:?} is not NAME=VALUE", redact_text(s)))?;
    let ok = !k.is_empty()
        && k.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        });
    if ok {
        Ok((k.to_owned(), v.to_owned()))
    } else {
        Err(format!(
            "{k:?} is not a placeholder name (a-z, 0-9, _, - and .)"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{channel} is not configured: set {vars} (read from the environment only)")]
    NotConfigured { channel: &'static str, vars: String },
    #[error("{var}: {msg}")]
    BadSetting { var: &'static str, msg: String },
    #[error("no template {path}: choose one of {known} or give --templates DIR")]
    NoTemplate { path: String, known: String },
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {msg}")]
    BadCaCert { path: String, msg: String },
    #[error("template {template}: {msg}")]
    BadTemplate { template: String, msg: String },
    #[error("template {template}: {source}")]
    Render {
        template: String,
        #[source]
        source: RenderError,
    },
    #[error("event {path}: {msg}")]
    BadEvent { path: String, msg: String },
    #[error("{channel} notification was not delivered: {msg}")]
    Send { channel: &'static str, msg: String },
    #[error("cannot write to stdout")]
    Stdout(#[source] io::Error),
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::NotConfigured { .. } | Error::BadSetting { .. } | Error::NoTemplate { .. } => {
                Exit::Usage
            }
            Error::BadTemplate { .. }
            | Error::Render { .. }
            | Error::BadEvent { .. }
            | Error::BadCaCert { .. } => Exit::Malformed,
            Error::Read { .. } | Error::Send { .. } | Error::Stdout(_) => Exit::Runtime,
        }
    }
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// The JSON body to POST.
    Json(String),
    Email {
        subject: String,
        body: String,
    },
}

impl Rendered {
    /// How it reads for a person (dry run).
    pub fn display(&self) -> String {
        match self {
            Rendered::Json(s) => serde_json::from_str::<Value>(s)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| s.clone()),
            Rendered::Email { subject, body } => format!("Subject: {subject}\n\n{body}"),
        }
    }
}

/// Reads the event: a JSON object, or JSON lines of which the last non-empty one is used.
pub fn parse_event(text: &str, path: &str) -> Result<Value, Error> {
    let bad = |msg: String| Error::BadEvent {
        path: path.to_owned(),
        msg,
    };
    let v = match serde_json::from_str::<Value>(text) {
        Ok(v) => v,
        Err(whole) => {
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .ok_or_else(|| bad("empty: no event to notify about".into()))?;
            serde_json::from_str::<Value>(last).map_err(|e| {
                if text.trim().contains('\n') {
                    bad(format!("last line is not JSON: {e}"))
                } else {
                    bad(format!("not JSON: {whole}"))
                }
            })?
        }
    };
    if v.is_object() {
        Ok(v)
    } else {
        Err(bad("not a JSON object".into()))
    }
}

/// Everything that would reveal a webhook URL in a message: the URL itself, its path and
/// query (where Slack and Teams keep the secret), then the usual secret patterns.
pub(crate) fn scrub(msg: &str, secret: Option<&str>) -> String {
    let mut s = msg.to_owned();
    if let Some(url) = secret.filter(|u| !u.is_empty()) {
        s = s.replace(url, REDACTED);
        if let Some(after) = url.split_once("://").map(|(_, r)| r) {
            if let Some(p) = after.find('/') {
                let path = &after[p..];
                if path.len() > 1 {
                    s = s.replace(path, &format!("/{REDACTED}"));
                }
            }
        }
    }
    redact_lines(&s).into_owned()
}

/// The message as it is sent: no webhook URL, and the shared redaction rules over the JSON
/// body (parsed) or the mail's subject and body (line by line).
fn redact_rendered(r: Rendered, secret: Option<&str>) -> Rendered {
    match r {
        Rendered::Json(body) => {
            let body = scrub(&body, secret);
            Rendered::Json(redact_json_line(&body).into_owned())
        }
        Rendered::Email { subject, body } => Rendered::Email {
            subject: scrub(&subject, secret),
            body: scrub(&body, secret),
        },
    }
}

/// A Slack message or Teams card cut to the service's limits (see [`limits`]).
fn fit(channel: Channel, r: Rendered) -> Rendered {
    let Rendered::Json(text) = &r else {
        return r;
    };
    let Ok(mut v) = serde_json::from_str::<Value>(text) else {
        return r;
    };
    match channel {
        Channel::Slack => limits::fit_slack(&mut v),
        Channel::Teams => limits::fit_teams(&mut v),
        Channel::Email => return r,
    }
    serde_json::to_string(&v).map_or(r, Rendered::Json)
}

pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Posts `body` as JSON; returns the 2xx status. Errors are scrubbed of the URL.
fn post_json(url: &str, body: &str, timeout: Duration) -> Result<u16, String> {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        // A redirect would resend the secret-bearing request elsewhere; webhooks do not redirect.
        .max_redirects(0)
        .user_agent(format!("mobius-notify/{}", mobius_core::VERSION))
        .build();
    let agent: ureq::Agent = config.into();
    let mut resp = agent
        .post(url)
        // The charset said: Teams counts an unlabelled body as UTF-16, halving its limit.
        .content_type("application/json; charset=utf-8")
        .send(body)
        .map_err(|e| scrub(&mobius_core::exit::error_chain(&e), Some(url)))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(status);
    }
    let mut text = String::new();
    let _ = resp
        .body_mut()
        .as_reader()
        .take(400)
        .read_to_string(&mut text);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    Err(scrub(
        &format!("the webhook answered HTTP {status}: {text}"),
        Some(url),
    ))
}

pub fn run(args: &Args, stdin: &mut dyn Read, out: &mut dyn Write) -> Result<Exit, Error> {
    let t0 = Instant::now();
    let reporter = args.common.reporter("mobius-notify");
    let root = args.common.root();
    let channel = args.channel;
    let dry_run = args.common.dry_run;

    // Configuration first: a real send with nothing to send to fails before any work.
    let webhook = channel.webhook_var().map(|v| (v, env_var(v)));
    let email = if channel == Channel::Email {
        Some((
            env_var("MOBIUS_SMTP_URL"),
            env_var("MOBIUS_EMAIL_FROM"),
            env_var("MOBIUS_EMAIL_TO"),
        ))
    } else {
        None
    };
    if !dry_run {
        if let Some((var, None)) = webhook {
            return Err(Error::NotConfigured {
                channel: channel.as_str(),
                vars: var.to_owned(),
            });
        }
        if let Some((smtp, from, to)) = &email {
            let unset: Vec<&str> = [
                ("MOBIUS_SMTP_URL", smtp),
                ("MOBIUS_EMAIL_FROM", from),
                ("MOBIUS_EMAIL_TO", to),
            ]
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
            if !unset.is_empty() {
                return Err(Error::NotConfigured {
                    channel: "email",
                    vars: unset.join(", "),
                });
            }
        }
    }
    let secret = webhook.and_then(|(_, u)| u);
    if let Some(url) = &secret {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::BadSetting {
                var: channel.webhook_var().unwrap_or_default(),
                msg: "must be an https:// (or http://) URL".into(),
            });
        }
    }

    // The event.
    let event = match (&args.event, &args.env) {
        (Some(p), _) => {
            let name = fsafe::input_name(p);
            let text =
                fsafe::read_input_string_or(p, fsafe::Kind::Text, stdin).map_err(|source| {
                    Error::Read {
                        path: name.clone(),
                        source,
                    }
                })?;
            parse_event(&text, &name)?
        }
        (None, Some(env)) => {
            let path = root.history_file(env);
            let mut last: Option<Event> = None;
            mobius_core::history::for_each_event(&path, |_, ev| last = Some(ev)).map_err(
                |source| Error::Read {
                    path: path.display().to_string(),
                    source,
                },
            )?;
            let ev = last.ok_or_else(|| Error::BadEvent {
                path: path.display().to_string(),
                msg: "no event in it to notify about".into(),
            })?;
            serde_json::to_value(Record::Event(ev)).map_err(|e| Error::BadEvent {
                path: path.display().to_string(),
                msg: e.to_string(),
            })?
        }
        (None, None) => Value::Object(serde_json::Map::new()),
    };

    // The template.
    let dir = args.templates.clone().or_else(|| {
        let d = root.dir().join("templates").join("notifications");
        d.is_dir().then_some(d)
    });
    let (template, template_label) = load_template(dir.as_deref(), channel, &args.template)?;
    reporter.detail(format!("template: {template_label}"));
    // What is sent leaves the machine: the event and the values are redacted before they
    // are rendered, and the rendering again after (a template can spell a secret too).
    let mut event = event;
    redact_value(&mut event);
    if let Some(why) = intent::contradiction(&args.template, &event) {
        let what = if dry_run {
            "would send it anyway"
        } else {
            "sending it anyway"
        };
        reporter.warn(format!("{why}; {what} (check --template and --event)"));
    }
    let vars: Vec<(String, String)> = args
        .vars
        .iter()
        .map(|(k, v)| {
            let v = if is_secret_key(k) {
                REDACTED.to_owned()
            } else {
                redact_text(v).into_owned()
            };
            (k.clone(), v)
        })
        .collect();
    let ctx = Context {
        event: &event,
        vars: &vars,
    };
    // Fitted last: redaction can change a field's length.
    let rendered = fit(
        channel,
        redact_rendered(
            render(channel, &template, &template_label, &ctx)?,
            secret.as_deref(),
        ),
    );

    let env = args
        .env
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| event.get("env").and_then(Value::as_str).map(str::to_owned));
    let mut rec = NotificationRecord {
        channel: channel.as_str().to_owned(),
        template: args.template.clone(),
        env,
        event_seq: event.get("seq").and_then(Value::as_u64),
        destination: None,
        sent: false,
        status: None,
        subject: match &rendered {
            Rendered::Email { subject, .. } => Some(subject.clone()),
            Rendered::Json(_) => None,
        },
        rendered: None,
        bytes: 0,
        duration_ms: 0,
        dry_run,
    };

    if dry_run {
        let text = rendered.display();
        reporter.info(format!(
            "dry run: would send this {} notification:\n{text}",
            channel.as_str()
        ));
        rec.bytes = text.len() as u64;
        rec.rendered = Some(scrub(&text, secret.as_deref()));
    } else {
        match (&rendered, channel.webhook_var(), &secret, &email) {
            (Rendered::Json(body), Some(var), Some(url), _) => {
                rec.destination = Some(format!("${var}"));
                rec.bytes = body.len() as u64;
                let status = post_json(url, body, args.timeout).map_err(|msg| Error::Send {
                    channel: channel.as_str(),
                    msg: format!("POST to ${var} failed: {msg}"),
                })?;
                rec.status = Some(status);
            }
            (Rendered::Email { subject, body }, _, _, Some((Some(url), Some(from), Some(to)))) => {
                let mail = email::Outgoing {
                    url,
                    from,
                    to,
                    subject,
                    body,
                };
                let (destination, code) = email::send(&mail, args.timeout)?;
                rec.destination = Some(destination);
                rec.bytes = body.len() as u64;
                rec.status = Some(code);
            }
            // Configuration was checked above; this is unreachable short of a bug, and a
            // bug here must not pretend the message went out.
            _ => {
                return Err(Error::NotConfigured {
                    channel: channel.as_str(),
                    vars: "its variables".into(),
                })
            }
        }
        rec.sent = true;
        reporter.info(format!(
            "sent {} notification {} for {}",
            channel.as_str(),
            args.template,
            rec.env.as_deref().unwrap_or("(no env)")
        ));
    }
    rec.duration_ms = mobius_core::time::millis(t0.elapsed());
    JsonlWriter::new(out)
        .write(&Record::Notification(rec))
        .map_err(Error::Stdout)?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn events_from_object_or_json_lines() {
        assert_eq!(parse_event("{\"a\":1}", "f").unwrap()["a"], 1);
        let lines = "{\"seq\":1}\n{\"seq\":2}\n\n";
        assert_eq!(parse_event(lines, "f").unwrap()["seq"], 2);
        for bad in ["", "[1]", "{\"seq\":1}\nnope", "nope"] {
            assert!(
                matches!(parse_event(bad, "f"), Err(Error::BadEvent { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn scrub_hides_the_url_and_its_path() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        let msg = format!("POST {url} failed; retry /services/T000/B000/XXXXSECRET");
        let s = scrub(&msg, Some(url));
        assert!(!s.contains("XXXXSECRET"), "{s}");
        assert!(s.contains(REDACTED));
    }
}

mobius_core::help_fits_test!(Args);
