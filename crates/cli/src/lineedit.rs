//! The prompt's line editor: raw mode, keys, history, Tab completion and grey hints, behaving as the
//! linenoise that redis-cli 7.0.15 links (multi-line mode, as `repl` sets it).
//!
//! It owns the terminal while a line is being edited, and the in-memory history and its file. It
//! must never leave the terminal in raw mode: raw mode lives in a guard that restores on drop
//! (return, error, panic) and [`restore_terminal`] is called from signal handlers. It must never
//! talk to a server or decide what a line means (that is `main.rs`); completions and hints come
//! from the caller through [`Hooks`].
//!
//! Hand-written rather than `rustyline` (the design brief's other option): the compat test
//! compares our screen with redis-cli's cell by cell, and linenoise's exact behaviours (Tab cycling
//! through candidates in place with a beep at the end, hints as `ESC[0;90;49m`, Ctrl-C ending the
//! program, a 100-line deduplicated history, byte-per-column widths) would each need working around
//! in rustyline, which also brings a dozen crates to build on a shared two-core machine; termios
//! through `libc`, already a dependency, is all linenoise itself uses.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// linenoise's `LINENOISE_MAX_LINE`: a line holds at most 4095 bytes; more keys are ignored.
const MAX_LINE: usize = 4095;
/// linenoise's default history length (redis-cli does not change it).
const HISTORY_MAX: usize = 100;

/// Where completions and hints come from (redis-cli's callbacks).
pub trait Hooks {
    /// Every line Tab may turn `buf` into, cycled through in this order.
    fn completions(&self, buf: &[u8]) -> Vec<Vec<u8>>;
    /// Text shown after the line in grey (not part of it); `None` for none.
    fn hint(&self, buf: &[u8]) -> Option<String>;
}

/// No completions, no hints.
pub struct NoHooks;
impl Hooks for NoHooks {
    fn completions(&self, _: &[u8]) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn hint(&self, _: &[u8]) -> Option<String> {
        None
    }
}

/// How one `read_line` ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Line(Vec<u8>),
    /// Ctrl-C: linenoise returns NULL and redis-cli exits.
    Interrupted,
    /// Ctrl-D on an empty line, or the input closed.
    Eof,
}

/// The terminal settings before raw mode, for the guard and for signal handlers. Set once: the
/// terminal is the same one every time. A `OnceLock` read is one atomic load, safe in a handler
/// (a `Mutex` would not be).
static ORIGINAL: OnceLock<libc::termios> = OnceLock::new();
static RAW_ON: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was, if raw mode is on. Async-signal-safe (tcsetattr, atomics).
pub fn restore_terminal() {
    if RAW_ON.swap(false, Ordering::SeqCst) {
        if let Some(t) = ORIGINAL.get() {
            // SAFETY: fd 0 is the terminal raw mode was set on; `t` is the termios read from it.
            unsafe { libc::tcsetattr(0, libc::TCSAFLUSH, t) };
        }
    }
}

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    restore_terminal();
    // SAFETY: signal/raise are async-signal-safe; the default action then ends the process as the
    // signal would have.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

