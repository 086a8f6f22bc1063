//! Exit codes (docs/CONTRACT.md §2), defined once so every tool means the same thing by them.
//!
//! A tool's error enum implements [`ToolError`] to say which code each variant means, and
//! `main` ends with [`finish`], which prints the one-line message and exits.

use std::fmt;
use std::io::Write;

/// The documented exit codes. The numbers are part of the contract with scripts and CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// The thing examined is good.
    Success = 0,
    /// The thing examined is bad (mismatch, failed smoke test, rollback verdict, refused backup).
    Bad = 1,
    /// Usage: unknown flag, bad value, bad environment name.
    Usage = 2,
    /// Malformed input: a record, spec or config that does not parse.
    Malformed = 3,
    /// The tool itself failed: I/O error, disk full, lock held.
    Runtime = 4,
    /// Inconclusive: not enough data to decide, or a run cut short.
    Inconclusive = 5,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Combines the outcome of two independent items (e.g. two backups verified in one run):
    /// the worse one wins, where a tool failure outranks a bad result, which outranks success.
    pub fn merge(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Success => 0,
                Exit::Inconclusive => 1,
                Exit::Bad => 2,
                Exit::Malformed => 3,
                Exit::Runtime => 4,
                Exit::Usage => 5,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// Implemented by each tool's error enum: the exit code a variant stands for.
pub trait ToolError: std::error::Error {
    fn exit(&self) -> Exit;
}

/// The exit-code table that ends every tool's `--help`.
pub const EXIT_CODE_HELP: &str = "\
Exit codes:
  0  success: the thing examined is good
  1  the thing examined is bad (mismatch, failed check, rollback verdict, refused backup)
  2  usage: unknown flag, bad value, bad environment name
  3  malformed input: a record, spec or config that does not parse
  4  the tool itself failed: I/O error, disk full, lock held by another run
  5  inconclusive: not enough data to decide, or a run cut short

Records, files and rules every tool follows: docs/CONTRACT.md";

/// Ends the process: prints `mobius-<tool>: <message>` for an error (with its causes) and exits
/// with the code the error or outcome stands for. A broken pipe on stdout is a clean exit: the
/// reader has all it wanted (`mobius-probe | head -3`).
pub fn finish<E: ToolError + 'static>(tool: &str, result: Result<Exit, E>) -> ! {
    let code = match result {
        Ok(exit) => exit,
        Err(err) => {
            if is_broken_pipe_error(&err) {
                Exit::Success
            } else {
                // Error text quotes inputs (URLs, lines, headers): it leaves redacted.
                let msg = error_chain(&err);
                let _ = writeln!(
                    std::io::stderr(),
                    "{tool}: {}",
                    crate::redact::redact_lines(&msg)
                );
                err.exit()
            }
        }
    };
    std::process::exit(code.code())
}

/// An error and its causes on one line, `outer: cause: root cause`, skipping a cause whose
/// text the outer message already carries (thiserror's `{source}` interpolation).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = cause.source();
    }
    msg
}

fn is_broken_pipe_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_the_worse_outcome() {
        assert_eq!(Exit::Success.merge(Exit::Bad), Exit::Bad);
        assert_eq!(Exit::Bad.merge(Exit::Success), Exit::Bad);
        assert_eq!(Exit::Bad.merge(Exit::Malformed), Exit::Malformed);
        assert_eq!(Exit::Runtime.merge(Exit::Bad), Exit::Runtime);
        assert_eq!(Exit::Success.merge(Exit::Inconclusive), Exit::Inconclusive);
        assert_eq!(Exit::Success.merge(Exit::Success), Exit::Success);
    }

    #[test]
    fn codes_match_the_contract() {
        let codes: Vec<i32> = [
            Exit::Success,
            Exit::Bad,
            Exit::Usage,
            Exit::Malformed,
            Exit::Runtime,
            Exit::Inconclusive,
        ]
        .iter()
        .map(|e| e.code())
        .collect();
        assert_eq!(codes, vec![0, 1, 2, 3, 4, 5]);
    }
}
