// ---------------------------------------------------------------------------------------------
// Test harness: runs commands through the registry the way the dispatcher does (lookup with
// arity check, slot locks, a fresh Ctx per command). Commands outside this group that the
// scripts use for setup (SET, DEL, EXISTS, TYPE, SADD) are done directly on the keyspace so
// these tests depend only on the code under test.
// ---------------------------------------------------------------------------------------------

use commands::{Ctx, DataConfig, Effects, Kind, LookupError, Registry};
use keyspace::{Keyspace, LockSet, Sds, Value};
use resp::ReplyBuf;

struct Server {
    ks: Keyspace,
    reg: Registry,
    config: DataConfig,
    now_ms: i64,
}

struct Outcome {
    reply: Vec<u8>,
    effects: Effects,
}

impl Server {
    fn new() -> Server {
        Server {
            ks: Keyspace::new(16),
            reg: Registry::with_data_commands(),
            config: DataConfig::default(),
            now_ms: 1_700_000_000_000,
        }
    }

    fn exec(&self, args: &[&[u8]], resp3: bool, may_block: bool) -> Outcome {
        let mut out = ReplyBuf::new(resp3);
        let mut effects = Effects::default();
        let mut locks = LockSet::new();
        let name = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
        let now = self.now_ms;
        match name.as_str() {
            "set" => {
                locks.table(&self.ks, 0, args[1]).set(args[1], Value::string(args[2]));
                out.ok();
            }
            "del" | "exists" => {
                let mut n = 0;
                for k in &args[1..] {
                    let t = locks.table(&self.ks, 0, k);
                    n += if name == "del" { t.remove(k, now).is_some() } else { t.contains(k, now) } as i64;
                }
                out.int(n);
            }
            "type" => {
                let t = locks.table(&self.ks, 0, args[1]);
                out.simple(t.get(args[1], now).map_or("none", |v| v.type_name()));
            }
            "sadd" => {
                let t = locks.table(&self.ks, 0, args[1]);
                if t.get(args[1], now).is_none() {
                    t.set(args[1], Value::Set(Box::default()));
                }
                match t.get_mut(args[1], now) {
                    Some(Value::Set(set)) => {
                        let added = args[2..].iter().filter(|m| set.insert(Sds::new(m))).count();
                        out.int(added as i64);
                    }
                    _ => out.error("WRONGTYPE Operation against a key holding the wrong kind of value"),
                }
            }
            _ => match self.reg.lookup(args) {
                Err(LookupError::Reply(e)) => out.error(&e),
                Ok(entry) => match entry.kind {
                    Kind::Data(handler) => {
                        let mut ctx = Ctx {
                            ks: &self.ks,
                            locks: &mut locks,
                            db: 0,
                            now_ms: now,
                            out: &mut out,
                            effects: &mut effects,
                            config: &self.config,
                            may_block,
                        };
                        handler(&mut ctx, args);
                    }
                    _ => panic!("{name} is not a data command"),
                },
            },
        }
        Outcome { reply: out.buf, effects }
    }

    /// Runs a command line (words split on spaces, '...' quoting) and returns the reply.
    fn run(&self, line: &str, resp3: bool) -> Vec<u8> {
        let words = split_words(line);
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        self.exec(&args, resp3, true).reply
    }
}

fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn show(b: &[u8]) -> String {
    b.iter().flat_map(|&c| std::ascii::escape_default(c)).map(char::from).collect()
}

/// Replays replies captured from redis-server 7.0.15: for each protocol, a fresh keyspace runs
/// the script in order and every reply must match byte for byte. "!nb " lines run as a client
/// that may not block (Redis captured them inside MULTI/EXEC).
fn replay(vectors: &[(u8, &str, &[u8])]) {
    for proto in [2u8, 3] {
        let server = Server::new();
        let mut checked = 0;
        for &(p, line, expected) in vectors.iter().filter(|v| v.0 == proto) {
            let (may_block, cmd) = match line.strip_prefix("!nb ") {
                Some(rest) => (false, rest),
                None => (true, line),
            };
            let words = split_words(cmd);
            let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            let got = server.exec(&args, p == 3, may_block);
            assert!(got.effects.block.is_none(), "RESP{p} `{line}` asked to block; Redis replied {}", show(expected));
            assert_eq!(show(&got.reply), show(expected), "RESP{p} `{line}`");
            checked += 1;
        }
        assert!(checked > 100, "only {checked} vectors for RESP{proto}");
    }
}
