//! Progress for a person at a terminal: a bar for long byte-counted work (backup, verify,
//! rollback, export) and one status line that updates in place (the judge). Drawn by indicatif
//! on stderr only when stderr is a terminal, `--quiet` is not given and `TERM` is not `dumb`;
//! colour only without `NO_COLOR`. Nothing of it ever reaches stdout (JSON lines) or a
//! non-terminal stderr (a log, a CI job), so no test or script sees it.
//!
//! A bar appears only once the work has run for [`SHOW_AFTER`] (`MOBIUS_PROGRESS_DELAY`, in
//! milliseconds, sets another): a backup of three files must not flash one.

use crate::cli::Reporter;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The variable that sets [`SHOW_AFTER`] in milliseconds (0: at once).
pub const DELAY_VAR: &str = "MOBIUS_PROGRESS_DELAY";

/// How long work runs before its bar is drawn.
pub const SHOW_AFTER: Duration = Duration::from_millis(700);

fn show_after() -> Duration {
    std::env::var(DELAY_VAR)
        .ok()
        .and_then(|ms| ms.trim().parse().ok())
        .map_or(SHOW_AFTER, Duration::from_millis)
}

/// Whether anything may be drawn: a terminal on stderr, not `--quiet`, a terminal that can
/// move the cursor.
pub fn allowed(reporter: &Reporter) -> bool {
    reporter.progress_allowed() && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// <https://no-color.org>: set and not empty means no colour.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A progress display; every method is a no-op when nothing may be drawn. It clears itself
/// when dropped, so an error message never lands after half a bar.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    shown: AtomicBool,
}

impl Progress {
    /// Nothing drawn, ever.
    pub fn hidden() -> Progress {
        Progress {
            bar: None,
            started: Instant::now(),
            shown: AtomicBool::new(true),
        }
    }

    /// A bar over `total` bytes: `mobius-backup: [=====>   ] 312 MiB/1.2 GiB 80 MiB/s 0:00:11 files`.
    pub fn bytes(reporter: &Reporter, total: u64, what: &str) -> Progress {
        if !allowed(reporter) {
            return Progress::hidden();
        }
        let bar_style = if colour() {
            "{prefix}: {bar:30.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}"
        } else {
            "{prefix}: [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}"
        };
        let style = ProgressStyle::with_template(bar_style)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
            .with_style(style)
            .with_prefix(reporter.tool())
            .with_message(what.to_owned());
        Progress::new(bar, false)
    }

    /// One line of text, set with [`Progress::set_message`], drawn at once.
    pub fn status(reporter: &Reporter) -> Progress {
        if !allowed(reporter) {
            return Progress::hidden();
        }
        let template = if colour() {
            "{prefix:.bold}: {wide_msg}"
        } else {
            "{prefix}: {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
            .with_style(style)
            .with_prefix(reporter.tool());
        Progress::new(bar, true)
    }

    fn new(bar: ProgressBar, at_once: bool) -> Progress {
        // Only reached with stderr on a terminal: colour there unless NO_COLOR says no.
        console::set_colors_enabled(colour());
        let p = Progress {
            bar: Some(bar),
            started: Instant::now(),
            shown: AtomicBool::new(false),
        };
        if at_once {
            p.show();
        }
        p
    }

    fn show(&self) {
        if let Some(bar) = &self.bar {
            if !self.shown.swap(true, Ordering::Relaxed) {
                bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(8));
                // Drawn now: the update that showed it may be the last for a while.
                bar.tick();
            }
        }
    }

    fn tick(&self) {
        if !self.shown.load(Ordering::Relaxed) && self.started.elapsed() >= show_after() {
            self.show();
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
            self.tick();
        }
    }

    pub fn set_position(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(n);
            self.tick();
        }
    }

    pub fn set_message(&self, msg: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.into());
            self.tick();
        }
    }

    /// Whether anything can be drawn (callers skip building a message otherwise).
    pub fn active(&self) -> bool {
        self.bar.is_some()
    }

    /// Runs `f` (which writes a message to stderr) with the display lifted off the terminal,
    /// so the message gets a line of its own.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) if self.shown.load(Ordering::Relaxed) => bar.suspend(f),
            _ => f(),
        }
    }

    /// Removes the display from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_without_a_terminal() {
        // Under `cargo test` stderr is captured or a pipe: never a bar.
        let r = Reporter::new("mobius-x", crate::cli::Verbosity::Normal);
        if !r.progress_allowed() {
            assert!(!Progress::bytes(&r, 10, "x").active());
            assert!(!Progress::status(&r).active());
        }
        let hidden = Progress::hidden();
        hidden.inc(5);
        hidden.set_message("x");
        assert!(!hidden.active());
    }
}
