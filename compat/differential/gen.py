"""Seeded random command generators, one per command group, for differential testing.

Owns: what commands are sent and how each reply must be compared (Op.mode). A generator draws only from its own
random.Random, never from replies or the clock's randomness, so a (group, seed) pair always yields the same
stream (the one exception is absolute expire times, computed from the wall clock so that they stay in the future).
Must never generate a command whose reply legitimately differs between two correct servers unless it names a
mode that tolerates exactly that difference, and never a command that can block for long, stop or reconfigure the
server (no timeout 0 on blocking commands, no DEBUG, SHUTDOWN, CLIENT PAUSE/KILL, CONFIG SET; the one exception is the
evict group, which switches maxmemory and maxmemory-policy and has run.py restore both after its stream, see
GROUP_SETUP / GROUP_TEARDOWN).

Modes (see compare.py): exact, unordered, unordered_pairs, random, spop, ttl, time, info, hello, scan,
command_info, command_docs.
"""
import hashlib
import time

# A small key space, all with the same hash tag so that multi-key commands stay valid in cluster mode too; keys
# collide across types on purpose.
KEYS = [b"{k}1", b"{k}2", b"{k}3", b"{k}4", b"{k}5", b"{k}6"]
MISSING_KEY = b"{k}missing"
STRINGS = [b"a", b"b", b"abc", b"hello world", b"", b"0", b"1", b"-1", b"10", b"3.5", b"1e3", b"x" * 60,
           b"\x00bin\xffary", b"line\r\nbreak", "\u00e9t\u00e9".encode(), b"9223372036854775807",
           b"-9223372036854775808", b"123456789012345678901"]
INTS = [b"0", b"1", b"-1", b"2", b"3", b"5", b"7", b"10", b"100", b"-100", b"1000000"]
EDGE_INTS = [b"9223372036854775807", b"-9223372036854775808", b"4611686018427387904", b"-4611686018427387904"]
BAD_INTS = [b"abc", b"1.5", b"", b" 1", b"1 ", b"9223372036854775808", b"-9223372036854775809", b"0x10", b"+1",
            b"01", b"1e3", b"--1", b"-0", b"1a"]
FLOATS = [b"0", b"1", b"-1", b"1.5", b"-2.25", b"0.1", b"3e2", b"1e-5", b"10", b"2.5", b"-0", b".5", b"5.",
          b"1.0000000000000002", b"123456789.123456789", b"1e300", b"0x10", b"inf", b"-inf", b"+inf", b"7"]
BAD_FLOATS = [b"abc", b"nan", b"", b" 1", b"1 ", b"1e500", b"-1e500", b"1.5.5", b"--1", b"inf1", b"1,5"]
FIELDS = [b"f1", b"f2", b"f3", b"f4", b"a", b"", b"\x00f", b"field-with-a-long-name-0123456789"]
LIST_ELEMENTS = [b"a", b"b", b"c", b"1", b"2", b"", b"x" * 70, b"-1"]
SET_MEMBERS = [b"1", b"2", b"3", b"10", b"-5", b"100", b"a", b"b", b"c", b"", b"9223372036854775807", b"x" * 70]
ZSET_MEMBERS = [b"a", b"b", b"c", b"d", b"e", b"aa", b"", b"1", b"b\x00"]
PATTERNS = [b"*", b"{k}*", b"{k}?", b"*1", b"{k}[1-3]", b"{k}[^1-3]", b"\\{k\\}1", b"nomatch*", b"{k}1", b"*[",
            b"{k}[", b"\\*", b"{k}[a-]", b"?", b"*{k}*", b"{k}[135]", b"*[2-4]*", b"{k}\\[1"]
JUNK_ARGS = [b"junk", b"-1", b"abc", b"NX"]


class Op:
    """One step of a stream: args to send, how to compare the replies, and mode-specific details."""

    __slots__ = ("args", "mode", "info", "mutable")

    def __init__(self, args, mode="exact", mutable=True, **info):
        self.args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.mode = mode
        self.info = info
        self.mutable = mutable


class Gen:
    def __init__(self, rng):
        self.r = rng

    # --- argument helpers -------------------------------------------------------------------------------------
    def chance(self, p):
        return self.r.random() < p

    def pick(self, seq):
        return seq[self.r.randrange(len(seq))]

    def key(self):
        return MISSING_KEY if self.chance(0.03) else self.pick(KEYS)

    def keys(self, lo, hi):
        return [self.key() for _ in range(self.r.randint(lo, hi))]

    def string(self):
        return self.pick(STRINGS)

    def int_arg(self, lo=-5, hi=10, bad=0.07, edge=0.03):
        if self.chance(bad):
            return self.pick(BAD_INTS)
        if self.chance(edge):
            return self.pick(EDGE_INTS)
        return str(self.r.randint(lo, hi)).encode()

    def float_arg(self, bad=0.07):
        if self.chance(bad):
            return self.pick(BAD_FLOATS)
        if self.chance(0.5):
            return self.pick(FLOATS)
        return str(self.r.randint(-20, 20)).encode()

    def count_arg(self, lo=-3, hi=6, bad=0.06, edge=0.02):
        return self.int_arg(lo, hi, bad=bad, edge=edge)

    def random_count(self, lo, hi):
        # No huge values: Redis 7.0.15 answers HRANDFIELD/SRANDMEMBER/ZRANDMEMBER key -4611686018427387904 by
        # trying to build a reply that long.
        return self.count_arg(lo, hi, edge=0.0)

    def ttl_seconds(self):
        # Long enough that nothing expires while a stream runs (that would race between the two servers); zero,
        # negative, overflowing and bad values exercise the errors and the delete-at-once paths.
        if self.chance(0.12):
            return self.pick([b"0", b"-5", b"9223372036854775807", b"abc", b"1.5", b"-9223372036854775808"])
        return str(self.r.randint(100, 100000)).encode()

    def ttl_millis(self):
        if self.chance(0.12):
            return self.pick([b"0", b"-5", b"9223372036854775807", b"abc", b"100.5"])
        return str(self.r.randint(100000, 100000000)).encode()

    def unix_seconds(self):
        if self.chance(0.15):
            return self.pick([b"1", b"0", b"-1", b"abc", b"9223372036854775807"])  # past (deletes) or invalid
        return str(int(time.time()) + self.r.randint(1000, 100000)).encode()

    def unix_millis(self):
        if self.chance(0.15):
            return self.pick([b"1", b"0", b"-1", b"abc"])
        return str(int(time.time() * 1000) + self.r.randint(1000000, 100000000)).encode()

    def block_timeout(self):
        # Never 0 (block forever). Short, so a wait on an empty key costs milliseconds.
        if self.chance(0.08):
            return self.pick([b"-1", b"abc", b"1e500", b"-0.5"])
        return self.pick([b"0.01", b"0.02", b"0.01", b"0.05"])

    def shuffled(self, items):
        items = list(items)
        self.r.shuffle(items)
        return items

    def case(self, word):
        """Options are case-insensitive in Redis; vary the case now and then."""
        if isinstance(word, str):
            word = word.encode()
        return word.lower() if self.chance(0.15) else word

    # --- shared ops -------------------------------------------------------------------------------------------
    def foreign_write(self):
        """Writes a value of a random type to a random key, so every group meets keys of other types."""
        k = self.key()
        kind = self.r.randrange(5)
        if kind == 0:
            return Op([b"SET", k, self.string()])
        if kind == 1:
            return Op([b"RPUSH", k] + [self.pick(LIST_ELEMENTS) for _ in range(self.r.randint(1, 3))])
        if kind == 2:
            return Op([b"HSET", k, self.pick(FIELDS), self.string()])
        if kind == 3:
            return Op([b"SADD", k] + [self.pick(SET_MEMBERS) for _ in range(self.r.randint(1, 3))])
        return Op([b"ZADD", k, self.float_arg(bad=0.0), self.pick(ZSET_MEMBERS)])

    def delete(self):
        return Op([b"DEL"] + self.keys(1, 2))

    def type_of(self):
        return Op([b"TYPE", self.key()])

    def mutate(self, op):
        """Wrong arity and stray arguments: drop trailing arguments or append one."""
        info = dict(op.info)
        if "ordered" in info:
            info["ordered"] = False  # "COMMAND INFO get" cut short is "COMMAND INFO": every command, any order
        if len(op.args) > 1 and self.chance(0.6):
            args = op.args[:self.r.randint(1, len(op.args) - 1)]
            if [a.upper() for a in args] == [b"COMMAND"]:
                # Cut down to plain COMMAND: every command, in the server's hash-table order.
                return Op(args, "command_info", ordered=False)
            return Op(args, op.mode, **info)
        return Op(op.args + [self.pick(JUNK_ARGS)], op.mode, **info)

    def next_op(self, group_ops):
        if self.chance(0.05):
            return self.foreign_write()
        if self.chance(0.03):
            return self.delete()
        if self.chance(0.02):
            return self.type_of()
        op = weighted(self.r, group_ops)(self)
        if op.mutable and self.chance(0.04):
            op = self.mutate(op)
        return op


def weighted(rng, table):
    total = sum(w for w, _ in table)
    x = rng.random() * total
    for w, fn in table:
        x -= w
        if x < 0:
            return fn
    return table[-1][1]


def expire_option(g):
    """NX/XX/GT/LT, sometimes two of them (which is an error for most pairs)."""
    opts = []
    if g.chance(0.4):
        opts.append(g.case(g.pick(["NX", "XX", "GT", "LT"])))
        if g.chance(0.2):
            opts.append(g.case(g.pick(["NX", "XX", "GT", "LT", "FOO"])))
    return opts


def random_op(args, pre, k, pre_k, count=None):
    """A reply drawn at random from a key's content: compared by shape and membership (compare.py)."""
    distinct = True
    if count is not None:
        try:
            distinct = int(count) >= 0
        except ValueError:
            distinct = True
    # Dropping WITHVALUES/WITHSCORES would change what the reply's elements are, so pairs are never mutated.
    return Op(args, "random", mutable=(k == 1), pre=pre, k=k, pre_k=pre_k, distinct=distinct)


# === string ========================================================================================================
def s_set(g):
    args = [b"SET", g.key(), g.string()]
    choices = ["NX", "XX", "GET", "EX", "PX", "EXAT", "PXAT", "KEEPTTL"]
    for opt in g.r.sample(choices, g.r.choice([0, 0, 1, 1, 1, 2, 2, 3])):
        args.append(g.case(opt))
        if opt == "EX":
            args.append(g.ttl_seconds())
        elif opt == "PX":
            args.append(g.ttl_millis())
        elif opt == "EXAT":
            args.append(g.unix_seconds())
        elif opt == "PXAT":
            args.append(g.unix_millis())
    if g.chance(0.02):
        args.append(b"FOO")
    return Op(args)


def s_getex(g):
    args = [b"GETEX", g.key()]
    opt = g.pick(["", "", "EX", "PX", "EXAT", "PXAT", "PERSIST"])
    if opt:
        args.append(g.case(opt))
    if opt == "EX":
        args.append(g.ttl_seconds())
    elif opt == "PX":
        args.append(g.ttl_millis())
    elif opt == "EXAT":
        args.append(g.unix_seconds())
    elif opt == "PXAT":
        args.append(g.unix_millis())
    return Op(args)


def s_mset(g):
    args = [b"MSET"]
    for _ in range(g.r.randint(1, 3)):
        args += [g.key(), g.string()]
    return Op(args)


def s_msetnx(g):
    args = [b"MSETNX"]
    for _ in range(g.r.randint(1, 3)):
        args += [g.key(), g.string()]
    return Op(args)


def s_lcs(g):
    args = [b"LCS", g.key(), g.key()]
    for opt in g.r.sample(["LEN", "IDX", "MINMATCHLEN", "WITHMATCHLEN"], g.r.choice([0, 1, 1, 2, 3])):
        args.append(g.case(opt))
        if opt == "MINMATCHLEN":
            args.append(g.int_arg(-1, 4))
    return Op(args)


def s_setrange(g):
    offset = g.int_arg(0, 20)
    if g.chance(0.03):
        offset = g.pick([b"-1", b"536870912", b"536870911"])
    value = g.string()
    if offset == b"536870911":
        value = b""  # a zero-length write at a huge offset is a no-op, but a real one would allocate 512 MB
    return Op([b"SETRANGE", g.key(), offset, value])


