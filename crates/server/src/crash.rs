//! Redis's crash report (debug.c's `sigsegvHandler`): on SIGSEGV, SIGBUS, SIGFPE, SIGILL or
//! SIGABRT the log gets Redis's "REDIS BUG REPORT" block (the signal, what sent it or the
//! address touched, and the crashed thread's stack trace), then the process dies of that same
//! signal, so a supervisor, a core dump and the exit status all see the crash, as with Redis.
//! DEBUG SEGFAULT raises SIGSEGV on purpose: the Redis Cluster tutorial kills a master that way
//! to show a failover.
//!
//! Everything before the stack trace is written with write(2) alone (no lock, no allocation),
//! since the crashed thread may hold the logger's lock or be inside the allocator. The trace
//! itself needs both, as Redis's backtrace_symbols does, so it comes last, behind an alarm:
//! should it deadlock, SIGALRM ends the process within seconds rather than leave a hung
//! master that supervisors would not restart. `crash-log-enabled no` skips the report.

use crate::log::{warning_signal_safe, write_signal_safe};
use std::sync::atomic::{AtomicBool, Ordering};

/// `crash-log-enabled`, mirrored for the handler (which must not take the config lock).
static CRASH_LOG_ENABLED: AtomicBool = AtomicBool::new(true);

const SIGNALS: [libc::c_int; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGABRT];

/// Installs the handler for the crash signals (once, at start-up).
pub fn install() {
    for sig in SIGNALS {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler has
        // the three-argument form SA_SIGINFO asks for and stays valid for the process's life.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_crash as *const () as usize;
            // SA_RESETHAND: the re-raise at the end (or a crash inside the report) takes the
            // default action and ends the process.
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Follows `crash-log-enabled` (start-up and CONFIG SET).
pub fn set_log_enabled(enabled: bool) {
    CRASH_LOG_ENABLED.store(enabled, Ordering::Relaxed);
}

/// DEBUG SEGFAULT: crashes this thread as a segmentation fault does.
pub fn segfault() -> ! {
    // SAFETY: raise(3) has no memory preconditions; with the handler installed the process
    // ends in it (SA_RESETHAND), and without it by SIGSEGV's default action.
    unsafe {
        libc::raise(libc::SIGSEGV);
    }
    std::process::abort()
}

extern "C" fn on_crash(sig: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    if CRASH_LOG_ENABLED.load(Ordering::Relaxed) {
        report(sig, info);
    }
    // SAFETY: re-raising the signal, whose disposition SA_RESETHAND set back to the default,
    // ends the process with it; raise(3) is async-signal-safe.
    unsafe {
        libc::raise(sig);
    }
}

fn report(sig: libc::c_int, info: *mut libc::siginfo_t) {
    write_signal_safe(b"\n\n=== REDIS BUG REPORT START: Cut & paste starting from here ===\n");
    // SAFETY: the kernel hands SA_SIGINFO handlers a valid siginfo_t for the signal.
    let (code, addr, sender) = unsafe {
        match info.as_ref() {
            Some(i) => {
                (i.si_code, i.si_addr() as usize, (i.si_code == libc::SI_USER).then(|| (i.si_pid(), i.si_uid())))
            }
            None => (0, 0, None),
        }
    };
    warning_signal_safe(format_args!("Redis {} crashed by signal: {sig}, si_code: {code}", crate::info::REDIS_VERSION));
    // A positive si_code is a fault the kernel raised, whose address means something; a signal
    // sent by kill(2) or raise(3) (DEBUG SEGFAULT) carries a pid there instead.
    if (sig == libc::SIGSEGV || sig == libc::SIGBUS) && code > 0 {
        warning_signal_safe(format_args!("Accessing address: {addr:#x}"));
    }
    if let Some((pid, uid)) = sender {
        warning_signal_safe(format_args!("Killed by PID: {pid}, UID: {uid}"));
    }
    write_signal_safe(b"\n------ STACK TRACE ------\n\nBacktrace:\n");
    // SAFETY: alarm(2) is async-signal-safe; SIGALRM's default action ends the process if the
    // capture below deadlocks.
    unsafe {
        libc::alarm(5);
    }
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    write_signal_safe(trace.as_bytes());
    write_signal_safe(
        b"\n=== REDIS BUG REPORT END. Make sure to include from START to END. ===\n\n       Please report the crash to redoxide's maintainers with the log above.\n\n",
    );
}
