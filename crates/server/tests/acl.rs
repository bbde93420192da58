//! Black-box tests of ACLs against a real server: rules and their descriptions, errors as
//! Redis 7.0.15 words them, permission checks (commands, keys by read/write, channels,
//! selectors, first-args) at the top level and in MULTI/EXEC, AUTH and HELLO, the ACL LOG,
//! the aclfile, disconnection on changes, CLIENT KILL USER and protected mode.

mod support;

use std::time::Duration;
use support::{Client, Reply, Server};

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn err(s: &str) -> Reply {
    Reply::Error(s.into())
}

fn bulk(s: &str) -> Reply {
    Reply::bulk(s)
}

fn text(r: Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected a bulk string, got {other:?}"),
    }
}

fn as_user(server: &Server, user: &str, pass: &str) -> Client {
    let mut c = server.client();
    assert_eq!(c.cmd(&["AUTH", user, pass]), ok());
    c
}

const NOPERM_CMD: &str = "NOPERM this user has no permissions to run the '{}' command";
const NOPERM_KEY: &str = "NOPERM this user has no permissions to access one of the keys used as arguments";
const NOPERM_CHANNEL: &str = "NOPERM this user has no permissions to access one of the channels used as arguments";

fn noperm_cmd(name: &str) -> Reply {
    err(&NOPERM_CMD.replace("{}", name))
}

#[test]
fn rules_are_described_back_as_redis_does() {
    let server = Server::start(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["ACL", "LIST"]), Reply::Array(vec![bulk("user default on nopass ~* &* +@all")]));
    assert_eq!(c.cmd(&["ACL", "SETUSER", "newuser"]), ok());
    assert_eq!(c.cmd(&["ACL", "LIST"]).clone(), {
        Reply::Array(vec![bulk("user default on nopass ~* &* +@all"), bulk("user newuser off resetchannels -@all")])
    });
    assert_eq!(
        c.cmd(&[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">pw",
            "~obj:*",
            "%R~ro:*",
            "&chan",
            "+@set",
            "+acl",
            "-sadd",
            "+select|0"
        ]),
        ok()
    );
    let line = text(c.cmd(&["ACL", "LIST"]).clone().into_iter_last());
    assert_eq!(
        line,
        "user bob on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~obj:* %R~ro:* resetchannels &chan -@all +@set +acl -sadd +select|0"
    );
    assert_eq!(c.cmd(&["ACL", "USERS"]), Reply::Array(vec![bulk("bob"), bulk("default"), bulk("newuser")]));
    // Errors, word for word.
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "x", "+nosuch"]),
        err("ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL")
    );
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "x", "bogus"]),
        err("ERR Error in ACL SETUSER modifier 'bogus': Syntax error")
    );
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "x", "~*", "~foo"]),
        err("ERR Error in ACL SETUSER modifier '~foo': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
    );
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "x", "+config|get|x"]),
        err("ERR Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported")
    );
    assert_eq!(
        c.cmd(&["ACL", "SETUSER", "x", "(+get", "~x"]),
        err("ERR Unmatched parenthesis in acl selector starting at '(+get'.")
    );
    assert_eq!(c.cmd(&["ACL", "SETUSER", "a b"]), err("ERR Usernames can't contain spaces or null characters"));
    // A failed SETUSER creates nothing.
    assert_eq!(c.cmd(&["ACL", "GETUSER", "x"]), Reply::Null);
    assert_eq!(c.cmd(&["ACL", "DELUSER", "default"]), err("ERR The 'default' user cannot be removed"));
    assert_eq!(c.cmd(&["ACL", "DELUSER", "newuser", "nobody"]), Reply::Int(1));
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]), bulk("default"));
    assert_eq!(c.cmd(&["ACL", "CAT", "nosuch"]), err("ERR Unknown category 'nosuch'"));
    match c.cmd(&["ACL", "CAT"]) {
        Reply::Array(v) => assert_eq!(v.len(), 21),
        other => panic!("{other:?}"),
    }
    assert_eq!(text(c.cmd(&["ACL", "GENPASS"])).len(), 64);
    assert_eq!(text(c.cmd(&["ACL", "GENPASS", "5"])).len(), 2);
    assert_eq!(
        c.cmd(&["ACL", "GENPASS", "0"]),
        err(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"
        )
    );
}

trait Last {
    fn into_iter_last(self) -> Reply;
}