STRING_OPS = [
    (14, s_set),
    (8, lambda g: Op([b"GET", g.key()])),
    (2, lambda g: Op([b"GETSET", g.key(), g.string()])),
    (2, lambda g: Op([b"GETDEL", g.key()])),
    (4, s_getex),
    (2, lambda g: Op([b"SETNX", g.key(), g.string()])),
    (3, lambda g: Op([b"SETEX", g.key(), g.ttl_seconds(), g.string()])),
    (2, lambda g: Op([b"PSETEX", g.key(), g.ttl_millis(), g.string()])),
    (3, s_mset),
    (2, s_msetnx),
    (4, lambda g: Op([b"MGET"] + g.keys(1, 4))),
    (4, lambda g: Op([b"APPEND", g.key(), g.string()])),
    (3, lambda g: Op([b"STRLEN", g.key()])),
    (3, lambda g: Op([b"INCR", g.key()])),
    (2, lambda g: Op([b"DECR", g.key()])),
    (4, lambda g: Op([b"INCRBY", g.key(), g.int_arg(-100, 100, edge=0.1)])),
    (2, lambda g: Op([b"DECRBY", g.key(), g.int_arg(-100, 100, edge=0.1)])),
    (4, lambda g: Op([b"INCRBYFLOAT", g.key(), g.float_arg()])),
    (4, lambda g: Op([b"GETRANGE", g.key(), g.int_arg(-12, 12), g.int_arg(-12, 12)])),
    (4, s_setrange),
    (1, lambda g: Op([b"SUBSTR", g.key(), g.int_arg(-5, 5), g.int_arg(-5, 5)])),
    (2, s_lcs),
    (2, lambda g: Op([b"TTL", g.key()], "ttl", tolerance=2)),
    (1, lambda g: Op([b"EXISTS"] + g.keys(1, 3))),
]


