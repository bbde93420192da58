//! Black-box tests of client-side caching (CLIENT TRACKING) against a real server with two
//! worker threads, so a tracking client, the writer and a REDIRECT target sit on different
//! threads (connections are handed out round-robin) and invalidations cross worker inboxes.

mod support;

use std::time::Duration;
use support::{Client, Reply, Server};

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

/// A client switched to RESP3.
fn resp3(server: &Server) -> Client {
    let mut c = server.client();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    c
}

fn id_of(c: &mut Client) -> String {
    match c.cmd(&["CLIENT", "ID"]) {
        Reply::Int(id) => id.to_string(),
        other => panic!("CLIENT ID replied {other:?}"),
    }
}

/// An `invalidate` push with these keys.
fn invalidate(keys: &[&str]) -> Reply {
    Reply::Push(vec![b("invalidate"), Reply::Array(keys.iter().map(|k| b(k)).collect())])
}

/// A RESP2 client subscribed to `__redis__:invalidate`, and its id.
fn redirect_target(server: &Server) -> (Client, String) {
    let mut c = server.client();
    let id = id_of(&mut c);
    c.send(&["SUBSCRIBE", "__redis__:invalidate"]);
    assert_eq!(c.read(), Reply::Array(vec![b("subscribe"), b("__redis__:invalidate"), Reply::Int(1)]));
    (c, id)
}

/// The keys of a redirected invalidation message (RESP2 pub/sub `message`).
fn message_keys(reply: Reply) -> Reply {
    match reply {
        Reply::Array(items) if items.len() == 3 && items[0] == b("message") => {
            assert_eq!(items[1], b("__redis__:invalidate"));
            items[2].clone()
        }
        other => panic!("expected an invalidation message, got {other:?}"),
    }
}

/// Waits (bounded) until the server has let client `id` go.
fn wait_gone(c: &mut Client, id: &str) {
    for _ in 0..200 {
        let list = match c.cmd(&["CLIENT", "LIST"]) {
            Reply::Bulk(t) | Reply::Verbatim(_, t) => String::from_utf8_lossy(&t).into_owned(),
            other => panic!("CLIENT LIST replied {other:?}"),
        };
        if !list.contains(&format!("id={id} ")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("client {id} did not go away");
}

fn info_field(c: &mut Client, name: &str) -> i64 {
    let text = match c.cmd(&["INFO", "all"]) {
        Reply::Bulk(t) | Reply::Verbatim(_, t) => String::from_utf8_lossy(&t).into_owned(),
        other => panic!("INFO replied {other:?}"),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in INFO"))
}

#[test]
fn resp3_reader_gets_one_push_per_read_and_its_own_write_after_the_reply() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut reader = resp3(&server);
    let mut writer = server.client();
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on"]), ok());
    assert_eq!(writer.cmd(&["SET", "k", "1"]), ok());
    assert_eq!(reader.cmd(&["GET", "k"]), b("1"));
    assert_eq!(writer.cmd(&["SET", "k", "2"]), ok());
    assert_eq!(reader.read(), invalidate(&["k"]));
    // Forgotten after one invalidation: a second write sends nothing until the key is read again.
    assert_eq!(writer.cmd(&["SET", "k", "3"]), ok());
    assert_eq!(reader.cmd(&["PING"]), Reply::Simple("PONG".into()));
    // The reader's own write: the reply first, then the push.
    assert_eq!(reader.cmd(&["GET", "k"]), b("3"));
    assert_eq!(reader.cmd(&["DEL", "k"]), Reply::Int(1));
    assert_eq!(reader.read(), invalidate(&["k"]));
    assert_eq!(info_field(&mut writer, "tracking_clients"), 1);
    assert_eq!(info_field(&mut writer, "tracking_total_keys"), 0);
}

#[test]
fn resp2_redirect_delivers_messages_and_a_vanished_target_breaks_the_redirection() {
    let server = Server::start(&["--io-threads", "2"]);
    let (mut target, target_id) = redirect_target(&server);
    let mut reader = server.client();
    let mut writer = server.client();
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &target_id]), ok());
    assert_eq!(reader.cmd(&["CLIENT", "GETREDIR"]), Reply::Int(target_id.parse().unwrap_or(-1)));
    assert_eq!(reader.cmd(&["MGET", "a", "b"]), Reply::Array(vec![Reply::Null, Reply::Null]));
    assert_eq!(info_field(&mut writer, "tracking_total_keys"), 2);
    assert_eq!(writer.cmd(&["MSET", "a", "1", "b", "2"]), ok());
    let mut got = vec![message_keys(target.read()), message_keys(target.read())];
    got.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(got, vec![Reply::Array(vec![b("a")]), Reply::Array(vec![b("b")])]);
    // The target goes away: the RESP3 tracker is told once a tracked key changes.
    drop(target);
    wait_gone(&mut writer, &target_id);
    let mut reader3 = resp3(&server);
    assert_eq!(
        reader3.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &target_id]),
        Reply::Error("ERR The client ID you want redirect to does not exist".into())
    );
    let (target2, target2_id) = redirect_target(&server);
    assert_eq!(reader3.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &target2_id]), ok());
    assert_eq!(reader3.cmd(&["GET", "a"]), b("1"));
    drop(target2);
    wait_gone(&mut writer, &target2_id);
    assert_eq!(writer.cmd(&["SET", "a", "2"]), ok());
    assert_eq!(
        reader3.read(),
        Reply::Push(vec![b("tracking-redir-broken"), Reply::Int(target2_id.parse().unwrap_or(-1))])
    );
    let info = match reader3.cmd(&["CLIENT", "INFO"]) {
        Reply::Verbatim(_, t) | Reply::Bulk(t) => String::from_utf8_lossy(&t).into_owned(),
        other => panic!("CLIENT INFO replied {other:?}"),
    };
    assert!(info.contains(" flags=tR "), "{info}");
    assert!(info.contains(&format!(" redir={target2_id} ")), "{info}");
}