impl Last for Reply {
    /// The first element of an ACL LIST reply that is not the default user's or newuser's.
    fn into_iter_last(self) -> Reply {
        match self {
            Reply::Array(v) => v.into_iter().find(|r| text(r.clone()).starts_with("user bob")).expect("bob"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn commands_keys_and_selectors_are_enforced() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    assert_eq!(
        admin.cmd(&[
            "ACL",
            "SETUSER",
            "u",
            "on",
            ">p",
            "+get",
            "+set",
            "+select|0",
            "%R~r*",
            "%W~w*",
            "(+lpush ~list*)"
        ]),
        ok()
    );
    let mut u = as_user(&server, "u", "p");
    assert_eq!(u.cmd(&["ACL", "WHOAMI"]), noperm_cmd("acl|whoami"));
    assert_eq!(u.cmd(&["GET", "r1"]), Reply::Null);
    assert_eq!(u.cmd(&["GET", "w1"]), err(NOPERM_KEY));
    assert_eq!(u.cmd(&["SET", "w1", "v"]), ok());
    assert_eq!(u.cmd(&["SET", "r1", "v"]), err(NOPERM_KEY));
    // SET ... GET also reads: it needs both.
    assert_eq!(u.cmd(&["SET", "w1", "v", "GET"]), err(NOPERM_KEY));
    assert_eq!(u.cmd(&["SELECT", "0"]), ok());
    assert_eq!(u.cmd(&["SELECT", "1"]), noperm_cmd("select"));
    // The selector allows LPUSH on list* only.
    assert_eq!(u.cmd(&["LPUSH", "list1", "a"]), Reply::Int(1));
    assert_eq!(u.cmd(&["LPUSH", "w1", "a"]), err(NOPERM_KEY));
    assert_eq!(u.cmd(&["DEL", "w1"]), noperm_cmd("del"));
    // DRYRUN answers for a user without running anything.
    assert_eq!(admin.cmd(&["ACL", "DRYRUN", "u", "get", "r1"]), ok());
    assert_eq!(
        admin.cmd(&["ACL", "DRYRUN", "u", "get", "w1"]),
        bulk("This user has no permissions to access the 'w1' key")
    );
    assert_eq!(
        admin.cmd(&["ACL", "DRYRUN", "u", "del", "x"]),
        bulk("This user has no permissions to run the 'del' command")
    );
    assert_eq!(admin.cmd(&["ACL", "DRYRUN", "nobody", "get", "x"]), err("ERR User 'nobody' not found"));
    // GETUSER's shape (RESP3 map).
    assert!(matches!(admin.cmd(&["HELLO", "3"]), Reply::Map(_)));
    match admin.cmd(&["ACL", "GETUSER", "u"]) {
        Reply::Map(fields) => {
            let keys: Vec<String> = fields.iter().map(|(k, _)| text(k.clone())).collect();
            assert_eq!(keys, ["flags", "passwords", "commands", "keys", "channels", "selectors"]);
            assert_eq!(fields[0].1, Reply::Set(vec![bulk("on")]));
            // Single commands come in command-table order (Redis's is its dict's hash order).
            assert_eq!(fields[2].1, bulk("-@all +get +select|0 +set"));
            assert_eq!(fields[3].1, bulk("%R~r* %W~w*"));
            assert_eq!(fields[4].1, bulk(""));
            match &fields[5].1 {
                Reply::Array(sels) => {
                    assert_eq!(sels.len(), 1);
                    let Reply::Map(s) = &sels[0] else { panic!("{sels:?}") };
                    assert_eq!(s[0].1, bulk("-@all +lpush"));
                    assert_eq!(s[1].1, bulk("~list*"));
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn multi_is_checked_when_queued_and_again_at_exec() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "m", "on", "nopass", "~*", "+multi", "+exec", "+set", "+get"]), ok());
    let mut u = as_user(&server, "m", "any");
    assert_eq!(u.cmd(&["MULTI"]), ok());
    // A no-multi command is refused as such before ACLs are looked at (as Redis orders them).
    assert_eq!(u.cmd(&["SAVE"]), err("ERR Command not allowed inside a transaction"));
    assert_eq!(u.cmd(&["DEL", "k"]), noperm_cmd("del"));
    assert_eq!(u.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
    assert_eq!(u.cmd(&["MULTI"]), ok());
    assert_eq!(u.cmd(&["SET", "k", "v"]), Reply::Simple("QUEUED".into()));
    assert_eq!(u.cmd(&["GET", "k"]), Reply::Simple("QUEUED".into()));
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "m", "-set"]), ok());
    assert_eq!(
        u.cmd(&["EXEC"]),
        Reply::Array(vec![
            err("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand"),
            Reply::Null,
        ])
    );
    match admin.cmd(&["ACL", "LOG", "1"]) {
        Reply::Array(v) => {
            let Reply::Array(e) = &v[0] else { panic!("{v:?}") };
            assert_eq!(
                (e[3].clone(), e[5].clone(), e[7].clone(), e[9].clone()),
                (bulk("command"), bulk("multi"), bulk("set"), bulk("m"))
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sort_by_and_get_need_read_access_to_every_key() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["RPUSH", "mylist", "1"]), Reply::Int(1));
    assert_eq!(
        admin.cmd(&["ACL", "SETUSER", "s", "on", "nopass", "+sort", "+multi", "+exec", "+auth", "~mylist"]),
        ok()
    );
    let mut u = as_user(&server, "s", "x");
    let by_denied = err("ERR BY option of SORT denied due to insufficient ACL permissions.");
    assert_eq!(u.cmd(&["SORT", "mylist", "BY", "v*"]), by_denied);
    assert_eq!(
        u.cmd(&["SORT", "mylist", "GET", "v*"]),
        err("ERR GET option of SORT denied due to insufficient ACL permissions.")
    );
    // A BY pattern without `*` names no key: allowed.
    assert_eq!(u.cmd(&["SORT", "mylist", "BY", "nosort"]), Reply::Array(vec![bulk("1")]));
    // The same inside EXEC, and a failed AUTH there is logged in the `multi` context.
    assert_eq!(u.cmd(&["MULTI"]), ok());
    assert_eq!(u.cmd(&["SORT", "mylist", "BY", "v*"]), Reply::Simple("QUEUED".into()));
    assert_eq!(u.cmd(&["AUTH", "s", "x"]), Reply::Simple("QUEUED".into()));
    assert_eq!(u.cmd(&["AUTH", "nobody", "x"]), Reply::Simple("QUEUED".into()));
    assert_eq!(
        u.cmd(&["EXEC"]),
        Reply::Array(vec![by_denied, ok(), err("WRONGPASS invalid username-password pair or user is disabled.")])
    );
    match admin.cmd(&["ACL", "LOG", "1"]) {
        Reply::Array(v) => {
            let Reply::Array(e) = &v[0] else { panic!("{v:?}") };
            assert_eq!((e[3].clone(), e[5].clone(), e[9].clone()), (bulk("auth"), bulk("multi"), bulk("nobody")));
        }
        other => panic!("{other:?}"),
    }
    // Read access to every key lifts the refusal; other clients were never affected.
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "s", "%R~*"]), ok());
    assert_eq!(u.cmd(&["SORT", "mylist", "BY", "v*"]), Reply::Array(vec![bulk("1")]));
    assert_eq!(admin.cmd(&["SORT", "mylist", "GET", "#"]), Reply::Array(vec![bulk("1")]));
}

