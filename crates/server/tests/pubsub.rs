//! Black-box tests of pub/sub and keyspace notifications against a real server with two worker
//! threads, so subscribers and publishers sit on different threads (connections are handed out
//! round-robin) and every message crosses a worker inbox.

mod support;

use std::time::{Duration, Instant};
use support::{Client, Reply, Server};

fn b(s: &str) -> Reply {
    Reply::bulk(s)
}

/// A client switched to RESP3.
fn resp3(server: &Server) -> Client {
    let mut c = server.client();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Reply::Map(_)));
    c
}

/// The items of a pub/sub frame, checking it has the shape the protocol calls for: a push in
/// RESP3, an array in RESP2.
fn frame(reply: Reply, resp3: bool) -> Vec<Reply> {
    match (reply, resp3) {
        (Reply::Push(items), true) | (Reply::Array(items), false) => items,
        (other, _) => panic!("expected a {} frame, got {other:?}", if resp3 { "push" } else { "array" }),
    }
}

fn client_list(c: &mut Client) -> String {
    match c.cmd(&["CLIENT", "LIST"]) {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("CLIENT LIST replied {other:?}"),
    }
}

#[test]
fn subscribers_on_both_workers_get_every_message_in_order_in_their_protocol() {
    let server = Server::start(&["--io-threads", "2"]);
    // Four subscribers: consecutive connections land on alternating workers.
    let mut subs: Vec<(Client, bool)> = Vec::new();
    for i in 0..4 {
        let is3 = i % 2 == 1;
        let mut c = if is3 { resp3(&server) } else { server.client() };
        c.send(&["SUBSCRIBE", "news", "other"]);
        assert_eq!(frame(c.read(), is3), vec![b("subscribe"), b("news"), Reply::Int(1)]);
        assert_eq!(frame(c.read(), is3), vec![b("subscribe"), b("other"), Reply::Int(2)]);
        if i >= 2 {
            c.send(&["PSUBSCRIBE", "n?ws"]);
            assert_eq!(frame(c.read(), is3), vec![b("psubscribe"), b("n?ws"), Reply::Int(3)]);
        }
        subs.push((c, is3));
    }
    let mut publisher = server.client();
    // Pipelined publishes: the deliveries of a batch travel together, and must keep their order.
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(Client::encode(&["PUBLISH", "news", &format!("m{i}")]));
    }
    publisher.send_raw(&batch);
    for _ in 0..50 {
        // Four channel subscribers plus two pattern subscriptions.
        assert_eq!(publisher.read(), Reply::Int(6));
    }
    for (i, (c, is3)) in subs.iter_mut().enumerate() {
        for m in 0..50 {
            let msg = format!("m{m}");
            assert_eq!(frame(c.read(), *is3), vec![b("message"), b("news"), b(&msg)], "subscriber {i}");
            if i >= 2 {
                assert_eq!(frame(c.read(), *is3), vec![b("pmessage"), b("n?ws"), b("news"), b(&msg)]);
            }
        }
    }
    assert_eq!(publisher.cmd(&["PUBLISH", "nobody", "x"]), Reply::Int(0));
    assert_eq!(publisher.cmd(&["PUBLISH", "nows", "x"]), Reply::Int(2));
    for (c, is3) in subs.iter_mut().skip(2) {
        assert_eq!(frame(c.read(), *is3), vec![b("pmessage"), b("n?ws"), b("nows"), b("x")]);
    }
    // After UNSUBSCRIBE the client no longer counts and gets nothing more.
    let (c0, _) = &mut subs[0];
    c0.send(&["UNSUBSCRIBE", "news"]);
    assert_eq!(frame(c0.read(), false), vec![b("unsubscribe"), b("news"), Reply::Int(1)]);
    assert_eq!(publisher.cmd(&["PUBLISH", "news", "late"]), Reply::Int(5));
    assert_eq!(publisher.cmd(&["PUBLISH", "other", "o"]), Reply::Int(4));
    assert_eq!(frame(c0.read(), false), vec![b("message"), b("other"), b("o")]);
}

