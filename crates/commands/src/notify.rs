//! Keyspace notification classes (Redis's NOTIFY_* bits) for `notify-keyspace-events`. Commands
//! report what they did through [`crate::Ctx::notify`]; the server turns the reports into
//! `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>` messages after the command.

pub const NOTIFY_KEYSPACE: u32 = 1 << 0;
pub const NOTIFY_KEYEVENT: u32 = 1 << 1;
pub const NOTIFY_GENERIC: u32 = 1 << 2;
pub const NOTIFY_STRING: u32 = 1 << 3;
pub const NOTIFY_LIST: u32 = 1 << 4;
pub const NOTIFY_SET: u32 = 1 << 5;
pub const NOTIFY_HASH: u32 = 1 << 6;
pub const NOTIFY_ZSET: u32 = 1 << 7;
pub const NOTIFY_EXPIRED: u32 = 1 << 8;
pub const NOTIFY_EVICTED: u32 = 1 << 9;
pub const NOTIFY_STREAM: u32 = 1 << 10;
pub const NOTIFY_KEY_MISS: u32 = 1 << 11;
pub const NOTIFY_MODULE: u32 = 1 << 13;
pub const NOTIFY_NEW: u32 = 1 << 14;
/// 'A': every class but key-miss and new-key.
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ctx, DataConfig, Effects, Kind, Registry};
    use keyspace::{Keyspace, LockSet};
    use resp::ReplyBuf;

    /// Runs `cmd` with notification classes `flags` and returns the events it reported as
    /// `event key` strings, in order.
    fn events(ks: &Keyspace, flags: u32, cmd: &[&str]) -> Vec<String> {
        let registry = Registry::with_data_commands();
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        let Ok(entry) = registry.lookup(&args) else { panic!("unknown command {cmd:?}") };
        let Kind::Data(handler) = entry.kind else { panic!("not a data command") };
        let config = DataConfig { notify_keyspace_events: flags, ..DataConfig::default() };
        let mut locks = LockSet::new();
        let mut out = ReplyBuf::new(false);
        let mut effects = Effects::default();
        let mut ctx = Ctx {
            ks,
            locks: &mut locks,
            db: 0,
            now_ms: 1_000,
            out: &mut out,
            effects: &mut effects,
            config: &config,
            may_block: true,
        };
        handler(&mut ctx, &args);
        effects
            .notifications
            .iter()
            .map(|n| format!("{} {}", n.event, String::from_utf8_lossy(n.key.as_bytes())))
            .collect()
    }

    #[test]
    fn nothing_is_reported_while_notifications_are_off() {
        let ks = Keyspace::new(16);
        assert!(events(&ks, 0, &["SET", "k", "v"]).is_empty());
        assert!(events(&ks, 0, &["DEL", "k"]).is_empty());
    }

    #[test]
    fn classes_filter_events() {
        let ks = Keyspace::new(16);
        let kea = NOTIFY_ALL | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT;
        assert_eq!(events(&ks, NOTIFY_KEYEVENT | NOTIFY_GENERIC, &["SET", "k", "v", "EX", "10"]), ["expire k"]);
        assert_eq!(events(&ks, kea, &["SET", "k", "v", "EX", "10"]), ["set k", "expire k"]);
        assert_eq!(events(&ks, NOTIFY_KEYEVENT | NOTIFY_LIST, &["DEL", "k"]), Vec::<String>::new());
    }

    #[test]
    fn event_names_and_order_follow_redis() {
        let ks = Keyspace::new(16);
        let all = NOTIFY_ALL | NOTIFY_KEYEVENT;
        assert_eq!(events(&ks, all, &["RPUSH", "src", "a"]), ["rpush src"]);
        // LMOVE reports the push to the destination before the pop from the source.
        assert_eq!(events(&ks, all, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]), ["rpush dst", "lpop src", "del src"]);
        assert_eq!(events(&ks, all, &["HSET", "h", "f", "v"]), ["hset h"]);
        assert_eq!(events(&ks, all, &["HDEL", "h", "f", "nope"]), ["hdel h", "del h"]);
        assert_eq!(events(&ks, all, &["SADD", "s", "a", "b"]), ["sadd s"]);
        assert_eq!(events(&ks, all, &["SADD", "s", "a"]), Vec::<String>::new());
        assert_eq!(events(&ks, all, &["SMOVE", "s", "t", "a"]), ["srem s", "sadd t"]);
        assert_eq!(events(&ks, all, &["ZADD", "z", "INCR", "1", "m"]), ["zincr z"]);
        assert_eq!(events(&ks, all, &["ZPOPMIN", "z"]), ["zpopmin z", "del z"]);
        assert_eq!(events(&ks, all, &["SET", "a", "1"]), ["set a"]);
        assert_eq!(events(&ks, all, &["RENAME", "a", "b"]), ["rename_from a", "rename_to b"]);
        assert_eq!(events(&ks, all, &["INCRBY", "b", "2"]), ["incrby b"]);
        // An expiry time already past deletes the key.
        assert_eq!(events(&ks, all, &["PEXPIREAT", "b", "1"]), ["del b"]);
        assert_eq!(events(&ks, all, &["DEL", "b", "t", "dst"]), ["del t", "del dst"]);
    }
}