/// SIGTERM, SIGHUP and SIGQUIT end the process with the terminal restored. (SIGINT is the
/// caller's: redis-cli gives it a meaning, and raw mode turns Ctrl-C into a key anyway.)
pub fn restore_terminal_on_signals() {
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: installs a handler that only calls async-signal-safe functions.
        unsafe { libc::signal(sig, on_fatal_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
}

/// Raw mode for as long as it lives (linenoise's enableRawMode/disableRawMode).
struct RawMode;

impl RawMode {
    fn enable(fd: RawFd) -> std::io::Result<RawMode> {
        // SAFETY: termios is plain data that tcgetattr fills.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is a valid termios to write into.
        if unsafe { libc::tcgetattr(fd, &mut t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let _ = ORIGINAL.set(t);
        let mut raw = t;
        // No break-to-SIGINT, no CR→NL, no parity check, no 8th-bit strip, no flow control.
        raw.c_iflag &= !(libc::BRKINT | libc::ICRNL | libc::INPCK | libc::ISTRIP | libc::IXON);
        raw.c_oflag &= !libc::OPOST;
        raw.c_cflag |= libc::CS8;
        // No echo, no line buffering, no Ctrl-V, and Ctrl-C / Ctrl-Z arrive as keys.
        raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::IEXTEN | libc::ISIG);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        RAW_ON.store(true, Ordering::SeqCst);
        // SAFETY: `raw` is a valid termios derived from the terminal's own.
        if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &raw) } != 0 {
            RAW_ON.store(false, Ordering::SeqCst);
            return Err(std::io::Error::last_os_error());
        }
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Terminal width from the kernel, 80 when it does not say (linenoise then asks the terminal for
/// its cursor position; the kernel answers on every terminal we meet, so that dance is left out).
fn columns() -> usize {
    // SAFETY: winsize is plain data that ioctl fills.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize.
    let ok = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        80
    }
}

/// linenoise refuses to edit on these and reads a plain line instead.
fn unsupported_term() -> bool {
    std::env::var("TERM").is_ok_and(|t| ["dumb", "cons25", "emacs"].iter().any(|u| t.eq_ignore_ascii_case(u)))
}

/// One key's worth of input: a byte, or the end of input.
fn read_byte(fd: RawFd) -> Option<u8> {
    let mut c = 0u8;
    loop {
        // SAFETY: reads at most one byte into `c`.
        let n = unsafe { libc::read(fd, (&mut c as *mut u8).cast(), 1) };
        if n == 1 {
            return Some(c);
        }
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return None;
    }
}

/// The line editor and its history.
#[derive(Default)]
pub struct Editor {
    history: Vec<Vec<u8>>,
}

/// The state of one line being edited (linenoiseState).
struct Line<'a> {
    prompt: &'a [u8],
    buf: Vec<u8>,
    pos: usize,
    oldpos: usize,
    cols: usize,
    maxrows: usize,
    history_index: usize,
}

impl Editor {
    pub fn new() -> Self {
        Editor::default()
    }

    pub fn history(&self) -> &[Vec<u8>] {
        &self.history
    }

    /// linenoiseHistoryAdd: not twice in a row, oldest dropped past 100 lines.
    pub fn add_history(&mut self, line: &[u8]) -> bool {
        if self.history.last().is_some_and(|l| l == line) {
            return false;
        }
        if self.history.len() == HISTORY_MAX {
            self.history.remove(0);
        }
        self.history.push(line.to_vec());
        true
    }

    /// linenoiseHistoryLoad: one entry a line, cut at the first CR or LF. A missing file is fine.
    pub fn load_history(&mut self, path: &str) {
        let Ok(data) = std::fs::read(path) else { return };
        for line in data.split_inclusive(|&c| c == b'\n') {
            let end = line.iter().position(|&c| c == b'\r' || c == b'\n').unwrap_or(line.len());
            self.add_history(&line[..end]);
        }
    }

    /// linenoiseHistorySave: the whole history, readable by the owner only (it may hold values
    /// the user typed). Failures are silent, as in linenoise.
    pub fn save_history(&self, path: &str) {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let Ok(mut f) = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
        else {
            return;
        };
        let _ = f.set_permissions(std::fs::Permissions::from_mode(0o600));
        let mut out = Vec::new();
        for l in &self.history {
            out.extend_from_slice(l);
            out.push(b'\n');
        }
        let _ = f.write_all(&out);
    }

    /// Reads one line from the terminal on fd 0 with `prompt`, echoing to stdout. Not for a pipe:
    /// the caller reads pipes itself (linenoise's NoTTY path).
    pub fn read_line(&mut self, prompt: &str, hooks: &dyn Hooks) -> std::io::Result<Outcome> {
        let stdout = std::io::stdout();
        if unsupported_term() {
            let mut out = stdout.lock();
            out.write_all(prompt.as_bytes())?;
            out.flush()?;
            // fgets: NULL (the end) only when nothing at all was read; an empty line is a line.
            let mut line = Vec::new();
            let mut got_any = false;
            while let Some(c) = read_byte(0) {
                got_any = true;
                if c == b'\n' {
                    break;
                }
                line.push(c);
            }
            if !got_any {
                return Ok(Outcome::Eof);
            }
            while line.last().is_some_and(|&c| c == b'\r') {
                line.pop();
            }
            return Ok(Outcome::Line(line));
        }
        let cols = columns();
        let outcome = {
            let _raw = RawMode::enable(0)?;
            let mut out = stdout.lock();
            self.edit(prompt.as_bytes(), cols, hooks, &mut || read_byte(0), &mut out)
        };
        // linenoiseRaw prints the newline after leaving raw mode, whatever ended the line.
        let mut out = stdout.lock();
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(outcome)
    }

    /// The key loop (linenoiseEdit), on any byte source and output so tests can drive it.
    pub fn edit(
        &mut self,
        prompt: &[u8],
        cols: usize,
        hooks: &dyn Hooks,
        input: &mut dyn FnMut() -> Option<u8>,
        out: &mut dyn Write,
    ) -> Outcome {
        let mut l =
            Line { prompt, buf: Vec::new(), pos: 0, oldpos: 0, cols: cols.max(1), maxrows: 0, history_index: 0 };
        // The line being edited is the newest history entry while editing; taken out at the end.
        // Pushed without the no-duplicate rule, as linenoise pushes "" (add_history could refuse it
        // and then the pop at the end would eat a real entry).
        if self.history.len() == HISTORY_MAX {
            self.history.remove(0);
        }
        self.history.push(Vec::new());
        let _ = out.write_all(prompt);
        let _ = out.flush();
        let outcome = self.keys(&mut l, hooks, input, out);
        self.history.pop();
        outcome
    }

    fn keys(
        &mut self,
        l: &mut Line,
        hooks: &dyn Hooks,
        input: &mut dyn FnMut() -> Option<u8>,
        out: &mut dyn Write,
    ) -> Outcome {
        loop {
            let Some(mut c) = input() else {
                // End of input mid-line: linenoise returns what was typed.
                return Outcome::Line(std::mem::take(&mut l.buf));
            };
            if c == 9 {
                match complete(l, hooks, input, out) {
                    Some(0) => continue,
                    Some(next) => c = next,
                    None => return Outcome::Line(std::mem::take(&mut l.buf)),
                }
            }
            match c {
                13 => {
                    // Enter: the cursor to the end, and the line drawn once more without its hint
                    // so the screen keeps what was typed.
                    l.pos = l.buf.len();
                    refresh(l, &NoHooks, out);
                    return Outcome::Line(std::mem::take(&mut l.buf));
                }
                3 => return Outcome::Interrupted,
                127 | 8 => {
                    if l.pos > 0 {
                        l.pos -= 1;
                        l.buf.remove(l.pos);
                        refresh(l, hooks, out);
                    }
                }
                4 => {
                    if l.buf.is_empty() {
                        return Outcome::Eof;
                    }
                    delete_at_cursor(l, hooks, out);
                }
                20 => {
                    // Ctrl-T: swap the character before the cursor with the one under it.
                    if l.pos > 0 && l.pos < l.buf.len() {
                        l.buf.swap(l.pos - 1, l.pos);
                        if l.pos != l.buf.len() - 1 {
                            l.pos += 1;
                        }
                        refresh(l, hooks, out);
                    }
                }
                2 => move_left(l, hooks, out),
                6 => move_right(l, hooks, out),
                16 => self.history_step(l, true, hooks, out),
                14 => self.history_step(l, false, hooks, out),
                27 => {
                    let (Some(a), Some(b)) = (input(), input()) else { continue };
                    match (a, b) {
                        (b'[', b'0'..=b'9') => {
                            let Some(t) = input() else { continue };
                            if b == b'3' && t == b'~' {
                                delete_at_cursor(l, hooks, out);
                            }
                        }
                        (b'[', b'A') => self.history_step(l, true, hooks, out),
                        (b'[', b'B') => self.history_step(l, false, hooks, out),
                        (b'[', b'C') => move_right(l, hooks, out),
                        (b'[', b'D') => move_left(l, hooks, out),
                        (b'[' | b'O', b'H') => {
                            l.pos = 0;
                            refresh(l, hooks, out);
                        }
                        (b'[' | b'O', b'F') => {
                            l.pos = l.buf.len();
                            refresh(l, hooks, out);
                        }
                        _ => {}
                    }
                }
                21 => {
                    l.buf.clear();
                    l.pos = 0;
                    refresh(l, hooks, out);
                }
                11 => {
                    l.buf.truncate(l.pos);
                    refresh(l, hooks, out);
                }
                1 => {
                    l.pos = 0;
                    refresh(l, hooks, out);
                }
                5 => {
                    l.pos = l.buf.len();
                    refresh(l, hooks, out);
                }
                12 => {
                    let _ = out.write_all(b"\x1b[H\x1b[2J");
                    refresh(l, hooks, out);
                }
                23 => {
                    // Ctrl-W: the spaces before the cursor, then the word before them.
                    let old = l.pos;
                    while l.pos > 0 && l.buf[l.pos - 1] == b' ' {
                        l.pos -= 1;
                    }
                    while l.pos > 0 && l.buf[l.pos - 1] != b' ' {
                        l.pos -= 1;
                    }
                    l.buf.drain(l.pos..old);
                    refresh(l, hooks, out);
                }
                _ => {
                    if l.buf.len() < MAX_LINE {
                        l.buf.insert(l.pos, c);
                        l.pos += 1;
                        refresh(l, hooks, out);
                    }
                }
            }
        }
    }

    /// Up (`older`) / Down through the history; the line being edited is kept in its slot so
    /// coming back restores it.
    fn history_step(&mut self, l: &mut Line, older: bool, hooks: &dyn Hooks, out: &mut dyn Write) {
        let n = self.history.len();
        if n <= 1 {
            return;
        }
        self.history[n - 1 - l.history_index] = l.buf.clone();
        if older {
            if l.history_index + 1 >= n {
                return;
            }
            l.history_index += 1;
        } else {
            if l.history_index == 0 {
                return;
            }
            l.history_index -= 1;
        }
        l.buf = self.history[n - 1 - l.history_index].clone();
        l.buf.truncate(MAX_LINE);
        l.pos = l.buf.len();
        refresh(l, hooks, out);
    }
}

fn move_left(l: &mut Line, hooks: &dyn Hooks, out: &mut dyn Write) {
    if l.pos > 0 {
        l.pos -= 1;
        refresh(l, hooks, out);
    }
}

fn move_right(l: &mut Line, hooks: &dyn Hooks, out: &mut dyn Write) {
    if l.pos < l.buf.len() {
        l.pos += 1;
        refresh(l, hooks, out);
    }
}

fn delete_at_cursor(l: &mut Line, hooks: &dyn Hooks, out: &mut dyn Write) {
    if l.pos < l.buf.len() {
        l.buf.remove(l.pos);
        refresh(l, hooks, out);
    }
}

/// Tab: shows each candidate in place, Tab again for the next (a beep past the last, then the
/// original line), Esc for the original line; any other key keeps the candidate shown and is
/// returned to be handled as usual. `Some(0)`: nothing more to do; `None`: the input ended.
fn complete(l: &mut Line, hooks: &dyn Hooks, input: &mut dyn FnMut() -> Option<u8>, out: &mut dyn Write) -> Option<u8> {
    let candidates = hooks.completions(&l.buf);
    if candidates.is_empty() {
        beep();
        return Some(0);
    }
    let mut i = 0;
    loop {
        if i < candidates.len() {
            let saved = (std::mem::replace(&mut l.buf, candidates[i].clone()), l.pos);
            l.pos = l.buf.len();
            refresh(l, hooks, out);
            l.buf = saved.0;
            l.pos = saved.1;
        } else {
            refresh(l, hooks, out);
        }
        let c = input()?;
        match c {
            9 => {
                i = (i + 1) % (candidates.len() + 1);
                if i == candidates.len() {
                    beep();
                }
            }
            27 => {
                if i < candidates.len() {
                    refresh(l, hooks, out);
                }
                return Some(c);
            }
            _ => {
                if i < candidates.len() {
                    l.buf = candidates[i].clone();
                    l.buf.truncate(MAX_LINE);
                    l.pos = l.buf.len();
                }
                return Some(c);
            }
        }
    }
}

/// linenoise beeps on stderr, so a redirected stdout never gets the bell.
fn beep() {
    let mut e = std::io::stderr();
    let _ = e.write_all(b"\x07");
    let _ = e.flush();
}

/// Redraws the prompt and line over the rows it used before (linenoise's multi-line refresh): the
/// line wraps at the terminal width instead of scrolling sideways. Widths are bytes, as in linenoise.
fn refresh(l: &mut Line, hooks: &dyn Hooks, out: &mut dyn Write) {
    let plen = l.prompt.len();
    let cols = l.cols;
    let mut rows = (plen + l.buf.len()).div_ceil(cols);
    let cursor_row = (plen + l.oldpos + cols) / cols;
    let old_rows = l.maxrows;
    l.maxrows = l.maxrows.max(rows);
    let mut ab: Vec<u8> = Vec::new();
    // Down to the last row used, then clear each row going up, then the top one.
    if old_rows > cursor_row {
        ab.extend_from_slice(format!("\x1b[{}B", old_rows - cursor_row).as_bytes());
    }
    for _ in 1..old_rows {
        ab.extend_from_slice(b"\r\x1b[0K\x1b[1A");
    }
    ab.extend_from_slice(b"\r\x1b[0K");
    ab.extend_from_slice(l.prompt);
    ab.extend_from_slice(&l.buf);
    if plen + l.buf.len() < cols {
        if let Some(hint) = hooks.hint(&l.buf) {
            let room = cols - (plen + l.buf.len());
            let shown = &hint.as_bytes()[..hint.len().min(room)];
            // redis-cli asks for colour 90 (grey), not bold.
            ab.extend_from_slice(b"\x1b[0;90;49m");
            ab.extend_from_slice(shown);
            ab.extend_from_slice(b"\x1b[0m");
        }
    }
    // The cursor sits past the last column: start the next row so it is visible.
    if l.pos > 0 && l.pos == l.buf.len() && (l.pos + plen).is_multiple_of(cols) {
        ab.extend_from_slice(b"\n\r");
        rows += 1;
        l.maxrows = l.maxrows.max(rows);
    }
    let new_row = (plen + l.pos + cols) / cols;
    if rows > new_row {
        ab.extend_from_slice(format!("\x1b[{}A", rows - new_row).as_bytes());
    }
    let col = (plen + l.pos) % cols;
    if col > 0 {
        ab.extend_from_slice(format!("\r\x1b[{col}C").as_bytes());
    } else {
        ab.push(b'\r');
    }
    l.oldpos = l.pos;
    let _ = out.write_all(&ab);
    let _ = out.flush();
}

/// linenoiseClearScreen, for the `clear` command.
pub fn clear_screen(out: &mut dyn Write) {
    let _ = out.write_all(b"\x1b[H\x1b[2J");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table;
    impl Hooks for Table {
        fn completions(&self, buf: &[u8]) -> Vec<Vec<u8>> {
            ["GET", "GETDEL", "SET"]
                .iter()
                .filter(|c| c.len() >= buf.len() && c.as_bytes()[..buf.len()].eq_ignore_ascii_case(buf))
                .map(|c| c.as_bytes().to_vec())
                .collect()
        }
        fn hint(&self, buf: &[u8]) -> Option<String> {
            buf.eq_ignore_ascii_case(b"get ").then(|| "key".to_string())
        }
    }

    fn run(ed: &mut Editor, keys: &[u8]) -> (Outcome, Vec<u8>) {
        let mut it = keys.iter().copied();
        let mut out = Vec::new();
        let o = ed.edit(b"> ", 80, &Table, &mut || it.next(), &mut out);
        (o, out)
    }

    #[test]
    fn typing_and_editing_keys() {
        let mut ed = Editor::new();
        assert_eq!(run(&mut ed, b"ping\r").0, Outcome::Line(b"ping".to_vec()));
        // Left twice, insert; Ctrl-A and insert at the start; Ctrl-E; backspace.
        assert_eq!(run(&mut ed, b"ab\x1b[D\x1b[DX\x01Y\x05Z\x7f\r").0, Outcome::Line(b"YXab".to_vec()));
        // Ctrl-W deletes the previous word, Ctrl-U the line, Ctrl-K to the end.
        assert_eq!(run(&mut ed, b"set k v\x17\r").0, Outcome::Line(b"set k ".to_vec()));
        assert_eq!(run(&mut ed, b"junk\x15get\r").0, Outcome::Line(b"get".to_vec()));
        assert_eq!(run(&mut ed, b"abc\x01\x06\x0b\r").0, Outcome::Line(b"a".to_vec()));
        // Delete key and Ctrl-T.
        assert_eq!(run(&mut ed, b"abc\x01\x1b[3~\r").0, Outcome::Line(b"bc".to_vec()));
        assert_eq!(run(&mut ed, b"ab\x02\x14\r").0, Outcome::Line(b"ba".to_vec()));
    }

    #[test]
    fn ctrl_c_and_ctrl_d() {
        let mut ed = Editor::new();
        assert_eq!(run(&mut ed, b"get\x03").0, Outcome::Interrupted);
        assert_eq!(run(&mut ed, b"\x04").0, Outcome::Eof);
        // Ctrl-D on a non-empty line deletes under the cursor.
        assert_eq!(run(&mut ed, b"ab\x01\x04\r").0, Outcome::Line(b"b".to_vec()));
        assert!(ed.history().is_empty(), "the edited line never stays in the history");
    }

    #[test]
    fn history_up_down_keeps_the_edited_line() {
        let mut ed = Editor::new();
        ed.add_history(b"one");
        ed.add_history(b"two");
        assert!(!ed.add_history(b"two"));
        assert_eq!(run(&mut ed, b"\x1b[A\r").0, Outcome::Line(b"two".to_vec()));
        assert_eq!(run(&mut ed, b"\x1b[A\x1b[A\x1b[A\r").0, Outcome::Line(b"one".to_vec()));
        assert_eq!(run(&mut ed, b"new\x1b[A\x1b[B\r").0, Outcome::Line(b"new".to_vec()));
        assert_eq!(run(&mut ed, b"\x10\x10\x0e\r").0, Outcome::Line(b"two".to_vec()));
        assert_eq!(ed.history(), [b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn history_is_bounded() {
        let mut ed = Editor::new();
        for i in 0..150 {
            ed.add_history(format!("l{i}").as_bytes());
        }
        assert_eq!(ed.history().len(), HISTORY_MAX);
        assert_eq!(ed.history()[0], b"l50");
    }

    #[test]
    fn tab_cycles_candidates() {
        let mut ed = Editor::new();
        assert_eq!(run(&mut ed, b"ge\t\r").0, Outcome::Line(b"GET".to_vec()));
        assert_eq!(run(&mut ed, b"ge\t\t\r").0, Outcome::Line(b"GETDEL".to_vec()));
        // Past the last candidate the typed text comes back.
        assert_eq!(run(&mut ed, b"ge\t\t\t\r").0, Outcome::Line(b"ge".to_vec()));
        // A key after Tab is typed after the candidate.
        assert_eq!(run(&mut ed, b"s\t k\r").0, Outcome::Line(b"SET k".to_vec()));
    }

    #[test]
    fn hint_drawn_in_grey_and_dropped_on_enter() {
        let mut ed = Editor::new();
        let (o, screen) = run(&mut ed, b"get \r");
        assert_eq!(o, Outcome::Line(b"get ".to_vec()));
        let s = String::from_utf8_lossy(&screen);
        assert!(s.contains("> get \x1b[0;90;49mkey\x1b[0m"));
        assert!(s.ends_with("\r\x1b[0K> get \r\x1b[6C"), "{s:?}");
    }

    #[test]
    fn history_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("redoxide-cli-hist-{}", std::process::id()));
        let path = dir.to_string_lossy().into_owned();
        let mut ed = Editor::new();
        ed.add_history(b"set a 1");
        ed.add_history(b"get a");
        ed.save_history(&path);
        let mut back = Editor::new();
        back.load_history(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(back.history(), ed.history());
    }
}
