//! Redis's error replies, word for word (server.c `createSharedObjects` and the commands).

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SYNTAX: &str = "ERR syntax error";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OUT_OF_RANGE: &str = "ERR index out of range";
pub const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
pub const DB_INDEX_OUT_OF_RANGE: &str = "ERR DB index is out of range";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const MIN_MAX_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const MIN_MAX_NOT_STRING: &str = "ERR min or max not valid string range item";

/// `ERR wrong number of arguments for '<fullname>' command`.
pub fn wrong_arity(fullname: &str) -> String {
    format!("ERR wrong number of arguments for '{fullname}' command")
}

/// An error reply's text as bytes: Redis quotes client arguments into some errors verbatim, and
/// those need not be UTF-8. Displays lossily (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorText(pub Vec<u8>);

impl AsRef<[u8]> for ErrorText {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for ErrorText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl From<String> for ErrorText {
    fn from(s: String) -> Self {
        ErrorText(s.into_bytes())
    }
}

impl From<&str> for ErrorText {
    fn from(s: &str) -> Self {
        ErrorText(s.as_bytes().to_vec())
    }
}

/// What C's `%.*s` prints of an argument: at most `max` bytes, and nothing from the first NUL on.
fn c_string_prefix(arg: &[u8], max: usize) -> &[u8] {
    let arg = &arg[..arg.len().min(max)];
    match arg.iter().position(|&b| b == 0) {
        Some(nul) => &arg[..nul],
        None => arg,
    }
}

/// Redis's unknown-command error, quoting at most ~128 bytes of the arguments as `'%.*s' `.
pub fn unknown_command(args: &[&[u8]]) -> ErrorText {
    let mut listed: Vec<u8> = Vec::new();
    for a in &args[1..] {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend_from_slice(c_string_prefix(a, room));
        listed.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(c_string_prefix(args[0], 128));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&listed);
    ErrorText(text)
}

/// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.`
pub fn unknown_subcommand(cmd: &[u8], sub: &[u8]) -> ErrorText {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(c_string_prefix(sub, 128));
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(&cmd.to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    ErrorText(text)
}
