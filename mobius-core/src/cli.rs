//! The flags every tool shares (`--root`/`MOBIUS_ROOT`, `--dry-run`, `--verbose`, `--quiet`,
//! `--env`), as clap structs to `#[command(flatten)]`, and the stderr reporter they drive.

use crate::env::EnvName;
use crate::layout::Root;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Flags common to every tool that works on a MOBIUS root.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Directory holding config/, backups/, history/ ... (default: the working directory).
    /// It must exist: a mistyped root is an error, never a fresh empty tree
    #[arg(long, env = "MOBIUS_ROOT", value_name = "DIR", global = true, value_parser = existing_root)]
    pub root: Option<PathBuf>,
    /// Show what would be done; change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// More detail on stderr
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl CommonArgs {
    pub fn root(&self) -> Root {
        Root::new(self.root.clone().unwrap_or_else(|| PathBuf::from(".")))
    }

    pub fn reporter(&self, tool: &'static str) -> Reporter {
        Reporter::new(tool, self.verbosity())
    }

    pub fn verbosity(&self) -> Verbosity {
        if self.quiet {
            Verbosity::Quiet
        } else if self.verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

/// `--root` must name an existing directory: creating a missing one would let a typo
/// (`--root /srv/mobuis`) start an empty history and back up nothing, silently.
fn existing_root(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    match std::fs::metadata(&p) {
        Ok(m) if m.is_dir() => Ok(p),
        Ok(m) => Err(format!(
            "{s} is {}, not a directory",
            crate::fsafe::describe(&m)
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{s} does not exist; the tools never create a root, create it first (mkdir -p {s})"
        )),
        Err(e) => Err(format!("{s}: {e}")),
    }
}

/// A required `--env`.
#[derive(Debug, Clone, clap::Args)]
pub struct EnvArg {
    /// Target environment (^[a-z][a-z0-9_-]{0,31}$), e.g. staging, production
    #[arg(long, value_name = "ENV")]
    pub env: EnvName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Messages for people on stderr, `mobius-<tool>: <message>`, filtered by verbosity.
/// Stdout is reserved for JSON lines, so nothing here ever writes there.
#[derive(Debug, Clone)]
pub struct Reporter {
    tool: &'static str,
    verbosity: Verbosity,
    tty: bool,
}

impl Reporter {
    pub fn new(tool: &'static str, verbosity: Verbosity) -> Reporter {
        Reporter {
            tool,
            verbosity,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// A reporter that prints nothing (library callers and unit tests).
    pub fn silent(tool: &'static str) -> Reporter {
        Reporter {
            tool,
            verbosity: Verbosity::Quiet,
            tty: false,
        }
    }

    pub fn tool(&self) -> &'static str {
        self.tool
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// Whether a progress display may be drawn: only for a person at a terminal.
    pub fn progress_allowed(&self) -> bool {
        self.tty && self.verbosity != Verbosity::Quiet
    }

    pub fn info(&self, msg: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Normal {
            self.emit(msg.as_ref());
        }
    }

    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbosity >= Verbosity::Verbose {
            self.emit(msg.as_ref());
        }
    }

    /// Warnings survive `--quiet`: they are about something the operator must know.
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.emit(&format!("warning: {}", msg.as_ref()));
    }

    pub fn error(&self, msg: impl AsRef<str>) {
        self.emit(msg.as_ref());
    }

    /// Every message is redacted on its way out: messages quote URLs, headers and lines of
    /// input, and stderr lands in CI logs and monitor logs.
    fn emit(&self, msg: &str) {
        let msg = crate::redact::redact_lines(msg);
        let _ = writeln!(std::io::stderr().lock(), "{}: {}", self.tool, msg);
    }
}

/// A backup named on the command line: a file, never `-`. A backup is checked against the
/// sidecar beside it and read at random offsets, which standard input cannot give.
pub fn backup_file(s: &str) -> Result<PathBuf, String> {
    if s == "-" {
        return Err(
            "a backup is read from its file beside its sidecar (X.zip.sha256), not \
             from standard input; save it to a file first"
                .to_owned(),
        );
    }
    Ok(PathBuf::from(s))
}