#[test]
fn bcast_prefixes_batch_the_keys_of_one_command_and_noloop_skips_own_writes() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut reader = resp3(&server);
    let mut writer = server.client();
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:", "PREFIX", "b:", "NOLOOP"]), ok());
    assert_eq!(
        reader.cmd(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a:x"]),
        Reply::Error(
            "ERR Prefix 'a:x' overlaps with an existing prefix 'a:'. Prefixes for a single client must not overlap."
                .into()
        )
    );
    assert_eq!(info_field(&mut writer, "tracking_total_prefixes"), 2);
    assert_eq!(writer.cmd(&["MSET", "a:2", "1", "a:1", "1", "c:1", "1"]), ok());
    // All keys of the prefix in one push, in key order; nothing for c:1.
    assert_eq!(reader.read(), invalidate(&["a:1", "a:2"]));
    // NOLOOP: the reader's own write is not reported back to it; the writer's next one is.
    assert_eq!(reader.cmd(&["SET", "b:mine", "1"]), ok());
    assert_eq!(writer.cmd(&["SET", "b:theirs", "1"]), ok());
    assert_eq!(reader.read(), invalidate(&["b:theirs"]));
    let info = match reader.cmd(&["CLIENT", "TRACKINGINFO"]) {
        Reply::Map(pairs) => pairs,
        other => panic!("CLIENT TRACKINGINFO replied {other:?}"),
    };
    assert_eq!(info[0], (b("flags"), Reply::Set(vec![b("on"), b("bcast"), b("noloop")])));
    assert_eq!(info[2], (b("prefixes"), Reply::Array(vec![b("a:"), b("b:")])));
}

