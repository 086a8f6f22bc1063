//! mobius-history: the operator's door into `history/<env>.jsonl` for steps no other tool
//! performs — above all the deploy itself (`npm ci && systemctl restart …` is the operator's
//! own), so that the history, and the compliance export built from it, show when a
//! deployment started and how it ended. Appends go through `mobius_core::history`, the same
//! locked, hash-chained writer every tool uses; `--list` prints the events back.

use clap::Parser;
use mobius_core::cli::{CommonArgs, EnvArg};
use mobius_core::exit::EXIT_CODE_HELP;
use mobius_core::history::{self, HistoryError};
use mobius_core::jsonl::JsonlWriter;
use mobius_core::records::Record;
use mobius_core::{Exit, ToolError};
use serde_json::{Map, Value};
use std::io::{self, Write};

const ABOUT_EXAMPLES: &str = "\
Examples:
  mobius-history --env production --action deploy --outcome started \\
      --detail version=1.5.0 --detail commit=3f2c1ab --detail backup=backups/dhash_production_….zip
  mobius-history --env production --action deploy --outcome success
  mobius-history --env production --list

Record: the appended event, e.g.
  {\"type\":\"event\",\"seq\":4,\"ts\":\"2026-11-26T19:00:00.000Z\",\"env\":\"production\",\"action\":\"deploy\",\"outcome\":\"started\",\"actor\":{\"user\":\"ops\",\"host\":\"web1\"},\"details\":{\"version\":\"1.5.0\"},\"prev\":\"…\"}";

/// Record a deployment step in the history, or list it.
#[derive(Debug, Parser)]
#[command(
    name = "mobius-history",
    version = mobius_core::VERSION,
    about = "Records a deployment step in history/<env>.jsonl (hash-chained, locked), or lists it",
    after_help = format!("{ABOUT_EXAMPLES}\n\n{EXIT_CODE_HELP}")
)]
pub struct Args {
    #[command(flatten)]
    pub env: EnvArg,
    #[command(flatten)]
    pub common: CommonArgs,
    /// What happened: deploy, migration, note, ... (lowercase, a-z and _)
    #[arg(long, value_name = "ACTION", value_parser = word, required_unless_present = "list")]
    pub action: Option<String>,
    /// How it went: started, success, failure, ... (lowercase, a-z and _)
    #[arg(long, value_name = "OUTCOME", value_parser = word, requires = "action")]
    pub outcome: Option<String>,
    /// A detail to record, KEY=VALUE (repeatable); numbers and true/false stay typed
    #[arg(long = "detail", value_name = "KEY=VALUE", value_parser = detail)]
    pub details: Vec<(String, Value)>,
    /// Print the history's events as JSON lines instead of appending
    #[arg(long, conflicts_with_all = ["action", "outcome", "details"])]
    pub list: bool,
}

fn word(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{s:?} must be 1-32 characters of a-z, 0-9 and _, starting with a letter"
        ))
    }
}

fn detail(s: &str) -> Result<(String, Value), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    let key = word(key)?;
    // Typed where unambiguous, so an auditor's CSV sorts numbers as numbers.
    let value = match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        v => match v.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::String(v.to_owned()),
        },
    };
    Ok((key, value))
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("--outcome is required with --action (e.g. --outcome started)")]
    NoOutcome,
    #[error("cannot read history {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write to stdout")]
    Stdout(#[source] io::Error),
}

impl ToolError for Error {
    fn exit(&self) -> Exit {
        match self {
            Error::NoOutcome => Exit::Usage,
            _ => Exit::Runtime,
        }
    }
}

pub fn run(args: &Args, out: &mut dyn Write) -> Result<Exit, Error> {
    let root = args.common.root();
    let env = &args.env.env;
    let reporter = args.common.reporter("mobius-history");
    let mut w = JsonlWriter::new(out);
    if args.list {
        let path = root.history_file(env);
        if !path.exists() {
            reporter.info(format!("no history yet at {}", path.display()));
            return Ok(Exit::Success);
        }
        let mut write_err = None;
        history::for_each_event(&path, |_, ev| {
            if write_err.is_none() {
                if let Err(e) = w.write(&Record::Event(ev)) {
                    write_err = Some(e);
                }
            }
        })
        .map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        return match write_err {
            Some(e) => Err(Error::Stdout(e)),
            None => Ok(Exit::Success),
        };
    }
    let action = args.action.as_deref().unwrap_or_default();
    let outcome = args.outcome.as_deref().ok_or(Error::NoOutcome)?;
    let details: Map<String, Value> = args.details.iter().cloned().collect();
    if args.common.dry_run {
        reporter.info(format!(
            "dry run: would record {action} {outcome} in {} with {}",
            root.history_file(env).display(),
            Value::Object(details)
        ));
        return Ok(Exit::Success);
    }
    let appended = history::append(&root, env, action, outcome, Value::Object(details))?;
    for warning in &appended.warnings {
        reporter.warn(warning);
    }
    reporter.detail(format!(
        "recorded {action} {outcome} as event {} of {}",
        appended.event.seq,
        root.history_file(env).display()
    ));
    w.write(&Record::Event(appended.event))
        .map_err(Error::Stdout)?;
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn details_are_typed_and_keys_checked() {
        assert_eq!(detail("n=3").unwrap(), ("n".into(), Value::from(3)));
        assert_eq!(detail("ok=true").unwrap(), ("ok".into(), Value::Bool(true)));
        assert_eq!(
            detail("version=1.5.0").unwrap(),
            ("version".into(), Value::from("1.5.0"))
        );
        assert_eq!(detail("url=a=b").unwrap().1, Value::from("a=b"));
        assert!(detail("novalue").is_err());
        assert!(detail("Bad-Key=1").is_err());
    }
}

mobius_core::help_fits_test!(Args);
