//! Lists against Redis 7.0.15: replies captured from the real server (RESP2 and RESP3), the
//! blocking contract (block requests, timeout replies, ready keys), and a property test against
//! a VecDeque model.

// The in-process harness shared with zset_model (textually included: each tests/ file is its own crate).
include!("common/blocking_harness.rs");

/// (protocol, command line, reply) captured from redis-server 7.0.15 with a raw RESP client.
#[rustfmt::skip]
const LIST_VECTORS: &[(u8, &str, &[u8])] = &[
    (2, "rpush l a b c d e", b":5\r\n"),
    (2, "lrange l 0 -1", b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (2, "lrange l -2 -1", b"*2\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (2, "lrange l -100 100", b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (2, "lrange l 2 1", b"*0\r\n"),
    (2, "lrange l 5 10", b"*0\r\n"),
    (2, "lrange l -1 -2", b"*0\r\n"),
    (2, "lrange l 0 -6", b"*0\r\n"),
    (2, "lrange l 9223372036854775807 -9223372036854775808", b"*0\r\n"),
    (2, "lrange l -9223372036854775808 9223372036854775807", b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (2, "lrange l a 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lrange l 0 b", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lrange nokey 0 -1", b"*0\r\n"),
    (2, "lrange nokey a 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lpush l z", b":6\r\n"),
    (2, "lpushx l y", b":7\r\n"),
    (2, "rpushx l f", b":8\r\n"),
    (2, "lpushx nokey a", b":0\r\n"),
    (2, "rpushx nokey a", b":0\r\n"),
    (2, "exists nokey", b":0\r\n"),
    (2, "llen l", b":8\r\n"),
    (2, "llen nokey", b":0\r\n"),
    (2, "lindex l 0", b"$1\r\ny\r\n"),
    (2, "lindex l -1", b"$1\r\nf\r\n"),
    (2, "lindex l 100", b"$-1\r\n"),
    (2, "lindex l -100", b"$-1\r\n"),
    (2, "lindex l x", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lindex nokey x", b"$-1\r\n"),
    (2, "lindex nokey 0", b"$-1\r\n"),
    (2, "lset l 0 Y", b"+OK\r\n"),
    (2, "lset l -1 F", b"+OK\r\n"),
    (2, "lset l 100 x", b"-ERR index out of range\r\n"),
    (2, "lset l x v", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lset nokey 0 v", b"-ERR no such key\r\n"),
    (2, "lrange l 0 -1", b"*8\r\n$1\r\nY\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nF\r\n"),
    (2, "linsert l before c C", b":9\r\n"),
    (2, "linsert l after c c2", b":10\r\n"),
    (2, "linsert l after nothere x", b":-1\r\n"),
    (2, "linsert l middle c x", b"-ERR syntax error\r\n"),
    (2, "linsert nokey before a b", b":0\r\n"),
    (2, "linsert nokey middle a b", b"-ERR syntax error\r\n"),
    (2, "lrange l 0 -1", b"*10\r\n$1\r\nY\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nC\r\n$1\r\nc\r\n$2\r\nc2\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nF\r\n"),
    (2, "lpop l", b"$1\r\nY\r\n"),
    (2, "rpop l", b"$1\r\nF\r\n"),
    (2, "lpop l 0", b"*0\r\n"),
    (2, "lpop l 2", b"*2\r\n$1\r\nz\r\n$1\r\na\r\n"),
    (2, "rpop l 2", b"*2\r\n$1\r\ne\r\n$1\r\nd\r\n"),
    (2, "lpop l -1", b"-ERR value is out of range, must be positive\r\n"),
    (2, "lpop l x", b"-ERR value is out of range, must be positive\r\n"),
    (2, "lpop l 1 2", b"-ERR wrong number of arguments for 'lpop' command\r\n"),
    (2, "rpop l 1 2", b"-ERR wrong number of arguments for 'rpop' command\r\n"),
    (2, "lpop nokey", b"$-1\r\n"),
    (2, "lpop nokey 2", b"*-1\r\n"),
    (2, "lpop nokey 0", b"*-1\r\n"),
    (2, "lpop nokey -1", b"-ERR value is out of range, must be positive\r\n"),
    (2, "rpop nokey 0", b"*-1\r\n"),
    (2, "lrange l 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nC\r\n$1\r\nc\r\n$2\r\nc2\r\n"),
    (2, "lpop l 100", b"*4\r\n$1\r\nb\r\n$1\r\nC\r\n$1\r\nc\r\n$2\r\nc2\r\n"),
    (2, "exists l", b":0\r\n"),
    (2, "rpush l a b a c a d a", b":7\r\n"),
    (2, "lrem l 2 a", b":2\r\n"),
    (2, "lrange l 0 -1", b"*5\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\na\r\n"),
    (2, "lrem l -1 a", b":1\r\n"),
    (2, "lrange l 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nd\r\n"),
    (2, "lrem l 0 a", b":1\r\n"),
    (2, "lrange l 0 -1", b"*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (2, "lrem l 0 zz", b":0\r\n"),
    (2, "lrem l x a", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lrem nokey 1 a", b":0\r\n"),
    (2, "lrem nokey x a", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lrem l 0 b", b":1\r\n"),
    (2, "lrem l 0 c", b":1\r\n"),
    (2, "lrem l 0 d", b":1\r\n"),
    (2, "exists l", b":0\r\n"),
    (2, "rpush l 1 2 3 4 5 6 7 8 9", b":9\r\n"),
    (2, "ltrim l 1 -2", b"+OK\r\n"),
    (2, "lrange l 0 -1", b"*7\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n"),
    (2, "ltrim l -3 100", b"+OK\r\n"),
    (2, "lrange l 0 -1", b"*3\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n"),
    (2, "ltrim l 5 1", b"+OK\r\n"),
    (2, "exists l", b":0\r\n"),
    (2, "ltrim nokey 0 1", b"+OK\r\n"),
    (2, "ltrim nokey x 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "rpush l a b c a b c a b c", b":9\r\n"),
    (2, "lpos l a", b":0\r\n"),
    (2, "lpos l c", b":2\r\n"),
    (2, "lpos l a rank 2", b":3\r\n"),
    (2, "lpos l a rank -1", b":6\r\n"),
    (2, "lpos l a rank -2", b":3\r\n"),
    (2, "lpos l a rank 4", b"$-1\r\n"),
    (2, "lpos l a count 0", b"*3\r\n:0\r\n:3\r\n:6\r\n"),
    (2, "lpos l a count 2", b"*2\r\n:0\r\n:3\r\n"),
    (2, "lpos l a rank 2 count 0", b"*2\r\n:3\r\n:6\r\n"),
    (2, "lpos l a rank -1 count 0", b"*3\r\n:6\r\n:3\r\n:0\r\n"),
    (2, "lpos l a rank -1 count 2", b"*2\r\n:6\r\n:3\r\n"),
    (2, "lpos l a maxlen 1", b":0\r\n"),
    (2, "lpos l b maxlen 1", b"$-1\r\n"),
    (2, "lpos l b maxlen 2 count 0", b"*1\r\n:1\r\n"),
    (2, "lpos l c rank -1 maxlen 1", b":8\r\n"),
    (2, "lpos l c rank -1 maxlen 1 count 0", b"*1\r\n:8\r\n"),
    (2, "lpos l zz", b"$-1\r\n"),
    (2, "lpos l zz count 0", b"*0\r\n"),
    (2, "lpos l a rank 0", b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"),
    (2, "lpos l a count -1", b"-ERR COUNT can't be negative\r\n"),
    (2, "lpos l a count x", b"-ERR COUNT can't be negative\r\n"),
    (2, "lpos l a maxlen -1", b"-ERR MAXLEN can't be negative\r\n"),
    (2, "lpos l a maxlen x", b"-ERR MAXLEN can't be negative\r\n"),
    (2, "lpos l a rank x", b"-ERR value is not an integer or out of range\r\n"),
    (2, "lpos l a rank", b"-ERR syntax error\r\n"),
    (2, "lpos l a foo 1", b"-ERR syntax error\r\n"),
    (2, "lpos l a rank -9223372036854775808", b":6\r\n"),
    (2, "lpos l a rank -9223372036854775808 count 2", b"*3\r\n:6\r\n:3\r\n:0\r\n"),
    (2, "lpos l a rank 9223372036854775807 count 0", b"*0\r\n"),
    (2, "lpos nokey a", b"$-1\r\n"),
    (2, "lpos nokey a count 1", b"*0\r\n"),
    (2, "lpos nokey a rank 0", b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"),
    (2, "del l", b":1\r\n"),
    (2, "rpush src a b c", b":3\r\n"),
    (2, "rpush dst x", b":1\r\n"),
    (2, "lmove src dst left right", b"$1\r\na\r\n"),
    (2, "lmove src dst right left", b"$1\r\nc\r\n"),
    (2, "lrange src 0 -1", b"*1\r\n$1\r\nb\r\n"),
    (2, "lrange dst 0 -1", b"*3\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n"),
    (2, "lmove src dst up left", b"-ERR syntax error\r\n"),
    (2, "lmove src dst left down", b"-ERR syntax error\r\n"),
    (2, "lmove nokey dst left left", b"$-1\r\n"),
    (2, "rpoplpush src dst", b"$1\r\nb\r\n"),
    (2, "exists src", b":0\r\n"),
    (2, "rpoplpush src dst", b"$-1\r\n"),
    (2, "lmove dst dst left right", b"$1\r\nb\r\n"),
    (2, "lrange dst 0 -1", b"*4\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (2, "rpoplpush dst dst", b"$1\r\nb\r\n"),
    (2, "lrange dst 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n"),
    (2, "set str v", b"+OK\r\n"),
    (2, "lmove str dst left left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lmove dst str left left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lrange dst 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n"),
    (2, "rpoplpush nokey str", b"$-1\r\n"),
    (2, "lmove nokey str left left", b"$-1\r\n"),
    (2, "lpush str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "rpush str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lpushx str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "linsert str before a b", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "llen str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lindex str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lset str 0 a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lpop str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "rpop str 2", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lrange str 0 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "ltrim str 0 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lrem str 0 a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lpos str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lmpop 1 str left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "blpop str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "del dst", b":1\r\n"),
    (2, "rpush l1 a b c", b":3\r\n"),
    (2, "rpush l2 d e f", b":3\r\n"),
    (2, "lmpop 2 nokey l1 left", b"*2\r\n$2\r\nl1\r\n*1\r\n$1\r\na\r\n"),
    (2, "lmpop 2 nokey l1 right count 2", b"*2\r\n$2\r\nl1\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (2, "lmpop 2 l1 l2 left count 10", b"*2\r\n$2\r\nl2\r\n*3\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"),
    (2, "lmpop 2 l1 l2 right count 10", b"*-1\r\n"),
    (2, "lmpop 2 l1 l2 right", b"*-1\r\n"),
    (2, "lmpop 1 nokey left", b"*-1\r\n"),
    (2, "lmpop 0 l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (2, "lmpop -1 l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (2, "lmpop x l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (2, "lmpop 3 l1 left", b"-ERR syntax error\r\n"),
    (2, "lmpop 1 l1 middle", b"-ERR syntax error\r\n"),
    (2, "lmpop 1 l1 left count 0", b"-ERR count should be greater than 0\r\n"),
    (2, "lmpop 1 l1 left count -1", b"-ERR count should be greater than 0\r\n"),
    (2, "lmpop 1 l1 left count x", b"-ERR count should be greater than 0\r\n"),
    (2, "lmpop 1 l1 left count 1 count 1", b"-ERR syntax error\r\n"),
    (2, "lmpop 1 l1 left foo", b"-ERR syntax error\r\n"),
    (2, "lmpop 1 l1 left count", b"-ERR syntax error\r\n"),
    (2, "lmpop 2 str l1 left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lmpop 9223372036854775807 l1 left", b"-ERR syntax error\r\n"),
    (2, "rpush l1 a b c", b":3\r\n"),
    (2, "blpop nokey l1 0", b"*2\r\n$2\r\nl1\r\n$1\r\na\r\n"),
    (2, "brpop nokey l1 0", b"*2\r\n$2\r\nl1\r\n$1\r\nc\r\n"),
    (2, "blpop l1 x", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "blpop l1 -1", b"-ERR timeout is negative\r\n"),
    (2, "blpop l1 nan", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "blpop str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "blpop nokey str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "brpop l1 0.5", b"*2\r\n$2\r\nl1\r\n$1\r\nb\r\n"),
    (2, "rpush l1 x y z", b":3\r\n"),
    (2, "blmpop 0 1 l1 left count 5", b"*2\r\n$2\r\nl1\r\n*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"),
    (2, "exists l1", b":0\r\n"),
    (2, "rpush l1 a b", b":2\r\n"),
    (2, "blmpop x 1 l1 left", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "blmpop -1 1 l1 left", b"-ERR timeout is negative\r\n"),
    (2, "blmpop 0 0 l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (2, "blmpop 0 1 l1 middle", b"-ERR syntax error\r\n"),
    (2, "blmove l1 l2 left left x", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "blmove l1 l2 middle left 0", b"-ERR syntax error\r\n"),
    (2, "blmove l1 l2 left middle x", b"-ERR syntax error\r\n"),
    (2, "brpoplpush l1 l2 x", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "brpoplpush l1 l2 -1", b"-ERR timeout is negative\r\n"),
    (2, "blmove l1 l2 right left 0", b"$1\r\nb\r\n"),
    (2, "brpoplpush l1 l2 0", b"$1\r\na\r\n"),
    (2, "exists l1", b":0\r\n"),
    (2, "lrange l2 0 -1", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (2, "blmove str l2 left left 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "blmove l2 str left left 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "brpoplpush str l2 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "!nb blpop nokey 0", b"*-1\r\n"),
    (2, "!nb brpop nokey nokey2 1", b"*-1\r\n"),
    (2, "!nb blmove nokey l2 left left 0", b"$-1\r\n"),
    (2, "!nb brpoplpush nokey l2 0", b"$-1\r\n"),
    (2, "!nb blmpop 0 1 nokey left", b"*-1\r\n"),
    (2, "!nb blpop nokey x", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "!nb blpop str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "lpush", b"-ERR wrong number of arguments for 'lpush' command\r\n"),
    (2, "lpush l", b"-ERR wrong number of arguments for 'lpush' command\r\n"),
    (2, "lpop", b"-ERR wrong number of arguments for 'lpop' command\r\n"),
    (2, "lrange l 0", b"-ERR wrong number of arguments for 'lrange' command\r\n"),
    (2, "lindex l", b"-ERR wrong number of arguments for 'lindex' command\r\n"),
    (2, "linsert l before a", b"-ERR wrong number of arguments for 'linsert' command\r\n"),
    (2, "lpos l", b"-ERR wrong number of arguments for 'lpos' command\r\n"),
    (2, "lmove a b left", b"-ERR wrong number of arguments for 'lmove' command\r\n"),
    (2, "blpop l", b"-ERR wrong number of arguments for 'blpop' command\r\n"),
    (2, "blmpop 0 1", b"-ERR wrong number of arguments for 'blmpop' command\r\n"),
    (2, "lmpop 1", b"-ERR wrong number of arguments for 'lmpop' command\r\n"),
    (3, "rpush l a b c d e", b":5\r\n"),
    (3, "lrange l 0 -1", b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (3, "lrange l -2 -1", b"*2\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (3, "lrange l -100 100", b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (3, "lrange l 2 1", b"*0\r\n"),
    (3, "lrange l 5 10", b"*0\r\n"),
    (3, "lrange l -1 -2", b"*0\r\n"),
    (3, "lrange l 0 -6", b"*0\r\n"),
    (3, "lrange l 9223372036854775807 -9223372036854775808", b"*0\r\n"),
    (3, "lrange l -9223372036854775808 9223372036854775807", b"*5\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (3, "lrange l a 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lrange l 0 b", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lrange nokey 0 -1", b"*0\r\n"),
    (3, "lrange nokey a 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lpush l z", b":6\r\n"),
    (3, "lpushx l y", b":7\r\n"),
    (3, "rpushx l f", b":8\r\n"),
    (3, "lpushx nokey a", b":0\r\n"),
    (3, "rpushx nokey a", b":0\r\n"),
    (3, "exists nokey", b":0\r\n"),
    (3, "llen l", b":8\r\n"),
    (3, "llen nokey", b":0\r\n"),
    (3, "lindex l 0", b"$1\r\ny\r\n"),
    (3, "lindex l -1", b"$1\r\nf\r\n"),
    (3, "lindex l 100", b"_\r\n"),
    (3, "lindex l -100", b"_\r\n"),
    (3, "lindex l x", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lindex nokey x", b"_\r\n"),
    (3, "lindex nokey 0", b"_\r\n"),
    (3, "lset l 0 Y", b"+OK\r\n"),
    (3, "lset l -1 F", b"+OK\r\n"),
    (3, "lset l 100 x", b"-ERR index out of range\r\n"),
    (3, "lset l x v", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lset nokey 0 v", b"-ERR no such key\r\n"),
    (3, "lrange l 0 -1", b"*8\r\n$1\r\nY\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nF\r\n"),
    (3, "linsert l before c C", b":9\r\n"),
    (3, "linsert l after c c2", b":10\r\n"),
    (3, "linsert l after nothere x", b":-1\r\n"),
    (3, "linsert l middle c x", b"-ERR syntax error\r\n"),
    (3, "linsert nokey before a b", b":0\r\n"),
    (3, "linsert nokey middle a b", b"-ERR syntax error\r\n"),
    (3, "lrange l 0 -1", b"*10\r\n$1\r\nY\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nC\r\n$1\r\nc\r\n$2\r\nc2\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nF\r\n"),
    (3, "lpop l", b"$1\r\nY\r\n"),
    (3, "rpop l", b"$1\r\nF\r\n"),
    (3, "lpop l 0", b"*0\r\n"),
    (3, "lpop l 2", b"*2\r\n$1\r\nz\r\n$1\r\na\r\n"),
    (3, "rpop l 2", b"*2\r\n$1\r\ne\r\n$1\r\nd\r\n"),
    (3, "lpop l -1", b"-ERR value is out of range, must be positive\r\n"),
    (3, "lpop l x", b"-ERR value is out of range, must be positive\r\n"),
    (3, "lpop l 1 2", b"-ERR wrong number of arguments for 'lpop' command\r\n"),
    (3, "rpop l 1 2", b"-ERR wrong number of arguments for 'rpop' command\r\n"),
    (3, "lpop nokey", b"_\r\n"),
    (3, "lpop nokey 2", b"_\r\n"),
    (3, "lpop nokey 0", b"_\r\n"),
    (3, "lpop nokey -1", b"-ERR value is out of range, must be positive\r\n"),
    (3, "rpop nokey 0", b"_\r\n"),
    (3, "lrange l 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nC\r\n$1\r\nc\r\n$2\r\nc2\r\n"),
    (3, "lpop l 100", b"*4\r\n$1\r\nb\r\n$1\r\nC\r\n$1\r\nc\r\n$2\r\nc2\r\n"),
    (3, "exists l", b":0\r\n"),
    (3, "rpush l a b a c a d a", b":7\r\n"),
    (3, "lrem l 2 a", b":2\r\n"),
    (3, "lrange l 0 -1", b"*5\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\na\r\n"),
    (3, "lrem l -1 a", b":1\r\n"),
    (3, "lrange l 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nd\r\n"),
    (3, "lrem l 0 a", b":1\r\n"),
    (3, "lrange l 0 -1", b"*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (3, "lrem l 0 zz", b":0\r\n"),
    (3, "lrem l x a", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lrem nokey 1 a", b":0\r\n"),
    (3, "lrem nokey x a", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lrem l 0 b", b":1\r\n"),
    (3, "lrem l 0 c", b":1\r\n"),
    (3, "lrem l 0 d", b":1\r\n"),
    (3, "exists l", b":0\r\n"),
    (3, "rpush l 1 2 3 4 5 6 7 8 9", b":9\r\n"),
    (3, "ltrim l 1 -2", b"+OK\r\n"),
    (3, "lrange l 0 -1", b"*7\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n"),
    (3, "ltrim l -3 100", b"+OK\r\n"),
    (3, "lrange l 0 -1", b"*3\r\n$1\r\n6\r\n$1\r\n7\r\n$1\r\n8\r\n"),
    (3, "ltrim l 5 1", b"+OK\r\n"),
    (3, "exists l", b":0\r\n"),
    (3, "ltrim nokey 0 1", b"+OK\r\n"),
    (3, "ltrim nokey x 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "rpush l a b c a b c a b c", b":9\r\n"),
    (3, "lpos l a", b":0\r\n"),
    (3, "lpos l c", b":2\r\n"),
    (3, "lpos l a rank 2", b":3\r\n"),
    (3, "lpos l a rank -1", b":6\r\n"),
    (3, "lpos l a rank -2", b":3\r\n"),
    (3, "lpos l a rank 4", b"_\r\n"),
    (3, "lpos l a count 0", b"*3\r\n:0\r\n:3\r\n:6\r\n"),
    (3, "lpos l a count 2", b"*2\r\n:0\r\n:3\r\n"),
    (3, "lpos l a rank 2 count 0", b"*2\r\n:3\r\n:6\r\n"),
    (3, "lpos l a rank -1 count 0", b"*3\r\n:6\r\n:3\r\n:0\r\n"),
    (3, "lpos l a rank -1 count 2", b"*2\r\n:6\r\n:3\r\n"),
    (3, "lpos l a maxlen 1", b":0\r\n"),
    (3, "lpos l b maxlen 1", b"_\r\n"),
    (3, "lpos l b maxlen 2 count 0", b"*1\r\n:1\r\n"),
    (3, "lpos l c rank -1 maxlen 1", b":8\r\n"),
    (3, "lpos l c rank -1 maxlen 1 count 0", b"*1\r\n:8\r\n"),
    (3, "lpos l zz", b"_\r\n"),
    (3, "lpos l zz count 0", b"*0\r\n"),
    (3, "lpos l a rank 0", b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"),
    (3, "lpos l a count -1", b"-ERR COUNT can't be negative\r\n"),
    (3, "lpos l a count x", b"-ERR COUNT can't be negative\r\n"),
    (3, "lpos l a maxlen -1", b"-ERR MAXLEN can't be negative\r\n"),
    (3, "lpos l a maxlen x", b"-ERR MAXLEN can't be negative\r\n"),
    (3, "lpos l a rank x", b"-ERR value is not an integer or out of range\r\n"),
    (3, "lpos l a rank", b"-ERR syntax error\r\n"),
    (3, "lpos l a foo 1", b"-ERR syntax error\r\n"),
    (3, "lpos l a rank -9223372036854775808", b":6\r\n"),
    (3, "lpos l a rank -9223372036854775808 count 2", b"*3\r\n:6\r\n:3\r\n:0\r\n"),
    (3, "lpos l a rank 9223372036854775807 count 0", b"*0\r\n"),
    (3, "lpos nokey a", b"_\r\n"),
    (3, "lpos nokey a count 1", b"*0\r\n"),
    (3, "lpos nokey a rank 0", b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n"),
    (3, "del l", b":1\r\n"),
    (3, "rpush src a b c", b":3\r\n"),
    (3, "rpush dst x", b":1\r\n"),
    (3, "lmove src dst left right", b"$1\r\na\r\n"),
    (3, "lmove src dst right left", b"$1\r\nc\r\n"),
    (3, "lrange src 0 -1", b"*1\r\n$1\r\nb\r\n"),
    (3, "lrange dst 0 -1", b"*3\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n"),
    (3, "lmove src dst up left", b"-ERR syntax error\r\n"),
    (3, "lmove src dst left down", b"-ERR syntax error\r\n"),
    (3, "lmove nokey dst left left", b"_\r\n"),
    (3, "rpoplpush src dst", b"$1\r\nb\r\n"),
    (3, "exists src", b":0\r\n"),
    (3, "rpoplpush src dst", b"_\r\n"),
    (3, "lmove dst dst left right", b"$1\r\nb\r\n"),
    (3, "lrange dst 0 -1", b"*4\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (3, "rpoplpush dst dst", b"$1\r\nb\r\n"),
    (3, "lrange dst 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n"),
    (3, "set str v", b"+OK\r\n"),
    (3, "lmove str dst left left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lmove dst str left left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lrange dst 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nx\r\n$1\r\na\r\n"),
    (3, "rpoplpush nokey str", b"_\r\n"),
    (3, "lmove nokey str left left", b"_\r\n"),
    (3, "lpush str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "rpush str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lpushx str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "linsert str before a b", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "llen str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lindex str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lset str 0 a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lpop str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "rpop str 2", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lrange str 0 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "ltrim str 0 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lrem str 0 a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lpos str a", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lmpop 1 str left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "blpop str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "del dst", b":1\r\n"),
    (3, "rpush l1 a b c", b":3\r\n"),
    (3, "rpush l2 d e f", b":3\r\n"),
    (3, "lmpop 2 nokey l1 left", b"*2\r\n$2\r\nl1\r\n*1\r\n$1\r\na\r\n"),
    (3, "lmpop 2 nokey l1 right count 2", b"*2\r\n$2\r\nl1\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (3, "lmpop 2 l1 l2 left count 10", b"*2\r\n$2\r\nl2\r\n*3\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n"),
    (3, "lmpop 2 l1 l2 right count 10", b"_\r\n"),
    (3, "lmpop 2 l1 l2 right", b"_\r\n"),
    (3, "lmpop 1 nokey left", b"_\r\n"),
    (3, "lmpop 0 l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (3, "lmpop -1 l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (3, "lmpop x l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (3, "lmpop 3 l1 left", b"-ERR syntax error\r\n"),
    (3, "lmpop 1 l1 middle", b"-ERR syntax error\r\n"),
    (3, "lmpop 1 l1 left count 0", b"-ERR count should be greater than 0\r\n"),
    (3, "lmpop 1 l1 left count -1", b"-ERR count should be greater than 0\r\n"),
    (3, "lmpop 1 l1 left count x", b"-ERR count should be greater than 0\r\n"),
    (3, "lmpop 1 l1 left count 1 count 1", b"-ERR syntax error\r\n"),
    (3, "lmpop 1 l1 left foo", b"-ERR syntax error\r\n"),
    (3, "lmpop 1 l1 left count", b"-ERR syntax error\r\n"),
    (3, "lmpop 2 str l1 left", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lmpop 9223372036854775807 l1 left", b"-ERR syntax error\r\n"),
    (3, "rpush l1 a b c", b":3\r\n"),
    (3, "blpop nokey l1 0", b"*2\r\n$2\r\nl1\r\n$1\r\na\r\n"),
    (3, "brpop nokey l1 0", b"*2\r\n$2\r\nl1\r\n$1\r\nc\r\n"),
    (3, "blpop l1 x", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "blpop l1 -1", b"-ERR timeout is negative\r\n"),
    (3, "blpop l1 nan", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "blpop str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "blpop nokey str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "brpop l1 0.5", b"*2\r\n$2\r\nl1\r\n$1\r\nb\r\n"),
    (3, "rpush l1 x y z", b":3\r\n"),
    (3, "blmpop 0 1 l1 left count 5", b"*2\r\n$2\r\nl1\r\n*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"),
    (3, "exists l1", b":0\r\n"),
    (3, "rpush l1 a b", b":2\r\n"),
    (3, "blmpop x 1 l1 left", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "blmpop -1 1 l1 left", b"-ERR timeout is negative\r\n"),
    (3, "blmpop 0 0 l1 left", b"-ERR numkeys should be greater than 0\r\n"),
    (3, "blmpop 0 1 l1 middle", b"-ERR syntax error\r\n"),
    (3, "blmove l1 l2 left left x", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "blmove l1 l2 middle left 0", b"-ERR syntax error\r\n"),
    (3, "blmove l1 l2 left middle x", b"-ERR syntax error\r\n"),
    (3, "brpoplpush l1 l2 x", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "brpoplpush l1 l2 -1", b"-ERR timeout is negative\r\n"),
    (3, "blmove l1 l2 right left 0", b"$1\r\nb\r\n"),
    (3, "brpoplpush l1 l2 0", b"$1\r\na\r\n"),
    (3, "exists l1", b":0\r\n"),
    (3, "lrange l2 0 -1", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (3, "blmove str l2 left left 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "blmove l2 str left left 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "brpoplpush str l2 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "!nb blpop nokey 0", b"_\r\n"),
    (3, "!nb brpop nokey nokey2 1", b"_\r\n"),
    (3, "!nb blmove nokey l2 left left 0", b"_\r\n"),
    (3, "!nb brpoplpush nokey l2 0", b"_\r\n"),
    (3, "!nb blmpop 0 1 nokey left", b"_\r\n"),
    (3, "!nb blpop nokey x", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "!nb blpop str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "lpush", b"-ERR wrong number of arguments for 'lpush' command\r\n"),
    (3, "lpush l", b"-ERR wrong number of arguments for 'lpush' command\r\n"),
    (3, "lpop", b"-ERR wrong number of arguments for 'lpop' command\r\n"),
    (3, "lrange l 0", b"-ERR wrong number of arguments for 'lrange' command\r\n"),
    (3, "lindex l", b"-ERR wrong number of arguments for 'lindex' command\r\n"),
    (3, "linsert l before a", b"-ERR wrong number of arguments for 'linsert' command\r\n"),
    (3, "lpos l", b"-ERR wrong number of arguments for 'lpos' command\r\n"),
    (3, "lmove a b left", b"-ERR wrong number of arguments for 'lmove' command\r\n"),
    (3, "blpop l", b"-ERR wrong number of arguments for 'blpop' command\r\n"),
    (3, "blmpop 0 1", b"-ERR wrong number of arguments for 'blmpop' command\r\n"),
    (3, "lmpop 1", b"-ERR wrong number of arguments for 'lmpop' command\r\n"),
];

#[test]
fn list_replies_match_redis_7_0_15() {
    replay(LIST_VECTORS);
}

// ---------------------------------------------------------------------------------------------
// The blocking contract
// ---------------------------------------------------------------------------------------------

fn argv(line: &str) -> Vec<String> {
    split_words(line)
}

fn exec_line(server: &Server, line: &str, resp3: bool, may_block: bool) -> Outcome {
    let words = argv(line);
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    server.exec(&args, resp3, may_block)
}

fn block_keys(o: &Outcome) -> Vec<String> {
    o.effects
        .block
        .as_ref()
        .expect("block request")
        .keys
        .iter()
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect()
}

#[test]
fn blocking_pops_ask_to_block_when_empty_and_allowed() {
    let s = Server::new();
    let o = exec_line(&s, "blpop k1 k2 0", false, true);
    assert!(o.reply.is_empty(), "nothing may be written when blocking: {}", show(&o.reply));
    let req = o.effects.block.as_ref().expect("block request");
    assert_eq!(req.db, 0);
    assert_eq!(req.deadline_ms, None, "timeout 0 blocks forever");
    assert_eq!(block_keys(&o), ["k1", "k2"]);

    let o = exec_line(&s, "brpop k1 1.5", false, true);
    assert_eq!(o.effects.block.as_ref().map(|b| b.deadline_ms), Some(Some(s.now_ms + 1500)));

    // BLMOVE / BRPOPLPUSH wait on the source only.
    let o = exec_line(&s, "blmove src dst left right 0.001", false, true);
    assert_eq!(block_keys(&o), ["src"]);
    assert_eq!(o.effects.block.as_ref().map(|b| b.deadline_ms), Some(Some(s.now_ms + 1)));
    let o = exec_line(&s, "brpoplpush src dst 0", false, true);
    assert_eq!(block_keys(&o), ["src"]);

    // BLMPOP waits on its numkeys keys, not on the options after them.
    let o = exec_line(&s, "blmpop 2 2 x y left count 3", false, true);
    assert_eq!(block_keys(&o), ["x", "y"]);
    assert_eq!(o.effects.block.as_ref().map(|b| b.deadline_ms), Some(Some(s.now_ms + 2000)));

    // A deadline past i64 waits forever rather than overflowing.
    let o = exec_line(&s, "blpop k 9223372036854775", false, true);
    assert_eq!(o.effects.block.as_ref().map(|b| b.deadline_ms), Some(None));
}

#[test]
fn blocking_pops_reply_the_timeout_reply_when_they_may_not_block() {
    let s = Server::new();
    for (line, resp2) in [
        ("blpop k1 k2 0", &b"*-1\r\n"[..]),
        ("brpop k1 5", b"*-1\r\n"),
        ("blmpop 0 1 k1 left", b"*-1\r\n"),
        // Redis replies a null *bulk* to a BLMOVE that may not block (inside MULTI).
        ("blmove k1 k2 left left 0", b"$-1\r\n"),
        ("brpoplpush k1 k2 0", b"$-1\r\n"),
    ] {
        let o = exec_line(&s, line, false, false);
        assert!(o.effects.block.is_none(), "{line}");
        assert_eq!(show(&o.reply), show(resp2), "{line}");
        let o = exec_line(&s, line, true, false);
        assert_eq!(show(&o.reply), "_\\r\\n", "{line} in RESP3");
    }
}

#[test]
fn blocking_pops_serve_data_at_once_and_are_rerunnable() {
    let s = Server::new();
    // Client blocks, a push signals the key, the server re-runs the same command.
    let o = exec_line(&s, "blpop q 0", false, true);
    assert!(o.effects.block.is_some());
    let push = exec_line(&s, "rpush q job1 job2", false, true);
    assert_eq!(push.effects.ready_keys, vec![(0, Sds::new(b"q"))]);
    let o = exec_line(&s, "blpop q 0", false, false);
    assert!(o.effects.block.is_none());
    assert_eq!(show(&o.reply), show(b"*2\r\n$1\r\nq\r\n$4\r\njob1\r\n"));
    assert_eq!(o.effects.dirty, 1);
    // Data present: served even when blocking is allowed.
    let o = exec_line(&s, "blmove q dst right left 0", false, true);
    assert!(o.effects.block.is_none());
    assert_eq!(show(&o.reply), show(b"$4\r\njob2\r\n"));
    assert_eq!(o.effects.ready_keys, vec![(0, Sds::new(b"dst"))], "the destination gained an element");
    assert_eq!(show(&exec_line(&s, "exists q", false, true).reply), ":0\\r\\n", "emptied list deleted");
    // A timeout error comes before any data is looked at.
    let o = exec_line(&s, "blpop dst -1", false, true);
    assert_eq!(show(&o.reply), show(b"-ERR timeout is negative\r\n"));
}

#[test]
fn pushes_signal_the_keys_that_gained_elements() {
    let s = Server::new();
    let signalled = |line: &str| -> Vec<String> {
        exec_line(&s, line, false, true)
            .effects
            .ready_keys
            .iter()
            .map(|(db, k)| format!("{db}:{}", String::from_utf8_lossy(k)))
            .collect()
    };
    assert_eq!(signalled("lpush a 1"), ["0:a"]);
    assert_eq!(signalled("rpush a 2 3"), ["0:a"]);
    assert_eq!(signalled("lpushx a 0"), ["0:a"]);
    assert!(signalled("lpushx missing 0").is_empty());
    assert!(signalled("rpushx missing 0").is_empty());
    assert_eq!(signalled("linsert a before 2 x"), ["0:a"]);
    assert!(signalled("linsert a before nothere x").is_empty());
    assert_eq!(signalled("lmove a b left left"), ["0:b"]);
    assert_eq!(signalled("rpoplpush a c"), ["0:c"]);
    assert!(signalled("lmove missing b left left").is_empty());
    assert!(signalled("lpop a").is_empty());
    assert!(signalled("lset a 0 y").is_empty());
    assert!(signalled("ltrim a 0 0").is_empty());
}

#[test]
fn dirty_counts_follow_redis() {
    let s = Server::new();
    let dirty = |line: &str| exec_line(&s, line, false, true).effects.dirty;
    assert_eq!(dirty("rpush l a b c a"), 4);
    assert_eq!(dirty("lrem l 0 a"), 2);
    assert_eq!(dirty("lrem l 0 zz"), 0);
    assert_eq!(dirty("rpush l d e f"), 3);
    assert_eq!(dirty("ltrim l 1 -2"), 2);
    assert_eq!(dirty("lpop l 10"), 3);
    assert_eq!(dirty("lpop l"), 0);
    assert_eq!(dirty("rpush l x"), 1);
    assert_eq!(dirty("lset l 0 y"), 1);
    assert_eq!(dirty("linsert l after y z"), 1);
    assert_eq!(dirty("lmove l l left right"), 1);
}

// ---------------------------------------------------------------------------------------------
// Model test: random command sequences against a VecDeque per key.
// ---------------------------------------------------------------------------------------------

use proptest::prelude::*;
use std::collections::{HashMap, VecDeque};

#[derive(Clone, Debug)]
enum Op {
    Push { key: usize, left: bool, elems: Vec<u8> },
    Pop { key: usize, left: bool, count: Option<i64> },
    Range { key: usize, start: i64, end: i64 },
    Index { key: usize, index: i64 },
    Set { key: usize, index: i64, elem: u8 },
    Insert { key: usize, after: bool, pivot: u8, elem: u8 },
    Rem { key: usize, count: i64, elem: u8 },
    Trim { key: usize, start: i64, end: i64 },
    Pos { key: usize, elem: u8, rank: Option<i64>, count: Option<i64>, maxlen: Option<i64> },
    Move { src: usize, dst: usize, from_left: bool, to_left: bool },
    Len { key: usize },
}

const KEYS: [&str; 2] = ["ka", "kb"];

fn elem(e: u8) -> String {
    format!("e{}", e % 4)
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = 0usize..2;
    let idx = -7i64..7;
    let e = 0u8..4;
    prop_oneof![
        3 => (key.clone(), any::<bool>(), prop::collection::vec(e.clone(), 1..5)).prop_map(|(key, left, elems)| Op::Push { key, left, elems }),
        2 => (key.clone(), any::<bool>(), prop::option::of(0i64..5)).prop_map(|(key, left, count)| Op::Pop { key, left, count }),
        2 => (key.clone(), idx.clone(), idx.clone()).prop_map(|(key, start, end)| Op::Range { key, start, end }),
        1 => (key.clone(), idx.clone()).prop_map(|(key, index)| Op::Index { key, index }),
        1 => (key.clone(), idx.clone(), e.clone()).prop_map(|(key, index, elem)| Op::Set { key, index, elem }),
        1 => (key.clone(), any::<bool>(), e.clone(), e.clone()).prop_map(|(key, after, pivot, elem)| Op::Insert { key, after, pivot, elem }),
        1 => (key.clone(), -3i64..4, e.clone()).prop_map(|(key, count, elem)| Op::Rem { key, count, elem }),
        1 => (key.clone(), idx.clone(), idx.clone()).prop_map(|(key, start, end)| Op::Trim { key, start, end }),
        2 => (key.clone(), e.clone(), prop::option::of(prop_oneof![-3i64..0, 1i64..4]), prop::option::of(0i64..3), prop::option::of(0i64..5))
            .prop_map(|(key, elem, rank, count, maxlen)| Op::Pos { key, elem, rank, count, maxlen }),
        1 => (key.clone(), key.clone(), any::<bool>(), any::<bool>()).prop_map(|(src, dst, from_left, to_left)| Op::Move { src, dst, from_left, to_left }),
        1 => key.prop_map(|key| Op::Len { key }),
    ]
}

// RESP2 encoders for the model's expected replies.
fn int(v: i64) -> Vec<u8> {
    format!(":{v}\r\n").into_bytes()
}
fn bulk(s: &str) -> Vec<u8> {
    format!("${}\r\n{s}\r\n", s.len()).into_bytes()
}
fn null() -> Vec<u8> {
    b"$-1\r\n".to_vec()
}
fn array(items: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend(i);
    }
    out
}

/// The model's index rules, written out plainly: negative counts from the end.
fn abs_index(len: usize, i: i64) -> Option<usize> {
    let len = len as i64;
    let j = if i < 0 { len + i } else { i };
    (0..len).contains(&j).then_some(j as usize)
}

fn model_range(len: usize, start: i64, end: i64) -> Vec<usize> {
    let len = len as i64;
    let s = (if start < 0 { len + start } else { start }).max(0);
    let e = (if end < 0 { len + end } else { end }).min(len - 1);
    (s..=e).map(|i| i as usize).collect()
}

/// Applies `op` to the model and returns (command line, expected RESP2 reply).
fn model_apply(m: &mut HashMap<usize, VecDeque<String>>, op: &Op) -> (String, Vec<u8>) {
    let get = |m: &HashMap<usize, VecDeque<String>>, k: usize| m.get(&k).cloned().unwrap_or_default();
    let (line, reply) = match op {
        Op::Push { key, left, elems } => {
            let l = m.entry(*key).or_default();
            for e in elems {
                if *left {
                    l.push_front(elem(*e))
                } else {
                    l.push_back(elem(*e))
                }
            }
            let words: Vec<String> = elems.iter().map(|e| elem(*e)).collect();
            (
                format!("{} {} {}", if *left { "lpush" } else { "rpush" }, KEYS[*key], words.join(" ")),
                int(l.len() as i64),
            )
        }
        Op::Pop { key, left, count } => {
            let name = if *left { "lpop" } else { "rpop" };
            let mut l = get(m, *key);
            let line = match count {
                Some(c) => format!("{name} {} {c}", KEYS[*key]),
                None => format!("{name} {}", KEYS[*key]),
            };
            let reply = if l.is_empty() {
                if count.is_some() {
                    b"*-1\r\n".to_vec()
                } else {
                    null()
                }
            } else {
                let n = count.unwrap_or(1) as usize;
                let mut got = Vec::new();
                for _ in 0..n.min(l.len()) {
                    got.push(if *left { l.pop_front() } else { l.pop_back() }.unwrap_or_default());
                }
                m.insert(*key, l);
                match count {
                    Some(_) => array(got.iter().map(|s| bulk(s)).collect()),
                    None => bulk(&got[0]),
                }
            };
            (line, reply)
        }
        Op::Range { key, start, end } => {
            let l = get(m, *key);
            let items = model_range(l.len(), *start, *end).into_iter().map(|i| bulk(&l[i])).collect();
            (format!("lrange {} {start} {end}", KEYS[*key]), array(items))
        }
        Op::Index { key, index } => {
            let l = get(m, *key);
            let r = abs_index(l.len(), *index).map_or_else(null, |i| bulk(&l[i]));
            (format!("lindex {} {index}", KEYS[*key]), r)
        }
        Op::Set { key, index, elem: e } => {
            let line = format!("lset {} {index} {}", KEYS[*key], elem(*e));
            let reply = match m.get_mut(key) {
                Some(l) if !l.is_empty() => match abs_index(l.len(), *index) {
                    Some(i) => {
                        l[i] = elem(*e);
                        b"+OK\r\n".to_vec()
                    }
                    None => b"-ERR index out of range\r\n".to_vec(),
                },
                _ => b"-ERR no such key\r\n".to_vec(),
            };
            (line, reply)
        }
        Op::Insert { key, after, pivot, elem: e } => {
            let line = format!(
                "linsert {} {} {} {}",
                KEYS[*key],
                if *after { "after" } else { "before" },
                elem(*pivot),
                elem(*e)
            );
            let reply = match m.get_mut(key) {
                Some(l) if !l.is_empty() => match l.iter().position(|x| *x == elem(*pivot)) {
                    Some(p) => {
                        l.insert(if *after { p + 1 } else { p }, elem(*e));
                        int(l.len() as i64)
                    }
                    None => int(-1),
                },
                _ => int(0),
            };
            (line, reply)
        }
        Op::Rem { key, count, elem: e } => {
            let mut l = get(m, *key);
            let target = elem(*e);
            let mut removed = 0i64;
            let limit = count.unsigned_abs() as i64;
            let mut kept: Vec<String> = Vec::new();
            let items: Vec<String> =
                if *count < 0 { l.iter().rev().cloned().collect() } else { l.iter().cloned().collect() };
            for x in items {
                if x == target && (limit == 0 || removed < limit) {
                    removed += 1;
                } else {
                    kept.push(x);
                }
            }
            if *count < 0 {
                kept.reverse();
            }
            l = kept.into_iter().collect();
            m.insert(*key, l);
            (format!("lrem {} {count} {target}", KEYS[*key]), int(removed))
        }
        Op::Trim { key, start, end } => {
            let l = get(m, *key);
            let kept: VecDeque<String> = model_range(l.len(), *start, *end).into_iter().map(|i| l[i].clone()).collect();
            m.insert(*key, kept);
            (format!("ltrim {} {start} {end}", KEYS[*key]), b"+OK\r\n".to_vec())
        }
        Op::Pos { key, elem: e, rank, count, maxlen } => {
            let l = get(m, *key);
            let mut line = format!("lpos {} {}", KEYS[*key], elem(*e));
            if let Some(r) = rank {
                line += &format!(" rank {r}");
            }
            if let Some(c) = count {
                line += &format!(" count {c}");
            }
            if let Some(ml) = maxlen {
                line += &format!(" maxlen {ml}");
            }
            let r = rank.unwrap_or(1);
            let scan = maxlen.filter(|&x| x > 0).map_or(l.len(), |x| (x as usize).min(l.len()));
            let order: Vec<usize> = if r < 0 { (0..l.len()).rev().take(scan).collect() } else { (0..scan).collect() };
            let hits: Vec<usize> =
                order.into_iter().filter(|&i| l[i] == elem(*e)).skip(r.unsigned_abs() as usize - 1).collect();
            let reply = match count {
                Some(c) => {
                    let n = if *c == 0 { hits.len() } else { (*c as usize).min(hits.len()) };
                    array(hits[..n].iter().map(|&i| int(i as i64)).collect())
                }
                None => hits.first().map_or_else(null, |&i| int(i as i64)),
            };
            (line, reply)
        }
        Op::Move { src, dst, from_left, to_left } => {
            let line = format!(
                "lmove {} {} {} {}",
                KEYS[*src],
                KEYS[*dst],
                if *from_left { "left" } else { "right" },
                if *to_left { "left" } else { "right" }
            );
            let mut s = get(m, *src);
            let reply = match if *from_left { s.pop_front() } else { s.pop_back() } {
                None => null(),
                Some(v) => {
                    m.insert(*src, s);
                    let d = m.entry(*dst).or_default();
                    if *to_left {
                        d.push_front(v.clone())
                    } else {
                        d.push_back(v.clone())
                    }
                    bulk(&v)
                }
            };
            (line, reply)
        }
        Op::Len { key } => (format!("llen {}", KEYS[*key]), int(get(m, *key).len() as i64)),
    };
    m.retain(|_, l| !l.is_empty());
    (line, reply)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn lists_behave_like_a_vecdeque_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        let server = Server::new();
        let mut model: HashMap<usize, VecDeque<String>> = HashMap::new();
        for op in &ops {
            let (line, expected) = model_apply(&mut model, op);
            let got = server.run(&line, false);
            prop_assert_eq!(show(&got), show(&expected), "`{}`", line);
            // An emptied list is deleted; a live one has the model's length.
            for (k, name) in KEYS.iter().enumerate() {
                let exists = server.run(&format!("exists {name}"), false);
                let want = if model.contains_key(&k) { ":1\r\n" } else { ":0\r\n" };
                prop_assert_eq!(show(&exists), show(want.as_bytes()), "after `{}`, {} existence", line, name);
            }
        }
    }
}
