//! Streams against Redis 7.0.15: replies captured from the real server (RESP2 and RESP3), the
//! blocking contract of XREAD/XREADGROUP, propagation forms, and property tests of the stream
//! model (trimming by node, consumer-group PEL invariants).

// The in-process harness shared with list_model and zset_model (textually included: each
// tests/ file is its own crate).
include!("common/blocking_harness.rs");

use keyspace::stream::{NodeLimits, Stream, StreamId, Trim, TrimStrategy};
use proptest::prelude::*;

/// (protocol, command line, reply) captured from redis-server 7.0.15 with a raw RESP client
/// (explicit IDs only, so no reply depends on the clock).
#[rustfmt::skip]
const STREAM_VECTORS: &[(u8, &str, &[u8])] = &[
    (2, "xadd s 1-1 a 1", b"$3\r\n1-1\r\n"),
    (2, "xadd s 1-1 a 1", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    (2, "xadd s 0-0 a 1", b"-ERR The ID specified in XADD must be greater than 0-0\r\n"),
    (2, "xadd s 1-* b 2", b"$3\r\n1-2\r\n"),
    (2, "xadd s 2 c 3 d 4", b"$3\r\n2-0\r\n"),
    (2, "xadd s 2-* e 5", b"$3\r\n2-1\r\n"),
    (2, "xadd s 1-5 a 1", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    (2, "xadd s 3-0 a", b"-ERR wrong number of arguments for 'xadd' command\r\n"),
    (2, "xadd s", b"-ERR wrong number of arguments for 'xadd' command\r\n"),
    (2, "xadd s maxlen", b"-ERR wrong number of arguments for 'xadd' command\r\n"),
    (2, "xadd s maxlen -1 5-0 a 1", b"-ERR The MAXLEN argument must be >= 0.\r\n"),
    (2, "xadd s maxlen x 5-0 a 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "xadd s limit 5 5-0 a 1", b"-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n"),
    (2, "xadd s maxlen 10 limit 5 5-0 a 1", b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"),
    (2, "xadd s maxlen 2 minid 0 5-0 a 1", b"-ERR syntax error, MAXLEN and MINID options at the same time are not compatible\r\n"),
    (2, "xadd s nomkstream x-y a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xadd s 18446744073709551616-0 a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xadd s -1 a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xadd s + a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xadd nokey nomkstream 1-1 a 1", b"$-1\r\n"),
    (2, "exists nokey", b":0\r\n"),
    (2, "xadd s maxlen = 4 5-0 f v", b"$3\r\n5-0\r\n"),
    (2, "xlen s", b":4\r\n"),
    (2, "xrange s - +", b"*4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (2, "xrange s - + count 2", b"*2\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    (2, "xrange s - + count 0", b"*-1\r\n"),
    (2, "xrange s - + count -5", b"*-1\r\n"),
    (2, "xrange s (1-1 +", b"*4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (2, "xrange s 2 2", b"*2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (2, "xrange s (2-0 (5-0", b"*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (2, "xrange s + -", b"*0\r\n"),
    (2, "xrange s - + count", b"-ERR syntax error\r\n"),
    (2, "xrange s - + foo 1", b"-ERR syntax error\r\n"),
    (2, "xrange s x +", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xrange s (- +", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xrange s - (+", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xrange s (18446744073709551615-18446744073709551615 +", b"-ERR invalid start ID for the interval\r\n"),
    (2, "xrange s - (0-0", b"-ERR invalid end ID for the interval\r\n"),
    (2, "xrevrange s + -", b"*4\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (2, "xrevrange s + - count 1", b"*1\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (2, "xrevrange s (5-0 -", b"*3\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (2, "xrange nokey - +", b"*0\r\n"),
    (2, "xrevrange nokey + -", b"*0\r\n"),
    (2, "set str x", b"+OK\r\n"),
    (2, "xrange str - +", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "xadd str 1-1 a 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "xlen str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "xlen nokey", b":0\r\n"),
    (2, "xdel s 2-0 99-0", b":1\r\n"),
    (2, "xdel s bad", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xdel nokey bad", b":0\r\n"),
    (2, "xdel s 2-0", b":0\r\n"),
    (2, "xrange s - +", b"*3\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (2, "xtrim s maxlen 2", b":1\r\n"),
    (2, "xtrim s maxlen 10", b":0\r\n"),
    (2, "xtrim s", b"-ERR wrong number of arguments for 'xtrim' command\r\n"),
    (2, "xtrim s minid 5", b":1\r\n"),
    (2, "xtrim s foo 1", b"-ERR syntax error\r\n"),
    (2, "xtrim s maxlen 1 limit 1", b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"),
    (2, "xtrim s maxlen ~ 0 limit 1", b":1\r\n"),
    (2, "xtrim nokey maxlen 0", b":0\r\n"),
    (2, "xrange s - +", b"*0\r\n"),
    (2, "xsetid s 1-0", b"+OK\r\n"),
    (2, "xsetid s 10-0", b"+OK\r\n"),
    (2, "xsetid s 10-0 entriesadded 1", b"+OK\r\n"),
    (2, "xsetid s 10-0 entriesadded -1", b"-ERR entries_added must be positive\r\n"),
    (2, "xsetid s 10-0 maxdeletedid 11-0", b"-ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id\r\n"),
    (2, "xsetid s 12-0 entriesadded 100 maxdeletedid 11-0", b"+OK\r\n"),
    (2, "xsetid nokey 1-0", b"-ERR no such key\r\n"),
    (2, "xsetid s 13-0 foo", b"-ERR syntax error\r\n"),
    (2, "xadd s 12-0 x y", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    (2, "xadd s 13-* x y", b"$4\r\n13-0\r\n"),
    (2, "xgroup create s g1 0", b"+OK\r\n"),
    (2, "xgroup create s g1 0", b"-BUSYGROUP Consumer Group name already exists\r\n"),
    (2, "xgroup create s g2 $", b"+OK\r\n"),
    (2, "xgroup create s g3 1-0 entriesread 1", b"+OK\r\n"),
    (2, "xgroup create s g4 0 entriesread -2", b"-ERR value for ENTRIESREAD must be positive or -1\r\n"),
    (2, "xgroup create nokey g 0", b"-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n"),
    (2, "xgroup create nokey2 g 0 mkstream", b"+OK\r\n"),
    (2, "xgroup create nokey2 g2 $ mkstream", b"+OK\r\n"),
    (2, "xgroup create s g5 0 foo", b"-ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.\r\n"),
    (2, "xgroup createconsumer s g1 alice", b":1\r\n"),
    (2, "xgroup createconsumer s g1 alice", b":0\r\n"),
    (2, "xgroup createconsumer s nog alice", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    (2, "xgroup help", b"*17\r\n+XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CREATE <key> <groupname> <id|$> [option]\r\n+    Create a new consumer group. Options are:\r\n+    * MKSTREAM\r\n+      Create the empty stream if it does not exist.\r\n+    * ENTRIESREAD entries_read\r\n+      Set the group's entries_read counter (internal use).\r\n+CREATECONSUMER <key> <groupname> <consumer>\r\n+    Create a new consumer in the specified group.\r\n+DELCONSUMER <key> <groupname> <consumer>\r\n+    Remove the specified consumer.\r\n+DESTROY <key> <groupname>\r\n+    Remove the specified group.\r\n+SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]\r\n+    Set the current group ID and entries_read counter.\r\n+HELP\r\n+    Prints this help.\r\n"),
    (2, "xgroup foo", b"-ERR unknown subcommand 'foo'. Try XGROUP HELP.\r\n"),
    (2, "xgroup setid s nog 0", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    (2, "xgroup destroy s g4", b":0\r\n"),
    (2, "xgroup destroy s g3", b":1\r\n"),
    (2, "xreadgroup group g1 alice count 1 streams s >", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (2, "xreadgroup group g1 alice streams s 0", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (2, "xreadgroup group g1 bob streams s >", b"*-1\r\n"),
    (2, "xreadgroup group g1 bob streams s $", b"-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.\r\n"),
    (2, "xreadgroup group nog bob streams s >", b"-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option\r\n"),
    (2, "xreadgroup group g1 bob streams nokey >", b"-NOGROUP No such key 'nokey' or consumer group 'g1' in XREADGROUP with GROUP option\r\n"),
    (2, "xreadgroup streams s >", b"-ERR wrong number of arguments for 'xreadgroup' command\r\n"),
    (2, "xreadgroup group g1 bob streams s", b"-ERR wrong number of arguments for 'xreadgroup' command\r\n"),
    (2, "xread group g1 bob streams s >", b"-ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.\r\n"),
    (2, "xread noack streams s 0", b"-ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.\r\n"),
    (2, "xread streams s >", b"-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.\r\n"),
    (2, "xread streams s 0", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (2, "xread count 1 streams s 0", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (2, "xread streams s nokey 0 0", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (2, "xread streams s $", b"*-1\r\n"),
    (2, "xread count x streams s 0", b"-ERR value is not an integer or out of range\r\n"),
    (2, "xread block x streams s 0", b"-ERR timeout is not an integer or out of range\r\n"),
    (2, "xread block -1 streams s 0", b"-ERR timeout is negative\r\n"),
    (2, "xread streams s 12-0", b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (2, "xack s g1 13-0 99-0", b":1\r\n"),
    (2, "xack s g1 13-0", b":0\r\n"),
    (2, "xack s nog 1-1", b":0\r\n"),
    (2, "xack nokey g 1-1", b":0\r\n"),
    (2, "xack s g1 bad", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (2, "xpending s g1", b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"),
    (2, "xpending s g2", b"*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"),
    (2, "xpending s nog", b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"),
    (2, "xpending nokey g", b"-NOGROUP No such key 'nokey' or consumer group 'g'\r\n"),
    (2, "xpending s g1 - + x", b"-ERR value is not an integer or out of range\r\n"),
    (2, "xpending s g1 - +", b"-ERR syntax error\r\n"),
    (2, "xpending s g1 idle 0 - + 10 nobody", b"*0\r\n"),
    (2, "xpending s g1 - + 10 nobody", b"*0\r\n"),
    (2, "xpending s g1 (99 + 10", b"*0\r\n"),
    (2, "xgroup delconsumer s g1 alice", b":0\r\n"),
    (2, "xgroup delconsumer s g1 alice", b":0\r\n"),
    (2, "xinfo groups s", b"*2\r\n*12\r\n$4\r\nname\r\n$2\r\ng1\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n:101\r\n$3\r\nlag\r\n:0\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:0\r\n"),
    (2, "xinfo groups nokey", b"-ERR no such key\r\n"),
    (2, "xinfo consumers s nog", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    (2, "xinfo help", b"*9\r\n+XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CONSUMERS <key> <groupname>\r\n+    Show consumers of <groupname>.\r\n+GROUPS <key>\r\n+    Show the stream consumer groups.\r\n+STREAM <key> [FULL [COUNT <count>]\r\n+    Show information about the stream.\r\n+HELP\r\n+    Prints this help.\r\n"),
    (2, "xinfo foo s", b"-ERR unknown subcommand 'foo'. Try XINFO HELP.\r\n"),
    (2, "xinfo stream str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "xinfo stream s foo", b"-ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.\r\n"),
    (2, "xclaim s nog alice 0 1-1", b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"),
    (2, "xclaim nokey g alice 0 1-1", b"-NOGROUP No such key 'nokey' or consumer group 'g'\r\n"),
    (2, "xclaim s g1 alice x 1-1", b"-ERR Invalid min-idle-time argument for XCLAIM\r\n"),
    (2, "xclaim s g1 alice 0 1-1 foo", b"-ERR Unrecognized XCLAIM option 'foo'\r\n"),
    (2, "xclaim s g1 alice 0 1-1 idle x", b"-ERR Invalid IDLE option argument for XCLAIM\r\n"),
    (2, "xclaim s g1 carol 0 12-0 justid", b"*0\r\n"),
    (2, "xautoclaim s g1 dave 0 0 count 0", b"-ERR COUNT must be > 0\r\n"),
    (2, "xautoclaim s g1 dave 0 0 count x", b"-ERR COUNT must be > 0\r\n"),
    (2, "xautoclaim s g1 dave 0 0 foo", b"-ERR syntax error\r\n"),
    (2, "xautoclaim s nog dave 0 0", b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"),
    (2, "xautoclaim s g1 dave x 0", b"-ERR Invalid min-idle-time argument for XAUTOCLAIM\r\n"),
    (2, "xautoclaim s g1 dave 0 (18446744073709551615-18446744073709551615", b"-ERR invalid start ID for the interval\r\n"),
    (2, "xautoclaim s g1 dave 0 0 justid", b"*3\r\n$3\r\n0-0\r\n*0\r\n*0\r\n"),
    (2, "xdel s 13-0", b":1\r\n"),
    (2, "xgroup setid s g1 0", b"+OK\r\n"),
    (2, "xreadgroup group g1 erin noack streams s >", b"*-1\r\n"),
    (2, "xgroup setid s g1 $ entriesread 5", b"+OK\r\n"),
    (2, "xinfo groups s", b"*2\r\n*12\r\n$4\r\nname\r\n$2\r\ng1\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n:5\r\n$3\r\nlag\r\n:96\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:0\r\n"),
    (2, "type s", b"+stream\r\n"),
    (2, "object encoding s", b"$6\r\nstream\r\n"),
    (3, "xadd s 1-1 a 1", b"$3\r\n1-1\r\n"),
    (3, "xadd s 1-1 a 1", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    (3, "xadd s 0-0 a 1", b"-ERR The ID specified in XADD must be greater than 0-0\r\n"),
    (3, "xadd s 1-* b 2", b"$3\r\n1-2\r\n"),
    (3, "xadd s 2 c 3 d 4", b"$3\r\n2-0\r\n"),
    (3, "xadd s 2-* e 5", b"$3\r\n2-1\r\n"),
    (3, "xadd s 1-5 a 1", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    (3, "xadd s 3-0 a", b"-ERR wrong number of arguments for 'xadd' command\r\n"),
    (3, "xadd s", b"-ERR wrong number of arguments for 'xadd' command\r\n"),
    (3, "xadd s maxlen", b"-ERR wrong number of arguments for 'xadd' command\r\n"),
    (3, "xadd s maxlen -1 5-0 a 1", b"-ERR The MAXLEN argument must be >= 0.\r\n"),
    (3, "xadd s maxlen x 5-0 a 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "xadd s limit 5 5-0 a 1", b"-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n"),
    (3, "xadd s maxlen 10 limit 5 5-0 a 1", b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"),
    (3, "xadd s maxlen 2 minid 0 5-0 a 1", b"-ERR syntax error, MAXLEN and MINID options at the same time are not compatible\r\n"),
    (3, "xadd s nomkstream x-y a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xadd s 18446744073709551616-0 a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xadd s -1 a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xadd s + a 1", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xadd nokey nomkstream 1-1 a 1", b"_\r\n"),
    (3, "exists nokey", b":0\r\n"),
    (3, "xadd s maxlen = 4 5-0 f v", b"$3\r\n5-0\r\n"),
    (3, "xlen s", b":4\r\n"),
    (3, "xrange s - +", b"*4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (3, "xrange s - + count 2", b"*2\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    (3, "xrange s - + count 0", b"_\r\n"),
    (3, "xrange s - + count -5", b"_\r\n"),
    (3, "xrange s (1-1 +", b"*4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (3, "xrange s 2 2", b"*2\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (3, "xrange s (2-0 (5-0", b"*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (3, "xrange s + -", b"*0\r\n"),
    (3, "xrange s - + count", b"-ERR syntax error\r\n"),
    (3, "xrange s - + foo 1", b"-ERR syntax error\r\n"),
    (3, "xrange s x +", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xrange s (- +", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xrange s - (+", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xrange s (18446744073709551615-18446744073709551615 +", b"-ERR invalid start ID for the interval\r\n"),
    (3, "xrange s - (0-0", b"-ERR invalid end ID for the interval\r\n"),
    (3, "xrevrange s + -", b"*4\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (3, "xrevrange s + - count 1", b"*1\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (3, "xrevrange s (5-0 -", b"*3\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n2-0\r\n*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (3, "xrange nokey - +", b"*0\r\n"),
    (3, "xrevrange nokey + -", b"*0\r\n"),
    (3, "set str x", b"+OK\r\n"),
    (3, "xrange str - +", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "xadd str 1-1 a 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "xlen str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "xlen nokey", b":0\r\n"),
    (3, "xdel s 2-0 99-0", b":1\r\n"),
    (3, "xdel s bad", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xdel nokey bad", b":0\r\n"),
    (3, "xdel s 2-0", b":0\r\n"),
    (3, "xrange s - +", b"*3\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    (3, "xtrim s maxlen 2", b":1\r\n"),
    (3, "xtrim s maxlen 10", b":0\r\n"),
    (3, "xtrim s", b"-ERR wrong number of arguments for 'xtrim' command\r\n"),
    (3, "xtrim s minid 5", b":1\r\n"),
    (3, "xtrim s foo 1", b"-ERR syntax error\r\n"),
    (3, "xtrim s maxlen 1 limit 1", b"-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n"),
    (3, "xtrim s maxlen ~ 0 limit 1", b":1\r\n"),
    (3, "xtrim nokey maxlen 0", b":0\r\n"),
    (3, "xrange s - +", b"*0\r\n"),
    (3, "xsetid s 1-0", b"+OK\r\n"),
    (3, "xsetid s 10-0", b"+OK\r\n"),
    (3, "xsetid s 10-0 entriesadded 1", b"+OK\r\n"),
    (3, "xsetid s 10-0 entriesadded -1", b"-ERR entries_added must be positive\r\n"),
    (3, "xsetid s 10-0 maxdeletedid 11-0", b"-ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id\r\n"),
    (3, "xsetid s 12-0 entriesadded 100 maxdeletedid 11-0", b"+OK\r\n"),
    (3, "xsetid nokey 1-0", b"-ERR no such key\r\n"),
    (3, "xsetid s 13-0 foo", b"-ERR syntax error\r\n"),
    (3, "xadd s 12-0 x y", b"-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n"),
    (3, "xadd s 13-* x y", b"$4\r\n13-0\r\n"),
    (3, "xgroup create s g1 0", b"+OK\r\n"),
    (3, "xgroup create s g1 0", b"-BUSYGROUP Consumer Group name already exists\r\n"),
    (3, "xgroup create s g2 $", b"+OK\r\n"),
    (3, "xgroup create s g3 1-0 entriesread 1", b"+OK\r\n"),
    (3, "xgroup create s g4 0 entriesread -2", b"-ERR value for ENTRIESREAD must be positive or -1\r\n"),
    (3, "xgroup create nokey g 0", b"-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n"),
    (3, "xgroup create nokey2 g 0 mkstream", b"+OK\r\n"),
    (3, "xgroup create nokey2 g2 $ mkstream", b"+OK\r\n"),
    (3, "xgroup create s g5 0 foo", b"-ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.\r\n"),
    (3, "xgroup createconsumer s g1 alice", b":1\r\n"),
    (3, "xgroup createconsumer s g1 alice", b":0\r\n"),
    (3, "xgroup createconsumer s nog alice", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    (3, "xgroup help", b"*17\r\n+XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CREATE <key> <groupname> <id|$> [option]\r\n+    Create a new consumer group. Options are:\r\n+    * MKSTREAM\r\n+      Create the empty stream if it does not exist.\r\n+    * ENTRIESREAD entries_read\r\n+      Set the group's entries_read counter (internal use).\r\n+CREATECONSUMER <key> <groupname> <consumer>\r\n+    Create a new consumer in the specified group.\r\n+DELCONSUMER <key> <groupname> <consumer>\r\n+    Remove the specified consumer.\r\n+DESTROY <key> <groupname>\r\n+    Remove the specified group.\r\n+SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]\r\n+    Set the current group ID and entries_read counter.\r\n+HELP\r\n+    Prints this help.\r\n"),
    (3, "xgroup foo", b"-ERR unknown subcommand 'foo'. Try XGROUP HELP.\r\n"),
    (3, "xgroup setid s nog 0", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    (3, "xgroup destroy s g4", b":0\r\n"),
    (3, "xgroup destroy s g3", b":1\r\n"),
    (3, "xreadgroup group g1 alice count 1 streams s >", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (3, "xreadgroup group g1 alice streams s 0", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (3, "xreadgroup group g1 bob streams s >", b"_\r\n"),
    (3, "xreadgroup group g1 bob streams s $", b"-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.\r\n"),
    (3, "xreadgroup group nog bob streams s >", b"-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option\r\n"),
    (3, "xreadgroup group g1 bob streams nokey >", b"-NOGROUP No such key 'nokey' or consumer group 'g1' in XREADGROUP with GROUP option\r\n"),
    (3, "xreadgroup streams s >", b"-ERR wrong number of arguments for 'xreadgroup' command\r\n"),
    (3, "xreadgroup group g1 bob streams s", b"-ERR wrong number of arguments for 'xreadgroup' command\r\n"),
    (3, "xread group g1 bob streams s >", b"-ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.\r\n"),
    (3, "xread noack streams s 0", b"-ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.\r\n"),
    (3, "xread streams s >", b"-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.\r\n"),
    (3, "xread streams s 0", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (3, "xread count 1 streams s 0", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (3, "xread streams s nokey 0 0", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (3, "xread streams s $", b"_\r\n"),
    (3, "xread count x streams s 0", b"-ERR value is not an integer or out of range\r\n"),
    (3, "xread block x streams s 0", b"-ERR timeout is not an integer or out of range\r\n"),
    (3, "xread block -1 streams s 0", b"-ERR timeout is negative\r\n"),
    (3, "xread streams s 12-0", b"%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$4\r\n13-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"),
    (3, "xack s g1 13-0 99-0", b":1\r\n"),
    (3, "xack s g1 13-0", b":0\r\n"),
    (3, "xack s nog 1-1", b":0\r\n"),
    (3, "xack nokey g 1-1", b":0\r\n"),
    (3, "xack s g1 bad", b"-ERR Invalid stream ID specified as stream command argument\r\n"),
    (3, "xpending s g1", b"*4\r\n:0\r\n_\r\n_\r\n_\r\n"),
    (3, "xpending s g2", b"*4\r\n:0\r\n_\r\n_\r\n_\r\n"),
    (3, "xpending s nog", b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"),
    (3, "xpending nokey g", b"-NOGROUP No such key 'nokey' or consumer group 'g'\r\n"),
    (3, "xpending s g1 - + x", b"-ERR value is not an integer or out of range\r\n"),
    (3, "xpending s g1 - +", b"-ERR syntax error\r\n"),
    (3, "xpending s g1 idle 0 - + 10 nobody", b"*0\r\n"),
    (3, "xpending s g1 - + 10 nobody", b"*0\r\n"),
    (3, "xpending s g1 (99 + 10", b"*0\r\n"),
    (3, "xgroup delconsumer s g1 alice", b":0\r\n"),
    (3, "xgroup delconsumer s g1 alice", b":0\r\n"),
    (3, "xinfo groups s", b"*2\r\n%6\r\n$4\r\nname\r\n$2\r\ng1\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n:101\r\n$3\r\nlag\r\n:0\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:0\r\n"),
    (3, "xinfo groups nokey", b"-ERR no such key\r\n"),
    (3, "xinfo consumers s nog", b"-NOGROUP No such consumer group 'nog' for key name 's'\r\n"),
    (3, "xinfo help", b"*9\r\n+XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CONSUMERS <key> <groupname>\r\n+    Show consumers of <groupname>.\r\n+GROUPS <key>\r\n+    Show the stream consumer groups.\r\n+STREAM <key> [FULL [COUNT <count>]\r\n+    Show information about the stream.\r\n+HELP\r\n+    Prints this help.\r\n"),
    (3, "xinfo foo s", b"-ERR unknown subcommand 'foo'. Try XINFO HELP.\r\n"),
    (3, "xinfo stream str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "xinfo stream s foo", b"-ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.\r\n"),
    (3, "xclaim s nog alice 0 1-1", b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"),
    (3, "xclaim nokey g alice 0 1-1", b"-NOGROUP No such key 'nokey' or consumer group 'g'\r\n"),
    (3, "xclaim s g1 alice x 1-1", b"-ERR Invalid min-idle-time argument for XCLAIM\r\n"),
    (3, "xclaim s g1 alice 0 1-1 foo", b"-ERR Unrecognized XCLAIM option 'foo'\r\n"),
    (3, "xclaim s g1 alice 0 1-1 idle x", b"-ERR Invalid IDLE option argument for XCLAIM\r\n"),
    (3, "xclaim s g1 carol 0 12-0 justid", b"*0\r\n"),
    (3, "xautoclaim s g1 dave 0 0 count 0", b"-ERR COUNT must be > 0\r\n"),
    (3, "xautoclaim s g1 dave 0 0 count x", b"-ERR COUNT must be > 0\r\n"),
    (3, "xautoclaim s g1 dave 0 0 foo", b"-ERR syntax error\r\n"),
    (3, "xautoclaim s nog dave 0 0", b"-NOGROUP No such key 's' or consumer group 'nog'\r\n"),
    (3, "xautoclaim s g1 dave x 0", b"-ERR Invalid min-idle-time argument for XAUTOCLAIM\r\n"),
    (3, "xautoclaim s g1 dave 0 (18446744073709551615-18446744073709551615", b"-ERR invalid start ID for the interval\r\n"),
    (3, "xautoclaim s g1 dave 0 0 justid", b"*3\r\n$3\r\n0-0\r\n*0\r\n*0\r\n"),
    (3, "xdel s 13-0", b":1\r\n"),
    (3, "xgroup setid s g1 0", b"+OK\r\n"),
    (3, "xreadgroup group g1 erin noack streams s >", b"_\r\n"),
    (3, "xgroup setid s g1 $ entriesread 5", b"+OK\r\n"),
    (3, "xinfo groups s", b"*2\r\n%6\r\n$4\r\nname\r\n$2\r\ng1\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n:5\r\n$3\r\nlag\r\n:96\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$4\r\n13-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:0\r\n"),
    (3, "type s", b"+stream\r\n"),
    (3, "object encoding s", b"$6\r\nstream\r\n"),
];

#[test]
fn stream_replies_match_redis_7_0_15() {
    replay(STREAM_VECTORS);
}

// ---------------------------------------------------------------------------------------------
// The blocking contract
// ---------------------------------------------------------------------------------------------

fn exec_line(server: &Server, line: &str, resp3: bool, may_block: bool) -> Outcome {
    let words = split_words(line);
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    server.exec(&args, resp3, may_block)
}

fn rerun_of(o: &Outcome) -> Vec<String> {
    let req = o.effects.block.as_ref().expect("block request");
    req.rerun_argv.as_ref().expect("rerun argv").iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

#[test]
fn xread_block_resolves_dollar_when_it_blocks() {
    let server = Server::new();
    exec_line(&server, "xadd s 5-1 f v", false, true);
    let o = exec_line(&server, "xread block 100 streams s other $ 0", false, true);
    assert!(o.reply.is_empty(), "a blocking read writes nothing: {}", show(&o.reply));
    let req = o.effects.block.as_ref().expect("block request");
    assert_eq!(req.deadline_ms, Some(server.now_ms + 100));
    assert_eq!(req.keys.len(), 2);
    // `$` became the last ID, and the COUNT a served blocked read gets was added.
    assert_eq!(rerun_of(&o), ["xread", "block", "100", "COUNT", "1000", "streams", "s", "other", "5-1", "0"]);
    // Run again after an XADD: served with only the new entry.
    exec_line(&server, "xadd s 6-0 g w", false, true);
    let words = rerun_of(&o);
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    let served = server.exec(&args, false, true);
    assert!(served.effects.block.is_none());
    assert_eq!(
        show(&served.reply),
        show(b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n6-0\r\n*2\r\n$1\r\ng\r\n$1\r\nw\r\n")
    );
}

#[test]
fn xread_block_zero_waits_forever_and_denied_blocking_replies_null() {
    let server = Server::new();
    let o = exec_line(&server, "xread block 0 streams s $", false, true);
    assert_eq!(o.effects.block.as_ref().map(|b| b.deadline_ms), Some(None));
    let o = exec_line(&server, "xread block 0 streams s $", false, false);
    assert!(o.effects.block.is_none());
    assert_eq!(o.reply, b"*-1\r\n");
    let o = exec_line(&server, "xread block 0 streams s $", true, false);
    assert_eq!(o.reply, b"_\r\n");
    // Without BLOCK an empty read is a null too, and asks for nothing.
    let o = exec_line(&server, "xread streams s 0", false, true);
    assert!(o.effects.block.is_none());
    assert_eq!(o.reply, b"*-1\r\n");
}

#[test]
fn xreadgroup_blocks_on_new_entries_only_and_its_rerun_sees_the_group_move() {
    let server = Server::new();
    exec_line(&server, "xgroup create s g $ mkstream", false, true);
    let o = exec_line(&server, "xreadgroup group g alice block 0 streams s >", false, true);
    assert!(o.effects.block.is_some());
    assert_eq!(rerun_of(&o)[..4], ["xreadgroup", "group", "g", "alice"]);
    // History reads are served at once even when empty.
    let o = exec_line(&server, "xreadgroup group g alice block 0 streams s 0", false, true);
    assert!(o.effects.block.is_none());
    assert_eq!(o.reply, b"*1\r\n*2\r\n$1\r\ns\r\n*0\r\n");
    // A woken client whose group was destroyed gets Redis's unblock error.
    exec_line(&server, "xgroup destroy s g", false, true);
    commands::ctx::set_serving_blocked(true);
    let o = exec_line(&server, "xreadgroup group g alice block 0 streams s >", false, true);
    assert_eq!(o.reply, b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n");
    exec_line(&server, "del s", false, true);
    let o = exec_line(&server, "xreadgroup group g alice block 0 streams s >", false, true);
    commands::ctx::set_serving_blocked(false);
    assert_eq!(o.reply, b"-UNBLOCKED the stream key no longer exists\r\n");
}

#[test]
fn writes_signal_the_keys_blocked_readers_wait_on() {
    let server = Server::new();
    let o = exec_line(&server, "xadd s 1-1 f v", false, true);
    assert_eq!(o.effects.ready_keys.len(), 1);
    exec_line(&server, "xgroup create s g 0", false, true);
    let o = exec_line(&server, "xgroup destroy s g", false, true);
    assert_eq!(o.effects.ready_keys.len(), 1, "XGROUP DESTROY wakes the group's readers");
    let o = exec_line(&server, "xdel s 1-1", false, true);
    assert!(o.effects.ready_keys.is_empty());
    // An emptied stream stays (Redis never deletes a stream for being empty).
    assert_eq!(server.run("xlen s", false), b":0\r\n");
    assert_eq!(server.run("type s", false), b"+stream\r\n");
}

// ---------------------------------------------------------------------------------------------
// Propagation
// ---------------------------------------------------------------------------------------------

fn propagated(server: &Server, line: &str) -> (Vec<u8>, Option<Vec<String>>) {
    let words = split_words(line);
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    let mut out = ReplyBuf::new(false);
    let mut effects = Effects { propagation: Some(commands::Propagation::default()), ..Effects::default() };
    let mut locks = LockSet::new();
    let entry = server.reg.lookup(&args).unwrap_or_else(|_| panic!("{line}"));
    let Kind::Data(handler) = entry.kind else { panic!("{line} is not a data command") };
    let mut ctx = Ctx {
        ks: &server.ks,
        locks: &mut locks,
        db: 0,
        now_ms: server.now_ms,
        out: &mut out,
        effects: &mut effects,
        config: &server.config,
        may_block: true,
    };
    handler(&mut ctx, &args);
    let p = effects.propagation.unwrap_or_default();
    let ops = p.replaced.then(|| {
        p.ops
            .iter()
            .map(|op| op.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" "))
            .collect()
    });
    (out.buf, ops)
}

#[test]
fn xadd_propagates_its_generated_id_and_exact_trims() {
    let server = Server::new();
    let (_, ops) = propagated(&server, "xadd s * f v");
    let id = format!("{}-0", server.now_ms);
    assert_eq!(ops, Some(vec![format!("xadd s {id} f v")]));
    let (_, ops) = propagated(&server, "xadd s 9999999999999-* f v");
    assert_eq!(ops, Some(vec!["xadd s 9999999999999-0 f v".to_string()]));
    // An explicit ID and exact trimming propagate as they are.
    let (_, ops) = propagated(&server, "xadd s maxlen 5 9999999999999-5 f v");
    assert_eq!(ops, None);
    for i in 6..20 {
        propagated(&server, &format!("xadd s 9999999999999-{i} f v"));
    }
    // `~` becomes `=` with the length it left (17 entries before, one node of 100: nothing
    // removable, yet still rewritten, as Redis does).
    let (_, ops) = propagated(&server, "xtrim s maxlen ~ 2");
    assert_eq!(ops, None, "nothing trimmed, nothing rewritten");
    let (_, ops) = propagated(&server, "xadd s maxlen ~ 2 9999999999999-30 f v");
    assert_eq!(ops, Some(vec!["xadd s maxlen = 18 9999999999999-30 f v".to_string()]));
}

#[test]
fn xreadgroup_and_claims_propagate_as_xclaim() {
    let server = Server::new();
    exec_line(&server, "xadd s 1-1 f v", false, true);
    exec_line(&server, "xadd s 1-2 f v", false, true);
    exec_line(&server, "xgroup create s g 0", false, true);
    let t = server.now_ms;
    let (_, ops) = propagated(&server, "xreadgroup group g alice streams s >");
    assert_eq!(
        ops,
        Some(vec![
            format!("XCLAIM s g alice 0 1-1 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 1-1"),
            format!("XCLAIM s g alice 0 1-2 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 1-2"),
        ])
    );
    let (_, ops) = propagated(&server, "xclaim s g bob 0 1-1 justid");
    assert_eq!(ops, Some(vec![format!("XCLAIM s g bob 0 1-1 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 1-2")]));
    let (reply, ops) = propagated(&server, "xautoclaim s g carol 0 0 count 1 justid");
    assert_eq!(reply, b"*3\r\n$3\r\n1-2\r\n*1\r\n$3\r\n1-1\r\n*0\r\n");
    assert_eq!(ops, Some(vec![format!("XCLAIM s g carol 0 1-1 TIME {t} RETRYCOUNT 1 FORCE JUSTID LASTID 1-2")]));
    // NOACK reads move the group with XGROUP SETID and create the consumer explicitly.
    exec_line(&server, "xadd s 1-3 f v", false, true);
    let (_, ops) = propagated(&server, "xreadgroup group g dave noack streams s >");
    assert_eq!(
        ops,
        Some(vec!["XGROUP CREATECONSUMER s g dave".to_string(), "XGROUP SETID s g 1-3 ENTRIESREAD 3".to_string()])
    );
    // A read that delivers nothing propagates nothing.
    let (_, ops) = propagated(&server, "xreadgroup group g dave streams s >");
    assert_eq!(ops, Some(vec![]));
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

const LIMITS: NodeLimits = NodeLimits { max_entries: 10, max_bytes: 4096 };

fn filled(n: u64) -> Stream {
    let mut s = Stream::new();
    for i in 1..=n {
        s.append(StreamId::new(i, 0), vec![Sds::new(b"f"), Sds::new(b"v")].into_boxed_slice(), LIMITS);
    }
    s
}

#[test]
fn approximate_trims_remove_whole_nodes_and_respect_the_limit() {
    let mut s = filled(100);
    assert_eq!(s.node_count(LIMITS), 10);
    let approx = |max, limit| Trim { strategy: TrimStrategy::MaxLen(max), approx: true, limit };
    assert_eq!(s.trim(approx(55, 30), LIMITS), 30, "LIMIT 30 stops after three nodes");
    assert_eq!(s.trim(approx(55, 0), LIMITS), 10, "then one more node fits above 55");
    assert_eq!(s.len(), 60);
    assert_eq!(s.first_id, StreamId::new(41, 0));
    // An exact trim cuts into a node; the cut entries still count as that node's.
    let exact = Trim { strategy: TrimStrategy::MaxLen(55), approx: false, limit: 0 };
    assert_eq!(s.trim(exact, LIMITS), 5);
    assert_eq!(s.node_count(LIMITS), 6);
    assert_eq!(s.trim(approx(45, 0), LIMITS), 5, "the cut node has 5 entries left and goes whole");
    let minid = Trim { strategy: TrimStrategy::MinId(StreamId::new(75, 0)), approx: true, limit: 0 };
    assert_eq!(s.trim(minid, LIMITS), 20, "nodes ending before 75-0 go; the one holding it stays");
    assert_eq!(s.first_id, StreamId::new(71, 0));
    assert_eq!(s.max_deleted_entry_id, StreamId::MIN, "trimming is not deleting");
}

#[test]
fn a_stream_without_node_counts_gets_them_recomputed() {
    let mut s = filled(25);
    s.nodes.clear();
    assert_eq!(s.node_count(LIMITS), 3);
    let approx = Trim { strategy: TrimStrategy::MaxLen(0), approx: true, limit: 0 };
    assert_eq!(s.trim(approx, LIMITS), 25);
    assert!(s.is_empty() && s.nodes.is_empty());
    assert_eq!(s.first_id, StreamId::MIN);
}

#[test]
fn lag_and_entries_read_follow_redis_rules() {
    let mut s = filled(5);
    let mut g = keyspace::stream::ConsumerGroup::new(StreamId::MIN, 0);
    assert_eq!(s.group_lag(&g), Some(5));
    g.entries_read = s.entries_read_after(g.entries_read, StreamId::new(1, 0));
    g.last_id = StreamId::new(1, 0);
    assert_eq!(s.group_lag(&g), Some(4));
    // A deletion ahead of the group makes its lag unknown until it reads past it.
    assert!(s.delete(StreamId::new(3, 0), LIMITS));
    assert_eq!(s.max_deleted_entry_id, StreamId::new(3, 0));
    assert_eq!(s.group_lag(&g), None);
    // Delivering 2-0, 4-0, 5-0 one by one: unknown while the tombstone is ahead or the entry is
    // in the middle, exact again at the last entry.
    for (ms, expected) in
        [(2, keyspace::stream::ENTRIES_READ_UNKNOWN), (4, keyspace::stream::ENTRIES_READ_UNKNOWN), (5, 5)]
    {
        g.entries_read = s.entries_read_after(g.entries_read, StreamId::new(ms, 0));
        g.last_id = StreamId::new(ms, 0);
        assert_eq!(g.entries_read, expected, "after {ms}-0");
    }
    assert_eq!(s.group_lag(&g), Some(0));
    // An unknown counter is estimated only at the stream's ends.
    assert_eq!(s.estimate_entries_read(StreamId::new(0, 5)), keyspace::stream::ENTRIES_READ_UNKNOWN);
    let clean = filled(5);
    assert_eq!(clean.estimate_entries_read(StreamId::new(0, 5)), 0);
    assert_eq!(clean.estimate_entries_read(StreamId::new(1, 0)), 1);
    assert_eq!(clean.estimate_entries_read(StreamId::new(2, 0)), keyspace::stream::ENTRIES_READ_UNKNOWN);
}

#[derive(Debug, Clone)]
enum GroupOp {
    Read(u8, u8),
    Ack(u8),
    Claim(u8, u8),
    DelConsumer(u8),
}

fn group_op() -> impl Strategy<Value = GroupOp> {
    prop_oneof![
        (0u8..3, 1u8..4).prop_map(|(c, n)| GroupOp::Read(c, n)),
        (0u8..30).prop_map(GroupOp::Ack),
        (0u8..3, 0u8..30).prop_map(|(c, id)| GroupOp::Claim(c, id)),
        (0u8..3).prop_map(GroupOp::DelConsumer),
    ]
}

proptest! {
    /// Whatever mix of reads, acks, claims and consumer deletions runs, every pending entry is
    /// listed in exactly its owner's set and every consumer's set holds only its own entries.
    #[test]
    fn pel_and_consumer_sets_agree(ops in proptest::collection::vec(group_op(), 1..40)) {
        let server = Server::new();
        for i in 1..=30 {
            exec_line(&server, &format!("xadd s {i}-0 f v"), false, true);
        }
        exec_line(&server, "xgroup create s g 0", false, true);
        for op in &ops {
            let line = match op {
                GroupOp::Read(c, n) => format!("xreadgroup group g c{c} count {n} streams s >"),
                GroupOp::Ack(id) => format!("xack s g {id}-0"),
                GroupOp::Claim(c, id) => format!("xclaim s g c{c} 0 {id}-0"),
                GroupOp::DelConsumer(c) => format!("xgroup delconsumer s g c{c}"),
            };
            let o = exec_line(&server, &line, false, true);
            prop_assert!(!o.reply.starts_with(b"-"), "{} -> {}", line, show(&o.reply));
        }
        let mut locks = LockSet::new();
        let t = locks.table(&server.ks, 0, b"s");
        let Some(Value::Stream(s)) = t.get(b"s", server.now_ms) else { panic!("stream gone") };
        let g = &s.groups[&b"g"[..]];
        let listed: usize = g.consumers.values().map(|c| c.pending.len()).sum();
        prop_assert_eq!(listed, g.pel.len());
        for (name, c) in &g.consumers {
            for id in &c.pending {
                prop_assert_eq!(&g.pel[id].consumer, name);
            }
        }
        prop_assert!(g.pel.keys().all(|id| *id <= g.last_id));
    }
}