# === generic =======================================================================================================
def gen_expire(g):
    cmd = g.pick(["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
    value = {"EXPIRE": g.ttl_seconds, "PEXPIRE": g.ttl_millis, "EXPIREAT": g.unix_seconds,
             "PEXPIREAT": g.unix_millis}[cmd]()
    return Op([g.case(cmd), g.key(), value] + expire_option(g))


def gen_ttl(g):
    cmd, tolerance = g.pick([("TTL", 2), ("PTTL", 2000), ("EXPIRETIME", 2), ("PEXPIRETIME", 2000)])
    return Op([cmd, g.key()], "ttl", tolerance=tolerance)


def gen_copy(g):
    args = [b"COPY", g.key(), g.key()]
    for opt in g.r.sample(["DB", "REPLACE"], g.r.choice([0, 1, 2])):
        args.append(g.case(opt))
        if opt == "DB":
            args.append(g.pick([b"0", b"1", b"2", b"16", b"-1", b"abc"]))
    return Op(args)


def gen_scan(g):
    tail = []
    for opt in g.r.sample(["MATCH", "COUNT", "TYPE"], g.r.choice([0, 1, 1, 2, 3])):
        tail.append(g.case(opt))
        if opt == "MATCH":
            tail.append(g.pick(PATTERNS))
        elif opt == "COUNT":
            tail.append(g.pick([b"1", b"2", b"10", b"1000", b"0", b"-1", b"abc"]))
        else:
            tail.append(g.pick([b"string", b"list", b"set", b"zset", b"hash", b"stream", b"nosuchtype"]))
    cursor = b"abc" if g.chance(0.03) else b"0"
    return Op([b"SCAN"], "scan", mutable=False, key=None, tail=tail, k=1, first_cursor=cursor)


def gen_object(g):
    return Op([b"OBJECT", b"FREQ" if g.chance(0.5) else b"NOSUCHSUB", g.key()])


def crc64_redis(data):
    """Redis's CRC64 (Jones polynomial, reflected), for building payloads with valid footers."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x95AC9329AC4BC9B5 if crc & 1 else 0)
    return crc


def with_footer(obj, version=10):
    body = obj + version.to_bytes(2, "little")
    return body + crc64_redis(body).to_bytes(8, "little")


# Object encodings as redis-server 7.0.15 writes them (DUMP without the footer): a string, an int-encoded
# string, a listpack hash, a quicklist, an intset, a listpack zset, a plain set.
RESTORE_OBJECTS = [
    b"\x00\x05hello",
    b"\x00\xc190",
    b"\x10\x0c\x0c\x00\x00\x00\x02\x00\x81a\x02\x01\x01\xff",
    b"\x12\x01\x02\x16\x16\x00\x00\x00\x04\x00\x81a\x02\x01\x01\xdf\x9c\x02\x85hello\x06\xff",
    b"\x0b\x14\x04\x00\x00\x00\x03\x00\x00\x00\xff\xff\xff\xff\x03\x00\x00\x00\xa0\x86\x01\x00",
    b"\x11\x19\x19\x00\x00\x00\x06\x00\x81c\x02\x00\x01\x81a\x02\x01\x01\x81b\x02\x832.5\x04\xff",
    b"\x02\x02\x01x\x01y",
]
# Payloads that test RESTORE's checks: bad checksum, newer RDB version, too short, an unknown type, a set with a
# duplicate member, an empty set; and two Redis accepts because it reads the object from the whole payload, footer
# included: a string longer than its object (it takes footer bytes) and trailing bytes (ignored).
RESTORE_BAD = [
    with_footer(RESTORE_OBJECTS[0])[:-1] + b"\x00",
    with_footer(RESTORE_OBJECTS[0], version=11),
    b"\x00\x01",
    with_footer(b"\x00\x09hel"),
    with_footer(b"\x63\x00"),
    with_footer(b"\x02\x02\x01x\x01x"),
    with_footer(b"\x02\x00"),
    with_footer(RESTORE_OBJECTS[0] + b"zz"),
]


def gen_restore(g):
    payload = with_footer(g.pick(RESTORE_OBJECTS)) if g.chance(0.7) else g.pick(RESTORE_BAD)
    # No TTL of a few ms: whether the key is still there at the next command would be a race.
    ttl = g.pick([b"0", b"0", b"100000", b"-1", b"abc", str(int(time.time() * 1000) + 100000).encode()])
    # RESTORE-ASKING is RESTORE under the name MIGRATE uses in cluster mode.
    args = [g.pick([b"RESTORE", b"RESTORE", b"RESTORE-ASKING"]), g.key(), ttl, payload]
    for _ in range(g.r.randint(0, 2)):
        args += g.pick([[b"REPLACE"], [b"ABSTTL"], [b"IDLETIME", g.pick([b"10", b"-1", b"x"])],
                        [b"FREQ", g.pick([b"5", b"256", b"-1"])], [b"JUNK"], [b"IDLETIME"]])
    return Op(args)


def gen_migrate(g):
    # Only a target that cannot answer (port 1 of the loopback, closed), so the replies are fixed (argument errors,
    # NOKEY, IOERR) and no third server is needed. Not mutated: a mutated host would be a DNS lookup.
    keys = g.keys(1, 3)
    args = [b"MIGRATE", b"127.0.0.1", b"1", g.pick([keys[0], b""]), g.pick([b"0", b"3", b"-1", b"x"]),
            g.pick([b"100", b"100", b"0", b"abc"])]
    for _ in range(g.r.randint(0, 2)):
        args += g.pick([[b"COPY"], [b"REPLACE"], [b"AUTH", b"pw"], [b"AUTH2", b"u", b"pw"], [b"AUTH"], [b"JUNK"]])
    if g.chance(0.5):
        args += [b"KEYS"] + keys
    return Op(args, mutable=False)


GENERIC_OPS = [
    (4, lambda g: g.foreign_write()),
    (3, lambda g: Op([b"DEL"] + g.keys(1, 3))),
    (2, lambda g: Op([b"UNLINK"] + g.keys(1, 3))),
    (3, lambda g: Op([b"EXISTS"] + g.keys(1, 4))),
    (7, gen_expire),
    (6, gen_ttl),
    (2, lambda g: Op([b"PERSIST", g.key()])),
    (3, lambda g: Op([b"TYPE", g.key()])),
    (3, lambda g: Op([b"RENAME", g.key(), g.key()])),
    (2, lambda g: Op([b"RENAMENX", g.key(), g.key()])),
    (3, gen_copy),
    (4, lambda g: Op([b"KEYS", g.pick(PATTERNS)], "unordered")),
    (2, lambda g: Op([b"DBSIZE"])),
    (2, lambda g: random_op([b"RANDOMKEY"], pre=[b"KEYS", b"*"], k=1, pre_k=1)),
    (2, lambda g: Op([b"TOUCH"] + g.keys(1, 3))),
    (2, lambda g: Op([b"MOVE", g.key(), g.pick([b"1", b"2", b"0", b"16", b"-1", b"abc"])])),
    (3, gen_scan),
    (1, gen_object),
    (3, gen_restore),
    (1, gen_migrate),
    (1, lambda g: Op([b"EXISTS", g.key()])),
]


# === hash ==========================================================================================================
def h_pairs(g, cmd, lo=1, hi=3):
    args = [cmd, g.key()]
    for _ in range(g.r.randint(lo, hi)):
        args += [g.pick(FIELDS), g.string()]
    if g.chance(0.03):
        args.append(g.pick(FIELDS))  # odd number of field/value arguments
    return Op(args)


def h_randfield(g):
    k = g.key()
    if g.chance(0.25):
        return random_op([b"HRANDFIELD", k], pre=[b"HGETALL", k], k=1, pre_k=2)
    count = g.random_count(-6, 6)
    if g.chance(0.4):
        return random_op([b"HRANDFIELD", k, count, g.case("WITHVALUES")], pre=[b"HGETALL", k], k=2, pre_k=2,
                         count=count)
    return random_op([b"HRANDFIELD", k, count], pre=[b"HGETALL", k], k=1, pre_k=2, count=count)


def h_scan(g):
    tail = []
    if g.chance(0.4):
        tail += [g.case("MATCH"), g.pick([b"f*", b"*", b"?", b"[a-f]*", b"nomatch"])]
    if g.chance(0.4):
        tail += [g.case("COUNT"), g.pick([b"1", b"2", b"100", b"0"])]
    return Op([b"HSCAN"], "scan", mutable=False, key=g.key(), tail=tail, k=2, first_cursor=b"0")


HASH_OPS = [
    (12, lambda g: h_pairs(g, b"HSET")),
    (3, lambda g: Op([b"HSETNX", g.key(), g.pick(FIELDS), g.string()])),
    (3, lambda g: h_pairs(g, b"HMSET")),
    (8, lambda g: Op([b"HGET", g.key(), g.pick(FIELDS)])),
    (4, lambda g: Op([b"HMGET", g.key()] + [g.pick(FIELDS) for _ in range(g.r.randint(1, 4))])),
    (4, lambda g: Op([b"HDEL", g.key()] + [g.pick(FIELDS) for _ in range(g.r.randint(1, 3))])),
    (3, lambda g: Op([b"HLEN", g.key()])),
    (3, lambda g: Op([b"HSTRLEN", g.key(), g.pick(FIELDS)])),
    (3, lambda g: Op([b"HEXISTS", g.key(), g.pick(FIELDS)])),
    (5, lambda g: Op([b"HINCRBY", g.key(), g.pick(FIELDS), g.int_arg(-100, 100, edge=0.1)])),
    (4, lambda g: Op([b"HINCRBYFLOAT", g.key(), g.pick(FIELDS), g.float_arg()])),
    (3, lambda g: Op([b"HKEYS", g.key()], "unordered")),
    (3, lambda g: Op([b"HVALS", g.key()], "unordered")),
    (4, lambda g: Op([b"HGETALL", g.key()], "unordered_pairs")),
    (4, h_randfield),
    (2, h_scan),
]


# === list ==========================================================================================================
def l_push(g, cmd):
    return Op([cmd, g.key()] + [g.pick(LIST_ELEMENTS) for _ in range(g.r.randint(1, 4))])


def l_pop(g, cmd):
    args = [cmd, g.key()]
    if g.chance(0.4):
        args.append(g.count_arg(-1, 5))
    return Op(args)


def l_insert(g):
    where = g.pick([b"BEFORE", b"AFTER", b"before", b"MIDDLE"])
    return Op([b"LINSERT", g.key(), where, g.pick(LIST_ELEMENTS), g.pick(LIST_ELEMENTS)])


def l_pos(g):
    args = [b"LPOS", g.key(), g.pick(LIST_ELEMENTS)]
    for opt in g.r.sample(["RANK", "COUNT", "MAXLEN"], g.r.choice([0, 1, 1, 2, 3])):
        args.append(g.case(opt))
        if opt == "RANK":
            args.append(g.int_arg(-3, 3, edge=0.05))
        elif opt == "COUNT":
            args.append(g.count_arg(-1, 4))
        else:
            args.append(g.count_arg(-1, 6))
    return Op(args)


def direction(g):
    return g.pick([b"LEFT", b"RIGHT", b"left", b"right", b"UP"] if g.chance(0.05) else [b"LEFT", b"RIGHT"])


def l_mpop(g, blocking):
    keys = g.keys(1, 3)
    numkeys = str(len(keys)).encode()
    if g.chance(0.06):
        numkeys = g.pick([b"0", b"-1", b"abc", b"10"])
    args = ([b"BLMPOP", g.block_timeout()] if blocking else [b"LMPOP"]) + [numkeys] + keys + [direction(g)]
    if g.chance(0.5):
        args += [g.case("COUNT"), g.count_arg(0, 4)]
    return Op(args)


LIST_OPS = [
    (10, lambda g: l_push(g, b"RPUSH")),
    (8, lambda g: l_push(g, b"LPUSH")),
    (2, lambda g: l_push(g, b"LPUSHX")),
    (2, lambda g: l_push(g, b"RPUSHX")),
    (4, lambda g: l_pop(g, b"LPOP")),
    (4, lambda g: l_pop(g, b"RPOP")),
    (3, lambda g: Op([b"LLEN", g.key()])),
    (4, lambda g: Op([b"LINDEX", g.key(), g.int_arg(-6, 6)])),
    (3, lambda g: Op([b"LSET", g.key(), g.int_arg(-6, 6), g.pick(LIST_ELEMENTS)])),
    (6, lambda g: Op([b"LRANGE", g.key(), g.int_arg(-8, 8), g.int_arg(-8, 8)])),
    (2, lambda g: Op([b"LTRIM", g.key(), g.int_arg(-8, 8), g.int_arg(-8, 8)])),
    (3, l_insert),
    (3, lambda g: Op([b"LREM", g.key(), g.int_arg(-3, 3), g.pick(LIST_ELEMENTS)])),
    (4, l_pos),
    (3, lambda g: Op([b"LMOVE", g.key(), g.key(), direction(g), direction(g)])),
    (2, lambda g: Op([b"RPOPLPUSH", g.key(), g.key()])),
    (3, lambda g: l_mpop(g, False)),
    (3, lambda g: Op([b"BLPOP"] + g.keys(1, 3) + [g.block_timeout()])),
    (3, lambda g: Op([b"BRPOP"] + g.keys(1, 3) + [g.block_timeout()])),
    (2, lambda g: Op([b"BLMOVE", g.key(), g.key(), direction(g), direction(g), g.block_timeout()])),
    (2, lambda g: Op([b"BRPOPLPUSH", g.key(), g.key(), g.block_timeout()])),
    (2, lambda g: l_mpop(g, True)),
]


# === set ===========================================================================================================
def set_members(g, lo=1, hi=4):
    return [g.pick(SET_MEMBERS) for _ in range(g.r.randint(lo, hi))]


def s_randmember(g):
    k = g.key()
    if g.chance(0.3):
        return random_op([b"SRANDMEMBER", k], pre=[b"SMEMBERS", k], k=1, pre_k=1)
    count = g.random_count(-8, 8)
    return random_op([b"SRANDMEMBER", k, count], pre=[b"SMEMBERS", k], k=1, pre_k=1, count=count)


def s_pop(g):
    k = g.key()
    args = [b"SPOP", k]
    if g.chance(0.5):
        args.append(g.random_count(0, 4))
    return Op(args, "spop", mutable=False, pre=[b"SMEMBERS", k], k=1, pre_k=1, distinct=True, key=k)


def s_intercard(g):
    keys = g.keys(1, 3)
    numkeys = str(len(keys)).encode()
    if g.chance(0.08):
        numkeys = g.pick([b"0", b"-1", b"abc", b"5"])
    args = [b"SINTERCARD", numkeys] + keys
    if g.chance(0.4):
        args += [g.case("LIMIT"), g.count_arg(-1, 4)]
    return Op(args)


def s_scan(g):
    tail = []
    if g.chance(0.4):
        tail += [g.case("MATCH"), g.pick([b"1*", b"*", b"?", b"[a-c]", b"nomatch"])]
    if g.chance(0.4):
        tail += [g.case("COUNT"), g.pick([b"1", b"2", b"100"])]
    return Op([b"SSCAN"], "scan", mutable=False, key=g.key(), tail=tail, k=1, first_cursor=b"0")


SET_OPS = [
    (14, lambda g: Op([b"SADD", g.key()] + set_members(g))),
    (5, lambda g: Op([b"SREM", g.key()] + set_members(g))),
    (4, lambda g: Op([b"SMEMBERS", g.key()], "unordered")),
    (3, lambda g: Op([b"SISMEMBER", g.key(), g.pick(SET_MEMBERS)])),
    (3, lambda g: Op([b"SMISMEMBER", g.key()] + set_members(g))),
    (3, lambda g: Op([b"SCARD", g.key()])),
    (4, s_pop),
    (4, s_randmember),
    (3, lambda g: Op([b"SMOVE", g.key(), g.key(), g.pick(SET_MEMBERS)])),
    (3, lambda g: Op([b"SINTER"] + g.keys(1, 3), "unordered")),
    (3, lambda g: Op([b"SUNION"] + g.keys(1, 3), "unordered")),
    (3, lambda g: Op([b"SDIFF"] + g.keys(1, 3), "unordered")),
    (2, lambda g: Op([b"SINTERSTORE", g.key()] + g.keys(1, 3))),
    (2, lambda g: Op([b"SUNIONSTORE", g.key()] + g.keys(1, 3))),
    (2, lambda g: Op([b"SDIFFSTORE", g.key()] + g.keys(1, 3))),
    (2, s_intercard),
    (2, s_scan),
]


# === sorted set ====================================================================================================
def score_range(g):
    if g.chance(0.06):
        return g.pick([b"abc", b"((1", b"", b"nan", b"(nan"])
    v = g.pick([b"-inf", b"+inf", b"inf", b"0", b"1", b"1.5", b"2", b"5", b"-1", b"10", b"-2.25"])
    return (b"(" + v) if g.chance(0.3) else v


def lex_range(g):
    if g.chance(0.06):
        return g.pick([b"a", b"", b"{a", b"(", b"[", b"inf"])
    if g.chance(0.2):
        return g.pick([b"-", b"+"])
    return g.pick([b"[", b"("]) + g.pick(ZSET_MEMBERS)


def z_add(g):
    args = [b"ZADD", g.key()]
    for opt in g.r.sample(["NX", "XX", "GT", "LT", "CH", "INCR"], g.r.choice([0, 0, 0, 1, 1, 2])):
        args.append(g.case(opt))
    for _ in range(g.r.randint(1, 3)):
        args += [g.float_arg(bad=0.05), g.pick(ZSET_MEMBERS)]
    return Op(args)


def z_range(g):
    k = g.key()
    mode = g.pick(["rank", "rank", "score", "lex"])
    if mode == "rank":
        args = [b"ZRANGE", k, g.int_arg(-6, 6), g.int_arg(-6, 6)]
    elif mode == "score":
        args = [b"ZRANGE", k, score_range(g), score_range(g), g.case("BYSCORE")]
    else:
        args = [b"ZRANGE", k, lex_range(g), lex_range(g), g.case("BYLEX")]
    if g.chance(0.3):
        args.append(g.case("REV"))
    if g.chance(0.3):
        args += [g.case("LIMIT"), g.int_arg(-1, 3), g.int_arg(-1, 4)]
    if g.chance(0.4):
        args.append(g.case("WITHSCORES"))
    return Op(args)


def z_rangestore(g):
    op = z_range(g)
    args = [b"ZRANGESTORE", g.key()] + [a for a in op.args[1:] if a.upper() != b"WITHSCORES"]
    return Op(args)


def z_by(g, cmd, lex):
    args = [cmd, g.key()]
    args += [lex_range(g), lex_range(g)] if lex else [score_range(g), score_range(g)]
    if not lex and g.chance(0.4):
        args.append(g.case("WITHSCORES"))
    if g.chance(0.3):
        args += [g.case("LIMIT"), g.int_arg(-1, 3), g.int_arg(-1, 4)]
    return Op(args)


def z_combine(g, cmd, store, allow_weights=True, withscores=True):
    keys = g.keys(1, 3)
    numkeys = str(len(keys)).encode()
    if g.chance(0.06):
        numkeys = g.pick([b"0", b"-1", b"abc", b"7"])
    args = [cmd] + ([g.key()] if store else []) + [numkeys] + keys
    if allow_weights and g.chance(0.35):
        args.append(g.case("WEIGHTS"))
        args += [g.float_arg(bad=0.04) for _ in range(len(keys) if g.chance(0.9) else len(keys) + 1)]
    if allow_weights and g.chance(0.35):
        args += [g.case("AGGREGATE"), g.pick([b"SUM", b"MIN", b"MAX", b"max", b"AVG"])]
    if withscores and not store and g.chance(0.5):
        args.append(g.case("WITHSCORES"))
    return Op(args)


def z_intercard(g):
    keys = g.keys(1, 3)
    args = [b"ZINTERCARD", str(len(keys)).encode()] + keys
    if g.chance(0.4):
        args += [g.case("LIMIT"), g.count_arg(-1, 3)]
    return Op(args)


def z_mpop(g, blocking):
    keys = g.keys(1, 3)
    numkeys = str(len(keys)).encode()
    if g.chance(0.06):
        numkeys = g.pick([b"0", b"-1", b"abc", b"10"])
    args = ([b"BZMPOP", g.block_timeout()] if blocking else [b"ZMPOP"]) + [numkeys] + keys
    args.append(g.pick([b"MIN", b"MAX", b"min", b"MIDDLE"] if g.chance(0.05) else [b"MIN", b"MAX"]))
    if g.chance(0.5):
        args += [g.case("COUNT"), g.count_arg(0, 4)]
    return Op(args)


def z_pop(g, cmd):
    args = [cmd, g.key()]
    if g.chance(0.5):
        args.append(g.count_arg(-1, 4))
    return Op(args)


def z_randmember(g):
    k = g.key()
    pre = [b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]
    if g.chance(0.25):
        return random_op([b"ZRANDMEMBER", k], pre=pre, k=1, pre_k=2)
    count = g.random_count(-6, 6)
    if g.chance(0.4):
        return random_op([b"ZRANDMEMBER", k, count, g.case("WITHSCORES")], pre=pre, k=2, pre_k=2, count=count)
    return random_op([b"ZRANDMEMBER", k, count], pre=pre, k=1, pre_k=2, count=count)


def z_scan(g):
    tail = []
    if g.chance(0.4):
        tail += [g.case("MATCH"), g.pick([b"a*", b"*", b"?", b"[a-c]", b"nomatch"])]
    if g.chance(0.4):
        tail += [g.case("COUNT"), g.pick([b"1", b"2", b"100"])]
    return Op([b"ZSCAN"], "scan", mutable=False, key=g.key(), tail=tail, k=2, first_cursor=b"0")


ZSET_OPS = [
    (14, z_add),
    (3, lambda g: Op([b"ZINCRBY", g.key(), g.float_arg(), g.pick(ZSET_MEMBERS)])),
    (4, lambda g: Op([b"ZREM", g.key()] + [g.pick(ZSET_MEMBERS) for _ in range(g.r.randint(1, 3))])),
    (3, lambda g: Op([b"ZCARD", g.key()])),
    (4, lambda g: Op([b"ZSCORE", g.key(), g.pick(ZSET_MEMBERS)])),
    (2, lambda g: Op([b"ZMSCORE", g.key()] + [g.pick(ZSET_MEMBERS) for _ in range(g.r.randint(1, 3))])),
    (3, lambda g: Op([g.pick([b"ZRANK", b"ZREVRANK"]), g.key(), g.pick(ZSET_MEMBERS)])),
    (8, z_range),
    (2, z_rangestore),
    (3, lambda g: z_by(g, b"ZRANGEBYSCORE", False)),
    (2, lambda g: z_by(g, b"ZREVRANGEBYSCORE", False)),
    (2, lambda g: z_by(g, b"ZRANGEBYLEX", True)),
    (2, lambda g: z_by(g, b"ZREVRANGEBYLEX", True)),
    (2, lambda g: Op([b"ZREVRANGE", g.key(), g.int_arg(-6, 6), g.int_arg(-6, 6)]
                     + ([b"WITHSCORES"] if g.chance(0.5) else []))),
    (3, lambda g: Op([b"ZCOUNT", g.key(), score_range(g), score_range(g)])),
    (2, lambda g: Op([b"ZLEXCOUNT", g.key(), lex_range(g), lex_range(g)])),
    (1, lambda g: Op([b"ZREMRANGEBYRANK", g.key(), g.int_arg(-4, 4), g.int_arg(-4, 4)])),
    (1, lambda g: Op([b"ZREMRANGEBYSCORE", g.key(), score_range(g), score_range(g)])),
    (1, lambda g: Op([b"ZREMRANGEBYLEX", g.key(), lex_range(g), lex_range(g)])),
    (2, lambda g: z_pop(g, b"ZPOPMIN")),
    (2, lambda g: z_pop(g, b"ZPOPMAX")),
    (2, lambda g: Op([g.pick([b"BZPOPMIN", b"BZPOPMAX"])] + g.keys(1, 2) + [g.block_timeout()])),
    (2, lambda g: z_mpop(g, False)),
    (2, lambda g: z_mpop(g, True)),
    (3, z_randmember),
    (3, lambda g: z_combine(g, b"ZUNION", False)),
    (3, lambda g: z_combine(g, b"ZINTER", False)),
    (2, lambda g: z_combine(g, b"ZDIFF", False, allow_weights=False)),
    (2, lambda g: z_combine(g, b"ZUNIONSTORE", True)),
    (2, lambda g: z_combine(g, b"ZINTERSTORE", True)),
    (1, lambda g: z_combine(g, b"ZDIFFSTORE", True, allow_weights=False)),
    (2, z_intercard),
    (2, z_scan),
]


# === connection / server ===========================================================================================
COMMAND_NAMES = [b"get", b"set", b"zadd", b"hset", b"blpop", b"config|get", b"client|list", b"xadd", b"eval",
                 b"lmpop", b"sort", b"georadius", b"nosuchcommand", b"config", b"command|info", b"ping", b"SET",
                 b"memory|usage", b"cluster|slots", b"migrate", b"incr", b"zunionstore", b"object|encoding",
                 b"hello", b"exec", b"get|sub"]
GETKEYS_CASES = [
    [b"SET", b"k", b"v"], [b"MSET", b"a", b"1", b"b", b"2"], [b"GET"], [b"PING"], [b"NOTACMD", b"x"],
    [b"ZUNIONSTORE", b"d", b"2", b"a", b"b"], [b"EVAL", b"return 1", b"2", b"a", b"b", b"c"],
    [b"SORT", b"k", b"STORE", b"d"], [b"LMPOP", b"2", b"a", b"b", b"LEFT"],
    [b"XREAD", b"STREAMS", b"s1", b"s2", b"0", b"0"], [b"MIGRATE", b"h", b"1", b"", b"0", b"10", b"KEYS", b"a", b"b"],
    [b"LCS", b"a", b"b"], [b"GETEX", b"k"], [b"BLPOP", b"a", b"b", b"0"], [b"ZUNION", b"0", b"a"], [b"COPY", b"a", b"b"],
    [b"OBJECT", b"ENCODING", b"k"], [b"CONFIG", b"GET", b"x"], [b"GEORADIUS", b"k", b"0", b"0", b"1", b"km",
                                                               b"STORE", b"d"],
    [b"MGET", b"a", b"b", b"c"], [b"RENAME", b"a", b"b"], [b"SINTERCARD", b"2", b"a", b"b"], [b"DEL"],
    [b"EVAL", b"return 1", b"5", b"a"], [b"XREADGROUP", b"GROUP", b"g", b"c", b"STREAMS", b"s", b">"],
]
INFO_SECTIONS = [None, b"server", b"clients", b"memory", b"persistence", b"stats", b"replication", b"cpu",
                 b"cluster", b"keyspace", b"errorstats", b"commandstats", b"default", b"keyspace errorstats",
                 b"nosuchsection"]
CONFIG_PARAMS = [b"databases", b"maxmemory", b"appendonly", b"save", b"timeout", b"notify-keyspace-events",
                 b"nosuchparam", b"maxmemory-policy", b"proto-max-bulk-len", b"lua-time-limit"]


def c_command(g):
    sub = g.pick(["COUNT", "INFO", "INFO", "GETKEYS", "GETKEYS", "GETKEYSANDFLAGS", "DOCS", "DOCS", "LIST",
                  "HELP", "NOSUCH", "FULL"])
    if sub == "COUNT":
        return Op([b"COMMAND", g.case("COUNT")], "command_count")
    if sub == "INFO":
        if g.chance(0.05):
            return Op([b"COMMAND", b"INFO"], "command_info", ordered=False)
        return Op([b"COMMAND", g.case("INFO")] + [g.pick(COMMAND_NAMES) for _ in range(g.r.randint(1, 3))],
                  "command_info", ordered=True)
    if sub in ("GETKEYS", "GETKEYSANDFLAGS"):
        return Op([b"COMMAND", g.case(sub)] + g.pick(GETKEYS_CASES))
    if sub == "DOCS":
        if g.chance(0.05):
            return Op([b"COMMAND", b"DOCS"], "command_docs", ordered=False)
        return Op([b"COMMAND", g.case("DOCS")] + [g.pick(COMMAND_NAMES) for _ in range(g.r.randint(1, 2))],
                  "command_docs", ordered=True)
    if sub == "LIST":
        args = [b"COMMAND", b"LIST"]
        if g.chance(0.6):
            args += [b"FILTERBY"] + g.pick([[b"ACLCAT", b"string"], [b"PATTERN", b"z*"], [b"MODULE", b"nosuch"],
                                             [b"ACLCAT", b"nosuchcat"], [b"NOSUCH", b"x"], [b"PATTERN", b"*|*"]])
        return Op(args, "subset")
    if sub == "HELP":
        return Op([b"COMMAND", b"HELP"])
    if sub == "NOSUCH":
        return Op([b"COMMAND", b"NOSUCH"])
    return Op([b"COMMAND"], "command_info", mutable=False, ordered=False)


def c_info(g):
    section = g.pick(INFO_SECTIONS)
    args = [b"INFO"] + (section.split(b" ") if section else [])
    return Op(args, "info", mutable=False)


def c_hello(g, proto):
    version = proto if g.chance(0.85) else g.pick([b"2", b"3", b"4", b"0", b"abc"])
    args = [b"HELLO", version]
    if g.chance(0.2):
        args += [b"SETNAME", g.pick([b"client-a", b"with space", b""])]
    return Op(args, "hello", mutable=False)


def server_ops(proto):
    return [
        (4, lambda g: Op([b"PING"] + ([g.string()] if g.chance(0.4) else []))),
        (3, lambda g: Op([b"ECHO", g.string()])),
        (3, lambda g: Op([b"SELECT", g.pick([b"0", b"0", b"1", b"2", b"15", b"16", b"-1", b"abc"])])),
        (4, lambda g: Op([b"DBSIZE"])),
        (1, lambda g: Op([b"FLUSHDB"] + ([g.pick([b"ASYNC", b"SYNC", b"sync", b"LATER"])] if g.chance(0.5)
                                         else []))),
        (1, lambda g: Op([b"FLUSHALL"] + ([g.pick([b"ASYNC", b"SYNC"])] if g.chance(0.3) else []))),
        (1, lambda g: Op([b"SWAPDB", g.pick([b"0", b"1", b"2", b"16", b"x"]), g.pick([b"0", b"1", b"2"])])),
        (2, lambda g: Op([b"TIME"], "time", mutable=False)),
        (5, c_info),
        (8, c_command),
        (2, lambda g: c_hello(g, proto)),
        (2, lambda g: Op([b"CLIENT", b"SETNAME", g.pick([b"conn-1", b"", b"bad name", b"x"])])),
        (2, lambda g: Op([b"CLIENT", b"GETNAME"])),
        (2, lambda g: Op([b"CONFIG", b"GET", g.pick(CONFIG_PARAMS)], "unordered_pairs")),
        (2, lambda g: Op([g.pick([b"NOSUCHCOMMAND", b"GETT", b"set-"])] + [g.string() for _ in range(
            g.r.randint(0, 3))])),
        (10, lambda g: g.foreign_write()),
        (3, lambda g: Op([b"GET", g.key()])),
        (2, lambda g: Op([b"EXPIRE", g.key(), g.ttl_seconds()])),
    ]


# === hyperloglog ===================================================================================================
# Elements: a small pool (repeats leave registers unchanged, so PFADD's 0 shows up) and bulk runs of fresh names
# that push a sparse HLL past hll-sparse-max-bytes into the dense encoding.
HLL_ELEMENTS = [b"a", b"b", b"c", b"foo", b"bar", b"", b"1", b"2", b"x" * 40, b"\x00\xff"]
# A header and opcode streams that do not add up: too short, wrong magic, unknown encoding, a dense string of the
# wrong length, sparse streams covering too few or too many registers. None ends inside an XZERO: Redis then reads
# the byte past the string's end, which its own earlier edits may have left non-zero (known divergence, see hll.rs).
HLL_BAD_VALUES = [
    b"HYLL", b"HYLX\x01" + b"\x00" * 11 + b"\x7f\xff", b"HYLL\x02" + b"\x00" * 11 + b"\x7f\xff",
    b"HYLL\x00" + b"\x00" * 11 + b"\x00" * 100,
    b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xfe",
    b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xff\x00",
    b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xfe\x80",
    b"HYLL\x01" + b"\x00" * 11 + b"\x7f\xfb\x84",
    b"HYLL\x01" + b"\x00" * 11 + b"\x40\x0f\x7b\xef",
    b"HYLL\x01" + b"\x00" * 7 + b"\x05\x00\x00\x00\x00\x00\x00\x00\x7f\xff",
]


def hll_elements(g):
    if g.chance(0.15):
        base = g.r.randrange(100000)
        return [b"e%d" % (base + i) for i in range(g.r.randint(100, 1500))]
    return [g.pick(HLL_ELEMENTS) if g.chance(0.5) else b"e%d" % g.r.randrange(3000)
            for _ in range(g.r.randint(0, 6))]


def hll_corrupt(g):
    k = g.key()
    kind = g.r.randrange(4)
    if kind == 0:
        return Op([b"SET", k, g.pick(HLL_BAD_VALUES)])
    if kind == 1:
        return Op([b"APPEND", k, g.pick([b"\x00", b"\x80", b"\x7f\xff", b"\x40\x00", b"junk", b"\x84\x88"])])
    if kind == 2:
        return Op([b"SETRANGE", k, str(g.r.randint(0, 40)).encode(),
                   g.pick([b"\x00", b"\x80", b"\xff", b"\x41\x00"])])
    return Op([b"SETRANGE", k, b"4", g.pick([b"\x00", b"\x01", b"\x02"])])


def hll_debug(g):
    sub = g.pick([b"ENCODING", b"DECODE", b"TODENSE", b"GETREG", b"encoding", b"decode", b"NOSUCH"])
    extra = [b"x"] if g.chance(0.08) else []
    return Op([b"PFDEBUG", sub, g.key()] + extra)


HLL_OPS = [
    (16, lambda g: Op([b"PFADD", g.key()] + hll_elements(g))),
    (8, lambda g: Op([b"PFCOUNT"] + g.keys(1, 3))),
    (5, lambda g: Op([b"PFMERGE", g.key()] + g.keys(0, 3))),
    (8, lambda g: Op([b"GET", g.key()])),
    (4, hll_debug),
    (2, hll_corrupt),
    (1, lambda g: Op([b"SET", g.key(), g.string()])),
    (4, lambda g: Op([b"DEL", g.key()])),
    (1, lambda g: g.foreign_write()),
    (1, lambda g: Op([b"PFCOUNT"])),
]


# === geo ==========================================================================================================
# Points cluster around hubs (so searches find several, and COUNT cuts lists long enough for Redis's partial
# quicksort), some hubs sit by the 180th meridian and the Mercator latitude limit, and bulk adds reuse a few
# coordinates so equal distances (ties, whose order the sorts decide) are common.
GEO_MEMBERS = [b"m%d" % i for i in range(10)] + [b"Palermo", b"Catania", b"", b"\x00z"]
GEO_HUBS = [(13.361389, 38.115556), (-122.27652, 37.805186), (0.0, 0.0), (179.95, 10.0), (-179.95, -10.0),
            (0.0, 85.0), (100.0, -84.9), (-73.9, 40.7), (179.999, 85.05), (-45.0, 66.2), (60.0, -80.3)]
GEO_EDGE = [(b"180", b"85.05112878"), (b"-180", b"-85.05112878"), (b"180", b"-85.05112878"),
            (b"-180", b"85.05112878"), (b"0", b"85.05112878"), (b"179.99999999", b"0"), (b"-179.99999999", b"0"),
            (b"0", b"-85.0511287"), (b"90", b"80.1"), (b"-90", b"-66.1"), (b"0", b"0"), (b"180", b"0"),
            (b"-180", b"0"), (b"-0", b"-0"), (b"1e-10", b"-1e-10"), (b"0x10", b"0x1p-2")]
GEO_BAD = [(b"180.0000001", b"0"), (b"0", b"85.06"), (b"-181", b"0"), (b"0", b"-90"), (b"inf", b"0"),
           (b"abc", b"0"), (b"0", b"nan"), (b"", b"0"), (b"1e400", b"0"), (b"0", b"-inf")]
GEO_UNITS = [b"m", b"km", b"ft", b"mi", b"KM", b"Mi", b"M", b"fT"]
GEO_UNIT_METERS = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}


def geo_num(g, v):
    return b"%.*f" % (g.pick([0, 2, 4, 6, 8, 10]), v)


def geo_lonlat(g, bad=0.03):
    if g.chance(bad):
        return list(g.pick(GEO_BAD))
    if g.chance(0.15):
        return list(g.pick(GEO_EDGE))
    if g.chance(0.25):
        return [geo_num(g, g.r.uniform(-180, 180)), geo_num(g, g.r.uniform(-85.05112878, 85.05112878))]
    lon, lat = g.pick(GEO_HUBS)
    spread = g.pick([0.001, 0.05, 0.5, 3.0, 20.0])
    lon += g.r.uniform(-spread, spread)
    lat += g.r.uniform(-spread, spread)
    if lon > 180:
        lon -= 360
    if lon < -180:
        lon += 360
    lat = max(-85.05112878, min(85.05112878, lat))
    return [geo_num(g, lon), geo_num(g, lat)]


def geo_unit(g):
    if g.chance(0.02):
        return g.pick([b"parsec", b"kilometers", b"", b"m\x00"])
    return g.pick(GEO_UNITS)


def geo_distance(g, unit):
    """A size in `unit` drawn in kilometres (0 to antipodal), or a bad one now and then."""
    if g.chance(0.04):
        return g.pick([b"-1", b"abc", b"", b"1e400", b"inf", b"-0", b"nan"])
    km = g.pick([0.0, 0.001, 0.3, 5.0, 50.0, 200.0, 1000.0, 3000.0, 8000.0, 20000.0]) * g.r.uniform(0.5, 1.5)
    meters = GEO_UNIT_METERS.get(unit.lower(), 1.0)
    return geo_num(g, km * 1000.0 / meters)


def geo_add(g):
    k = g.key()
    args = [b"GEOADD", k]
    for opt in g.r.sample(["NX", "XX", "CH"], g.r.choice([0, 0, 0, 1, 1, 2])):
        args.append(g.case(opt))
    if g.chance(0.12):
        # Bulk: many members on a few coordinates, for long result lists with ties.
        coords = [geo_lonlat(g, bad=0.0) for _ in range(g.r.randint(1, 6))]
        base = g.r.randrange(300)
        for i in range(g.r.randint(20, 120)):
            args += g.pick(coords) + [b"p%d" % (base + i)]
        return Op(args)
    for _ in range(g.r.randint(1, 4)):
        args += geo_lonlat(g) + [g.pick(GEO_MEMBERS)]
    if g.chance(0.03):
        args = args[:-1]
    return Op(args)


def geo_options(g, store_ok, search_store=False):
    opts = []
    if not store_ok or g.chance(0.85):
        for w in ("WITHCOORD", "WITHDIST", "WITHHASH"):
            if g.chance(0.3):
                opts.append([g.case(w)])
    if g.chance(0.5):
        opts.append([g.case(g.pick(["ASC", "DESC"]))])
    if g.chance(0.45):
        if g.chance(0.06):
            count = g.pick([b"0", b"-1", b"abc", b"9223372036854775807", b"1.5"])
        else:
            count = str(g.r.choice([1, 1, 2, 3, 5, 8, 10, 30, 50, 200])).encode()
        opts.append([g.case("COUNT"), count])
        if g.chance(0.3):
            opts.append([g.case("ANY")])
    elif g.chance(0.03):
        opts.append([g.case("ANY")])
    if store_ok and g.chance(0.2):
        opts.append([g.case(g.pick(["STORE", "STOREDIST"])), g.key()])
    if search_store and g.chance(0.4):
        opts.append([g.case("STOREDIST")])
    if g.chance(0.5):
        g.r.shuffle(opts)
    return [a for o in opts for a in o]


def geo_radius(g, ro):
    name = b"GEORADIUS_RO" if ro else b"GEORADIUS"
    unit = geo_unit(g)
    args = [name, g.key()] + geo_lonlat(g) + [geo_distance(g, unit), unit]
    return Op(args + geo_options(g, store_ok=not ro or g.chance(0.05)))


def geo_radius_member(g, ro):
    name = b"GEORADIUSBYMEMBER_RO" if ro else b"GEORADIUSBYMEMBER"
    unit = geo_unit(g)
    member = g.pick(GEO_MEMBERS) if g.chance(0.7) else b"p%d" % g.r.randrange(420)
    args = [name, g.key(), member, geo_distance(g, unit), unit]
    return Op(args + geo_options(g, store_ok=not ro or g.chance(0.05)))


def geo_search_args(g):
    parts = []
    if g.chance(0.95):
        if g.chance(0.4):
            member = g.pick(GEO_MEMBERS) if g.chance(0.7) else b"p%d" % g.r.randrange(420)
            parts.append([g.case("FROMMEMBER"), member])
        else:
            parts.append([g.case("FROMLONLAT")] + geo_lonlat(g))
        if g.chance(0.03):
            parts.append([g.case("FROMLONLAT")] + geo_lonlat(g))
    if g.chance(0.95):
        unit = geo_unit(g)
        if g.chance(0.5):
            parts.append([g.case("BYRADIUS"), geo_distance(g, unit), unit])
        else:
            parts.append([g.case("BYBOX"), geo_distance(g, unit), geo_distance(g, unit), unit])
        if g.chance(0.03):
            parts.append([g.case("BYRADIUS"), geo_distance(g, unit), unit])
    if g.chance(0.2):
        g.r.shuffle(parts)
    return [a for p in parts for a in p]


def geo_search(g):
    return Op([g.case("GEOSEARCH"), g.key()] + geo_search_args(g) + geo_options(g, store_ok=g.chance(0.03)))


def geo_searchstore(g):
    args = [b"GEOSEARCHSTORE", g.key(), g.key()] + geo_search_args(g)
    return Op(args + geo_options(g, store_ok=g.chance(0.03), search_store=True))


def geo_members(g):
    return [g.pick(GEO_MEMBERS) if g.chance(0.6) else b"p%d" % g.r.randrange(420)
            for _ in range(g.r.randint(0, 4))]


GEO_OPS = [
    (14, geo_add),
    (8, lambda g: geo_radius(g, False)),
    (3, lambda g: geo_radius(g, True)),
    (5, lambda g: geo_radius_member(g, False)),
    (2, lambda g: geo_radius_member(g, True)),
    (10, geo_search),
    (4, geo_searchstore),
    (4, lambda g: Op([b"GEODIST", g.key()] + [g.pick(GEO_MEMBERS) if g.chance(0.6) else b"p%d" % g.r.randrange(420)
                                               for _ in range(2)] + ([geo_unit(g)] if g.chance(0.6) else []))),
    (3, lambda g: Op([b"GEOHASH", g.key()] + geo_members(g))),
    (3, lambda g: Op([b"GEOPOS", g.key()] + geo_members(g))),
    (2, lambda g: Op([b"ZSCORE", g.key(), g.pick(GEO_MEMBERS)])),
    (2, lambda g: Op([b"ZRANGE", g.key(), b"0", b"-1", b"WITHSCORES"])),
    (2, lambda g: Op([b"ZREM", g.key()] + geo_members(g))),
    (1, lambda g: Op([b"ZADD", g.key(), g.pick([b"-5", b"1e300", b"4503599627370496", b"-inf", b"inf", b"0.5",
                                               b"4503599627370495", b"9007199254740993"]), g.pick(GEO_MEMBERS)])),
]


# === introspection ==================================================================================================
# Only what both servers must answer alike whatever their timing: with the default thresholds (slow log 10 ms,
# latency monitor off) the latency events stay empty and LATENCY DOCTOR says so; SLOWLOG LEN/GET would depend on
# how long commands took, so only their argument errors are compared.
LATENCY_EVENTS = [b"command", b"fast-command", b"expire-cycle", b"nosuch", b""]


def introspect_slowlog(g):
    return Op([b"SLOWLOG"] + g.pick([
        [b"HELP"], [b"help"], [b"GET", b"-2"], [b"GET", b"abc"], [b"GET", b"1", b"2"], [b"GET", b"-9223372036854775808"],
        [b"NOSUCH"], [b"RESET", b"x"], [b"LEN", b"x"], [b"HELP", b"x"], [],
    ]), mutable=False)


def introspect_latency(g):
    return Op([b"LATENCY"] + g.pick([
        [b"HELP"], [b"HELP", b"x"], [b"LATEST"], [b"LATEST", b"x"], [b"DOCTOR"], [b"doctor"],
        [b"HISTORY", g.pick(LATENCY_EVENTS)], [b"HISTORY"], [b"GRAPH", g.pick(LATENCY_EVENTS)],
        [b"RESET"] + [g.pick(LATENCY_EVENTS) for _ in range(g.r.randint(0, 3))], [b"NOSUCH"], [],
    ]), mutable=False)


INTROSPECT_OPS = [
    (6, introspect_slowlog),
    (6, introspect_latency),
    (3, lambda g: Op([b"SET", g.key(), g.string()])),
    (3, lambda g: Op([b"GET", g.key()])),
    # Never mutated: cut to plain MONITOR it would turn the connection into a monitor.
    (1, lambda g: Op([b"MONITOR", b"x"], mutable=False)),
    # MEMORY: STATS by field names (the figures are each server's own); DOCTOR's text on these small datasets is
    # the "instance is empty" one on both; MALLOC-STATS (jemalloc's own report) is left out.
    (2, lambda g: Op([b"MEMORY", b"STATS"], "memory_stats", mutable=False)),
    (1, lambda g: Op([b"MEMORY", g.pick([b"DOCTOR", b"HELP", b"PURGE", b"NOSUCH"])], mutable=False)),
    (1, lambda g: Op([b"MEMORY", g.pick([b"STATS", b"DOCTOR", b"PURGE"]), b"x"], mutable=False)),
    # LOLWUT: the banner, argument errors, and Schotter drawings of at most two rows of squares (the rows below
    # are turned at random), which both servers must draw byte for byte. VERSION 6 is random throughout.
    (1, lambda g: Op([b"LOLWUT"] + g.pick([[], [b"VERSION", b"7"], [b"VERSION", b"-3"], [b"VERSION"], [b"VERSION", b"x"],
                                            [b"VERSION", b"5", b"y"], [b"VERSION", b"6", b"0", b"z"]]), mutable=False)),
    (1, lambda g: Op([b"LOLWUT", b"VERSION", b"5", str(g.r.randint(-2, 120)).encode(),
                      str(g.r.randint(-1, 30)).encode(), str(g.r.randint(-1, 2)).encode()], mutable=False)),
]


# === ACL ==========================================================================================================
# Users u1..u3 only: the connection stays the default user's (no AUTH that succeeds, default never changed). Every
# SETUSER starts from `reset`. Redis lists the single commands of a description (those a rule names, and those
# that complete a category) in its command dict's hash order, which changes from run to run: ACL LIST and GETUSER
# are compared with each run of single-command rules sorted (compare.acl_rules). ACL LOG's entries hold client addresses and ages;
# only its argument errors and RESET are compared.
ACL_USERS = [b"u1", b"u2", b"u3", b"nosuch"]
ACL_CATEGORY_RULES = [b"+@all", b"-@all", b"+@read", b"-@write", b"+@set", b"+@hash", b"-@dangerous", b"+@fast",
                      b"-@slow", b"+@pubsub", b"+@admin", b"-@keyspace", b"+@nosuch", b"allcommands", b"nocommands"]
ACL_COMMAND_RULES = [b"+get", b"-set", b"+config|get", b"-config|set", b"+select|0", b"+client", b"-debug",
                     b"+nosuchcmd", b"+config|get|x", b"+select|", b"+get|x"]
ACL_OTHER_RULES = [b"on", b"off", b"nopass", b">pw1", b">pw2", b"<pw1", b"resetpass", b"~k*", b"%R~{k}*", b"%W~w*",
                   b"%RW~rw", b"%X~bad", b"allkeys", b"resetkeys", b"&ch*", b"allchannels", b"resetchannels",
                   b"#" + b"a" * 64, b"#short", b"!" + b"b" * 64, b"bogus", b"sanitize-payload",
                   b"skip-sanitize-payload", b"(~sel* +@read)", b"(+get", b"~x)", b"clearselectors"]
ACL_CATEGORIES = [b"read", b"write", b"keyspace", b"dangerous", b"pubsub", b"connection", b"transaction",
                  b"nosuch", b"READ", b"scripting", b"stream"]


def acl_setuser(g):
    rules = [b"reset"]
    for _ in range(g.r.randint(0, 4)):
        rules.append(g.pick(ACL_OTHER_RULES) if g.chance(0.6) else g.pick(ACL_CATEGORY_RULES))
    for _ in range(g.r.randint(0, 2)):
        rules.insert(g.r.randint(1, len(rules)), g.pick(ACL_COMMAND_RULES))
    return Op([b"ACL", b"SETUSER", g.pick(ACL_USERS[:3])] + rules, mutable=False)


def acl_dryrun(g):
    cmd = g.pick([[b"GET", g.key()], [b"SET", g.key(), b"v"], [b"SET", b"w1", b"v", b"GET"], [b"CONFIG", b"GET", b"x"],
                  [b"CONFIG", b"SET", b"x", b"y"], [b"SELECT", b"0"], [b"SELECT", b"1"], [b"PUBLISH", b"ch1", b"m"],
                  [b"PUBLISH", b"other", b"m"], [b"SUBSCRIBE", b"ch1", b"x"], [b"PSUBSCRIBE", b"ch*"],
                  [b"GET"], [b"NOSUCH"], [b"LPUSH", b"rw", b"a"], [b"SORT", b"k1"], [b"MGET", b"k1", b"{k}1"]])
    return Op([b"ACL", b"DRYRUN", g.pick(ACL_USERS)] + cmd, mutable=False)


ACL_OPS = [
    (12, acl_setuser),
    (6, lambda g: Op([b"ACL", b"GETUSER", g.pick(ACL_USERS)], "acl_rules", mutable=False)),
    (4, lambda g: Op([b"ACL", b"LIST"], "acl_rules", mutable=False)),
    (2, lambda g: Op([b"ACL", b"USERS"], mutable=False)),
    (6, acl_dryrun),
    (2, lambda g: Op([b"ACL", b"DELUSER"] + [g.pick(ACL_USERS) for _ in range(g.r.randint(1, 2))], mutable=False)),
    (1, lambda g: Op([b"ACL", b"DELUSER", b"default"], mutable=False)),
    (2, lambda g: Op([b"ACL", b"CAT"], mutable=False)),
    (3, lambda g: Op([b"ACL", b"CAT", g.pick(ACL_CATEGORIES)], "unordered", mutable=False)),
    (1, lambda g: Op([b"ACL", b"WHOAMI"], mutable=False)),
    (1, lambda g: Op([b"ACL", b"HELP"], mutable=False)),
    (2, lambda g: Op([b"ACL", b"GENPASS", g.pick([b"0", b"-1", b"abc", b"4097", b"99999999999999999999"])],
                     mutable=False)),
    (2, lambda g: Op([b"ACL", b"LOG", g.pick([b"abc", b"RESET", b"reset", b"0", b"-5"])], mutable=False)),
    (1, lambda g: Op(g.pick([[b"ACL", b"SAVE"], [b"ACL", b"LOAD"], [b"ACL", b"NOSUCH"], [b"ACL", b"GETUSER", b"x", b"y"],
                             [b"ACL", b"LIST", b"x"], [b"ACL", b"SAVE", b"x"], [b"ACL", b"WHOAMI", b"x"],
                             [b"ACL", b"CAT", b"read", b"x"], [b"ACL"]]), mutable=False)),
    # Never a login that switches users: an unknown user, or the default user (nopass: any password).
    (2, lambda g: Op([b"AUTH", g.pick([b"nosuch", b"default"]), g.pick([b"pw1", b"bad"])], mutable=False)),
    (1, lambda g: Op([b"AUTH", b"onlypass"], mutable=False)),
    (1, lambda g: Op([b"CLIENT", b"KILL", b"USER", g.pick([b"nosuch", b"u3"])], mutable=False)),
]


# === scripting (EVAL) ==============================================================================================
# Script bodies, each with its number of keys and of arguments. Left out: math.random (Redis's generator state is
# process-wide, ours per worker thread) and SMEMBERS-like replies whose order is unspecified.
SCRIPTS = [
    (b"return redis.call('set', KEYS[1], ARGV[1])", 1, 1),
    (b"return redis.call('get', KEYS[1])", 1, 0),
    (b"return redis.call('incr', KEYS[1])", 1, 0),
    (b"return redis.pcall('incr', KEYS[1])", 1, 0),
    (b"return redis.call('rpush', KEYS[1], ARGV[1], ARGV[2])", 1, 2),
    (b"return redis.call('lrange', KEYS[1], 0, -1)", 1, 0),
    (b"return redis.call('hset', KEYS[1], ARGV[1], ARGV[2])", 1, 2),
    (b"return redis.call('hgetall', KEYS[1])", 1, 0),
    (b"redis.setresp(3) return redis.call('hgetall', KEYS[1])", 1, 0),
    (b"redis.setresp(3) return redis.call('zrange', KEYS[1], 0, -1, 'withscores')", 1, 0),
    (b"return redis.call('zadd', KEYS[1], ARGV[1], ARGV[2])", 1, 2),
    (b"return redis.call('zscore', KEYS[1], ARGV[1])", 1, 1),
    (b"redis.setresp(3) return redis.call('zscore', KEYS[1], ARGV[1])", 1, 1),
    (b"redis.setresp(3) return redis.call('get', KEYS[1])", 1, 0),
    (b"return redis.call('scard', KEYS[1])", 1, 0),
    (b"return redis.call('mget', KEYS[1], KEYS[2])", 2, 0),
    (b"redis.call('set', KEYS[1], ARGV[1]) return redis.call('append', KEYS[2], ARGV[1])", 2, 1),
    (b"local t = redis.call('type', KEYS[1]) return t.ok", 1, 0),
    (b"return redis.call('exists', KEYS[1], KEYS[2])", 2, 0),
    (b"return redis.call('del', KEYS[1])", 1, 0),
    (b"return {1, 2, 3, 'x', {4, 5}, nil, 6}", 0, 0),
    (b"return {ok='fine'}", 0, 0),
    (b"return {err='ERR custom'}", 0, 0),
    (b"return redis.error_reply('MY code')", 0, 0),
    (b"return redis.error_reply('-WRONG thing')", 0, 0),
    (b"return redis.status_reply('FINE')", 0, 0),
    (b"return redis.status_reply(1)", 0, 0),
    (b"return 3.99", 0, 0),
    (b"return -2.5", 0, 0),
    (b"return true", 0, 0),
    (b"return false", 0, 0),
    (b"return nil", 0, 0),
    (b"return tonumber(ARGV[1])", 0, 1),
    (b"redis.setresp(3) return {double=1.5}", 0, 0),
    (b"redis.setresp(3) return true", 0, 0),
    (b"redis.setresp(3) return false", 0, 0),
    (b"redis.setresp(3) return {map={a=1}}", 0, 0),
    (b"return {set={x=true}}", 0, 0),
    (b"return {big_number='12345678901234567890'}", 0, 0),
    (b"redis.setresp(3) return {verbatim_string={format='txt', string='hello'}}", 0, 0),
    (b"redis.setresp(5)", 0, 0),
    (b"redis.call('set', KEYS[1], 'a') redis.call('incr', KEYS[1])", 1, 0),
    (b"return redis.call('nosuch')", 0, 0),
    (b"return redis.call('get')", 0, 0),
    (b"return redis.call()", 0, 0),
    (b"return redis.call('get', {})", 0, 0),
    (b"return redis.call('eval', 'return 1', '0')", 0, 0),
    (b"return redis.call('multi')", 0, 0),
    (b"local ok, e = pcall(redis.call, 'incr', KEYS[1]) return {tostring(ok), e}", 1, 0),
    (b"return redis.pcall('nosuch')", 0, 0),
    (b"return a_global", 0, 0),
    (b"x = 1", 0, 0),
    (b"return x(", 0, 0),
    (b"error('boom')", 0, 0),
    (b"error({err='TABLE err'})", 0, 0),
    (b"local t = {}\nt.x.y = 1", 0, 0),
    (b"return cjson.encode({1, 'a', {b=2}, true})", 0, 0),
    (b"return cjson.decode(ARGV[1])", 0, 1),
    (b"return cjson.encode(cjson.decode('[1,2.5,\"x\",[]]'))", 0, 0),
    (b"return cmsgpack.pack({1, -200, 0.1, 'abc', {x=true}, 70000, -1099511627776})", 0, 0),
    (b"return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, 4}, 5.5))}", 0, 0),
    (b"return cmsgpack.unpack(ARGV[1])", 0, 1),
    (b"return bit.bxor(tonumber(ARGV[1]) or 0, 7)", 0, 1),
    (b"return bit.tohex(bit.lshift(1, 31))", 0, 0),
    (b"return redis.sha1hex(ARGV[1])", 0, 1),
    (b"return #KEYS + #ARGV", 2, 2),
    (b"return tostring(3.5) .. tostring(10) .. tostring(1e20)", 0, 0),
    (b"return string.format('%d-%s', 7, ARGV[1])", 0, 1),
    (b"return table.concat({'a', 'b', 'c'}, ',')", 0, 0),
    (b"return redis.REDIS_VERSION", 0, 0),
    (b"#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", 1, 0),
    (b"#!lua flags=no-writes\nreturn redis.call('set', KEYS[1], 'x')", 1, 0),
    (b"#!lua\nreturn redis.call('del', KEYS[1])", 1, 0),
    (b"#!lua flags=foo\nreturn 1", 0, 0),
    (b"#!lua bar\nreturn 1", 0, 0),
    (b"#!lua", 0, 0),
]
SCRIPT_ARGS = [b"1", b"2", b"10", b"-3", b"1.5", b"x", b"", b"[1,2]", b"{\"a\":[true,null]}", b"[1,", b"abc"]


def script_eval(g):
    body, nkeys, nargs = g.pick(SCRIPTS)
    keys = [g.key() for _ in range(nkeys)]
    argv = [g.pick(SCRIPT_ARGS) for _ in range(nargs)]
    numkeys = str(nkeys).encode()
    if g.chance(0.05):
        numkeys = g.pick([b"-1", b"x", b"100", str(nkeys + nargs + 1).encode()])
    cmd = g.pick([b"EVAL", b"EVAL", b"EVAL", b"eval_ro", b"EVALSHA", b"EVALSHA", b"EVALSHA_RO"])
    if cmd.upper().startswith(b"EVALSHA"):
        sha = hashlib.sha1(body).hexdigest().encode()
        if g.chance(0.2):
            sha = sha.upper()
        if g.chance(0.1):
            sha = g.pick([b"ffffffffffffffffffffffffffffffffffffffff", b"abc"])
        return Op([cmd, sha, numkeys] + keys + argv)
    return Op([cmd, body, numkeys] + keys + argv)


def script_admin(g):
    x = g.r.random()
    if x < 0.5:
        return Op([b"SCRIPT", b"LOAD", g.pick(SCRIPTS)[0]])
    if x < 0.8:
        shas = [hashlib.sha1(g.pick(SCRIPTS)[0]).hexdigest().encode() for _ in range(g.r.randint(1, 3))]
        return Op([b"SCRIPT", b"EXISTS"] + shas)
    if x < 0.9:
        return Op([b"SCRIPT", b"FLUSH"] + ([g.pick([b"ASYNC", b"SYNC", b"sync", b"LATER"])] if g.chance(0.5)
                                          else []))
    return Op([b"SCRIPT", g.pick([b"KILL", b"HELP", b"NOPE"])])


SCRIPT_OPS = [
    (20, script_eval),
    (3, script_admin),
    (4, lambda g: g.foreign_write()),
    (2, lambda g: Op([b"GET", g.key()])),
]


# === stream ========================================================================================================
# Explicit IDs only (`*` takes the wall clock, which two servers never share), and no reply that shows times:
# no extended XPENDING (idle), XINFO CONSUMERS (idle) or XINFO STREAM (radix-tree-nodes counts Redis's rax nodes,
# which only Redis's allocator layout decides). Claims use min-idle 0 or one larger than any run.
STREAM_GROUPS = [b"g1", b"g2", b"nogroup"]
STREAM_CONSUMERS = [b"alice", b"bob", b"carol"]


def x_id(g, special=True):
    if special and g.chance(0.08):
        return g.pick([b"0", b"0-0", b"-", b"+", b"abc", b"1-x", b"18446744073709551615-18446744073709551615",
                       b"18446744073709551616", b"-1"])
    ms = g.r.randint(0, 40)
    if g.chance(0.3):
        return str(ms).encode()
    return ("%d-%d" % (ms, g.r.randint(0, 3))).encode()


def x_range_bound(g):
    if g.chance(0.3):
        return g.pick([b"-", b"+"])
    if g.chance(0.2):
        return b"(" + x_id(g, special=False)
    return x_id(g)


def x_trim_args(g):
    strategy = g.case(g.pick(["MAXLEN", "MINID"]))
    args = [strategy]
    approx = g.chance(0.5)
    if approx:
        args.append(b"~")
    elif g.chance(0.5):
        args.append(b"=")
    args.append(g.int_arg(0, 8) if strategy.upper() == b"MAXLEN" else x_id(g))
    if g.chance(0.2):
        args += [g.case("LIMIT"), g.int_arg(0, 5)]
    return args


def x_add(g):
    args = [b"XADD", g.key()]
    if g.chance(0.1):
        args.append(g.case("NOMKSTREAM"))
    if g.chance(0.25):
        args += x_trim_args(g)
    if g.chance(0.2):
        args.append(("%d-*" % g.r.randint(0, 40)).encode())
    else:
        args.append(x_id(g))
    for _ in range(g.r.randint(1, 2)):
        args += [g.pick(FIELDS), g.string()]
    return Op(args)


def x_read(g):
    keys = g.keys(1, 2)
    args = [b"XREAD"]
    if g.chance(0.4):
        args += [g.case("COUNT"), g.count_arg(0, 3)]
    if g.chance(0.15):
        args += [g.case("BLOCK"), g.pick([b"10", b"20", b"-1", b"x"])]
    ids = [g.pick([b"$", b"0"]) if g.chance(0.4) else x_id(g) for _ in keys]
    return Op(args + [g.case("STREAMS")] + keys + ids)


def x_readgroup(g):
    keys = g.keys(1, 2)
    args = [b"XREADGROUP", g.case("GROUP"), g.pick(STREAM_GROUPS), g.pick(STREAM_CONSUMERS)]
    if g.chance(0.4):
        args += [g.case("COUNT"), g.count_arg(0, 3)]
    if g.chance(0.15):
        args.append(g.case("NOACK"))
    if g.chance(0.1):
        args += [g.case("BLOCK"), g.pick([b"10", b"20"])]
    ids = [b">" if g.chance(0.7) else g.pick([b"0", b"$", x_id(g)]) for _ in keys]
    return Op(args + [g.case("STREAMS")] + keys + ids)


def x_group(g):
    sub = g.pick(["CREATE", "CREATE", "SETID", "DESTROY", "CREATECONSUMER", "DELCONSUMER", "HELP", "NOPE"])
    key, group = g.key(), g.pick(STREAM_GROUPS)
    if sub == "CREATE":
        args = [b"XGROUP", g.case(sub), key, group, g.pick([b"$", b"0", x_id(g)])]
        if g.chance(0.4):
            args.append(g.case("MKSTREAM"))
        if g.chance(0.15):
            args += [g.case("ENTRIESREAD"), g.int_arg(-2, 5)]
        return Op(args)
    if sub == "SETID":
        args = [b"XGROUP", g.case(sub), key, group, g.pick([b"$", b"0", x_id(g)])]
        if g.chance(0.3):
            args += [g.case("ENTRIESREAD"), g.int_arg(-2, 5)]
        return Op(args)
    if sub == "DESTROY":
        return Op([b"XGROUP", g.case(sub), key, group])
    if sub in ("CREATECONSUMER", "DELCONSUMER"):
        return Op([b"XGROUP", g.case(sub), key, group, g.pick(STREAM_CONSUMERS)])
    return Op([b"XGROUP", g.case(sub)])


def x_claim(g):
    args = [b"XCLAIM", g.key(), g.pick(STREAM_GROUPS), g.pick(STREAM_CONSUMERS), g.pick([b"0", b"0", b"100000000"])]
    args += [x_id(g) for _ in range(g.r.randint(1, 3))]
    args.append(g.case("JUSTID"))
    if g.chance(0.2):
        args.append(g.case("FORCE"))
    if g.chance(0.2):
        args += [g.case("RETRYCOUNT"), g.int_arg(0, 5)]
    if g.chance(0.15):
        args += [g.case("LASTID"), x_id(g)]
    return Op(args)


def x_autoclaim(g):
    args = [b"XAUTOCLAIM", g.key(), g.pick(STREAM_GROUPS), g.pick(STREAM_CONSUMERS), g.pick([b"0", b"100000000"]),
            x_range_bound(g)]
    if g.chance(0.5):
        args += [g.case("COUNT"), g.count_arg(0, 4)]
    args.append(g.case("JUSTID"))
    return Op(args)


STREAM_OPS = [
    (16, x_add),
    (5, lambda g: Op([b"XRANGE", g.key(), x_range_bound(g), x_range_bound(g)]
                     + ([g.case("COUNT"), g.count_arg()] if g.chance(0.4) else []))),
    (3, lambda g: Op([b"XREVRANGE", g.key(), x_range_bound(g), x_range_bound(g)]
                     + ([g.case("COUNT"), g.count_arg()] if g.chance(0.4) else []))),
    (3, lambda g: Op([b"XLEN", g.key()])),
    (3, lambda g: Op([b"XDEL", g.key()] + [x_id(g) for _ in range(g.r.randint(1, 3))])),
    (3, lambda g: Op([b"XTRIM", g.key()] + x_trim_args(g))),
    (2, lambda g: Op([b"XSETID", g.key(), x_id(g)]
                     + ([g.case("ENTRIESADDED"), g.int_arg(-1, 40)] if g.chance(0.3) else [])
                     + ([g.case("MAXDELETEDID"), x_id(g)] if g.chance(0.3) else []))),
    (5, x_read),
    (6, x_group),
    (7, x_readgroup),
    (3, lambda g: Op([b"XACK", g.key(), g.pick(STREAM_GROUPS)] + [x_id(g) for _ in range(g.r.randint(1, 3))])),
    (3, lambda g: Op([b"XPENDING", g.key(), g.pick(STREAM_GROUPS)])),
    (3, x_claim),
    (2, x_autoclaim),
    (2, lambda g: Op([b"XINFO", g.case("GROUPS"), g.key()])),
    (1, lambda g: Op([b"XINFO", g.case(g.pick(["HELP", "NOPE"]))])),
    (1, lambda g: Op([b"OBJECT", b"ENCODING", g.key()])),
]

# === bitmap ========================================================================================================
# Values: the shared strings plus a few binary ones with set bits in every byte position. Offsets stay small: a
# SETBIT or BITFIELD SET far out would make both servers allocate up to 512 MB, so the far edges are only ever
# errors (-1, 2^32) or reads (GETBIT/BITFIELD GET past the end read zeros).
BIT_VALUES = [b"\xff\xf0\x00", b"\x00\x00\x01", b"\x80", b"foobar", b"\x00", b"\xaa\x55\xaa\x55\xaa", b"\xff" * 9]
BIT_TYPES = [b"u1", b"u2", b"u8", b"i8", b"u16", b"i16", b"i32", b"u63", b"i64", b"i5", b"u31"]
BAD_BIT_TYPES = [b"u64", b"i65", b"i0", b"u0", b"x8", b"u", b"8"]


def b_offset(g, hi=100):
    if g.chance(0.04):
        return g.pick([b"-1", b"4294967296", b"abc", b"1.5"])
    return str(g.r.randint(0, hi)).encode()


def b_bitfield_offset(g):
    if g.chance(0.3):
        return b"#" + str(g.r.randint(0, 12)).encode()
    if g.chance(0.03):
        return g.pick([b"-1", b"#-1", b"abc", b"4294967296"])
    return str(g.r.randint(0, 90)).encode()


def b_type(g):
    return g.pick(BAD_BIT_TYPES) if g.chance(0.04) else g.pick(BIT_TYPES)


def b_value(g):
    if g.chance(0.1):
        return g.pick(EDGE_INTS + [b"abc", b"1.5"])
    return str(g.r.randint(-300, 300)).encode()


def b_bitfield(g, read_only=False):
    args = [b"BITFIELD_RO" if read_only else b"BITFIELD", g.key()]
    for _ in range(g.r.randint(1 if read_only else 0, 4)):
        sub = g.pick(["GET", "GET", "SET", "INCRBY", "OVERFLOW"]) if not read_only or g.chance(0.08) else "GET"
        args.append(g.case(sub))
        if sub == "GET":
            args += [b_type(g), b_bitfield_offset(g)]
        elif sub in ("SET", "INCRBY"):
            args += [b_type(g), b_bitfield_offset(g), b_value(g)]
        else:
            args.append(g.case(g.pick(["WRAP", "SAT", "FAIL", "NOPE"])))
    return Op(args)


def b_range_args(g):
    args = []
    if g.chance(0.7):
        args += [g.int_arg(-10, 10), g.int_arg(-10, 10)]
        if g.chance(0.4):
            args.append(g.case(g.pick(["BYTE", "BIT", "BIT", "WORD"])))
    elif g.chance(0.1):
        args.append(g.int_arg(-3, 3))  # a start without an end: a syntax error for BITCOUNT
    return args


def b_bitpos(g):
    args = [b"BITPOS", g.key(), g.pick([b"0", b"1", b"1", b"2", b"x"])]
    if g.chance(0.6):
        args.append(g.int_arg(-10, 10))
        if g.chance(0.6):
            args.append(g.int_arg(-10, 10))
            if g.chance(0.4):
                args.append(g.case(g.pick(["BYTE", "BIT", "BIT", "WORD"])))
    return Op(args)


def b_bitop(g):
    op = g.pick(["AND", "OR", "XOR", "NOT", "NOT", "NOPE"])
    n = 1 if op == "NOT" and g.chance(0.85) else g.r.randint(1, 3)
    return Op([b"BITOP", g.case(op), g.key()] + g.keys(n, n))


BITMAP_OPS = [
    (12, lambda g: Op([b"SETBIT", g.key(), b_offset(g), g.pick([b"0", b"1", b"1", b"2", b"-1", b"x"])])),
    (10, lambda g: Op([b"GETBIT", g.key(), b_offset(g, 130) if g.chance(0.95) else b"4294967295"])),
    (8, lambda g: Op([b"BITCOUNT", g.key()] + b_range_args(g))),
    (8, b_bitpos),
    (6, b_bitop),
    (10, b_bitfield),
    (4, lambda g: b_bitfield(g, read_only=True)),
    (5, lambda g: Op([b"SET", g.key(), g.pick(BIT_VALUES) if g.chance(0.6) else g.string()])),
    (3, lambda g: Op([b"APPEND", g.key(), g.pick(BIT_VALUES)])),
    (2, lambda g: Op([b"SETRANGE", g.key(), g.int_arg(0, 12), g.pick(BIT_VALUES)])),
    (6, lambda g: Op([b"GET", g.key()])),
    (2, lambda g: Op([b"STRLEN", g.key()])),
]


# === transaction ===================================================================================================
# One connection: MULTI/EXEC/DISCARD/WATCH/UNWATCH among ordinary commands. What it shows: queued commands and
# their QUEUED replies, errors at queue time (unknown command, wrong arity: EXECABORT) against errors at run time
# (WRONGTYPE inside EXEC's reply, the rest still runs), the nesting and WATCH-inside-MULTI errors, and WATCH on
# this connection's own writes (Redis marks a watched key touched by any write, the watcher's own included: EXEC
# then answers nil), DEL/FLUSHALL/SWAPDB/expiry-by-EXPIRE touching watched keys, SELECT inside a transaction.
# Only exactly-compared commands: a transaction's EXEC reply holds their replies.
def t_write(g):
    if g.chance(0.5):
        return g.foreign_write()  # SET, RPUSH, HSET, SADD or ZADD
    k = g.key()
    return Op(g.pick([[b"INCR", k], [b"APPEND", k, g.string()], [b"EXPIRE", k, g.pick([b"0", b"-1", b"1000"])],
                      [b"RPOP", k]]))


def t_read(g):
    k = g.key()
    return Op(g.pick([[b"GET", k], [b"LRANGE", k, b"0", b"-1"], [b"HGET", k, g.pick(FIELDS)], [b"SCARD", k],
                      [b"EXISTS", k], [b"TYPE", k], [b"STRLEN", k]]))


TRANSACTION_OPS = [
    (8, lambda g: Op([g.case("MULTI")])),
    (6, lambda g: Op([g.case("EXEC")])),
    (2, lambda g: Op([g.case("DISCARD")])),
    (6, lambda g: Op([b"WATCH"] + g.keys(1, 3))),
    (2, lambda g: Op([b"UNWATCH"])),
    (14, t_write),
    (8, t_read),
    (2, lambda g: Op([g.pick([b"NOSUCHCOMMAND", b"GETT"]), g.key()])),
    (1, lambda g: Op([b"SELECT", g.pick([b"0", b"0", b"1", b"99"])])),
    (1, lambda g: Op([b"FLUSHALL"])),
    (1, lambda g: Op([b"SWAPDB", b"0", b"1"])),
    (1, lambda g: Op([b"PING"])),
    (1, lambda g: Op([b"DBSIZE"])),
]


# === sort ==========================================================================================================
# SORT and SORT_RO over lists, sets and sorted sets of numbers and words, with weights in strings ({k}w_<elem>) and
# hash fields ({k}h_<elem> -> f) for BY and GET. Where elements compare equal (BY nosort, or a pattern without "*",
# which means the same; ALPHA by weights that are equal or missing), Redis leaves them in the order it read the key
# in, and for a set, or a sorted set sorted other than BY nosort (read from its hash table), that order is the
# implementation's: so the sorted keys have fixed types ({k}l* lists, {k}s* sets, {k}z*
# sorted sets, never written as another type; a STORE may turn one into a list, which only makes it more
# deterministic), and such a sort of a set, or of a key of unknown type (the shared keys), is compared as a
# multiset, without LIMIT (which would pick an arbitrary subset) and without STORE (whose list would keep the
# arbitrary order). BY nosort with STORE is kept for sets: Redis then sorts the set by its elements.
SORT_ELEMENTS = [b"1", b"2", b"3", b"10", b"-5", b"2.5", b"7", b"a", b"b", b"c", b"", b"1e2", b"03"]
SORT_NUMBERS = [b"1", b"2", b"3", b"10", b"-5", b"2.5", b"7", b"1e2", b"03", b"0"]
SORT_BY = [b"{k}w_*", b"{k}w_*", b"{k}h_*->f", b"{k}h_*->g", b"{k}nokey_*", b"nosort", b"constant", b"{k}w_*->f"]
SORT_GET = [b"#", b"{k}w_*", b"{k}h_*->f", b"{k}h_*->nofield", b"{k}nokey_*", b"#"]
SORT_KEYS = [(b"{k}l1", "list"), (b"{k}l2", "list"), (b"{k}s1", "set"), (b"{k}s2", "set"), (b"{k}z1", "zset")]


def sort_key(g):
    if g.chance(0.2):
        return g.key(), "unknown"
    return g.pick(SORT_KEYS)


def sort_op(g, read_only=False):
    key, kind = sort_key(g)
    by = g.pick(SORT_BY) if g.chance(0.5) else None
    nosort = by is not None and b"*" not in by
    limit = [g.case("LIMIT"), g.int_arg(-2, 5), g.int_arg(-2, 6)] if g.chance(0.35) else []
    gets = []
    for _ in range(g.r.choice([0, 0, 1, 2])):
        gets += [g.case("GET"), g.pick(SORT_GET)]
    direction = [g.case(g.pick(["ASC", "DESC"]))] if g.chance(0.3) else []
    alpha = g.chance(0.35)
    store = [] if read_only or not g.chance(0.25) else [g.case("STORE"), g.pick([g.key(), g.pick(SORT_KEYS)[0]])]
    if read_only and g.chance(0.05):
        store = [b"STORE", g.key()]  # an error for SORT_RO
    own_order = nosort or (alpha and by is not None)
    # A sorted set is loaded in its own order only for nosort; otherwise Redis reads it from its hash table.
    arbitrary = own_order and (kind in ("set", "unknown") or (kind == "zset" and not nosort))
    unordered = arbitrary and not (nosort and store)
    if unordered:
        limit, store = [], []
    args = [b"SORT_RO" if read_only else b"SORT", key]
    args += ([g.case("BY"), by] if by is not None else []) + limit + gets + direction
    args += ([g.case("ALPHA")] if alpha else []) + store
    # Cut short, a sort kept exact because of its STORE would compare a set's own order.
    return Op(args, "unordered" if unordered else "exact", mutable=not arbitrary)


def sort_fill(g):
    key, kind = g.pick(SORT_KEYS)
    pool = SORT_NUMBERS if g.chance(0.6) else SORT_ELEMENTS
    elems = [g.pick(pool) for _ in range(g.r.randint(1, 5))]
    if kind == "list":
        return Op([b"RPUSH", key] + elems)
    if kind == "set":
        return Op([b"SADD", key] + elems)
    args = [b"ZADD", key]
    for e in elems:
        args += [g.pick(SORT_NUMBERS[:7]), e]
    return Op(args)


SORT_OPS = [
    (16, sort_op),
    (6, lambda g: sort_op(g, read_only=True)),
    (10, sort_fill),
    (5, lambda g: Op([b"SET", b"{k}w_" + g.pick(SORT_ELEMENTS), g.pick(SORT_NUMBERS + [b"x", b"3.5"])])),
    (4, lambda g: Op([b"HSET", b"{k}h_" + g.pick(SORT_ELEMENTS), g.pick([b"f", b"f", b"g"]),
                      g.pick(SORT_NUMBERS + [b"y"])])),
    (3, lambda g: Op([b"LRANGE", g.pick(SORT_KEYS)[0], b"0", b"-1"])),
    (2, lambda g: Op([b"DEL", b"{k}w_" + g.pick(SORT_ELEMENTS)])),
    (1, lambda g: Op([b"DEL", g.pick(SORT_KEYS)[0]])),
]


# === evict =========================================================================================================
# The eviction policies' observable behaviour, with a limit no server can be under (maxmemory 1 byte): before every
# command both servers evict every key the policy may evict (all keys for allkeys-*, keys with a TTL for volatile-*,
# none for noeviction), then refuse a command flagged deny-oom, inside MULTI too (EXECABORT), and run the rest.
# The stream switches the limit on and off (CONFIG SET maxmemory 1 / 0) to let keys in between; run.py sets the
# policy from the seed before the stream (EVICT_SETUP) and restores maxmemory 0 and noeviction after it. This
# is the one group that reconfigures the server, and only these two parameters.
EVICT_POLICIES = [b"noeviction", b"allkeys-lru", b"allkeys-lfu", b"allkeys-random", b"volatile-lru",
                  b"volatile-lfu", b"volatile-random", b"volatile-ttl"]


def evict_setup(g):
    return [[b"CONFIG", b"SET", b"maxmemory-policy", g.pick(EVICT_POLICIES)]]


EVICT_TEARDOWN = [[b"DISCARD"], [b"CONFIG", b"SET", b"maxmemory", b"0"],
                  [b"CONFIG", b"SET", b"maxmemory-policy", b"noeviction"]]


def e_write(g):
    """A write, half of them giving a key a TTL (what the volatile policies may evict)."""
    if g.chance(0.5):
        return g.foreign_write()
    k = g.key()
    return Op(g.pick([[b"SET", k, g.string(), b"EX", b"1000"], [b"EXPIRE", k, b"1000"],
                      [b"SETEX", k, b"1000", g.string()], [b"INCR", k]]))


def e_limit(g, value):
    """CONFIG SET maxmemory, outside transactions only: Redis decides whether a script inside EXEC may write from
    an out-of-memory state it records when a command starts with a limit set, and a limit switched on inside the
    transaction makes that state one left over from some earlier command."""
    if getattr(g, "in_multi", False):
        return Op([b"GET", g.key()])
    return Op([b"CONFIG", b"SET", b"maxmemory", value], mutable=False)


def e_transaction(g, word):
    g.in_multi = word == b"MULTI"
    return Op([word], mutable=False)


EVICT_OPS = [
    (6, lambda g: e_limit(g, b"1")),
    (6, lambda g: e_limit(g, b"0")),
    (20, e_write),
    (6, lambda g: Op([b"GET", g.key()])),
    (4, lambda g: Op([b"DBSIZE"])),
    (3, lambda g: Op([b"EXISTS"] + g.keys(1, 3))),
    (3, lambda g: Op([b"DEL", g.key()])),
    (3, lambda g: Op([b"PERSIST", g.key()])),
    (3, lambda g: e_transaction(g, b"MULTI")),
    (3, lambda g: e_transaction(g, b"EXEC")),
    (1, lambda g: e_transaction(g, b"DISCARD")),
    (2, lambda g: Op([b"EVAL", b"return redis.call('set', KEYS[1], 'x')", b"1", g.key()])),
    (2, lambda g: Op([b"EVAL", b"#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])", b"1", g.key()])),
    (2, lambda g: Op([b"EVAL", b"#!lua\nreturn redis.call('set', KEYS[1], 'y')", b"1", g.key()])),
]


GROUPS = {
    "string": lambda proto: STRING_OPS,
    "generic": lambda proto: GENERIC_OPS,
    "hash": lambda proto: HASH_OPS,
    "list": lambda proto: LIST_OPS,
    "set": lambda proto: SET_OPS,
    "zset": lambda proto: ZSET_OPS,
    "hll": lambda proto: HLL_OPS,
    "geo": lambda proto: GEO_OPS,
    "server": server_ops,
    "introspect": lambda proto: INTROSPECT_OPS,
    "acl": lambda proto: ACL_OPS,
    "scripting": lambda proto: SCRIPT_OPS,
    "stream": lambda proto: STREAM_OPS,
    "bitmap": lambda proto: BITMAP_OPS,
    "transaction": lambda proto: TRANSACTION_OPS,
    "sort": lambda proto: SORT_OPS,
    "evict": lambda proto: EVICT_OPS,
}

# Commands a group's stream starts with (drawn from the stream's own generator) and ends with, on both servers,
# their replies compared as any other; the end commands run even after a mismatch, so the next run starts clean.
GROUP_SETUP = {"evict": evict_setup}
GROUP_TEARDOWN = {"transaction": [[b"DISCARD"]], "evict": EVICT_TEARDOWN}