#[test]
fn optin_and_optout_follow_client_caching() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut reader = resp3(&server);
    let mut writer = server.client();
    assert_eq!(
        reader.cmd(&["CLIENT", "CACHING", "yes"]),
        Reply::Error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
                .into()
        )
    );
    assert_eq!(
        reader.cmd(&["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"]),
        Reply::Error("ERR You can't specify both OPTIN mode and OPTOUT mode".into())
    );
    assert_eq!(
        reader.cmd(&["CLIENT", "TRACKING", "on", "PREFIX", "x"]),
        Reply::Error("ERR PREFIX option requires BCAST mode to be enabled".into())
    );
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on", "OPTIN"]), ok());
    assert_eq!(
        reader.cmd(&["CLIENT", "CACHING", "no"]),
        Reply::Error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.".into())
    );
    // Not cached: no CLIENT CACHING yes before the read.
    assert_eq!(reader.cmd(&["GET", "skipped"]), Reply::Null);
    assert_eq!(reader.cmd(&["CLIENT", "CACHING", "yes"]), ok());
    assert_eq!(reader.cmd(&["GET", "cached"]), Reply::Null);
    // CACHING applied to that one command only.
    assert_eq!(reader.cmd(&["GET", "after"]), Reply::Null);
    assert_eq!(writer.cmd(&["MSET", "skipped", "1", "after", "1", "cached", "1"]), ok());
    assert_eq!(reader.read(), invalidate(&["cached"]));
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "off"]), ok());
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on", "OPTOUT"]), ok());
    assert_eq!(reader.cmd(&["CLIENT", "CACHING", "no"]), ok());
    assert_eq!(reader.cmd(&["GET", "skipped"]), b("1"));
    assert_eq!(reader.cmd(&["GET", "cached"]), b("1"));
    assert_eq!(writer.cmd(&["MSET", "skipped", "2", "cached", "2"]), ok());
    assert_eq!(reader.read(), invalidate(&["cached"]));
}

#[test]
fn flush_sends_a_null_and_empties_the_table() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut reader = resp3(&server);
    let (mut target, target_id) = redirect_target(&server);
    let mut redirected = server.client();
    let mut writer = server.client();
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on"]), ok());
    assert_eq!(redirected.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &target_id]), ok());
    assert_eq!(reader.cmd(&["GET", "x"]), Reply::Null);
    assert_eq!(redirected.cmd(&["GET", "y"]), Reply::Null);
    assert_eq!(info_field(&mut writer, "tracking_total_items"), 2);
    assert_eq!(writer.cmd(&["FLUSHALL"]), ok());
    assert_eq!(reader.read(), Reply::Push(vec![b("invalidate"), Reply::Null]));
    assert_eq!(message_keys(target.read()), Reply::Null);
    assert_eq!(info_field(&mut writer, "tracking_total_keys"), 0);
    // The flushing client itself is told after its reply (inside MULTI: after EXEC's).
    assert_eq!(reader.cmd(&["MULTI"]), ok());
    assert_eq!(reader.cmd(&["FLUSHDB"]), Reply::Simple("QUEUED".into()));
    assert_eq!(reader.cmd(&["EXEC"]), Reply::Array(vec![ok()]));
    assert_eq!(reader.read(), Reply::Push(vec![b("invalidate"), Reply::Null]));
}

#[test]
fn expired_keys_are_invalidated_lazily_and_actively() {
    let server = Server::start(&["--io-threads", "2", "--enable-debug-command", "yes"]);
    let mut reader = resp3(&server);
    let mut writer = server.client();
    assert_eq!(writer.cmd(&["SET", "short", "v", "PX", "100"]), ok());
    assert_eq!(writer.cmd(&["SET", "lazy", "v", "PX", "100"]), ok());
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on"]), ok());
    assert_eq!(reader.cmd(&["MGET", "short", "lazy"]), Reply::Array(vec![b("v"), b("v")]));
    assert_eq!(writer.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]), ok());
    std::thread::sleep(Duration::from_millis(150));
    // A read that expires the key: its reply first, then the push.
    assert_eq!(writer.cmd(&["GET", "lazy"]), Reply::Null);
    assert_eq!(reader.read(), invalidate(&["lazy"]));
    assert_eq!(writer.cmd(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]), ok());
    // Active expiry (10 Hz) removes `short`: bounded by the client's read timeout.
    assert_eq!(reader.read(), invalidate(&["short"]));
}

