//! The Redis wire format: parsing client requests (RESP multibulk and inline commands) and
//! encoding replies in RESP2 or RESP3.
//!
//! This crate owns the exact bytes: limits and `Protocol error` texts as Redis 7.0 words them,
//! and reply encodings (including how RESP3 types degrade to RESP2). It never performs I/O and
//! never allocates on the path that finds a buffered request incomplete.

mod float;
mod parse;
mod reply;
mod repr;

pub use float::{format_double, format_long_double};
pub use parse::{
    parse_request, peek_request, pending_request_split, split_args, string2ll, ArgSpan, Limits, ParseError, Parsed,
    Peeked, INLINE_MAX_SIZE,
};
pub use reply::ReplyBuf;
pub use repr::repr;