#[test]
fn resp2_subscribed_context_allows_only_pubsub_commands_and_reset_leaves_it() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut c = server.client();
    c.send(&["SUBSCRIBE", "a"]);
    assert_eq!(c.read(), Reply::Array(vec![b("subscribe"), b("a"), Reply::Int(1)]));
    assert_eq!(
        c.cmd(&["GET", "x"]),
        Reply::Error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
                .into()
        )
    );
    assert_eq!(c.cmd(&["PING"]), Reply::Array(vec![b("pong"), b("")]));
    assert_eq!(c.cmd(&["PING", "hi"]), Reply::Array(vec![b("pong"), b("hi")]));
    // Unsubscribing from everything leaves the context.
    assert_eq!(c.cmd(&["UNSUBSCRIBE"]), Reply::Array(vec![b("unsubscribe"), b("a"), Reply::Int(0)]));
    assert_eq!(c.cmd(&["UNSUBSCRIBE"]), Reply::Array(vec![b("unsubscribe"), Reply::Null, Reply::Int(0)]));
    assert_eq!(c.cmd(&["GET", "x"]), Reply::Null);
    // RESET leaves it too, silently, and the server forgets the subscription.
    c.send(&["PSUBSCRIBE", "p*"]);
    assert_eq!(c.read(), Reply::Array(vec![b("psubscribe"), b("p*"), Reply::Int(1)]));
    assert_eq!(c.cmd(&["RESET"]), Reply::Simple("RESET".into()));
    assert_eq!(c.cmd(&["GET", "x"]), Reply::Null);
    assert_eq!(c.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(0));
    // RESP3 clients are not restricted.
    let mut r3 = resp3(&server);
    r3.send(&["SUBSCRIBE", "a"]);
    assert_eq!(r3.read(), Reply::Push(vec![b("subscribe"), b("a"), Reply::Int(1)]));
    assert_eq!(r3.cmd(&["SET", "x", "1"]), Reply::Simple("OK".into()));
    assert_eq!(r3.cmd(&["PING"]), Reply::Simple("PONG".into()));
    // A RESP3 client publishing to its own channel gets the message before the reply.
    r3.send(&["PUBLISH", "a", "self"]);
    assert_eq!(r3.read(), Reply::Push(vec![b("message"), b("a"), b("self")]));
    assert_eq!(r3.read(), Reply::Int(1));
}