#[test]
fn channels_are_checked_and_lost_channels_disconnect_subscribers() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "p", "on", "nopass", "+@all", "&news*"]), ok());
    let mut u = as_user(&server, "p", "x");
    assert_eq!(u.cmd(&["PUBLISH", "other", "m"]), err(NOPERM_CHANNEL));
    assert_eq!(u.cmd(&["PUBLISH", "news1", "m"]), Reply::Int(0));
    assert_eq!(u.cmd(&["PSUBSCRIBE", "news?"]), err(NOPERM_CHANNEL));
    let mut sub = as_user(&server, "p", "x");
    sub.send(&["SUBSCRIBE", "news1"]);
    assert_eq!(sub.read(), Reply::Array(vec![bulk("subscribe"), bulk("news1"), Reply::Int(1)]));
    // Taking the channel away disconnects the subscriber; the plain client stays.
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "p", "resetchannels", "&other"]), ok());
    sub.set_read_timeout(Duration::from_secs(5));
    assert!(sub.is_closed());
    assert_eq!(u.cmd(&["PUBLISH", "other", "m"]), Reply::Int(0));
}

#[test]
fn auth_hello_and_the_acl_log() {
    let server = Server::start(&["--requirepass", "secret"]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["GET", "x"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "wrong"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(c.cmd(&["AUTH", "secret"]), ok());
    assert_eq!(c.cmd(&["ACL", "SETUSER", "h", "on", ">hp", "+@all", "~*"]), ok());
    let mut h = server.client();
    assert_eq!(
        h.cmd(&["HELLO", "3", "AUTH", "h", "bad"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert!(matches!(h.cmd(&["HELLO", "3", "AUTH", "h", "hp"]), Reply::Map(_)));
    assert_eq!(h.cmd(&["ACL", "WHOAMI"]), bulk("h"));
    assert!(text(h.cmd(&["CLIENT", "INFO"])).contains(" user=h "));
    // A disabled user cannot log in.
    assert_eq!(c.cmd(&["ACL", "SETUSER", "h", "off"]), ok());
    assert_eq!(
        server.client().cmd(&["AUTH", "h", "hp"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    match c.cmd(&["ACL", "LOG"]) {
        Reply::Array(entries) => {
            // AUTH wrong (default), HELLO AUTH h bad, AUTH h while h is off.
            assert_eq!(entries.len(), 3);
            let Reply::Array(e) = &entries[0] else { panic!("{entries:?}") };
            let names: Vec<String> = e.iter().step_by(2).map(|r| text(r.clone())).collect();
            assert_eq!(names, ["count", "reason", "context", "object", "username", "age-seconds", "client-info"]);
            assert_eq!(e[1], Reply::Int(1));
            assert_eq!(e[3], bulk("auth"));
            assert_eq!(e[5], bulk("toplevel"));
            assert_eq!(e[7], bulk("AUTH"));
            assert_eq!(e[9], bulk("h"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.cmd(&["ACL", "LOG", "RESET"]), ok());
    assert_eq!(c.cmd(&["ACL", "LOG"]), Reply::Array(vec![]));
    // CONFIG SET requirepass is the default user's password.
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass", "other"]), ok());
    assert_eq!(server.client().cmd(&["AUTH", "default", "other"]), ok());
    assert_eq!(
        server.client().cmd(&["AUTH", "secret"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    // Setting it again to the same value still resets what ACL SETUSER did to the default user.
    assert_eq!(c.cmd(&["ACL", "SETUSER", "default", ">extra"]), ok());
    assert_eq!(server.client().cmd(&["AUTH", "extra"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass", "other"]), ok());
    assert_eq!(
        server.client().cmd(&["AUTH", "extra"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(server.client().cmd(&["AUTH", "other"]), ok());
}

#[test]
fn deleting_a_user_and_client_kill_user_disconnect_its_clients() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "k", "on", "nopass", "+@all", "~*"]), ok());
    let mut a = as_user(&server, "k", "x");
    let mut b = as_user(&server, "k", "x");
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "USER", "nobody"]), err("ERR No such user 'nobody'"));
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "USER", "k"]), Reply::Int(2));
    a.set_read_timeout(Duration::from_secs(5));
    assert!(a.is_closed());
    let mut c = as_user(&server, "k", "x");
    assert_eq!(admin.cmd(&["ACL", "DELUSER", "k"]), Reply::Int(1));
    c.set_read_timeout(Duration::from_secs(5));
    assert!(c.is_closed());
    b.set_read_timeout(Duration::from_secs(5));
    assert!(b.is_closed());
    assert_eq!(admin.cmd(&["PING"]), Reply::Simple("PONG".into()));
}

#[test]
fn aclfile_save_and_load() {
    let dir = std::env::temp_dir().join(format!("redoxide-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("users.acl");
    std::fs::write(&file, "user alice on allcommands allkeys &* >alice\nuser default on nopass ~* &* +@all\n").unwrap();
    let server = Server::start_in(&dir, &["--aclfile", file.to_str().unwrap()]).unwrap();
    let mut c = server.client();
    assert_eq!(c.cmd(&["ACL", "USERS"]), Reply::Array(vec![bulk("alice"), bulk("default")]));
    let mut alice = as_user(&server, "alice", "alice");
    assert_eq!(c.cmd(&["ACL", "SETUSER", "bob", "on", ">b", "+get"]), ok());
    assert_eq!(c.cmd(&["ACL", "SAVE"]), ok());
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user bob on #"), "{saved}");
    assert_eq!(saved.lines().count(), 3);
    // A broken file changes nothing.
    std::fs::write(&file, "user carol on +nosuch\n").unwrap();
    match c.cmd(&["ACL", "LOAD"]) {
        Reply::Error(e) => assert!(
            e.ends_with("WARNING: ACL errors detected, no change to the previously active ACL rules was performed"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    std::fs::write(&file, saved).unwrap();
    assert_eq!(c.cmd(&["ACL", "LOAD"]), ok());
    // LOAD replaces every user but the default one: their clients are disconnected.
    alice.set_read_timeout(Duration::from_secs(5));
    assert!(alice.is_closed());
    assert_eq!(c.cmd(&["PING"]), Reply::Simple("PONG".into()));
    // Patterns of any bytes are saved and listed as they are, as Redis writes its sds rules.
    c.send_raw(b"*4\r\n$3\r\nACL\r\n$7\r\nSETUSER\r\n$3\r\ncar\r\n$4\r\n~k\xff\x8d\r\n");
    assert_eq!(c.read(), ok());
    assert_eq!(c.cmd(&["ACL", "SAVE"]), ok());
    let line = b"user car off ~k\xff\x8d resetchannels -@all";
    let saved = std::fs::read(&file).unwrap();
    assert!(saved.windows(line.len()).any(|w| w == line), "{}", String::from_utf8_lossy(&saved));
    assert_eq!(c.cmd(&["ACL", "LOAD"]), ok());
    match c.cmd(&["ACL", "LIST"]) {
        Reply::Array(items) => assert!(items.contains(&Reply::Bulk(line.to_vec())), "{items:?}"),
        other => panic!("{other:?}"),
    }
    drop(server);
    // Users in the config and an aclfile together are refused at start-up.
    let err = Server::start_in(&dir, &["--aclfile", file.to_str().unwrap(), "--user", "x", "on", "nopass"]).err();
    assert_eq!(err.as_deref(), Some("redoxide-server exited during start-up: exit status: 1"));
    // Each alone starts.
    assert!(Server::start_in(&dir, &["--user", "x", "on", "nopass"]).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn users_from_the_config_file() {
    // `--user` on the command line is a `user` line of the config, as redis-server takes it.
    let server = Server::start(&[
        "--user", "default", "on", "nopass", "~*", "&*", "+@all", "-flushdb", "--user", "worker", "on", ">w", "~job:*",
        "+@read",
    ]);
    let mut c = server.client();
    assert_eq!(c.cmd(&["FLUSHDB"]), noperm_cmd("flushdb"));
    // A default user given in the config starts from `reset`, hence sanitize-payload.
    assert_eq!(
        c.cmd(&["ACL", "LIST"]),
        Reply::Array(vec![
            bulk("user default on nopass sanitize-payload ~* &* +@all -flushdb"),
            bulk("user worker on #50e721e49c013f00c62cf59f2163542a9d8df02464efeb615d31051b0fddc326 ~job:* resetchannels -@all +@read"),
        ])
    );
    let mut w = as_user(&server, "worker", "w");
    assert_eq!(w.cmd(&["GET", "job:1"]), Reply::Null);
    assert_eq!(w.cmd(&["GET", "x"]), err(NOPERM_KEY));
}

#[test]
fn protected_mode_refuses_non_loopback_clients_without_a_password() {
    use std::io::Read;
    let server = Server::start(&["--protected-mode", "yes"]);
    let connect_from = |src: &str| {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.bind(&format!("{src}:0").parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
        sock.connect(&format!("127.0.0.1:{}", server.port).parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
        let s: std::net::TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    };
    // 127.0.0.2 is loopback to the kernel, but not to Redis (only 127.0.0.1 and ::1 are).
    let mut s = connect_from("127.0.0.2");
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert!(got.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."), "{got}");
    // A disabled default user without a password still counts as "no password" (Redis tests
    // the nopass flag alone).
    let mut admin = server.client();
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "default", "off"]), ok());
    let mut s = connect_from("127.0.0.2");
    let mut got = String::new();
    let _ = s.read_to_string(&mut got);
    assert!(got.starts_with("-DENIED Redis is running in protected mode"), "{got}");
    assert_eq!(admin.cmd(&["ACL", "SETUSER", "default", "on"]), ok());
    // With a password on the default user the connection is served.
    assert_eq!(admin.cmd(&["CONFIG", "SET", "requirepass", "pw"]), ok());
    let s = connect_from("127.0.0.2");
    let mut c = Client::from_stream(s);
    assert_eq!(c.cmd(&["PING"]), err("NOAUTH Authentication required."));
}
