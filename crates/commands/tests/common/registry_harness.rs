
// ---------------------------------------------------------------------------------------------
// Harness: run commands in-process, decode replies
// ---------------------------------------------------------------------------------------------

struct Server {
    ks: Keyspace,
    registry: Registry,
    config: DataConfig,
    dirty: u64,
}

impl Server {
    fn new() -> Server {
        Server {
            ks: Keyspace::new(16),
            registry: Registry::with_data_commands(),
            config: DataConfig::default(),
            dirty: 0,
        }
    }

    /// Runs one command and returns its raw reply bytes.
    fn raw_args(&mut self, resp3: bool, args: &[&[u8]]) -> Vec<u8> {
        let mut out = ReplyBuf::new(resp3);
        let entry = match self.registry.lookup(args) {
            Ok(e) => e,
            Err(LookupError::Reply(msg)) => {
                out.error(&msg);
                return out.buf;
            }
        };
        let Kind::Data(handler) = entry.kind else { panic!("{:?} is not a data command", entry.meta.name) };
        let mut positions = Vec::new();
        let _ = key_positions(entry.meta, args, &mut positions);
        let mut wanted: Vec<(u32, u16)> = positions.iter().map(|&i| (0, keyspace::key_hash_slot(args[i]))).collect();
        let mut locks = LockSet::new();
        locks.lock(&self.ks, &mut wanted);
        let mut effects = Effects::default();
        let mut ctx = Ctx {
            ks: &self.ks,
            locks: &mut locks,
            db: 0,
            now_ms: 1_000_000,
            out: &mut out,
            effects: &mut effects,
            config: &self.config,
            may_block: true,
        };
        handler(&mut ctx, args);
        self.dirty += effects.dirty;
        out.buf
    }

    fn raw(&mut self, resp3: bool, line: &str) -> Vec<u8> {
        let words: Vec<&[u8]> = line.split(' ').map(|w| w.as_bytes()).collect();
        self.raw_args(resp3, &words)
    }

    fn cmd(&mut self, line: &str) -> Reply {
        parse_reply(&self.raw(false, line))
    }

    fn cmd_args(&mut self, args: &[&[u8]]) -> Reply {
        parse_reply(&self.raw_args(false, args))
    }

    fn key_exists(&self, key: &[u8]) -> bool {
        self.ks.db(0).lock_slot(keyspace::key_hash_slot(key)).get(key, 1_000_000).is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Reply>),
}

impl Reply {
    fn items(&self) -> Vec<Reply> {
        match self {
            Reply::Array(v) => v.clone(),
            other => panic!("not an array: {other:?}"),
        }
    }
    fn bulks(&self) -> Vec<Vec<u8>> {
        self.items()
            .into_iter()
            .map(|r| match r {
                Reply::Bulk(b) => b,
                other => panic!("not a bulk: {other:?}"),
            })
            .collect()
    }
}

fn parse_reply(buf: &[u8]) -> Reply {
    let (r, used) = parse_at(buf, 0);
    assert_eq!(used, buf.len(), "trailing bytes in reply {:?}", String::from_utf8_lossy(buf));
    r
}

fn parse_at(buf: &[u8], at: usize) -> (Reply, usize) {
    let end = at + buf[at..].windows(2).position(|w| w == b"\r\n").expect("line end");
    let line = std::str::from_utf8(&buf[at + 1..end]).expect("utf8 header");
    let next = end + 2;
    match buf[at] {
        b'+' => (Reply::Status(line.to_string()), next),
        b'-' => (Reply::Error(line.to_string()), next),
        b':' => (Reply::Int(line.parse().expect("int")), next),
        b'_' => (Reply::Null, next),
        b'$' => {
            let n: i64 = line.parse().expect("len");
            if n < 0 {
                return (Reply::Null, next);
            }
            let n = n as usize;
            (Reply::Bulk(buf[next..next + n].to_vec()), next + n + 2)
        }
        b'*' | b'~' | b'%' => {
            let mut n: i64 = line.parse().expect("len");
            if n < 0 {
                return (Reply::Null, next);
            }
            if buf[at] == b'%' {
                n *= 2;
            }
            let mut items = Vec::new();
            let mut pos = next;
            for _ in 0..n {
                let (r, p) = parse_at(buf, pos);
                items.push(r);
                pos = p;
            }
            (Reply::Array(items), pos)
        }
        other => panic!("unexpected reply type {:?}", other as char),
    }
}