#[test]
fn introspection_counts_flags_and_kill_by_type() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut admin = server.client();
    let mut s1 = server.client();
    s1.send(&["SUBSCRIBE", "c1", "c2"]);
    s1.read();
    s1.read();
    let mut s2 = server.client();
    s2.send(&["PSUBSCRIBE", "c*"]);
    s2.read();
    s2.send(&["SSUBSCRIBE", "shard"]);
    assert_eq!(s2.read(), Reply::Array(vec![b("ssubscribe"), b("shard"), Reply::Int(1)]));
    assert_eq!(
        admin.cmd(&["PUBSUB", "NUMSUB", "c1", "zz"]),
        Reply::Array(vec![b("c1"), Reply::Int(1), b("zz"), Reply::Int(0)])
    );
    assert_eq!(admin.cmd(&["PUBSUB", "NUMPAT"]), Reply::Int(1));
    assert_eq!(admin.cmd(&["PUBSUB", "CHANNELS", "*2"]), Reply::Array(vec![b("c2")]));
    assert_eq!(admin.cmd(&["PUBSUB", "SHARDCHANNELS"]), Reply::Array(vec![b("shard")]));
    assert_eq!(admin.cmd(&["PUBSUB", "SHARDNUMSUB", "shard"]), Reply::Array(vec![b("shard"), Reply::Int(1)]));
    assert_eq!(admin.cmd(&["SPUBLISH", "shard", "x"]), Reply::Int(1));
    assert_eq!(s2.read(), Reply::Array(vec![b("smessage"), b("shard"), b("x")]));
    let Reply::Bulk(info) = admin.cmd(&["INFO", "stats"]) else { panic!("INFO is a bulk string") };
    let info = String::from_utf8_lossy(&info).into_owned();
    for field in ["pubsub_channels:2", "pubsub_patterns:1", "pubsubshard_channels:1"] {
        assert!(info.contains(field), "INFO lacks {field}: {info}");
    }
    let list = client_list(&mut admin);
    assert!(list.lines().any(|l| l.contains("flags=P ") && l.contains("sub=2 psub=0 ssub=0")), "{list}");
    assert!(list.lines().any(|l| l.contains("flags=P ") && l.contains("sub=0 psub=1 ssub=1")), "{list}");
    assert!(list.lines().any(|l| l.contains("flags=N ") && l.contains("sub=0 psub=0 ssub=0")), "{list}");
    // Flags in Redis's order: P before x.
    let mut s3 = resp3(&server);
    s3.send(&["SUBSCRIBE", "c3"]);
    s3.read();
    assert_eq!(s3.cmd(&["MULTI"]), Reply::Simple("OK".into()));
    let list = client_list(&mut admin);
    assert!(list.lines().any(|l| l.contains("flags=Px ") && l.contains("sub=1 psub=0 ssub=0")), "{list}");
    let Reply::Bulk(only) = admin.cmd(&["CLIENT", "LIST", "TYPE", "pubsub"]) else { panic!() };
    assert_eq!(String::from_utf8_lossy(&only).lines().count(), 3);
    let Reply::Bulk(normal) = admin.cmd(&["CLIENT", "LIST", "TYPE", "normal"]) else { panic!() };
    assert_eq!(String::from_utf8_lossy(&normal).lines().count(), 1, "only the admin connection is normal");
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]), Reply::Int(3));
    s1.set_read_timeout(Duration::from_secs(5));
    s2.set_read_timeout(Duration::from_secs(5));
    s3.set_read_timeout(Duration::from_secs(5));
    assert!(s1.is_closed() && s2.is_closed() && s3.is_closed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while admin.cmd(&["PUBSUB", "NUMPAT"]) != Reply::Int(0) || admin.cmd(&["PUBLISH", "c1", "x"]) != Reply::Int(0) {
        assert!(Instant::now() < deadline, "killed subscribers still registered");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads one message of the `__key*@*__:*` pattern subscription.
fn expect(w: &mut Client, channel: &str, message: &str) {
    assert_eq!(w.read(), Reply::Array(vec![b("pmessage"), b("__key*@*__:*"), b(channel), b(message)]));
}

#[test]
fn keyspace_notifications_reach_subscribers_on_other_workers() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut admin = server.client();
    // Off by default: nothing is published.
    let mut watcher = server.client();
    watcher.send(&["PSUBSCRIBE", "__key*@*__:*"]);
    watcher.read();
    let mut watcher3 = resp3(&server);
    watcher3.send(&["SUBSCRIBE", "__keyevent@0__:del"]);
    watcher3.read();
    assert_eq!(admin.cmd(&["SET", "quiet", "1"]), Reply::Simple("OK".into()));
    assert_eq!(admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", "KEA"]), Reply::Simple("OK".into()));
    assert_eq!(
        admin.cmd(&["CONFIG", "GET", "notify-keyspace-events"]),
        Reply::Array(vec![b("notify-keyspace-events"), b("AKE")])
    );
    admin.cmd(&["SET", "foo", "bar"]);
    expect(&mut watcher, "__keyspace@0__:foo", "set");
    expect(&mut watcher, "__keyevent@0__:set", "foo");
    admin.cmd(&["RPUSH", "l", "a"]);
    admin.cmd(&["LPOP", "l"]);
    expect(&mut watcher, "__keyspace@0__:l", "rpush");
    expect(&mut watcher, "__keyevent@0__:rpush", "l");
    expect(&mut watcher, "__keyspace@0__:l", "lpop");
    expect(&mut watcher, "__keyevent@0__:lpop", "l");
    expect(&mut watcher, "__keyspace@0__:l", "del");
    expect(&mut watcher, "__keyevent@0__:del", "l");
    assert_eq!(watcher3.read(), Reply::Push(vec![b("message"), b("__keyevent@0__:del"), b("l")]));
    admin.cmd(&["RENAME", "foo", "foo2"]);
    expect(&mut watcher, "__keyspace@0__:foo", "rename_from");
    expect(&mut watcher, "__keyevent@0__:rename_from", "foo");
    expect(&mut watcher, "__keyspace@0__:foo2", "rename_to");
    expect(&mut watcher, "__keyevent@0__:rename_to", "foo2");
    // Only the keyevent class, and only hash events.
    admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Eh"]);
    admin.cmd(&["HSET", "h", "f", "v"]);
    admin.cmd(&["SET", "ignored", "1"]);
    admin.cmd(&["HDEL", "h", "f"]);
    expect(&mut watcher, "__keyevent@0__:hset", "h");
    expect(&mut watcher, "__keyevent@0__:hdel", "h");
    // Expiry, lazy (the GET finds the key expired) and active (nobody touches it).
    admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
    admin.cmd(&["SELECT", "3"]);
    admin.cmd(&["SET", "lazy", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(admin.cmd(&["GET", "lazy"]), Reply::Null);
    expect(&mut watcher, "__keyevent@3__:expired", "lazy");
    admin.cmd(&["SET", "active", "1", "PX", "1"]);
    expect(&mut watcher, "__keyevent@3__:expired", "active");
    admin.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    admin.cmd(&["SET", "x", "1"]);
    assert_eq!(admin.cmd(&["PUBLISH", "__keyevent@3__:set", "marker"]), Reply::Int(1));
    expect(&mut watcher, "__keyevent@3__:set", "marker");
}

#[test]
fn pubsub_output_buffer_hard_limit_closes_a_subscriber_that_does_not_read() {
    let server = Server::start(&["--io-threads", "2"]);
    let mut admin = server.client();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 262144 0 0"]),
        Reply::Simple("OK".into())
    );
    let mut slow = server.client();
    slow.send(&["SUBSCRIBE", "flood"]);
    slow.read();
    let payload = "x".repeat(64 * 1024);
    let mut closed = false;
    // Far more than the socket buffers of a loopback connection can hold.
    for _ in 0..2000 {
        if admin.cmd(&["PUBLISH", "flood", &payload]) == Reply::Int(0) {
            closed = true;
            break;
        }
    }
    assert!(closed, "a subscriber over the hard limit stayed subscribed");
    assert!(!client_list(&mut admin).contains("sub=1"));
}

/// The normal class of `client-output-buffer-limit`: a client whose reply goes over the hard
/// limit is closed with none of it sent (Redis's CLIENT_CLOSE_ASAP), a reply of unbounded size
/// stops being built once past it (HRANDFIELD with a huge negative count returns at once
/// instead of building gigabytes), and a client under the limit is served as before.
#[test]
fn normal_output_buffer_limit_closes_a_client_without_sending_its_reply() {
    let server = Server::start(&[]);
    let mut admin = server.client();
    assert_eq!(
        admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "normal 100000 0 0"]),
        Reply::Simple("OK".into())
    );
    let item = "x".repeat(1000);
    for _ in 0..150 {
        admin.cmd(&["RPUSH", "big", &item]);
    }
    let Reply::Array(small) = admin.cmd(&["LRANGE", "big", "0", "49"]) else { panic!("LRANGE") };
    assert_eq!(small.len(), 50, "a reply under the limit is sent");
    let mut greedy = server.client();
    greedy.send(&["LRANGE", "big", "0", "-1"]);
    assert!(greedy.is_closed_or_reset(), "the client over the limit is closed with nothing sent");
    admin.cmd(&["HSET", "h", "a", "b"]);
    let mut huge = server.client();
    let started = std::time::Instant::now();
    huge.send(&["HRANDFIELD", "h", "-999999999"]);
    assert!(huge.is_closed_or_reset(), "HRANDFIELD's client is closed");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the reply stopped being built");
    assert_eq!(admin.cmd(&["PING"]), Reply::Simple("PONG".into()));
}
