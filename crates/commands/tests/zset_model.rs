//! Sorted sets against Redis 7.0.15: replies captured from the real server (RESP2 and RESP3),
//! the blocking contract of BZPOPMIN/BZPOPMAX/BZMPOP, ready-key signalling, ZSCAN of large sets,
//! ZRANDMEMBER, and a property test against a BTreeMap model.

// The in-process harness shared with list_model (textually included: each tests/ file is its own crate).
include!("common/blocking_harness.rs");

/// (protocol, command line, reply) captured from redis-server 7.0.15 with a raw RESP client.
#[rustfmt::skip]
const ZSET_VECTORS: &[(u8, &str, &[u8])] = &[
    (2, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (2, "zadd z 1 a", b":0\r\n"),
    (2, "zadd z ch 5 a 2 b", b":1\r\n"),
    (2, "zadd z nx 10 a 4 d", b":1\r\n"),
    (2, "zadd z xx 10 a 4 e", b":0\r\n"),
    (2, "zadd z xx ch 11 a 4 e", b":1\r\n"),
    (2, "zadd z gt 5 a", b":0\r\n"),
    (2, "zadd z gt ch 12 a", b":1\r\n"),
    (2, "zadd z lt ch 12 a 1 b", b":1\r\n"),
    (2, "zadd z lt gt 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    (2, "zadd z nx xx 1 a", b"-ERR XX and NX options at the same time are not compatible\r\n"),
    (2, "zadd z nx gt 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    (2, "zadd z nx lt 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    (2, "zadd z xx gt 13 a", b":0\r\n"),
    (2, "zadd z incr 1 a", b"$2\r\n14\r\n"),
    (2, "zadd z incr 1 a 2 b", b"-ERR INCR option supports a single increment-element pair\r\n"),
    (2, "zadd z incr nx 1 a", b"$-1\r\n"),
    (2, "zadd z incr xx 1 zz", b"$-1\r\n"),
    (2, "zadd z incr gt -1 a", b"$-1\r\n"),
    (2, "zadd z incr lt -1 a", b"$2\r\n13\r\n"),
    (2, "zadd z incr 1 newmember", b"$1\r\n1\r\n"),
    (2, "zadd z", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (2, "zadd z 1", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (2, "zadd z 1 a 2", b"-ERR syntax error\r\n"),
    (2, "zadd z nx", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (2, "zadd z x a", b"-ERR value is not a valid float\r\n"),
    (2, "zadd z 1 a x b", b"-ERR value is not a valid float\r\n"),
    (2, "zadd z nan a", b"-ERR value is not a valid float\r\n"),
    (2, "zadd z 0x10 hex", b":1\r\n"),
    (2, "zadd z ' 1' a", b"-ERR value is not a valid float\r\n"),
    (2, "zadd z 1e400 a", b"-ERR value is not a valid float\r\n"),
    (2, "zadd z 1e-400 a", b"-ERR value is not a valid float\r\n"),
    (2, "zadd z inf posinf -inf neginf", b":2\r\n"),
    (2, "zadd z +5 plus .5 dot 5. dot2 1e5 exp", b":4\r\n"),
    (2, "zadd z -0 negzero", b":1\r\n"),
    (2, "zrange z 0 -1 withscores", b"*26\r\n$6\r\nneginf\r\n$4\r\n-inf\r\n$7\r\nnegzero\r\n$1\r\n0\r\n$3\r\ndot\r\n$3\r\n0.5\r\n$1\r\nb\r\n$1\r\n1\r\n$9\r\nnewmember\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$4\r\ndot2\r\n$1\r\n5\r\n$4\r\nplus\r\n$1\r\n5\r\n$1\r\na\r\n$2\r\n13\r\n$3\r\nhex\r\n$2\r\n16\r\n$3\r\nexp\r\n$6\r\n100000\r\n$6\r\nposinf\r\n$3\r\ninf\r\n"),
    (2, "zscore z negzero", b"$1\r\n0\r\n"),
    (2, "zscore z posinf", b"$3\r\ninf\r\n"),
    (2, "zscore z nothere", b"$-1\r\n"),
    (2, "zscore nokey a", b"$-1\r\n"),
    (2, "zadd z incr -inf posinf", b"-ERR resulting score is not a number (NaN)\r\n"),
    (2, "zincrby z 1 a", b"$2\r\n14\r\n"),
    (2, "zincrby z 1.5 a", b"$4\r\n15.5\r\n"),
    (2, "zincrby z -inf a", b"$4\r\n-inf\r\n"),
    (2, "zincrby z inf a", b"-ERR resulting score is not a number (NaN)\r\n"),
    (2, "zincrby z x a", b"-ERR value is not a valid float\r\n"),
    (2, "zincrby z nx 1", b"-ERR syntax error\r\n"),
    (2, "zincrby z 1 nx", b"$1\r\n1\r\n"),
    (2, "zincrby nokey2 2.5 m", b"$3\r\n2.5\r\n"),
    (2, "zrange nokey2 0 -1 withscores", b"*2\r\n$1\r\nm\r\n$3\r\n2.5\r\n"),
    (2, "zadd zx xx 1 a", b":0\r\n"),
    (2, "zadd zx xx incr 1 a", b"$-1\r\n"),
    (2, "exists zx", b":0\r\n"),
    (2, "zcard z", b":14\r\n"),
    (2, "zcard nokey", b":0\r\n"),
    (2, "zmscore z a b nothere", b"*3\r\n$4\r\n-inf\r\n$1\r\n1\r\n$-1\r\n"),
    (2, "zmscore nokey a b", b"*2\r\n$-1\r\n$-1\r\n"),
    (2, "zrank z a", b":0\r\n"),
    (2, "zrank z neginf", b":1\r\n"),
    (2, "zrevrank z neginf", b":12\r\n"),
    (2, "zrank z nothere", b"$-1\r\n"),
    (2, "zrank nokey a", b"$-1\r\n"),
    (2, "zrevrank nokey a", b"$-1\r\n"),
    (2, "del z", b":1\r\n"),
    (2, "zadd z 1 a 2 b 3 c 4 d 5 e 5 f 5 g 6 h", b":8\r\n"),
    (2, "zrange z 0 -1", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (2, "zrange z 0 -1 withscores", b"*16\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nf\r\n$1\r\n5\r\n$1\r\ng\r\n$1\r\n5\r\n$1\r\nh\r\n$1\r\n6\r\n"),
    (2, "zrange z -3 -1 withscores", b"*6\r\n$1\r\nf\r\n$1\r\n5\r\n$1\r\ng\r\n$1\r\n5\r\n$1\r\nh\r\n$1\r\n6\r\n"),
    (2, "zrange z 2 1", b"*0\r\n"),
    (2, "zrange z -100 100", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (2, "zrange z 100 200", b"*0\r\n"),
    (2, "zrange z 0 -1 rev", b"*8\r\n$1\r\nh\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (2, "zrange z 0 1 rev withscores", b"*4\r\n$1\r\nh\r\n$1\r\n6\r\n$1\r\ng\r\n$1\r\n5\r\n"),
    (2, "zrange z x 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrange z 0 1 foo", b"-ERR syntax error\r\n"),
    (2, "zrange z 0 1 limit 0 1", b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
    (2, "zrange z 0 1 limit 5 -1", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (2, "zrange z 0 1 limit 0 -1 rev", b"*2\r\n$1\r\nh\r\n$1\r\ng\r\n"),
    (2, "zrange z 2 5 byscore", b"*6\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (2, "zrange z (2 (5 byscore", b"*2\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (2, "zrange z 5 2 byscore", b"*0\r\n"),
    (2, "zrange z 5 2 byscore rev", b"*6\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (2, "zrange z 5 (2 byscore rev withscores", b"*10\r\n$1\r\ng\r\n$1\r\n5\r\n$1\r\nf\r\n$1\r\n5\r\n$1\r\ne\r\n$1\r\n5\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (2, "zrange z -inf +inf byscore limit 2 3", b"*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (2, "zrange z -inf +inf byscore limit 2 3 withscores", b"*6\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (2, "zrange z +inf -inf byscore rev limit 2 3", b"*3\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n"),
    (2, "zrange z -inf +inf byscore limit -1 3", b"*0\r\n"),
    (2, "zrange z -inf +inf byscore limit 0 -1", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (2, "zrange z -inf +inf byscore limit 7 1", b"*1\r\n$1\r\nh\r\n"),
    (2, "zrange z -inf +inf byscore limit 8 1", b"*0\r\n"),
    (2, "zrange z -inf +inf byscore limit 0 0", b"*0\r\n"),
    (2, "zrange z (5 5 byscore", b"*0\r\n"),
    (2, "zrange z 5 (5 byscore", b"*0\r\n"),
    (2, "zrange z 5 5 byscore", b"*3\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (2, "zrange z x 5 byscore", b"-ERR min or max is not a float\r\n"),
    (2, "zrange z 5 nan byscore", b"-ERR min or max is not a float\r\n"),
    (2, "zrange z '' 3 byscore", b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (2, "zrange z ' 2' 3 byscore", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (2, "zrange z '( 2' 3 byscore", b"*1\r\n$1\r\nc\r\n"),
    (2, "zrange z 2 '3 ' byscore", b"-ERR min or max is not a float\r\n"),
    (2, "zrange z 0x2 0x3 byscore", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (2, "zrange z -1e400 1e400 byscore", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (2, "zrange z (-inf (inf byscore", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (2, "zrange z (inf +inf byscore", b"*0\r\n"),
    (2, "zrange z - + bylex", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (2, "zrange z - + bylex withscores", b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
    (2, "zrange z [a (c bylex", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (2, "zrange z a c bylex", b"-ERR min or max not valid string range item\r\n"),
    (2, "zrange z 0 1 byscore bylex", b"-ERR syntax error\r\n"),
    (2, "zrange z 0 1 rev rev", b"-ERR syntax error\r\n"),
    (2, "zrange z 0 1 byscore byscore", b"-ERR syntax error\r\n"),
    (2, "zrange z 0 1 limit 1", b"-ERR syntax error\r\n"),
    (2, "zrange z 0 1 limit x 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrange z 0 1 limit 0 y", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrange nokey 0 -1", b"*0\r\n"),
    (2, "zrange nokey 0 -1 withscores", b"*0\r\n"),
    (2, "zrange nokey x 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrevrange z 0 2", b"*3\r\n$1\r\nh\r\n$1\r\ng\r\n$1\r\nf\r\n"),
    (2, "zrevrange z 0 2 withscores", b"*6\r\n$1\r\nh\r\n$1\r\n6\r\n$1\r\ng\r\n$1\r\n5\r\n$1\r\nf\r\n$1\r\n5\r\n"),
    (2, "zrevrange z 0 2 rev", b"-ERR syntax error\r\n"),
    (2, "zrevrange z 0 2 byscore", b"-ERR syntax error\r\n"),
    (2, "zrevrange z 0 2 limit 0 1", b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
    (2, "zrangebyscore z 2 5", b"*6\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (2, "zrangebyscore z 2 5 withscores limit 1 2", b"*4\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    (2, "zrangebyscore z -inf +inf limit 0 100", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (2, "zrangebyscore z 2 5 byscore", b"-ERR syntax error\r\n"),
    (2, "zrangebyscore z 2 5 rev", b"-ERR syntax error\r\n"),
    (2, "zrangebyscore z (1 (3", b"*1\r\n$1\r\nb\r\n"),
    (2, "zrangebyscore z 5 2", b"*0\r\n"),
    (2, "zrevrangebyscore z 5 2", b"*6\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (2, "zrevrangebyscore z 5 2 withscores limit 1 2", b"*4\r\n$1\r\nf\r\n$1\r\n5\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (2, "zrevrangebyscore z +inf -inf", b"*8\r\n$1\r\nh\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (2, "zrevrangebyscore z (5 (2", b"*2\r\n$1\r\nd\r\n$1\r\nc\r\n"),
    (2, "zrangebyscore z a b", b"-ERR min or max is not a float\r\n"),
    (2, "zrangebyscore nokey 0 1", b"*0\r\n"),
    (2, "zcount z 2 5", b":6\r\n"),
    (2, "zcount z (2 (5", b":2\r\n"),
    (2, "zcount z -inf +inf", b":8\r\n"),
    (2, "zcount z 5 2", b":0\r\n"),
    (2, "zcount z (5 5", b":0\r\n"),
    (2, "zcount z x 1", b"-ERR min or max is not a float\r\n"),
    (2, "zcount nokey 0 1", b":0\r\n"),
    (2, "zcount nokey x 1", b"-ERR min or max is not a float\r\n"),
    (2, "del z", b":1\r\n"),
    (2, "zadd z 0 a 0 b 0 c 0 d 0 e 0 f 0 g", b":7\r\n"),
    (2, "zrangebylex z - +", b"*7\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (2, "zrangebylex z [b [d", b"*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (2, "zrangebylex z (b (d", b"*1\r\n$1\r\nc\r\n"),
    (2, "zrangebylex z (b [d limit 1 1", b"*1\r\n$1\r\nd\r\n"),
    (2, "zrangebylex z - + limit 2 3", b"*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (2, "zrangebylex z - + limit -1 3", b"*0\r\n"),
    (2, "zrangebylex z - + limit 7 3", b"*0\r\n"),
    (2, "zrangebylex z - + limit 0 -1", b"*7\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (2, "zrangebylex z + -", b"*0\r\n"),
    (2, "zrangebylex z - -", b"*0\r\n"),
    (2, "zrangebylex z + +", b"*0\r\n"),
    (2, "zrangebylex z [d [b", b"*0\r\n"),
    (2, "zrangebylex z [d [d", b"*1\r\n$1\r\nd\r\n"),
    (2, "zrangebylex z (d [d", b"*0\r\n"),
    (2, "zrangebylex z [aa [cc", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (2, "zrangebylex z ( [b", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (2, "zrangebylex z [ [b", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (2, "zrangebylex z a [b", b"-ERR min or max not valid string range item\r\n"),
    (2, "zrangebylex z - b", b"-ERR min or max not valid string range item\r\n"),
    (2, "zrangebylex z '' +", b"-ERR min or max not valid string range item\r\n"),
    (2, "zrangebylex z -a +", b"-ERR min or max not valid string range item\r\n"),
    (2, "zrangebylex z - + withscores", b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
    (2, "zrevrangebylex z + -", b"*7\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (2, "zrevrangebylex z [d [b", b"*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (2, "zrevrangebylex z (d (b limit 1 5", b"*0\r\n"),
    (2, "zrevrangebylex z - +", b"*0\r\n"),
    (2, "zrange z [b [d bylex rev", b"*0\r\n"),
    (2, "zrange z [d [b bylex rev", b"*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (2, "zrange z [d [b bylex rev limit 1 1", b"*1\r\n$1\r\nc\r\n"),
    (2, "zlexcount z - +", b":7\r\n"),
    (2, "zlexcount z [b (e", b":3\r\n"),
    (2, "zlexcount z [e [b", b":0\r\n"),
    (2, "zlexcount z x +", b"-ERR min or max not valid string range item\r\n"),
    (2, "zlexcount nokey - +", b":0\r\n"),
    (2, "zlexcount nokey x +", b"-ERR min or max not valid string range item\r\n"),
    (2, "zadd z 1 zz 2 zzz -1 aaa", b":3\r\n"),
    (2, "zrangebylex z - +", b"*10\r\n$3\r\naaa\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$2\r\nzz\r\n$3\r\nzzz\r\n"),
    (2, "zrangebylex z [b [zz", b"*7\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$2\r\nzz\r\n"),
    (2, "zrevrangebylex z [zz [b", b"*7\r\n$2\r\nzz\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (2, "zlexcount z [b [zz", b":7\r\n"),
    (2, "zremrangebylex z [b [c", b":2\r\n"),
    (2, "zrange z 0 -1", b"*8\r\n$3\r\naaa\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$2\r\nzz\r\n$3\r\nzzz\r\n"),
    (2, "del z", b":1\r\n"),
    (2, "zadd z 1 a 2 b 3 c 4 d 5 e 6 f", b":6\r\n"),
    (2, "zremrangebyrank z 0 0", b":1\r\n"),
    (2, "zremrangebyrank z -1 -1", b":1\r\n"),
    (2, "zremrangebyrank z 5 10", b":0\r\n"),
    (2, "zremrangebyrank z 2 1", b":0\r\n"),
    (2, "zremrangebyrank z x 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrange z 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (2, "zremrangebyscore z (2 4", b":2\r\n"),
    (2, "zremrangebyscore z x 4", b"-ERR min or max is not a float\r\n"),
    (2, "zremrangebyscore z 10 20", b":0\r\n"),
    (2, "zrange z 0 -1 withscores", b"*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (2, "zremrangebylex z x +", b"-ERR min or max not valid string range item\r\n"),
    (2, "zremrangebylex z - +", b":2\r\n"),
    (2, "exists z", b":0\r\n"),
    (2, "zremrangebyrank nokey 0 -1", b":0\r\n"),
    (2, "zremrangebyscore nokey -inf +inf", b":0\r\n"),
    (2, "zremrangebylex nokey - +", b":0\r\n"),
    (2, "zremrangebyscore nokey x 1", b"-ERR min or max is not a float\r\n"),
    (2, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (2, "zrem z a nothere", b":1\r\n"),
    (2, "zrem z nothere", b":0\r\n"),
    (2, "zrem z b c a", b":2\r\n"),
    (2, "exists z", b":0\r\n"),
    (2, "zrem nokey a", b":0\r\n"),
    (2, "del z1 z2 s1", b":0\r\n"),
    (2, "zadd z1 1 a 2 b 3 c", b":3\r\n"),
    (2, "zadd z2 10 b 20 c 30 d", b":3\r\n"),
    (2, "sadd s1 c d e", b":3\r\n"),
    (2, "zunion 2 z1 z2", b"*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (2, "zunion 2 z1 z2 withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n$1\r\nd\r\n$2\r\n30\r\n"),
    (2, "zunion 2 z1 z2 weights 2 3 withscores", b"*8\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$2\r\n34\r\n$1\r\nc\r\n$2\r\n66\r\n$1\r\nd\r\n$2\r\n90\r\n"),
    (2, "zunion 2 z1 z2 aggregate min withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$2\r\n30\r\n"),
    (2, "zunion 2 z1 z2 aggregate max withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n10\r\n$1\r\nc\r\n$2\r\n20\r\n$1\r\nd\r\n$2\r\n30\r\n"),
    (2, "zunion 3 z1 z2 s1 withscores", b"*10\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\ne\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n24\r\n$1\r\nd\r\n$2\r\n31\r\n"),
    (2, "zunion 3 z1 z2 nokey withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n$1\r\nd\r\n$2\r\n30\r\n"),
    (2, "zunion 1 nokey withscores", b"*0\r\n"),
    (2, "zunion 2 z1 z2 weights 1 withscores", b"-ERR weight value is not a float\r\n"),
    (2, "zunion 2 z1 z2 weights 1 x", b"-ERR weight value is not a float\r\n"),
    (2, "zunion 2 z1 z2 weights 1 nan", b"-ERR weight value is not a float\r\n"),
    (2, "zunion 2 z1 z2 aggregate avg", b"-ERR syntax error\r\n"),
    (2, "zunion 2 z1 z2 aggregate", b"-ERR syntax error\r\n"),
    (2, "zunion 2 z1 z2 withscores withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n$1\r\nd\r\n$2\r\n30\r\n"),
    (2, "zunion 2 z1 z2 foo", b"-ERR syntax error\r\n"),
    (2, "zunion 0 z1", b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
    (2, "zunion -1 z1", b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
    (2, "zunion x z1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zunion 3 z1 z2", b"-ERR syntax error\r\n"),
    (2, "zunion 2 z1 str", b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (2, "set str v", b"+OK\r\n"),
    (2, "zunion 2 z1 str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "zunion 2 z1 str weights x", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "zinter 2 z1 z2 withscores", b"*4\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n"),
    (2, "zinter 2 z1 z2 weights 2 3 aggregate max withscores", b"*4\r\n$1\r\nb\r\n$2\r\n30\r\n$1\r\nc\r\n$2\r\n60\r\n"),
    (2, "zinter 3 z1 z2 s1 withscores", b"*2\r\n$1\r\nc\r\n$2\r\n24\r\n"),
    (2, "zinter 2 z1 nokey withscores", b"*0\r\n"),
    (2, "zinter 2 z1 z1 withscores", b"*6\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n6\r\n"),
    (2, "zinter 2 z1 s1 withscores", b"*2\r\n$1\r\nc\r\n$1\r\n4\r\n"),
    (2, "zinter 1 z1 limit 1", b"-ERR syntax error\r\n"),
    (2, "zdiff 2 z1 z2 withscores", b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (2, "zdiff 2 z2 z1", b"*1\r\n$1\r\nd\r\n"),
    (2, "zdiff 2 s1 z2 withscores", b"*2\r\n$1\r\ne\r\n$1\r\n1\r\n"),
    (2, "zdiff 1 z1 withscores", b"*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (2, "zdiff 2 nokey z1", b"*0\r\n"),
    (2, "zdiff 2 z1 z2 weights 1 2", b"-ERR syntax error\r\n"),
    (2, "zdiff 2 z1 z2 aggregate sum", b"-ERR syntax error\r\n"),
    (2, "zdiff 0 z1", b"-ERR at least 1 input key is needed for 'zdiff' command\r\n"),
    (2, "zintercard 2 z1 z2", b":2\r\n"),
    (2, "zintercard 2 z1 z2 limit 1", b":1\r\n"),
    (2, "zintercard 2 z1 z2 limit 0", b":2\r\n"),
    (2, "zintercard 2 z1 z2 limit -1", b"-ERR LIMIT can't be negative\r\n"),
    (2, "zintercard 2 z1 z2 limit x", b"-ERR LIMIT can't be negative\r\n"),
    (2, "zintercard 2 z1 z2 withscores", b"-ERR syntax error\r\n"),
    (2, "zintercard 2 z1 z2 weights 1 1", b"-ERR syntax error\r\n"),
    (2, "zintercard 0 z1", b"-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
    (2, "zintercard 1 nokey", b":0\r\n"),
    (2, "zunionstore dst 2 z1 z2", b":4\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n$1\r\nd\r\n$2\r\n30\r\n"),
    (2, "zunionstore dst 2 z1 z2 weights 1 2 aggregate max", b":4\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n20\r\n$1\r\nc\r\n$2\r\n40\r\n$1\r\nd\r\n$2\r\n60\r\n"),
    (2, "zunionstore dst 2 z1 z2 withscores", b"-ERR syntax error\r\n"),
    (2, "zinterstore dst 2 z1 z2", b":2\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*4\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n"),
    (2, "zinterstore dst 2 z1 nokey", b":0\r\n"),
    (2, "exists dst", b":0\r\n"),
    (2, "zinterstore dst 2 z1 nokey", b":0\r\n"),
    (2, "zdiffstore dst 2 z1 z2", b":1\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (2, "zdiffstore dst 2 z1 z1", b":0\r\n"),
    (2, "exists dst", b":0\r\n"),
    (2, "zunionstore z1 2 z1 z2", b":4\r\n"),
    (2, "zrange z1 0 -1 withscores", b"*8\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$2\r\n12\r\n$1\r\nc\r\n$2\r\n23\r\n$1\r\nd\r\n$2\r\n30\r\n"),
    (2, "zunionstore str 1 z2", b":3\r\n"),
    (2, "type str", b"+zset\r\n"),
    (2, "zunionstore dst 0 z1", b"-ERR at least 1 input key is needed for 'zunionstore' command\r\n"),
    (2, "zinterstore dst 0 z1", b"-ERR at least 1 input key is needed for 'zinterstore' command\r\n"),
    (2, "zdiffstore dst 0 z1", b"-ERR at least 1 input key is needed for 'zdiffstore' command\r\n"),
    (2, "del pinf ninf", b":0\r\n"),
    (2, "zadd pinf inf m 1 n", b":2\r\n"),
    (2, "zadd ninf -inf m 2 n", b":2\r\n"),
    (2, "zunion 2 pinf ninf withscores", b"*4\r\n$1\r\nm\r\n$1\r\n0\r\n$1\r\nn\r\n$1\r\n3\r\n"),
    (2, "zunion 2 pinf ninf weights 1 -1 withscores", b"*4\r\n$1\r\nn\r\n$2\r\n-1\r\n$1\r\nm\r\n$3\r\ninf\r\n"),
    (2, "zunion 2 pinf ninf weights 0 1 withscores", b"*4\r\n$1\r\nm\r\n$4\r\n-inf\r\n$1\r\nn\r\n$1\r\n2\r\n"),
    (2, "zinter 2 pinf ninf withscores", b"*4\r\n$1\r\nm\r\n$1\r\n0\r\n$1\r\nn\r\n$1\r\n3\r\n"),
    (2, "zinter 2 pinf ninf weights 0 0 withscores", b"*4\r\n$1\r\nm\r\n$1\r\n0\r\n$1\r\nn\r\n$1\r\n0\r\n"),
    (2, "zinter 2 pinf ninf aggregate min withscores", b"*4\r\n$1\r\nm\r\n$4\r\n-inf\r\n$1\r\nn\r\n$1\r\n1\r\n"),
    (2, "zinterstore dst 2 pinf ninf weights 1 1", b":2\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*4\r\n$1\r\nm\r\n$1\r\n0\r\n$1\r\nn\r\n$1\r\n3\r\n"),
    (2, "del z", b":0\r\n"),
    (2, "zadd z 1 a 2 b 3 c 4 d", b":4\r\n"),
    (2, "zrangestore dst z 0 1", b":2\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (2, "zrangestore dst z 2 5 byscore", b":3\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*6\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    (2, "zrangestore dst z (c + bylex", b":1\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*2\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    (2, "zrangestore dst z 5 2 byscore rev limit 1 1", b":1\r\n"),
    (2, "zrange dst 0 -1 withscores", b"*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (2, "zrangestore dst z 0 -1 withscores", b"-ERR syntax error\r\n"),
    (2, "zrangestore dst z 5 6 byscore", b":0\r\n"),
    (2, "exists dst", b":0\r\n"),
    (2, "zrangestore dst nokey 0 -1", b":0\r\n"),
    (2, "zrangestore dst z x 1", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrangestore dst str 0 1", b":2\r\n"),
    (2, "zrangestore str z 0 0", b":1\r\n"),
    (2, "type str", b"+zset\r\n"),
    (2, "set str v", b"+OK\r\n"),
    (2, "del z", b":1\r\n"),
    (2, "zadd z 1 a 2 b 3 c 4 d 5 e", b":5\r\n"),
    (2, "zpopmin z", b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (2, "zpopmax z", b"*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (2, "zpopmin z 2", b"*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (2, "zpopmax z 0", b"*0\r\n"),
    (2, "zpopmax z 10", b"*2\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    (2, "exists z", b":0\r\n"),
    (2, "zpopmin z", b"*0\r\n"),
    (2, "zpopmin z 1", b"*0\r\n"),
    (2, "zpopmin z -1", b"-ERR value is out of range, must be positive\r\n"),
    (2, "zpopmin z x", b"-ERR value is out of range, must be positive\r\n"),
    (2, "zpopmin z 1 2", b"-ERR syntax error\r\n"),
    (2, "zpopmax nokey", b"*0\r\n"),
    (2, "zpopmax str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (2, "bzpopmin nokey z 0", b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (2, "bzpopmax nokey z 0", b"*3\r\n$1\r\nz\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (2, "bzpopmin z x", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "bzpopmin z -1", b"-ERR timeout is negative\r\n"),
    (2, "bzpopmin str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "zmpop 2 nokey z min", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (2, "zmpop 1 z max count 10", b"*-1\r\n"),
    (2, "zmpop 1 z max", b"*-1\r\n"),
    (2, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (2, "zmpop 1 z min count 2", b"*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (2, "zmpop 0 z min", b"-ERR numkeys should be greater than 0\r\n"),
    (2, "zmpop 1 z middle", b"-ERR syntax error\r\n"),
    (2, "zmpop 1 z min count 0", b"-ERR count should be greater than 0\r\n"),
    (2, "zmpop 1 z min count 1 count 1", b"-ERR syntax error\r\n"),
    (2, "zmpop 2 z min", b"-ERR syntax error\r\n"),
    (2, "zmpop 2 str z min", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "zmpop 9223372036854775807 z min", b"-ERR syntax error\r\n"),
    (2, "bzmpop 0 1 z max count 5", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (2, "exists z", b":0\r\n"),
    (2, "zadd z 1 a 2 b", b":2\r\n"),
    (2, "bzmpop x 1 z min", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "bzmpop 0 0 z min", b"-ERR numkeys should be greater than 0\r\n"),
    (2, "bzmpop 0 1 z middle", b"-ERR syntax error\r\n"),
    (2, "bzmpop -1 1 z min", b"-ERR timeout is negative\r\n"),
    (2, "!nb bzpopmin nokey 0", b"*-1\r\n"),
    (2, "!nb bzpopmax nokey 1", b"*-1\r\n"),
    (2, "!nb bzmpop 0 1 nokey min", b"*-1\r\n"),
    (2, "!nb bzmpop 0 1 z min count 1", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (2, "!nb bzpopmin nokey x", b"-ERR timeout is not a float or out of range\r\n"),
    (2, "zrandmember nokey", b"$-1\r\n"),
    (2, "zrandmember nokey 5", b"*0\r\n"),
    (2, "zrandmember nokey 5 withscores", b"*0\r\n"),
    (2, "zrandmember nokey x", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrandmember z 0", b"*0\r\n"),
    (2, "zrandmember z 0 withscores", b"*0\r\n"),
    (2, "zrandmember z 5", b"*1\r\n$1\r\nb\r\n"),
    (2, "zrandmember z 2 withscores", b"*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (2, "zrandmember z 5 foo", b"-ERR syntax error\r\n"),
    (2, "zrandmember z 5 withscores foo", b"-ERR syntax error\r\n"),
    (2, "zrandmember z x", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zrandmember z -9223372036854775808", b"-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"),
    (2, "zrandmember z -9223372036854775807 withscores", b"-ERR value is out of range\r\n"),
    (2, "zrandmember z 4611686018427387904 withscores", b"-ERR value is out of range\r\n"),
    (2, "zrandmember str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "zadd zr 1 a 2 b 3 c 3 d", b":4\r\n"),
    (2, "zrandmember zr 10 withscores", b"*8\r\n$1\r\nd\r\n$1\r\n3\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (2, "zrandmember zr 4", b"*4\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (2, "del zr", b":1\r\n"),
    (2, "zadd zneg incr -0 a", b"$2\r\n-0\r\n"),
    (2, "zadd zneg nx -0 b", b":1\r\n"),
    (2, "zscore zneg a", b"$1\r\n0\r\n"),
    (2, "zincrby zneg -0 a", b"$1\r\n0\r\n"),
    (2, "zunion 1 zneg weights -1 withscores", b"*4\r\n$1\r\na\r\n$2\r\n-0\r\n$1\r\nb\r\n$2\r\n-0\r\n"),
    (2, "zinter 1 zneg weights -1 withscores", b"*4\r\n$1\r\na\r\n$2\r\n-0\r\n$1\r\nb\r\n$2\r\n-0\r\n"),
    (2, "zunionstore zneg2 1 zneg weights -1", b":2\r\n"),
    (2, "zrange zneg2 0 -1 withscores", b"*4\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nb\r\n$1\r\n0\r\n"),
    (2, "zscan zneg2 0", b"*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nb\r\n$1\r\n0\r\n"),
    (2, "zrandmember str 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "del z", b":1\r\n"),
    (2, "zadd z 1 a 2.5 b 3 c 100000000000000000 big 1e20 huge inf i -inf ni", b":7\r\n"),
    (2, "zscan z 0", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (2, "zscan z 0 match *a*", b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (2, "zscan z 0 match * count 1", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (2, "zscan z 0 match c", b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (2, "zscan z 0 count 0", b"-ERR syntax error\r\n"),
    (2, "zscan z 0 count x", b"-ERR value is not an integer or out of range\r\n"),
    (2, "zscan z 0 type zset", b"-ERR syntax error\r\n"),
    (2, "zscan z 0 match", b"-ERR syntax error\r\n"),
    (2, "zscan z x", b"-ERR invalid cursor\r\n"),
    (2, "zscan z -1", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (2, "zscan z ' 1'", b"-ERR invalid cursor\r\n"),
    (2, "zscan z 18446744073709551616", b"-ERR invalid cursor\r\n"),
    (2, "zscan z ''", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (2, "zscan nokey 0", b"*2\r\n$1\r\n0\r\n*0\r\n"),
    (2, "zscan str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (2, "zscan nokey x", b"-ERR invalid cursor\r\n"),
    (2, "zadd", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (2, "zadd z", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (2, "zrange z 0", b"-ERR wrong number of arguments for 'zrange' command\r\n"),
    (2, "zunion", b"-ERR wrong number of arguments for 'zunion' command\r\n"),
    (2, "zpopmin", b"-ERR wrong number of arguments for 'zpopmin' command\r\n"),
    (2, "zrandmember", b"-ERR wrong number of arguments for 'zrandmember' command\r\n"),
    (2, "zscan z", b"-ERR wrong number of arguments for 'zscan' command\r\n"),
    (2, "bzpopmin z", b"-ERR wrong number of arguments for 'bzpopmin' command\r\n"),
    (2, "zmpop 1", b"-ERR wrong number of arguments for 'zmpop' command\r\n"),
    (3, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (3, "zadd z 1 a", b":0\r\n"),
    (3, "zadd z ch 5 a 2 b", b":1\r\n"),
    (3, "zadd z nx 10 a 4 d", b":1\r\n"),
    (3, "zadd z xx 10 a 4 e", b":0\r\n"),
    (3, "zadd z xx ch 11 a 4 e", b":1\r\n"),
    (3, "zadd z gt 5 a", b":0\r\n"),
    (3, "zadd z gt ch 12 a", b":1\r\n"),
    (3, "zadd z lt ch 12 a 1 b", b":1\r\n"),
    (3, "zadd z lt gt 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    (3, "zadd z nx xx 1 a", b"-ERR XX and NX options at the same time are not compatible\r\n"),
    (3, "zadd z nx gt 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    (3, "zadd z nx lt 1 a", b"-ERR GT, LT, and/or NX options at the same time are not compatible\r\n"),
    (3, "zadd z xx gt 13 a", b":0\r\n"),
    (3, "zadd z incr 1 a", b",14\r\n"),
    (3, "zadd z incr 1 a 2 b", b"-ERR INCR option supports a single increment-element pair\r\n"),
    (3, "zadd z incr nx 1 a", b"_\r\n"),
    (3, "zadd z incr xx 1 zz", b"_\r\n"),
    (3, "zadd z incr gt -1 a", b"_\r\n"),
    (3, "zadd z incr lt -1 a", b",13\r\n"),
    (3, "zadd z incr 1 newmember", b",1\r\n"),
    (3, "zadd z", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (3, "zadd z 1", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (3, "zadd z 1 a 2", b"-ERR syntax error\r\n"),
    (3, "zadd z nx", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (3, "zadd z x a", b"-ERR value is not a valid float\r\n"),
    (3, "zadd z 1 a x b", b"-ERR value is not a valid float\r\n"),
    (3, "zadd z nan a", b"-ERR value is not a valid float\r\n"),
    (3, "zadd z 0x10 hex", b":1\r\n"),
    (3, "zadd z ' 1' a", b"-ERR value is not a valid float\r\n"),
    (3, "zadd z 1e400 a", b"-ERR value is not a valid float\r\n"),
    (3, "zadd z 1e-400 a", b"-ERR value is not a valid float\r\n"),
    (3, "zadd z inf posinf -inf neginf", b":2\r\n"),
    (3, "zadd z +5 plus .5 dot 5. dot2 1e5 exp", b":4\r\n"),
    (3, "zadd z -0 negzero", b":1\r\n"),
    (3, "zrange z 0 -1 withscores", b"*13\r\n*2\r\n$6\r\nneginf\r\n,-inf\r\n*2\r\n$7\r\nnegzero\r\n,0\r\n*2\r\n$3\r\ndot\r\n,0.5\r\n*2\r\n$1\r\nb\r\n,1\r\n*2\r\n$9\r\nnewmember\r\n,1\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$4\r\ndot2\r\n,5\r\n*2\r\n$4\r\nplus\r\n,5\r\n*2\r\n$1\r\na\r\n,13\r\n*2\r\n$3\r\nhex\r\n,16\r\n*2\r\n$3\r\nexp\r\n,100000\r\n*2\r\n$6\r\nposinf\r\n,inf\r\n"),
    (3, "zscore z negzero", b",0\r\n"),
    (3, "zscore z posinf", b",inf\r\n"),
    (3, "zscore z nothere", b"_\r\n"),
    (3, "zscore nokey a", b"_\r\n"),
    (3, "zadd z incr -inf posinf", b"-ERR resulting score is not a number (NaN)\r\n"),
    (3, "zincrby z 1 a", b",14\r\n"),
    (3, "zincrby z 1.5 a", b",15.5\r\n"),
    (3, "zincrby z -inf a", b",-inf\r\n"),
    (3, "zincrby z inf a", b"-ERR resulting score is not a number (NaN)\r\n"),
    (3, "zincrby z x a", b"-ERR value is not a valid float\r\n"),
    (3, "zincrby z nx 1", b"-ERR syntax error\r\n"),
    (3, "zincrby z 1 nx", b",1\r\n"),
    (3, "zincrby nokey2 2.5 m", b",2.5\r\n"),
    (3, "zrange nokey2 0 -1 withscores", b"*1\r\n*2\r\n$1\r\nm\r\n,2.5\r\n"),
    (3, "zadd zx xx 1 a", b":0\r\n"),
    (3, "zadd zx xx incr 1 a", b"_\r\n"),
    (3, "exists zx", b":0\r\n"),
    (3, "zcard z", b":14\r\n"),
    (3, "zcard nokey", b":0\r\n"),
    (3, "zmscore z a b nothere", b"*3\r\n,-inf\r\n,1\r\n_\r\n"),
    (3, "zmscore nokey a b", b"*2\r\n_\r\n_\r\n"),
    (3, "zrank z a", b":0\r\n"),
    (3, "zrank z neginf", b":1\r\n"),
    (3, "zrevrank z neginf", b":12\r\n"),
    (3, "zrank z nothere", b"_\r\n"),
    (3, "zrank nokey a", b"_\r\n"),
    (3, "zrevrank nokey a", b"_\r\n"),
    (3, "del z", b":1\r\n"),
    (3, "zadd z 1 a 2 b 3 c 4 d 5 e 5 f 5 g 6 h", b":8\r\n"),
    (3, "zrange z 0 -1", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (3, "zrange z 0 -1 withscores", b"*8\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\nf\r\n,5\r\n*2\r\n$1\r\ng\r\n,5\r\n*2\r\n$1\r\nh\r\n,6\r\n"),
    (3, "zrange z -3 -1 withscores", b"*3\r\n*2\r\n$1\r\nf\r\n,5\r\n*2\r\n$1\r\ng\r\n,5\r\n*2\r\n$1\r\nh\r\n,6\r\n"),
    (3, "zrange z 2 1", b"*0\r\n"),
    (3, "zrange z -100 100", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (3, "zrange z 100 200", b"*0\r\n"),
    (3, "zrange z 0 -1 rev", b"*8\r\n$1\r\nh\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (3, "zrange z 0 1 rev withscores", b"*2\r\n*2\r\n$1\r\nh\r\n,6\r\n*2\r\n$1\r\ng\r\n,5\r\n"),
    (3, "zrange z x 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrange z 0 1 foo", b"-ERR syntax error\r\n"),
    (3, "zrange z 0 1 limit 0 1", b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
    (3, "zrange z 0 1 limit 5 -1", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (3, "zrange z 0 1 limit 0 -1 rev", b"*2\r\n$1\r\nh\r\n$1\r\ng\r\n"),
    (3, "zrange z 2 5 byscore", b"*6\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (3, "zrange z (2 (5 byscore", b"*2\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (3, "zrange z 5 2 byscore", b"*0\r\n"),
    (3, "zrange z 5 2 byscore rev", b"*6\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (3, "zrange z 5 (2 byscore rev withscores", b"*5\r\n*2\r\n$1\r\ng\r\n,5\r\n*2\r\n$1\r\nf\r\n,5\r\n*2\r\n$1\r\ne\r\n,5\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
    (3, "zrange z -inf +inf byscore limit 2 3", b"*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (3, "zrange z -inf +inf byscore limit 2 3 withscores", b"*3\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\ne\r\n,5\r\n"),
    (3, "zrange z +inf -inf byscore rev limit 2 3", b"*3\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n"),
    (3, "zrange z -inf +inf byscore limit -1 3", b"*0\r\n"),
    (3, "zrange z -inf +inf byscore limit 0 -1", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (3, "zrange z -inf +inf byscore limit 7 1", b"*1\r\n$1\r\nh\r\n"),
    (3, "zrange z -inf +inf byscore limit 8 1", b"*0\r\n"),
    (3, "zrange z -inf +inf byscore limit 0 0", b"*0\r\n"),
    (3, "zrange z (5 5 byscore", b"*0\r\n"),
    (3, "zrange z 5 (5 byscore", b"*0\r\n"),
    (3, "zrange z 5 5 byscore", b"*3\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (3, "zrange z x 5 byscore", b"-ERR min or max is not a float\r\n"),
    (3, "zrange z 5 nan byscore", b"-ERR min or max is not a float\r\n"),
    (3, "zrange z '' 3 byscore", b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (3, "zrange z ' 2' 3 byscore", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (3, "zrange z '( 2' 3 byscore", b"*1\r\n$1\r\nc\r\n"),
    (3, "zrange z 2 '3 ' byscore", b"-ERR min or max is not a float\r\n"),
    (3, "zrange z 0x2 0x3 byscore", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (3, "zrange z -1e400 1e400 byscore", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (3, "zrange z (-inf (inf byscore", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (3, "zrange z (inf +inf byscore", b"*0\r\n"),
    (3, "zrange z - + bylex", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (3, "zrange z - + bylex withscores", b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
    (3, "zrange z [a (c bylex", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (3, "zrange z a c bylex", b"-ERR min or max not valid string range item\r\n"),
    (3, "zrange z 0 1 byscore bylex", b"-ERR syntax error\r\n"),
    (3, "zrange z 0 1 rev rev", b"-ERR syntax error\r\n"),
    (3, "zrange z 0 1 byscore byscore", b"-ERR syntax error\r\n"),
    (3, "zrange z 0 1 limit 1", b"-ERR syntax error\r\n"),
    (3, "zrange z 0 1 limit x 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrange z 0 1 limit 0 y", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrange nokey 0 -1", b"*0\r\n"),
    (3, "zrange nokey 0 -1 withscores", b"*0\r\n"),
    (3, "zrange nokey x 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrevrange z 0 2", b"*3\r\n$1\r\nh\r\n$1\r\ng\r\n$1\r\nf\r\n"),
    (3, "zrevrange z 0 2 withscores", b"*3\r\n*2\r\n$1\r\nh\r\n,6\r\n*2\r\n$1\r\ng\r\n,5\r\n*2\r\n$1\r\nf\r\n,5\r\n"),
    (3, "zrevrange z 0 2 rev", b"-ERR syntax error\r\n"),
    (3, "zrevrange z 0 2 byscore", b"-ERR syntax error\r\n"),
    (3, "zrevrange z 0 2 limit 0 1", b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"),
    (3, "zrangebyscore z 2 5", b"*6\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (3, "zrangebyscore z 2 5 withscores limit 1 2", b"*2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n"),
    (3, "zrangebyscore z -inf +inf limit 0 100", b"*8\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$1\r\nh\r\n"),
    (3, "zrangebyscore z 2 5 byscore", b"-ERR syntax error\r\n"),
    (3, "zrangebyscore z 2 5 rev", b"-ERR syntax error\r\n"),
    (3, "zrangebyscore z (1 (3", b"*1\r\n$1\r\nb\r\n"),
    (3, "zrangebyscore z 5 2", b"*0\r\n"),
    (3, "zrevrangebyscore z 5 2", b"*6\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (3, "zrevrangebyscore z 5 2 withscores limit 1 2", b"*2\r\n*2\r\n$1\r\nf\r\n,5\r\n*2\r\n$1\r\ne\r\n,5\r\n"),
    (3, "zrevrangebyscore z +inf -inf", b"*8\r\n$1\r\nh\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (3, "zrevrangebyscore z (5 (2", b"*2\r\n$1\r\nd\r\n$1\r\nc\r\n"),
    (3, "zrangebyscore z a b", b"-ERR min or max is not a float\r\n"),
    (3, "zrangebyscore nokey 0 1", b"*0\r\n"),
    (3, "zcount z 2 5", b":6\r\n"),
    (3, "zcount z (2 (5", b":2\r\n"),
    (3, "zcount z -inf +inf", b":8\r\n"),
    (3, "zcount z 5 2", b":0\r\n"),
    (3, "zcount z (5 5", b":0\r\n"),
    (3, "zcount z x 1", b"-ERR min or max is not a float\r\n"),
    (3, "zcount nokey 0 1", b":0\r\n"),
    (3, "zcount nokey x 1", b"-ERR min or max is not a float\r\n"),
    (3, "del z", b":1\r\n"),
    (3, "zadd z 0 a 0 b 0 c 0 d 0 e 0 f 0 g", b":7\r\n"),
    (3, "zrangebylex z - +", b"*7\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (3, "zrangebylex z [b [d", b"*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (3, "zrangebylex z (b (d", b"*1\r\n$1\r\nc\r\n"),
    (3, "zrangebylex z (b [d limit 1 1", b"*1\r\n$1\r\nd\r\n"),
    (3, "zrangebylex z - + limit 2 3", b"*3\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (3, "zrangebylex z - + limit -1 3", b"*0\r\n"),
    (3, "zrangebylex z - + limit 7 3", b"*0\r\n"),
    (3, "zrangebylex z - + limit 0 -1", b"*7\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n"),
    (3, "zrangebylex z + -", b"*0\r\n"),
    (3, "zrangebylex z - -", b"*0\r\n"),
    (3, "zrangebylex z + +", b"*0\r\n"),
    (3, "zrangebylex z [d [b", b"*0\r\n"),
    (3, "zrangebylex z [d [d", b"*1\r\n$1\r\nd\r\n"),
    (3, "zrangebylex z (d [d", b"*0\r\n"),
    (3, "zrangebylex z [aa [cc", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (3, "zrangebylex z ( [b", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (3, "zrangebylex z [ [b", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
    (3, "zrangebylex z a [b", b"-ERR min or max not valid string range item\r\n"),
    (3, "zrangebylex z - b", b"-ERR min or max not valid string range item\r\n"),
    (3, "zrangebylex z '' +", b"-ERR min or max not valid string range item\r\n"),
    (3, "zrangebylex z -a +", b"-ERR min or max not valid string range item\r\n"),
    (3, "zrangebylex z - + withscores", b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"),
    (3, "zrevrangebylex z + -", b"*7\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (3, "zrevrangebylex z [d [b", b"*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (3, "zrevrangebylex z (d (b limit 1 5", b"*0\r\n"),
    (3, "zrevrangebylex z - +", b"*0\r\n"),
    (3, "zrange z [b [d bylex rev", b"*0\r\n"),
    (3, "zrange z [d [b bylex rev", b"*3\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (3, "zrange z [d [b bylex rev limit 1 1", b"*1\r\n$1\r\nc\r\n"),
    (3, "zlexcount z - +", b":7\r\n"),
    (3, "zlexcount z [b (e", b":3\r\n"),
    (3, "zlexcount z [e [b", b":0\r\n"),
    (3, "zlexcount z x +", b"-ERR min or max not valid string range item\r\n"),
    (3, "zlexcount nokey - +", b":0\r\n"),
    (3, "zlexcount nokey x +", b"-ERR min or max not valid string range item\r\n"),
    (3, "zadd z 1 zz 2 zzz -1 aaa", b":3\r\n"),
    (3, "zrangebylex z - +", b"*10\r\n$3\r\naaa\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$2\r\nzz\r\n$3\r\nzzz\r\n"),
    (3, "zrangebylex z [b [zz", b"*7\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$2\r\nzz\r\n"),
    (3, "zrevrangebylex z [zz [b", b"*7\r\n$2\r\nzz\r\n$1\r\ng\r\n$1\r\nf\r\n$1\r\ne\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n"),
    (3, "zlexcount z [b [zz", b":7\r\n"),
    (3, "zremrangebylex z [b [c", b":2\r\n"),
    (3, "zrange z 0 -1", b"*8\r\n$3\r\naaa\r\n$1\r\na\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n$1\r\ng\r\n$2\r\nzz\r\n$3\r\nzzz\r\n"),
    (3, "del z", b":1\r\n"),
    (3, "zadd z 1 a 2 b 3 c 4 d 5 e 6 f", b":6\r\n"),
    (3, "zremrangebyrank z 0 0", b":1\r\n"),
    (3, "zremrangebyrank z -1 -1", b":1\r\n"),
    (3, "zremrangebyrank z 5 10", b":0\r\n"),
    (3, "zremrangebyrank z 2 1", b":0\r\n"),
    (3, "zremrangebyrank z x 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrange z 0 -1", b"*4\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n"),
    (3, "zremrangebyscore z (2 4", b":2\r\n"),
    (3, "zremrangebyscore z x 4", b"-ERR min or max is not a float\r\n"),
    (3, "zremrangebyscore z 10 20", b":0\r\n"),
    (3, "zrange z 0 -1 withscores", b"*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\ne\r\n,5\r\n"),
    (3, "zremrangebylex z x +", b"-ERR min or max not valid string range item\r\n"),
    (3, "zremrangebylex z - +", b":2\r\n"),
    (3, "exists z", b":0\r\n"),
    (3, "zremrangebyrank nokey 0 -1", b":0\r\n"),
    (3, "zremrangebyscore nokey -inf +inf", b":0\r\n"),
    (3, "zremrangebylex nokey - +", b":0\r\n"),
    (3, "zremrangebyscore nokey x 1", b"-ERR min or max is not a float\r\n"),
    (3, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (3, "zrem z a nothere", b":1\r\n"),
    (3, "zrem z nothere", b":0\r\n"),
    (3, "zrem z b c a", b":2\r\n"),
    (3, "exists z", b":0\r\n"),
    (3, "zrem nokey a", b":0\r\n"),
    (3, "del z1 z2 s1", b":0\r\n"),
    (3, "zadd z1 1 a 2 b 3 c", b":3\r\n"),
    (3, "zadd z2 10 b 20 c 30 d", b":3\r\n"),
    (3, "sadd s1 c d e", b":3\r\n"),
    (3, "zunion 2 z1 z2", b"*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"),
    (3, "zunion 2 z1 z2 withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
    (3, "zunion 2 z1 z2 weights 2 3 withscores", b"*4\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,34\r\n*2\r\n$1\r\nc\r\n,66\r\n*2\r\n$1\r\nd\r\n,90\r\n"),
    (3, "zunion 2 z1 z2 aggregate min withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
    (3, "zunion 2 z1 z2 aggregate max withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,10\r\n*2\r\n$1\r\nc\r\n,20\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
    (3, "zunion 3 z1 z2 s1 withscores", b"*5\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\ne\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,24\r\n*2\r\n$1\r\nd\r\n,31\r\n"),
    (3, "zunion 3 z1 z2 nokey withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
    (3, "zunion 1 nokey withscores", b"*0\r\n"),
    (3, "zunion 2 z1 z2 weights 1 withscores", b"-ERR weight value is not a float\r\n"),
    (3, "zunion 2 z1 z2 weights 1 x", b"-ERR weight value is not a float\r\n"),
    (3, "zunion 2 z1 z2 weights 1 nan", b"-ERR weight value is not a float\r\n"),
    (3, "zunion 2 z1 z2 aggregate avg", b"-ERR syntax error\r\n"),
    (3, "zunion 2 z1 z2 aggregate", b"-ERR syntax error\r\n"),
    (3, "zunion 2 z1 z2 withscores withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
    (3, "zunion 2 z1 z2 foo", b"-ERR syntax error\r\n"),
    (3, "zunion 0 z1", b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
    (3, "zunion -1 z1", b"-ERR at least 1 input key is needed for 'zunion' command\r\n"),
    (3, "zunion x z1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zunion 3 z1 z2", b"-ERR syntax error\r\n"),
    (3, "zunion 2 z1 str", b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    (3, "set str v", b"+OK\r\n"),
    (3, "zunion 2 z1 str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "zunion 2 z1 str weights x", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "zinter 2 z1 z2 withscores", b"*2\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n"),
    (3, "zinter 2 z1 z2 weights 2 3 aggregate max withscores", b"*2\r\n*2\r\n$1\r\nb\r\n,30\r\n*2\r\n$1\r\nc\r\n,60\r\n"),
    (3, "zinter 3 z1 z2 s1 withscores", b"*1\r\n*2\r\n$1\r\nc\r\n,24\r\n"),
    (3, "zinter 2 z1 nokey withscores", b"*0\r\n"),
    (3, "zinter 2 z1 z1 withscores", b"*3\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,4\r\n*2\r\n$1\r\nc\r\n,6\r\n"),
    (3, "zinter 2 z1 s1 withscores", b"*1\r\n*2\r\n$1\r\nc\r\n,4\r\n"),
    (3, "zinter 1 z1 limit 1", b"-ERR syntax error\r\n"),
    (3, "zdiff 2 z1 z2 withscores", b"*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
    (3, "zdiff 2 z2 z1", b"*1\r\n$1\r\nd\r\n"),
    (3, "zdiff 2 s1 z2 withscores", b"*1\r\n*2\r\n$1\r\ne\r\n,1\r\n"),
    (3, "zdiff 1 z1 withscores", b"*3\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
    (3, "zdiff 2 nokey z1", b"*0\r\n"),
    (3, "zdiff 2 z1 z2 weights 1 2", b"-ERR syntax error\r\n"),
    (3, "zdiff 2 z1 z2 aggregate sum", b"-ERR syntax error\r\n"),
    (3, "zdiff 0 z1", b"-ERR at least 1 input key is needed for 'zdiff' command\r\n"),
    (3, "zintercard 2 z1 z2", b":2\r\n"),
    (3, "zintercard 2 z1 z2 limit 1", b":1\r\n"),
    (3, "zintercard 2 z1 z2 limit 0", b":2\r\n"),
    (3, "zintercard 2 z1 z2 limit -1", b"-ERR LIMIT can't be negative\r\n"),
    (3, "zintercard 2 z1 z2 limit x", b"-ERR LIMIT can't be negative\r\n"),
    (3, "zintercard 2 z1 z2 withscores", b"-ERR syntax error\r\n"),
    (3, "zintercard 2 z1 z2 weights 1 1", b"-ERR syntax error\r\n"),
    (3, "zintercard 0 z1", b"-ERR at least 1 input key is needed for 'zintercard' command\r\n"),
    (3, "zintercard 1 nokey", b":0\r\n"),
    (3, "zunionstore dst 2 z1 z2", b":4\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
    (3, "zunionstore dst 2 z1 z2 weights 1 2 aggregate max", b":4\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,20\r\n*2\r\n$1\r\nc\r\n,40\r\n*2\r\n$1\r\nd\r\n,60\r\n"),
    (3, "zunionstore dst 2 z1 z2 withscores", b"-ERR syntax error\r\n"),
    (3, "zinterstore dst 2 z1 z2", b":2\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*2\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n"),
    (3, "zinterstore dst 2 z1 nokey", b":0\r\n"),
    (3, "exists dst", b":0\r\n"),
    (3, "zinterstore dst 2 z1 nokey", b":0\r\n"),
    (3, "zdiffstore dst 2 z1 z2", b":1\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
    (3, "zdiffstore dst 2 z1 z1", b":0\r\n"),
    (3, "exists dst", b":0\r\n"),
    (3, "zunionstore z1 2 z1 z2", b":4\r\n"),
    (3, "zrange z1 0 -1 withscores", b"*4\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,12\r\n*2\r\n$1\r\nc\r\n,23\r\n*2\r\n$1\r\nd\r\n,30\r\n"),
    (3, "zunionstore str 1 z2", b":3\r\n"),
    (3, "type str", b"+zset\r\n"),
    (3, "zunionstore dst 0 z1", b"-ERR at least 1 input key is needed for 'zunionstore' command\r\n"),
    (3, "zinterstore dst 0 z1", b"-ERR at least 1 input key is needed for 'zinterstore' command\r\n"),
    (3, "zdiffstore dst 0 z1", b"-ERR at least 1 input key is needed for 'zdiffstore' command\r\n"),
    (3, "del pinf ninf", b":0\r\n"),
    (3, "zadd pinf inf m 1 n", b":2\r\n"),
    (3, "zadd ninf -inf m 2 n", b":2\r\n"),
    (3, "zunion 2 pinf ninf withscores", b"*2\r\n*2\r\n$1\r\nm\r\n,0\r\n*2\r\n$1\r\nn\r\n,3\r\n"),
    (3, "zunion 2 pinf ninf weights 1 -1 withscores", b"*2\r\n*2\r\n$1\r\nn\r\n,-1\r\n*2\r\n$1\r\nm\r\n,inf\r\n"),
    (3, "zunion 2 pinf ninf weights 0 1 withscores", b"*2\r\n*2\r\n$1\r\nm\r\n,-inf\r\n*2\r\n$1\r\nn\r\n,2\r\n"),
    (3, "zinter 2 pinf ninf withscores", b"*2\r\n*2\r\n$1\r\nm\r\n,0\r\n*2\r\n$1\r\nn\r\n,3\r\n"),
    (3, "zinter 2 pinf ninf weights 0 0 withscores", b"*2\r\n*2\r\n$1\r\nm\r\n,0\r\n*2\r\n$1\r\nn\r\n,0\r\n"),
    (3, "zinter 2 pinf ninf aggregate min withscores", b"*2\r\n*2\r\n$1\r\nm\r\n,-inf\r\n*2\r\n$1\r\nn\r\n,1\r\n"),
    (3, "zinterstore dst 2 pinf ninf weights 1 1", b":2\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*2\r\n*2\r\n$1\r\nm\r\n,0\r\n*2\r\n$1\r\nn\r\n,3\r\n"),
    (3, "del z", b":0\r\n"),
    (3, "zadd z 1 a 2 b 3 c 4 d", b":4\r\n"),
    (3, "zrangestore dst z 0 1", b":2\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
    (3, "zrangestore dst z 2 5 byscore", b":3\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nd\r\n,4\r\n"),
    (3, "zrangestore dst z (c + bylex", b":1\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*1\r\n*2\r\n$1\r\nd\r\n,4\r\n"),
    (3, "zrangestore dst z 5 2 byscore rev limit 1 1", b":1\r\n"),
    (3, "zrange dst 0 -1 withscores", b"*1\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
    (3, "zrangestore dst z 0 -1 withscores", b"-ERR syntax error\r\n"),
    (3, "zrangestore dst z 5 6 byscore", b":0\r\n"),
    (3, "exists dst", b":0\r\n"),
    (3, "zrangestore dst nokey 0 -1", b":0\r\n"),
    (3, "zrangestore dst z x 1", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrangestore dst str 0 1", b":2\r\n"),
    (3, "zrangestore str z 0 0", b":1\r\n"),
    (3, "type str", b"+zset\r\n"),
    (3, "set str v", b"+OK\r\n"),
    (3, "del z", b":1\r\n"),
    (3, "zadd z 1 a 2 b 3 c 4 d 5 e", b":5\r\n"),
    (3, "zpopmin z", b"*2\r\n$1\r\na\r\n,1\r\n"),
    (3, "zpopmax z", b"*2\r\n$1\r\ne\r\n,5\r\n"),
    (3, "zpopmin z 2", b"*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
    (3, "zpopmax z 0", b"*0\r\n"),
    (3, "zpopmax z 10", b"*1\r\n*2\r\n$1\r\nd\r\n,4\r\n"),
    (3, "exists z", b":0\r\n"),
    (3, "zpopmin z", b"*0\r\n"),
    (3, "zpopmin z 1", b"*0\r\n"),
    (3, "zpopmin z -1", b"-ERR value is out of range, must be positive\r\n"),
    (3, "zpopmin z x", b"-ERR value is out of range, must be positive\r\n"),
    (3, "zpopmin z 1 2", b"-ERR syntax error\r\n"),
    (3, "zpopmax nokey", b"*0\r\n"),
    (3, "zpopmax str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (3, "bzpopmin nokey z 0", b"*3\r\n$1\r\nz\r\n$1\r\na\r\n,1\r\n"),
    (3, "bzpopmax nokey z 0", b"*3\r\n$1\r\nz\r\n$1\r\nc\r\n,3\r\n"),
    (3, "bzpopmin z x", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "bzpopmin z -1", b"-ERR timeout is negative\r\n"),
    (3, "bzpopmin str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "zmpop 2 nokey z min", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
    (3, "zmpop 1 z max count 10", b"_\r\n"),
    (3, "zmpop 1 z max", b"_\r\n"),
    (3, "zadd z 1 a 2 b 3 c", b":3\r\n"),
    (3, "zmpop 1 z min count 2", b"*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
    (3, "zmpop 0 z min", b"-ERR numkeys should be greater than 0\r\n"),
    (3, "zmpop 1 z middle", b"-ERR syntax error\r\n"),
    (3, "zmpop 1 z min count 0", b"-ERR count should be greater than 0\r\n"),
    (3, "zmpop 1 z min count 1 count 1", b"-ERR syntax error\r\n"),
    (3, "zmpop 2 z min", b"-ERR syntax error\r\n"),
    (3, "zmpop 2 str z min", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "zmpop 9223372036854775807 z min", b"-ERR syntax error\r\n"),
    (3, "bzmpop 0 1 z max count 5", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nc\r\n,3\r\n"),
    (3, "exists z", b":0\r\n"),
    (3, "zadd z 1 a 2 b", b":2\r\n"),
    (3, "bzmpop x 1 z min", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "bzmpop 0 0 z min", b"-ERR numkeys should be greater than 0\r\n"),
    (3, "bzmpop 0 1 z middle", b"-ERR syntax error\r\n"),
    (3, "bzmpop -1 1 z min", b"-ERR timeout is negative\r\n"),
    (3, "!nb bzpopmin nokey 0", b"_\r\n"),
    (3, "!nb bzpopmax nokey 1", b"_\r\n"),
    (3, "!nb bzmpop 0 1 nokey min", b"_\r\n"),
    (3, "!nb bzmpop 0 1 z min count 1", b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n"),
    (3, "!nb bzpopmin nokey x", b"-ERR timeout is not a float or out of range\r\n"),
    (3, "zrandmember nokey", b"_\r\n"),
    (3, "zrandmember nokey 5", b"*0\r\n"),
    (3, "zrandmember nokey 5 withscores", b"*0\r\n"),
    (3, "zrandmember nokey x", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrandmember z 0", b"*0\r\n"),
    (3, "zrandmember z 0 withscores", b"*0\r\n"),
    (3, "zrandmember z 5", b"*1\r\n$1\r\nb\r\n"),
    (3, "zrandmember z 2 withscores", b"*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"),
    (3, "zrandmember z 5 foo", b"-ERR syntax error\r\n"),
    (3, "zrandmember z 5 withscores foo", b"-ERR syntax error\r\n"),
    (3, "zrandmember z x", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zrandmember z -9223372036854775808", b"-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n"),
    (3, "zrandmember z -9223372036854775807 withscores", b"-ERR value is out of range\r\n"),
    (3, "zrandmember z 4611686018427387904 withscores", b"-ERR value is out of range\r\n"),
    (3, "zrandmember str", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "zadd zr 1 a 2 b 3 c 3 d", b":4\r\n"),
    (3, "zrandmember zr 10 withscores", b"*4\r\n*2\r\n$1\r\nd\r\n,3\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\na\r\n,1\r\n"),
    (3, "zrandmember zr 4", b"*4\r\n$1\r\nd\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n"),
    (3, "del zr", b":1\r\n"),
    (3, "zadd zneg incr -0 a", b",-0\r\n"),
    (3, "zadd zneg nx -0 b", b":1\r\n"),
    (3, "zscore zneg a", b",0\r\n"),
    (3, "zincrby zneg -0 a", b",0\r\n"),
    (3, "zunion 1 zneg weights -1 withscores", b"*2\r\n*2\r\n$1\r\na\r\n,-0\r\n*2\r\n$1\r\nb\r\n,-0\r\n"),
    (3, "zinter 1 zneg weights -1 withscores", b"*2\r\n*2\r\n$1\r\na\r\n,-0\r\n*2\r\n$1\r\nb\r\n,-0\r\n"),
    (3, "zunionstore zneg2 1 zneg weights -1", b":2\r\n"),
    (3, "zrange zneg2 0 -1 withscores", b"*2\r\n*2\r\n$1\r\na\r\n,0\r\n*2\r\n$1\r\nb\r\n,0\r\n"),
    (3, "zscan zneg2 0", b"*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n0\r\n$1\r\nb\r\n$1\r\n0\r\n"),
    (3, "zrandmember str 1", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "del z", b":1\r\n"),
    (3, "zadd z 1 a 2.5 b 3 c 100000000000000000 big 1e20 huge inf i -inf ni", b":7\r\n"),
    (3, "zscan z 0", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (3, "zscan z 0 match *a*", b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (3, "zscan z 0 match * count 1", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (3, "zscan z 0 match c", b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (3, "zscan z 0 count 0", b"-ERR syntax error\r\n"),
    (3, "zscan z 0 count x", b"-ERR value is not an integer or out of range\r\n"),
    (3, "zscan z 0 type zset", b"-ERR syntax error\r\n"),
    (3, "zscan z 0 match", b"-ERR syntax error\r\n"),
    (3, "zscan z x", b"-ERR invalid cursor\r\n"),
    (3, "zscan z -1", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (3, "zscan z ' 1'", b"-ERR invalid cursor\r\n"),
    (3, "zscan z 18446744073709551616", b"-ERR invalid cursor\r\n"),
    (3, "zscan z ''", b"*2\r\n$1\r\n0\r\n*14\r\n$2\r\nni\r\n$4\r\n-inf\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nbig\r\n$18\r\n100000000000000000\r\n$4\r\nhuge\r\n$5\r\n1e+20\r\n$1\r\ni\r\n$3\r\ninf\r\n"),
    (3, "zscan nokey 0", b"*2\r\n$1\r\n0\r\n*0\r\n"),
    (3, "zscan str 0", b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (3, "zscan nokey x", b"-ERR invalid cursor\r\n"),
    (3, "zadd", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (3, "zadd z", b"-ERR wrong number of arguments for 'zadd' command\r\n"),
    (3, "zrange z 0", b"-ERR wrong number of arguments for 'zrange' command\r\n"),
    (3, "zunion", b"-ERR wrong number of arguments for 'zunion' command\r\n"),
    (3, "zpopmin", b"-ERR wrong number of arguments for 'zpopmin' command\r\n"),
    (3, "zrandmember", b"-ERR wrong number of arguments for 'zrandmember' command\r\n"),
    (3, "zscan z", b"-ERR wrong number of arguments for 'zscan' command\r\n"),
    (3, "bzpopmin z", b"-ERR wrong number of arguments for 'bzpopmin' command\r\n"),
    (3, "zmpop 1", b"-ERR wrong number of arguments for 'zmpop' command\r\n"),
];

#[test]
fn zset_replies_match_redis_7_0_15() {
    replay(ZSET_VECTORS);
}

// ---------------------------------------------------------------------------------------------
// The blocking contract
// ---------------------------------------------------------------------------------------------

fn exec_line(server: &Server, line: &str, resp3: bool, may_block: bool) -> Outcome {
    let words = split_words(line);
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
fn blocking_zpops_ask_to_block_when_empty_and_allowed() {
    let s = Server::new();
    let o = exec_line(&s, "bzpopmin z1 z2 0", false, true);
    assert!(o.reply.is_empty(), "nothing may be written when blocking: {}", show(&o.reply));
    assert_eq!(block_keys(&o), ["z1", "z2"]);
    assert_eq!(o.effects.block.as_ref().map(|b| (b.db, b.deadline_ms)), Some((0, None)));
    let o = exec_line(&s, "bzpopmax z1 0.25", false, true);
    assert_eq!(o.effects.block.as_ref().map(|b| b.deadline_ms), Some(Some(s.now_ms + 250)));
    let o = exec_line(&s, "bzmpop 3 2 a b max count 2", true, true);
    assert_eq!(block_keys(&o), ["a", "b"]);
    assert_eq!(o.effects.block.as_ref().map(|b| b.deadline_ms), Some(Some(s.now_ms + 3000)));
    assert!(o.reply.is_empty());
}

#[test]
fn blocking_zpops_reply_null_when_they_may_not_block() {
    let s = Server::new();
    for line in ["bzpopmin z 0", "bzpopmax z1 z2 1", "bzmpop 0 1 z min"] {
        let o = exec_line(&s, line, false, false);
        assert!(o.effects.block.is_none(), "{line}");
        assert_eq!(show(&o.reply), "*-1\\r\\n", "{line}");
        assert_eq!(show(&exec_line(&s, line, true, false).reply), "_\\r\\n", "{line} in RESP3");
    }
}

#[test]
fn blocking_zpops_serve_data_and_are_rerunnable() {
    let s = Server::new();
    assert!(exec_line(&s, "bzpopmin z 0", true, true).effects.block.is_some());
    let add = exec_line(&s, "zadd z 2 b 1 a", true, true);
    assert_eq!(add.effects.ready_keys, vec![(0, Sds::new(b"z"))]);
    let o = exec_line(&s, "bzpopmin z 0", true, false);
    assert_eq!(show(&o.reply), show(b"*3\r\n$1\r\nz\r\n$1\r\na\r\n,1\r\n"));
    let o = exec_line(&s, "bzmpop 0 1 z min count 5", true, true);
    assert!(o.effects.block.is_none());
    assert_eq!(show(&o.reply), show(b"*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n,2\r\n"));
    assert_eq!(show(&exec_line(&s, "exists z", false, true).reply), ":0\\r\\n");
}

#[test]
fn additions_signal_the_keys_that_gained_members() {
    let s = Server::new();
    let signalled = |line: &str| -> Vec<String> {
        exec_line(&s, line, false, true)
            .effects
            .ready_keys
            .iter()
            .map(|(_, k)| String::from_utf8_lossy(k).into_owned())
            .collect()
    };
    assert_eq!(signalled("zadd z 1 a"), ["z"]);
    assert!(signalled("zadd z 5 a").is_empty(), "an update adds no member");
    assert!(signalled("zadd z xx 1 new").is_empty());
    assert_eq!(signalled("zincrby z2 1 m"), ["z2"]);
    assert_eq!(signalled("zunionstore u 2 z z2"), ["u"]);
    assert_eq!(signalled("zinterstore i 2 z z"), ["i"]);
    assert!(signalled("zinterstore i 2 z z2").is_empty(), "an empty result deletes");
    assert_eq!(signalled("zdiffstore d 1 z"), ["d"]);
    assert_eq!(signalled("zrangestore r z 0 -1"), ["r"]);
    assert!(signalled("zrem z a").is_empty());
    assert!(signalled("zpopmin z2").is_empty());
}

#[test]
fn dirty_counts_follow_redis() {
    let s = Server::new();
    let dirty = |line: &str| exec_line(&s, line, false, true).effects.dirty;
    assert_eq!(dirty("zadd z 1 a 2 b 3 c"), 3);
    assert_eq!(dirty("zadd z 1 a 5 b"), 1);
    assert_eq!(dirty("zadd z incr 0 a"), 0);
    assert_eq!(dirty("zrem z a nothere"), 1);
    assert_eq!(dirty("zunionstore u 1 z"), 1);
    assert_eq!(dirty("zinterstore u 2 z nokey"), 1, "deleting the old destination is a change");
    assert_eq!(dirty("zinterstore u 2 z nokey"), 0);
    assert_eq!(dirty("zpopmin z 5"), 2);
}

// ---------------------------------------------------------------------------------------------
// ZSCAN of sets too large for a listpack, and ZRANDMEMBER (both differ from Redis in the
// bytes by design: cursor values and random choices).
// ---------------------------------------------------------------------------------------------

/// Parses `*2 $cursor *2n (member score)...` from a RESP2 ZSCAN reply.
fn parse_scan(reply: &[u8]) -> (String, Vec<(String, String)>) {
    let text = String::from_utf8_lossy(reply).into_owned();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "*2", "{text}");
    let cursor = lines[2].to_string();
    let n: usize = lines[3][1..].parse().expect("array length");
    let mut items = Vec::new();
    for i in 0..n / 2 {
        items.push((lines[4 + 4 * i + 1].to_string(), lines[4 + 4 * i + 3].to_string()));
    }
    (cursor, items)
}

#[test]
fn zscan_of_a_large_set_returns_every_member_once() {
    let s = Server::new();
    for i in 0..1000 {
        exec_line(&s, &format!("zadd big {}.5 m{i}", i % 7), false, true);
    }
    let mut seen = std::collections::HashMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, items) = parse_scan(&exec_line(&s, &format!("zscan big {cursor} count 10"), false, true).reply);
        calls += 1;
        assert!(calls < 200, "scan does not terminate");
        for (m, score) in items {
            let i: usize = m[1..].parse().expect("member");
            assert_eq!(score, format!("{}.5", i % 7));
            *seen.entry(m).or_insert(0) += 1;
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 1000);
    assert!(seen.values().all(|&n| n == 1));
    assert!(calls > 1, "a large set is scanned in several calls");
}

#[test]
fn zscan_guarantee_holds_while_the_set_changes() {
    let s = Server::new();
    for i in 0..500 {
        exec_line(&s, &format!("zadd big {i} keep{i}"), false, true);
        exec_line(&s, &format!("zadd big {i} drop{i}"), false, true);
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    for round in 0..500 {
        let (next, items) = parse_scan(&exec_line(&s, &format!("zscan big {cursor} match keep*"), false, true).reply);
        for (m, _) in items {
            assert!(m.starts_with("keep"), "MATCH filters members: {m}");
            seen.insert(m);
        }
        // Churn between calls: remove some members, add new ones, move scores.
        exec_line(&s, &format!("zrem big drop{round}"), false, true);
        exec_line(&s, &format!("zadd big -1 new{round}"), false, true);
        exec_line(&s, &format!("zincrby big 1000 keep{round}"), false, true);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 500, "every member present throughout is returned");
}

#[test]
fn zrandmember_draws_from_the_set() {
    let s = Server::new();
    exec_line(&s, "zadd z 1 a 2 b 3 c 4 d 5 e 6 f 7 g 8 h 9 i 10 j", false, true);
    let members = |reply: &[u8]| -> Vec<String> {
        let text = String::from_utf8_lossy(reply).into_owned();
        text.split("\r\n").filter(|l| !l.is_empty() && !l.starts_with(['*', '$', ','])).map(str::to_string).collect()
    };
    for _ in 0..20 {
        let got = members(&exec_line(&s, "zrandmember z 3", false, true).reply);
        assert_eq!(got.len(), 3);
        let distinct: std::collections::HashSet<_> = got.iter().collect();
        assert_eq!(distinct.len(), 3, "a positive count gives distinct members: {got:?}");
        assert!(got.iter().all(|m| m.len() == 1 && m.as_str() <= "j"));
        let got = members(&exec_line(&s, "zrandmember z -25", false, true).reply);
        assert_eq!(got.len(), 25, "a negative count repeats");
        let one = exec_line(&s, "zrandmember z", false, true).reply;
        assert!(one.starts_with(b"$1\r\n"), "{}", show(&one));
    }
    // RESP3 WITHSCORES: [member, double] pairs; scores belong to their members.
    let reply = exec_line(&s, "zrandmember z -4 withscores", true, true).reply;
    let text = String::from_utf8_lossy(&reply).into_owned();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "*4");
    for i in 0..4 {
        assert_eq!(lines[1 + 4 * i], "*2");
        let m = lines[1 + 4 * i + 2];
        let score = lines[1 + 4 * i + 3];
        let want = (m.as_bytes()[0] - b'a' + 1).to_string();
        assert_eq!(score, format!(",{want}"));
    }
    // Sampling is roughly uniform: every member shows up in 2000 draws.
    let got = members(&exec_line(&s, "zrandmember z -2000", false, true).reply);
    let distinct: std::collections::HashSet<_> = got.iter().collect();
    assert_eq!(distinct.len(), 10);
}

// ---------------------------------------------------------------------------------------------
// Model test: random command sequences against a BTreeMap member → score per key.
// ---------------------------------------------------------------------------------------------

use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};

const KEYS: [&str; 3] = ["za", "zb", "zc"];

#[derive(Clone, Debug)]
enum Op {
    Add { key: usize, flags: u8, pairs: Vec<(i8, u8)> },
    Incr { key: usize, by: i8, member: u8 },
    Rem { key: usize, members: Vec<u8> },
    Range { key: usize, start: i64, end: i64, rev: bool, withscores: bool },
    ByScore { key: usize, min: (i8, bool), max: (i8, bool), rev: bool, limit: Option<(i64, i64)> },
    ByLex { rev: bool, min: (u8, u8), max: (u8, u8), limit: Option<(i64, i64)> },
    LexAdd { members: Vec<u8> },
    Count { key: usize, min: (i8, bool), max: (i8, bool) },
    Rank { key: usize, member: u8, rev: bool },
    Score { key: usize, member: u8 },
    Card { key: usize },
    Pop { key: usize, max: bool, count: Option<i64> },
    RemRank { key: usize, start: i64, end: i64 },
    RemScore { key: usize, min: (i8, bool), max: (i8, bool) },
    Store { dst: usize, inter: bool, a: usize, b: usize, wa: i8, wb: i8, agg: u8 },
}

fn member(m: u8) -> String {
    format!("m{}", m % 6)
}

/// Scores: halves in [-3, 3], and ±inf (encoded as ±100).
fn score_of(s: i8) -> f64 {
    match s {
        100 => f64::INFINITY,
        -100 => f64::NEG_INFINITY,
        s => s as f64 / 2.0,
    }
}

fn score_text(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if v == v.trunc() {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn score_strategy() -> impl Strategy<Value = i8> {
    prop_oneof![8 => -6i8..7, 1 => Just(100i8), 1 => Just(-100i8)]
}

fn bound_strategy() -> impl Strategy<Value = (i8, bool)> {
    (score_strategy(), any::<bool>())
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let key = 0usize..3;
    let m = 0u8..6;
    let idx = -8i64..8;
    prop_oneof![
        4 => (key.clone(), 0u8..16, prop::collection::vec((score_strategy(), m.clone()), 1..4))
            .prop_map(|(key, flags, pairs)| Op::Add { key, flags, pairs }),
        2 => (key.clone(), -4i8..5, m.clone()).prop_map(|(key, by, member)| Op::Incr { key, by, member }),
        1 => (key.clone(), prop::collection::vec(m.clone(), 1..3)).prop_map(|(key, members)| Op::Rem { key, members }),
        2 => (key.clone(), idx.clone(), idx.clone(), any::<bool>(), any::<bool>())
            .prop_map(|(key, start, end, rev, withscores)| Op::Range { key, start, end, rev, withscores }),
        2 => (key.clone(), bound_strategy(), bound_strategy(), any::<bool>(), prop::option::of((-1i64..4, -1i64..4)))
            .prop_map(|(key, min, max, rev, limit)| Op::ByScore { key, min, max, rev, limit }),
        2 => (any::<bool>(), (0u8..4, 0u8..8), (0u8..4, 0u8..8), prop::option::of((-1i64..4, -1i64..4)))
            .prop_map(|(rev, min, max, limit)| Op::ByLex { rev, min, max, limit }),
        1 => prop::collection::vec(0u8..8, 1..4).prop_map(|members| Op::LexAdd { members }),
        1 => (key.clone(), bound_strategy(), bound_strategy()).prop_map(|(key, min, max)| Op::Count { key, min, max }),
        1 => (key.clone(), m.clone(), any::<bool>()).prop_map(|(key, member, rev)| Op::Rank { key, member, rev }),
        1 => (key.clone(), m.clone()).prop_map(|(key, member)| Op::Score { key, member }),
        1 => key.clone().prop_map(|key| Op::Card { key }),
        1 => (key.clone(), any::<bool>(), prop::option::of(0i64..4)).prop_map(|(key, max, count)| Op::Pop { key, max, count }),
        1 => (key.clone(), idx.clone(), idx.clone()).prop_map(|(key, start, end)| Op::RemRank { key, start, end }),
        1 => (key.clone(), bound_strategy(), bound_strategy()).prop_map(|(key, min, max)| Op::RemScore { key, min, max }),
        1 => (key.clone(), any::<bool>(), key.clone(), key, -2i8..3, -2i8..3, 0u8..3)
            .prop_map(|(dst, inter, a, b, wa, wb, agg)| Op::Store { dst, inter, a, b, wa, wb, agg }),
    ]
}

type Model = HashMap<String, BTreeMap<String, f64>>;

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

/// A set's members in Redis order: by score, then by bytes.
fn sorted(z: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    v
}

fn items(v: &[(String, f64)], withscores: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (m, s) in v {
        out.push(bulk(m));
        if withscores {
            out.push(bulk(&score_text(*s)));
        }
    }
    array(out)
}

fn bound_text((s, ex): (i8, bool)) -> String {
    format!("{}{}", if ex { "(" } else { "" }, score_text(score_of(s)))
}

fn in_bounds(v: f64, (min, minex): (i8, bool), (max, maxex): (i8, bool)) -> bool {
    let (lo, hi) = (score_of(min), score_of(max));
    (if minex { v > lo } else { v >= lo }) && (if maxex { v < hi } else { v <= hi })
}

fn rank_range(len: usize, start: i64, end: i64) -> std::ops::Range<usize> {
    let len = len as i64;
    let s = (if start < 0 { len + start } else { start }).max(0);
    let e = (if end < 0 { len + end } else { end }).min(len - 1);
    if s > e {
        0..0
    } else {
        s as usize..e as usize + 1
    }
}

fn apply_limit(v: Vec<(String, f64)>, limit: Option<(i64, i64)>) -> Vec<(String, f64)> {
    match limit {
        None => v,
        Some((off, _)) if off < 0 => Vec::new(),
        Some((off, count)) => {
            let it = v.into_iter().skip(off as usize);
            if count < 0 {
                it.collect()
            } else {
                it.take(count as usize).collect()
            }
        }
    }
}

fn limit_text(limit: Option<(i64, i64)>) -> String {
    limit.map_or(String::new(), |(o, c)| format!(" limit {o} {c}"))
}

fn lex_item((kind, c): (u8, u8)) -> String {
    let letter = (b'a' + c) as char;
    match kind {
        0 => "-".to_string(),
        1 => "+".to_string(),
        2 => format!("[{letter}"),
        _ => format!("({letter}"),
    }
}

fn lex_ok(v: &str, min: (u8, u8), max: (u8, u8)) -> bool {
    let letter = |c: u8| ((b'a' + c) as char).to_string();
    let above = match min.0 {
        0 => true,
        1 => false,
        2 => v >= letter(min.1).as_str(),
        _ => v > letter(min.1).as_str(),
    };
    let below = match max.0 {
        0 => false,
        1 => true,
        2 => v <= letter(max.1).as_str(),
        _ => v < letter(max.1).as_str(),
    };
    above && below
}

/// Applies `op` to the model and returns (command line, expected RESP2 reply).
fn model_apply(m: &mut Model, op: &Op) -> (String, Vec<u8>) {
    let get = |m: &Model, k: &str| m.get(k).cloned().unwrap_or_default();
    let (line, reply) = match op {
        Op::Add { key, flags, pairs } => {
            // flags: bit0 NX / bit1 XX (both: skip XX), bit2 GT, bit3 CH.
            let nx = flags & 1 != 0;
            let xx = flags & 2 != 0 && !nx;
            let gt = flags & 4 != 0 && !nx;
            let ch = flags & 8 != 0;
            let mut line = format!("zadd {}", KEYS[*key]);
            for (on, word) in [(nx, "nx"), (xx, "xx"), (gt, "gt"), (ch, "ch")] {
                if on {
                    line += " ";
                    line += word;
                }
            }
            let z = m.entry(KEYS[*key].to_string()).or_default();
            let (mut added, mut changed) = (0, 0);
            for (s, mm) in pairs {
                let (score, name) = (score_of(*s), member(*mm));
                line += &format!(" {} {name}", score_text(score));
                match z.get(&name).copied() {
                    Some(cur) => {
                        if nx || (gt && score <= cur) {
                            continue;
                        }
                        if score != cur {
                            z.insert(name, score);
                            changed += 1;
                        }
                    }
                    None if xx => {}
                    None => {
                        z.insert(name, score);
                        added += 1;
                    }
                }
            }
            (line, int(if ch { added + changed } else { added }))
        }
        Op::Incr { key, by, member: mm } => {
            let name = member(*mm);
            let line = format!("zincrby {} {by} {name}", KEYS[*key]);
            let z = m.entry(KEYS[*key].to_string()).or_default();
            let new = z.get(&name).copied().unwrap_or(0.0) + *by as f64;
            if new.is_nan() {
                (line, b"-ERR resulting score is not a number (NaN)\r\n".to_vec())
            } else {
                let new = if new == 0.0 { 0.0 } else { new };
                z.insert(name, new);
                (line, bulk(&score_text(new)))
            }
        }
        Op::Rem { key, members } => {
            let z = m.entry(KEYS[*key].to_string()).or_default();
            let names: Vec<String> = members.iter().map(|x| member(*x)).collect();
            let mut n = 0;
            for name in &names {
                n += z.remove(name).is_some() as i64;
            }
            (format!("zrem {} {}", KEYS[*key], names.join(" ")), int(n))
        }
        Op::Range { key, start, end, rev, withscores } => {
            let mut v = sorted(&get(m, KEYS[*key]));
            if *rev {
                v.reverse();
            }
            let r = rank_range(v.len(), *start, *end);
            let line = format!(
                "zrange {} {start} {end}{}{}",
                KEYS[*key],
                if *rev { " rev" } else { "" },
                if *withscores { " withscores" } else { "" }
            );
            (line, items(&v[r], *withscores))
        }
        Op::ByScore { key, min, max, rev, limit } => {
            let mut v: Vec<(String, f64)> =
                sorted(&get(m, KEYS[*key])).into_iter().filter(|(_, s)| in_bounds(*s, *min, *max)).collect();
            if *rev {
                v.reverse();
            }
            let line = if *rev {
                format!(
                    "zrevrangebyscore {} {} {} withscores{}",
                    KEYS[*key],
                    bound_text(*max),
                    bound_text(*min),
                    limit_text(*limit)
                )
            } else {
                format!(
                    "zrangebyscore {} {} {} withscores{}",
                    KEYS[*key],
                    bound_text(*min),
                    bound_text(*max),
                    limit_text(*limit)
                )
            };
            (line, items(&apply_limit(v, *limit), true))
        }
        Op::LexAdd { members } => {
            let z = m.entry("zl".to_string()).or_default();
            let names: Vec<String> = members.iter().map(|c| ((b'a' + c) as char).to_string()).collect();
            let mut added = 0;
            for n in &names {
                added += z.insert(n.clone(), 0.0).is_none() as i64;
            }
            (format!("zadd zl {}", names.iter().map(|n| format!("0 {n}")).collect::<Vec<_>>().join(" ")), int(added))
        }
        Op::ByLex { rev, min, max, limit } => {
            let mut v: Vec<(String, f64)> =
                sorted(&get(m, "zl")).into_iter().filter(|(n, _)| lex_ok(n, *min, *max)).collect();
            if *rev {
                v.reverse();
            }
            let line = if *rev {
                format!("zrevrangebylex zl {} {}{}", lex_item(*max), lex_item(*min), limit_text(*limit))
            } else {
                format!("zrangebylex zl {} {}{}", lex_item(*min), lex_item(*max), limit_text(*limit))
            };
            (line, items(&apply_limit(v, *limit), false))
        }
        Op::Count { key, min, max } => {
            let n = get(m, KEYS[*key]).values().filter(|s| in_bounds(**s, *min, *max)).count();
            (format!("zcount {} {} {}", KEYS[*key], bound_text(*min), bound_text(*max)), int(n as i64))
        }
        Op::Rank { key, member: mm, rev } => {
            let mut v = sorted(&get(m, KEYS[*key]));
            if *rev {
                v.reverse();
            }
            let name = member(*mm);
            let r = v.iter().position(|(n, _)| *n == name).map_or_else(null, |i| int(i as i64));
            (format!("{} {} {name}", if *rev { "zrevrank" } else { "zrank" }, KEYS[*key]), r)
        }
        Op::Score { key, member: mm } => {
            let name = member(*mm);
            let r = get(m, KEYS[*key]).get(&name).map_or_else(null, |s| bulk(&score_text(*s)));
            (format!("zscore {} {name}", KEYS[*key]), r)
        }
        Op::Card { key } => (format!("zcard {}", KEYS[*key]), int(get(m, KEYS[*key]).len() as i64)),
        Op::Pop { key, max, count } => {
            let mut v = sorted(&get(m, KEYS[*key]));
            if *max {
                v.reverse();
            }
            let n = count.unwrap_or(1).min(v.len() as i64) as usize;
            let taken: Vec<(String, f64)> = v[..n].to_vec();
            let z = m.entry(KEYS[*key].to_string()).or_default();
            for (name, _) in &taken {
                z.remove(name);
            }
            let name = if *max { "zpopmax" } else { "zpopmin" };
            let line = count.map_or(format!("{name} {}", KEYS[*key]), |c| format!("{name} {} {c}", KEYS[*key]));
            (line, items(&taken, true))
        }
        Op::RemRank { key, start, end } => {
            let v = sorted(&get(m, KEYS[*key]));
            let r = rank_range(v.len(), *start, *end);
            let z = m.entry(KEYS[*key].to_string()).or_default();
            for (name, _) in &v[r.clone()] {
                z.remove(name);
            }
            (format!("zremrangebyrank {} {start} {end}", KEYS[*key]), int(r.len() as i64))
        }
        Op::RemScore { key, min, max } => {
            let z = m.entry(KEYS[*key].to_string()).or_default();
            let before = z.len();
            z.retain(|_, s| !in_bounds(*s, *min, *max));
            let n = before - z.len();
            (format!("zremrangebyscore {} {} {}", KEYS[*key], bound_text(*min), bound_text(*max)), int(n as i64))
        }
        Op::Store { dst, inter, a, b, wa, wb, agg } => {
            let (za, zb) = (get(m, KEYS[*a]), get(m, KEYS[*b]));
            let (wa, wb) = (*wa as f64, *wb as f64);
            let agg_name = ["sum", "min", "max"][*agg as usize];
            let combine = |x: f64, y: f64| -> f64 {
                match agg {
                    0 => {
                        let s = x + y;
                        if s.is_nan() {
                            0.0
                        } else {
                            s
                        }
                    }
                    1 => {
                        if y < x {
                            y
                        } else {
                            x
                        }
                    }
                    _ => {
                        if y > x {
                            y
                        } else {
                            x
                        }
                    }
                }
            };
            let weighted = |s: f64, w: f64| {
                let v = s * w;
                if v.is_nan() {
                    0.0
                } else {
                    v
                }
            };
            // Redis combines the smaller input first (stable for equal sizes).
            let (first, fw, second, sw) = if zb.len() < za.len() { (&zb, wb, &za, wa) } else { (&za, wa, &zb, wb) };
            let mut out: BTreeMap<String, f64> = BTreeMap::new();
            if *inter {
                for (name, s) in first {
                    if let Some(t) = second.get(name) {
                        out.insert(name.clone(), combine(weighted(*s, fw), t * sw));
                    }
                }
            } else {
                for (name, s) in first {
                    out.insert(name.clone(), weighted(*s, fw));
                }
                for (name, s) in second {
                    let v = weighted(*s, sw);
                    let e = out.get(name).map_or(v, |cur| combine(*cur, v));
                    out.insert(name.clone(), e);
                }
            }
            for v in out.values_mut() {
                if *v == 0.0 {
                    *v = 0.0;
                }
            }
            let line = format!(
                "{} {} 2 {} {} weights {} {} aggregate {agg_name}",
                if *inter { "zinterstore" } else { "zunionstore" },
                KEYS[*dst],
                KEYS[*a],
                KEYS[*b],
                wa,
                wb
            );
            let n = out.len() as i64;
            m.insert(KEYS[*dst].to_string(), out);
            (line, int(n))
        }
    };
    m.retain(|_, z| !z.is_empty());
    (line, reply)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn zsets_behave_like_a_btreemap_model(ops in prop::collection::vec(op_strategy(), 1..60)) {
        let server = Server::new();
        let mut model: Model = HashMap::new();
        for op in &ops {
            let (line, expected) = model_apply(&mut model, op);
            let got = server.run(&line, false);
            prop_assert_eq!(show(&got), show(&expected), "`{}`", line);
            for name in KEYS.iter().chain(["zl"].iter()) {
                let want = model.get(*name).map_or(0, |z| z.len());
                let card = server.run(&format!("zcard {name}"), false);
                prop_assert_eq!(show(&card), show(&int(want as i64)), "after `{}`, zcard {}", line, name);
                let exists = server.run(&format!("exists {name}"), false);
                prop_assert_eq!(show(&exists), show(&int((want > 0) as i64)), "after `{}`, exists {}", line, name);
            }
        }
    }
}
