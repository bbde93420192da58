//! Logging in Redis's line format (`pid:role dd Mon yyyy hh:mm:ss.mmm <level-char> message`),
//! to stdout or to `logfile`. Tools and Redis's test harness grep these lines, so the format is
//! part of the interface.

use parking_lot::Mutex;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

impl Level {
    pub fn parse(s: &str) -> Level {
        match s {
            "debug" => Level::Debug,
            "verbose" => Level::Verbose,
            "warning" => Level::Warning,
            _ => Level::Notice,
        }
    }

    fn mark(self) -> char {
        match self {
            Level::Debug => '.',
            Level::Verbose => '-',
            Level::Notice => '*',
            Level::Warning => '#',
        }
    }
}

struct Logger {
    file: Option<Mutex<File>>,
    /// The descriptor `file` writes to (stdout's without one), for the crash report, which
    /// must not take the mutex: the crashed thread may hold it.
    fd: std::os::fd::RawFd,
    min_level: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets the destination once at start-up: an empty `logfile` means stdout, as in Redis.
pub fn init(logfile: &str, level: Level) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file =
        if logfile.is_empty() { None } else { Some(OpenOptions::new().create(true).append(true).open(logfile)?) };
    let fd = file.as_ref().map_or(libc::STDOUT_FILENO, |f| f.as_raw_fd());
    let _ = LOGGER.set(Logger { file: file.map(Mutex::new), fd, min_level: level });
    Ok(())
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Civil date from days since 1970-01-01 (proleptic Gregorian, UTC).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

/// The time part of a log line (`dd Mon yyyy hh:mm:ss.mmm`), formatted without allocating.
struct Timestamp(std::time::Duration);

impl Timestamp {
    fn now() -> Timestamp {
        Timestamp(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default())
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.as_secs() as i64;
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let sod = secs.rem_euclid(86_400);
        write!(
            f,
            "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
            d,
            MONTHS[(m - 1) as usize],
            y,
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            self.0.subsec_millis()
        )
    }
}

fn role_mark() -> &'static str {
    if crate::replication::is_replica() {
        "S"
    } else {
        "M"
    }
}

/// A line formatted on the stack, cut at its capacity (for the crash report).
struct StackLine {
    bytes: [u8; 512],
    len: usize,
}

impl std::fmt::Write for StackLine {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Writes `bytes` to the log's descriptor with write(2) alone: no lock, no allocation, so a
/// signal handler may call it whatever the crashed thread held.
pub fn write_signal_safe(bytes: &[u8]) {
    let fd = LOGGER.get().map_or(libc::STDOUT_FILENO, |l| l.fd);
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid, initialised buffer of `rest.len()` bytes for the call.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = &rest[n as usize..];
    }
}

/// A warning line in the usual format, written as [`write_signal_safe`] writes (the message
/// is formatted on the stack).
pub fn warning_signal_safe(msg: std::fmt::Arguments<'_>) {
    use std::fmt::Write as _;
    let mut line = StackLine { bytes: [0; 512], len: 0 };
    let _ = writeln!(line, "{}:{} {} # {}", std::process::id(), role_mark(), Timestamp::now(), msg);
    write_signal_safe(&line.bytes[..line.len]);
}

pub fn log(level: Level, msg: &str) {
    let (file, min) = match LOGGER.get() {
        Some(l) => (l.file.as_ref(), l.min_level),
        None => (None, Level::Notice),
    };
    if level < min {
        return;
    }
    let line = format!("{}:{} {} {} {}\n", std::process::id(), role_mark(), Timestamp::now(), level.mark(), msg);
    match file {
        Some(f) => {
            let _ = f.lock().write_all(line.as_bytes());
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

#[macro_export]
macro_rules! notice { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Notice, &format!($($t)*)) } }
#[macro_export]
macro_rules! warning { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warning, &format!($($t)*)) } }
#[macro_export]
macro_rules! verbose { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Verbose, &format!($($t)*)) } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
