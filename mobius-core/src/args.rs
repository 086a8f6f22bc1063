//! How every tool's `main` reads its command line: clap's parse, plus what ripgrep users expect
//! of a well-kept tool: `--generate man` and `--generate complete-<shell>` (made from the same
//! clap definitions, so they can never drift from `--help`), and usage errors that carry the
//! tool's `mobius-<tool>:` prefix on one line and exit 2, as the README promises.

use crate::exit::Exit;
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};
use std::io::Write;

/// What `--generate` can produce.
pub const GENERATE_KINDS: [&str; 5] = [
    "man",
    "complete-bash",
    "complete-zsh",
    "complete-fish",
    "complete-powershell",
];

/// Parses the process's arguments into `A`, or ends the process: `--help`/`--version` print and
/// exit 0, `--generate KIND` prints the man page or completion script and exits 0, and any
/// usage error prints `mobius-<tool>: <what is wrong>; see mobius-<tool> --help` and exits 2.
pub fn parse<A: FromArgMatches + CommandFactory>() -> A {
    match try_parse(std::env::args_os()) {
        Ok(Parsed::Args(a)) => a,
        Ok(Parsed::Generated(text)) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`--generate man | head`) is the reader's choice, not an error.
            let _ = out.write_all(&text).and_then(|()| out.flush());
            std::process::exit(0)
        }
        Err(Usage::Display(text)) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            std::process::exit(0)
        }
        Err(Usage::Error(line)) => {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
            std::process::exit(Exit::Usage.code())
        }
    }
}

/// The outcome of reading a command line, for [`parse`] and for tests.
#[derive(Debug)]
pub enum Parsed<A> {
    Args(A),
    /// The bytes `--generate` asked for.
    Generated(Vec<u8>),
}

/// Why a command line did not give arguments to run with.
#[derive(Debug, PartialEq, Eq)]
pub enum Usage {
    /// `--help` or `--version`: text for stdout, exit 0.
    Display(String),
    /// One line for stderr, exit 2.
    Error(String),
}

/// [`parse`] without ending the process.
pub fn try_parse<A, I, T>(argv: I) -> Result<Parsed<A>, Usage>
where
    A: FromArgMatches + CommandFactory,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv: Vec<std::ffi::OsString> = argv.into_iter().map(Into::into).collect();
    let cmd = command::<A>();
    let tool = cmd.get_name().to_owned();
    // Looked for before clap parses: a tool whose flags must name one of several things
    // (mobius-verify's BACKUP.zip|--latest|...) would otherwise ask for them first.
    if let Some(kind) = generate_request(&argv) {
        return match kind {
            Ok(kind) if GENERATE_KINDS.contains(&kind.as_str()) => {
                Ok(Parsed::Generated(generate(cmd, &kind)))
            }
            Ok(kind) => Err(Usage::Error(format!(
                "{tool}: --generate {kind:?}: not one of {}; see {tool} --help",
                GENERATE_KINDS.join(", ")
            ))),
            Err(why) => Err(Usage::Error(format!("{tool}: {why}; see {tool} --help"))),
        };
    }
    let matches = cmd
        .clone()
        .try_get_matches_from(argv)
        .map_err(|e| usage(&tool, &e))?;
    A::from_arg_matches(&matches)
        .map(Parsed::Args)
        .map_err(|e| usage(&tool, &e.with_cmd(&cmd)))
}

/// `--generate KIND` (or `--generate=KIND`) anywhere in the arguments: the kind, or why the
/// command line is wrong (another argument beside it, no kind).
fn generate_request(argv: &[std::ffi::OsString]) -> Option<Result<String, String>> {
    let args: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let at = args
        .iter()
        .position(|a| a == "--generate" || a.starts_with("--generate="))?;
    let (kind, used) = match args[at].strip_prefix("--generate=") {
        Some(kind) => (Some(kind.to_owned()), 1),
        None => (args.get(at + 1).cloned(), 2),
    };
    Some(match kind {
        None => Err("--generate needs a KIND".to_owned()),
        Some(_) if args.len() > used => {
            Err("--generate cannot be used with other arguments".to_owned())
        }
        Some(kind) => Ok(kind),
    })
}

/// The tool's clap command with `--generate` added. It is exclusive, so the tool's required
/// flags are not asked for when it is given.
pub fn command<A: CommandFactory>() -> Command {
    crate::helptext::prepare(command_unprepared::<A>(), crate::helptext::width())
}

