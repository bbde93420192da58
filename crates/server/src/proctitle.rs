//! The process title (Redis's `setproctitle` use): `ps` and `/proc/PID/cmdline` show the expanded
//! `proc-title-template` ("{title} {listen-addr} {server-mode}" by default) instead of the
//! command line, set at start-up and again when the template, port or bind change.
//!
//! Linux keeps a process's command line in the argv strings at the top of its stack, followed by
//! the environment strings; `/proc/PID/cmdline` reads that block. [`init`] (first thing in
//! `main`, while the process has one thread) copies the environment to the heap so the whole
//! block may be overwritten, as Redis's `spt_init` does, and [`set`] writes the title into it.
//! Rejected: `prctl(PR_SET_NAME)`, which changes only the 15-byte `comm` name, not the command
//! line `ps` shows; `PR_SET_MM_ARG_START`, which needs CAP_SYS_RESOURCE.
//!
//! This module must never be used before [`init`], and nothing may read `std::env::args()` after
//! a title is set (the strings it reads are the ones overwritten): `main` collects them first.

use parking_lot::Mutex;

/// The writable block: its start address and length.
static AREA: Mutex<Option<(usize, usize)>> = Mutex::new(None);
/// `{title}`: the program as it was executed (argv[0], as Redis's `exec_argv[0]`).
static PROGRAM: Mutex<String> = Mutex::new(String::new());

/// Sets the title from the configuration in force (nothing if `set-proc-title` is off).
pub fn refresh(cfg: &crate::config::Config) {
    let program = PROGRAM.lock().clone();
    if let Some(title) = cfg.proc_title(&program) {
        set(&title);
    }
}

/// Finds the argv + environ block (`/proc/self/stat` fields 48–51: arg_start, arg_end,
/// env_start, env_end) and moves the environment strings out of it. Does nothing (titles are
/// then not set) if the block cannot be found or is not contiguous.
pub fn init(program: &str) {
    *PROGRAM.lock() = program.to_string();
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // The name field is in parentheses and may hold spaces: fields are counted after it.
    let Some(after_name) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return };
    let fields: Vec<usize> = after_name.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // `after_name` starts at field 3.
    let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
    let (arg_start, arg_end, env_start, env_end) = (field(48), field(49), field(50), field(51));
    if arg_start == 0 || arg_end <= arg_start {
        return;
    }
    let end = if env_start == arg_end && env_end > env_start {
        let vars: Vec<(std::ffi::CString, std::ffi::CString)> = std::env::vars_os()
            .filter_map(|(k, v)| {
                use std::os::unix::ffi::OsStrExt;
                Some((std::ffi::CString::new(k.as_bytes()).ok()?, std::ffi::CString::new(v.as_bytes()).ok()?))
            })
            .collect();
        // SAFETY: the process has one thread (this runs first in `main`), so nothing reads the
        // environment meanwhile; setenv copies each string to the heap, out of the block.
        unsafe {
            libc::clearenv();
            for (k, v) in &vars {
                libc::setenv(k.as_ptr(), v.as_ptr(), 1);
            }
        }
        env_end
    } else {
        arg_end
    };
    *AREA.lock() = Some((arg_start, end - arg_start));
}

/// Makes `title` the process title (cut to the block's length, less the final NUL).
pub fn set(title: &str) {
    let area = AREA.lock();
    let Some((start, len)) = *area else { return };
    if len == 0 {
        return;
    }
    let bytes = title.as_bytes();
    let n = bytes.len().min(len - 1);
    // SAFETY: [start, start + len) is this process's argv/environ block on its initial stack,
    // mapped and writable for the life of the process; after `init` nothing else reads it (the
    // environment was copied out, argv was collected by `main`). The lock keeps writers apart.
    unsafe {
        let dst = start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, n);
        std::ptr::write_bytes(dst.add(n), 0, len - n);
    }
}
