//! Stopping cleanly on SIGINT/SIGTERM. Long-running tools (mobius-probe, mobius-demo) must end
//! with every line they wrote complete, so the handler only raises a flag; the tool notices it
//! between records and finishes in its own time. Waits go through [`sleep_until`], which wakes
//! in small steps so a signal ends a long wait promptly.
//!
//! Signals are a Unix thing: elsewhere (Windows) no handler is installed, Ctrl-C ends the
//! process as the system does by default, and only [`request_stop`] raises the flag.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The longest a wait sleeps before looking at the stop flag again.
pub const POLL_STEP: Duration = Duration::from_millis(20);

/// The numbers of the two stop signals, defined here so messages can name them on every
/// system; every Unix uses these (checked below, at compile time, on each one built).
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

#[cfg(unix)]
const _: () = assert!(SIGINT == libc::SIGINT && SIGTERM == libc::SIGTERM);

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int) {
    // Only async-signal-safe work here: two atomic stores.
    SIGNAL.store(sig, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGINT and SIGTERM.
#[cfg(unix)]
pub fn install_stop_handler() -> io::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `sa` is fully initialised (zeroed, then the fields sigaction reads are set);
        // the handler only touches atomics, which is async-signal-safe.
        let rc = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Installs the handler for SIGINT and SIGTERM: a no-op where there are no signals.
#[cfg(not(unix))]
pub fn install_stop_handler() -> io::Result<()> {
    Ok(())
}

/// True once SIGINT/SIGTERM arrived (or [`request_stop`] was called).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// The signal that asked us to stop, if one did.
pub fn stop_signal() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Asks the process to stop as a signal would (used by tools that end for other reasons).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// A name for a signal number in messages: `SIGTERM`, `SIGINT`, or `signal N`.
pub fn signal_name(sig: i32) -> String {
    match sig {
        SIGINT => "SIGINT".into(),
        SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// Sleeps until `deadline`, waking every [`POLL_STEP`] to look at the stop flag. Returns
/// false if a stop was requested before the deadline.
pub fn sleep_until(deadline: Instant) -> bool {
    loop {
        if stop_requested() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(POLL_STEP));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named() {
        assert_eq!(signal_name(SIGINT), "SIGINT");
        assert_eq!(signal_name(SIGTERM), "SIGTERM");
        assert_eq!(signal_name(9), "signal 9");
    }

    #[cfg(unix)]
    #[test]
    fn sigterm_sets_the_flag_and_ends_a_wait() {
        install_stop_handler().unwrap();
        assert!(sleep_until(Instant::now() + Duration::from_millis(5)));
        // SAFETY: raising a signal whose handler we installed above.
        unsafe {
            libc::raise(libc::SIGTERM);
        }
        assert!(stop_requested());
        assert_eq!(stop_signal(), Some(libc::SIGTERM));
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        let t0 = Instant::now();
        assert!(!sleep_until(t0 + Duration::from_secs(3600)));
    }
}