/// [`command`] before its texts are laid out for a width.
pub fn command_unprepared<A: CommandFactory>() -> Command {
    A::command().arg(
        Arg::new("generate")
            .long("generate")
            .value_name("KIND")
            .value_parser(GENERATE_KINDS)
            .action(ArgAction::Set)
            .exclusive(true)
            .help("Print a man page or a shell completion script and exit")
            .long_help(
                "Print this tool's man page (man) or a completion script for bash, zsh, fish or \
                 PowerShell (complete-bash, complete-zsh, complete-fish, complete-powershell) \
                 to stdout and exit. The README's \"Man pages and completions\" says where to \
                 put them.",
            ),
    )
}

fn generate(mut cmd: Command, kind: &str) -> Vec<u8> {
    let name = cmd.get_name().to_owned();
    let mut out = Vec::new();
    let shell = match kind {
        "man" => {
            // roff fills paragraphs itself: hand it each one as a single line.
            // Laid out for man's usual 80 columns less its indents; mangen keeps the lines.
            cmd = crate::helptext::prepare(cmd, 66);
            cmd.build();
            // Writing into a Vec cannot fail.
            let _ = clap_mangen::Man::new(cmd).render(&mut out);
            return out;
        }
        "complete-zsh" => clap_complete::Shell::Zsh,
        "complete-fish" => clap_complete::Shell::Fish,
        "complete-powershell" => clap_complete::Shell::PowerShell,
        _ => clap_complete::Shell::Bash,
    };
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}

/// clap's multi-line error report as one line with the tool's prefix: the message, the names
/// it lists (missing flags), and where to read more.
fn usage(tool: &str, err: &clap::Error) -> Usage {
    use clap::error::ErrorKind;
    let text = err.render().to_string();
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return Usage::Display(text);
    }
    let mut parts: Vec<String> = Vec::new();
    let mut tip = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !parts.is_empty() {
                break;
            }
            continue;
        }
        if let Some(t) = line.strip_prefix("tip: ") {
            tip = Some(t.to_owned());
            continue;
        }
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line).to_owned());
    }
    let mut line = parts.join(" ");
    if let Some(stripped) = line.strip_suffix(':') {
        line = stripped.to_owned();
    }
    if parts.len() > 1 {
        // "the following required arguments were not provided: --env <ENV>"
        line = format!(
            "{}: {}",
            parts[0].trim_end_matches(':'),
            parts[1..].join(", ")
        );
    }
    let line = crate::redact::redact_lines(&line);
    match tip {
        Some(tip) => Usage::Error(format!("{tool}: {line} ({tip}); see {tool} --help")),
        None => Usage::Error(format!("{tool}: {line}; see {tool} --help")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// A tool with a required flag, like most of ours.
    #[derive(Debug, Parser)]
    #[command(name = "mobius-x", version, about = "A test tool")]
    struct X {
        #[arg(long)]
        env: String,
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
    }

    fn err(argv: &[&str]) -> String {
        match try_parse::<X, _, _>(argv.iter().copied()) {
            Err(Usage::Error(line)) => line,
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn usage_errors_are_one_prefixed_line() {
        for (argv, want) in [
            (
                &["mobius-x", "--bogus"][..],
                "unexpected argument '--bogus'",
            ),
            (&["mobius-x"][..], "--env <ENV>"),
            (&["mobius-x", "--env", "a", "--count", "0"][..], "--count"),
            (&["mobius-x", "--env"][..], "--env"),
        ] {
            let line = err(argv);
            assert!(line.starts_with("mobius-x: "), "{line}");
            assert!(line.contains(want), "{line}");
            assert!(!line.contains('\n'), "{line}");
            assert!(line.ends_with("see mobius-x --help"), "{line}");
        }
    }

    #[test]
    fn generate_needs_no_other_flag() {
        for kind in GENERATE_KINDS {
            match try_parse::<X, _, _>(["mobius-x", "--generate", kind]) {
                Ok(Parsed::Generated(text)) => assert!(
                    String::from_utf8_lossy(&text).contains("mobius-x"),
                    "{kind}"
                ),
                other => panic!("{kind}: {other:?}"),
            }
        }
        assert!(err(&["mobius-x", "--generate", "complete-tcsh"]).contains("complete-tcsh"));
        assert!(err(&["mobius-x", "--env", "a", "--generate", "man"]).contains("--generate"));
        assert!(err(&["mobius-x", "--generate"]).contains("needs a KIND"));
        assert!(matches!(
            try_parse::<X, _, _>(["mobius-x", "--generate=man"]),
            Ok(Parsed::Generated(_))
        ));
    }

    #[test]
    fn help_and_version_are_for_stdout() {
        for flag in ["--help", "--version"] {
            assert!(matches!(
                try_parse::<X, _, _>(["mobius-x", flag]),
                Err(Usage::Display(_))
            ));
        }
    }
}