#[test]
fn invalidations_follow_the_exec_reply_and_the_table_limit_evicts_with_messages() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut reader = resp3(&server);
    let mut admin = server.client();
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on"]), ok());
    assert_eq!(reader.cmd(&["MSET", "a{t}", "1", "b{t}", "2"]), ok());
    assert_eq!(reader.cmd(&["GET", "a{t}"]), b("1"));
    assert_eq!(reader.cmd(&["MULTI"]), ok());
    assert_eq!(reader.cmd(&["INCR", "a{t}"]), Reply::Simple("QUEUED".into()));
    assert_eq!(reader.cmd(&["GET", "b{t}"]), Reply::Simple("QUEUED".into()));
    assert_eq!(reader.cmd(&["EXEC"]), Reply::Array(vec![Reply::Int(2), b("2")]));
    assert_eq!(reader.read(), invalidate(&["a{t}"]));
    // b{t} (read inside EXEC) and three more are remembered; a limit of 2 evicts down to 2,
    // each eviction telling the reader.
    assert_eq!(reader.cmd(&["MGET", "k1", "k2", "k3"]), Reply::Array(vec![Reply::Null, Reply::Null, Reply::Null]));
    assert_eq!(info_field(&mut admin, "tracking_total_keys"), 4);
    assert_eq!(admin.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "2"]), ok());
    let mut evicted = Vec::new();
    for _ in 0..2 {
        match reader.read() {
            Reply::Push(items) if items.len() == 2 && items[0] == b("invalidate") => evicted.push(items[1].clone()),
            other => panic!("expected an invalidation, got {other:?}"),
        }
    }
    assert_eq!(evicted.len(), 2);
    assert_eq!(info_field(&mut admin, "tracking_total_keys"), 2);
}

#[test]
fn an_unblocked_client_gets_its_invalidation_after_its_reply() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut blocked = resp3(&server);
    let mut pusher = server.client();
    assert_eq!(pusher.cmd(&["RPUSH", "dst{t}", "a"]), Reply::Int(1));
    assert_eq!(blocked.cmd(&["CLIENT", "TRACKING", "on"]), ok());
    assert_eq!(blocked.cmd(&["LRANGE", "dst{t}", "0", "-1"]), Reply::Array(vec![b("a")]));
    blocked.send(&["BLMOVE", "src{t}", "dst{t}", "LEFT", "LEFT", "0"]);
    let mut parked = false;
    for _ in 0..200 {
        if info_field(&mut pusher, "blocked_clients") == 1 {
            parked = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(parked, "BLMOVE did not block");
    // The pusher serves the blocked client on its own worker; the served command's write of
    // dst{t} invalidates the blocked client's own read, after the BLMOVE reply.
    assert_eq!(pusher.cmd(&["RPUSH", "src{t}", "foo"]), Reply::Int(1));
    assert_eq!(blocked.read(), b("foo"));
    assert_eq!(blocked.read(), invalidate(&["dst{t}"]));
}

#[test]
fn a_redirect_target_that_writes_gets_the_invalidation_before_its_reply() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut target = resp3(&server);
    let target_id = id_of(&mut target);
    let mut reader = server.client();
    assert_eq!(reader.cmd(&["CLIENT", "TRACKING", "on", "REDIRECT", &target_id]), ok());
    assert_eq!(reader.cmd(&["GET", "k"]), Reply::Null);
    // Redis writes the message while SET modifies the key, before SET's reply.
    target.send(&["SET", "k", "1"]);
    assert_eq!(target.read(), invalidate(&["k"]));
    assert_eq!(target.read(), ok());
}
