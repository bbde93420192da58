"""How two servers' replies to the same command are compared.

Owns: one function per comparison mode (see gen.py). Each returns None when the replies agree and a short
description of the difference otherwise. Must never accept a difference a client could observe except the ones
the mode exists for (order of an unordered reply, the choice of a random reply, a few milliseconds of a TTL,
values of INFO fields that measure time or memory).
"""
from collections import Counter


def exact(a, b):
    if a.raw == b.raw:
        return None
    return "replies differ"


def leaves(reply):
    """The raw bytes of every non-aggregate element, depth first."""
    if reply.is_aggregate():
        out = []
        for item in reply.value:
            out.extend(leaves(item))
        return out
    return [reply.raw]


def shape(reply):
    if reply.is_aggregate():
        return (reply.kind, len(reply.value), tuple(shape(item) for item in reply.value))
    return reply.kind


def group(seq, k):
    return [tuple(seq[i:i + k]) for i in range(0, len(seq) - k + 1, k)]


def unordered(a, b):
    """Aggregates whose element order is unspecified (KEYS, SMEMBERS, HKEYS...): same kind, same multiset."""
    if not (a.is_aggregate() and b.is_aggregate()):
        return exact(a, b)
    if a.kind != b.kind:
        return "reply types differ (%s vs %s)" % (a.kind, b.kind)
    ca = Counter(item.raw for item in a.value)
    cb = Counter(item.raw for item in b.value)
    if ca == cb:
        return None
    return "different elements: only in reference %s; only in candidate %s" % (
        _few(ca - cb), _few(cb - ca))


def unordered_pairs(a, b):
    """Field/value replies with unspecified order (HGETALL, CONFIG GET): a RESP3 map or a RESP2 flat array."""
    if not (a.is_aggregate() and b.is_aggregate()):
        return exact(a, b)
    if a.kind != b.kind:
        return "reply types differ (%s vs %s)" % (a.kind, b.kind)
    if len(a.value) != len(b.value):
        return "different number of elements (%d vs %d)" % (len(a.value), len(b.value))
    ca = Counter(group([item.raw for item in a.value], 2))
    cb = Counter(group([item.raw for item in b.value], 2))
    if ca == cb:
        return None
    return "different pairs: only in reference %s; only in candidate %s" % (_few(ca - cb), _few(cb - ca))


def items_of(reply, k):
    return group(leaves(reply), k)


def random_items(a, b, pre_a, pre_b, k, pre_k, distinct):
    """A reply drawn at random from a key (SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY, SPOP): same type and
    shape, every element taken from the key's content as it was just before, no repeats where none are allowed."""
    if a.is_error() or b.is_error() or a.is_null() or b.is_null():
        return exact(a, b)
    if a.kind != b.kind:
        return "reply types differ (%s vs %s)" % (a.kind, b.kind)
    if shape(a) != shape(b):
        return "reply shapes differ"
    for name, reply, pre in (("reference", a, pre_a), ("candidate", b, pre_b)):
        pool = {item[:k] for item in items_of(pre, pre_k)}
        got = items_of(reply, k)
        strangers = [item for item in got if item not in pool]
        if strangers:
            return "%s returned elements that were not in the key: %s" % (name, _few(Counter(strangers)))
        if distinct and len(set(got)) != len(got):
            return "%s returned repeated elements where distinct ones are required" % name
    return None


def ttl(a, b, tolerance):
    """TTL-like integers: negative codes must match exactly, remaining times may differ by `tolerance`."""
    if a.kind != ":" or b.kind != ":":
        return exact(a, b)
    if a.value < 0 or b.value < 0:
        return exact(a, b)
    if abs(a.value - b.value) <= tolerance:
        return None
    return "values differ by more than %d" % tolerance


def time_shape(a, b):
    for reply in (a, b):
        if not (reply.kind == "*" and reply.value is not None and len(reply.value) == 2
                and all(item.kind == "$" and item.value is not None and item.value.isdigit()
                        for item in reply.value)):
            return exact(a, b) or "TIME reply is not an array of two integer bulk strings"
    if abs(int(a.value[0].value) - int(b.value[0].value)) > 5:
        return "clocks differ by more than 5 s"
    if not 0 <= int(b.value[1].value) < 1000000:
        return "microseconds out of range"
    return None


def parse_info(text):
    """INFO text -> list of (section, field, value)."""
    out = []
    section = ""
    for line in text.decode("latin-1").split("\r\n"):
        if not line:
            continue
        if line.startswith("# "):
            section = line[2:]
            out.append((section, None, None))
            continue
        field, _, value = line.partition(":")
        out.append((section, field, value))
    return out


def _kv(value):
    return dict(part.partition("=")[::2] for part in value.split(","))


# INFO values that are deterministic for two servers fed the same commands: compared by value, not just presence.
INFO_VALUE_CHECKS = {
    "Keyspace": ("keys", "expires"),
    "Commandstats": ("calls", "rejected_calls", "failed_calls"),
}
# A full SCAN-family iteration takes as many calls as the server's cursors need, which may differ.
INFO_VALUES_NOT_CHECKED = {"cmdstat_scan", "cmdstat_sscan", "cmdstat_hscan", "cmdstat_zscan"}


def info(a, b):
    """INFO: the same sections in the same order, at least the reference's fields; keyspace counts, error counts and
    command call counts equal; other values (times, memory, ids) are not compared."""
    if a.is_error() or b.is_error():
        return exact(a, b)
    if a.kind != b.kind:
        return "reply types differ (%s vs %s)" % (a.kind, b.kind)
    ia = parse_info(a.text() or b"")
    ib = parse_info(b.text() or b"")
    sections_a = [s for s, f, _ in ia if f is None]
    sections_b = [s for s, f, _ in ib if f is None]
    if sections_a != sections_b:
        return "INFO sections differ: %s vs %s" % (sections_a, sections_b)
    # Fields are compared as sets: clients read INFO as a dictionary, and Redis lists some sections (commandstats)
    # in hash-table order. Every field the reference prints must be there; extra fields of the candidate's own
    # (say, its version) break no client and are allowed, except in the sections whose field names are data
    # (keyspace dbN, errorstats, commandstats), where an extra field is a wrong count.
    fa = {(s, f) for s, f, _ in ia if f is not None}
    fb = {(s, f) for s, f, _ in ib if f is not None}
    missing = sorted(fa - fb)
    unexpected = sorted(x for x in fb - fa if x[0] in ("Keyspace", "Errorstats", "Commandstats"))
    if missing or unexpected:
        return "INFO fields differ: missing %s; unexpected %s" % (_fmt_fields(missing), _fmt_fields(unexpected))
    vb = {(s, f): v for s, f, v in ib}
    for s, f, v in ia:
        if f is None:
            continue
        other = vb[(s, f)]
        if s == "Errorstats" and v != other:
            return "INFO %s differs: %r vs %r" % (f, v, other)
        if s in INFO_VALUE_CHECKS and f not in INFO_VALUES_NOT_CHECKED:
            ka, kb = _kv(v), _kv(other)
            for name in INFO_VALUE_CHECKS[s]:
                if ka.get(name) != kb.get(name):
                    return "INFO %s %s differs: %r vs %r" % (f, name, ka.get(name), kb.get(name))
    return None


def hello(a, b):
    """HELLO: same fields in the same order with the same values, except the connection id."""
    if a.is_error() or b.is_error():
        return exact(a, b)
    if a.kind != b.kind or not a.is_aggregate() or not b.is_aggregate():
        return exact(a, b)
    pa = group(a.value, 2)
    pb = group(b.value, 2)
    if [k.raw for k, _ in pa] != [k.raw for k, _ in pb]:
        return "HELLO fields differ"
    for (ka, va), (_, vb) in zip(pa, pb):
        if ka.value == b"id":
            if va.kind != vb.kind:
                return "HELLO id types differ"
            continue
        if va.raw != vb.raw:
            return "HELLO field %r differs" % ka.value
    return None


def canon(reply):
    """A hashable, order-preserving form of a reply."""
    if reply.is_aggregate():
        return (reply.kind, tuple(canon(item) for item in reply.value))
    return reply.raw


def _sorted(items):
    return tuple(sorted(items, key=repr))


def canon_command_entry(reply):
    """One COMMAND INFO entry; its 10th element lists subcommands in the server's hash-table order."""
    if not (reply.is_aggregate() and len(reply.value) == 10):
        return canon(reply)
    parts = [canon(item) for item in reply.value[:9]]
    subs = reply.value[9]
    if subs.is_aggregate():
        parts.append((subs.kind, _sorted(canon_command_entry(item) for item in subs.value)))
    else:
        parts.append(canon(subs))
    return (reply.kind, tuple(parts))


def canon_docs(reply):
    """One COMMAND DOCS document (a map, or a flat array in RESP2); its subcommands are in hash-table order."""
    if not reply.is_aggregate():
        return canon(reply)
    parts = []
    for key, value in group(reply.value, 2):
        if key.value == b"subcommands" and value.is_aggregate():
            subs = _sorted((canon(k), canon_docs(v)) for k, v in group(value.value, 2))
            parts.append((canon(key), (value.kind, subs)))
        else:
            parts.append((canon(key), canon(value)))
    return (reply.kind, tuple(parts))


def command_info(a, b, ordered):
    """COMMAND / COMMAND INFO: every entry the candidate returns equals the reference's, up to subcommand order.

    The candidate may implement fewer commands than Redis: for a named command it lacks it replies null (as Redis
    does for an unknown name), and the full list holds only what it implements. That is the promise to check:
    every command redoxide has is described exactly as Redis 7.0.15 describes it."""
    if not (a.is_aggregate() and b.is_aggregate()):
        return exact(a, b)
    if a.kind != b.kind:
        return "reply types differ (%s vs %s)" % (a.kind, b.kind)
    if ordered:
        if len(a.value) != len(b.value):
            return "different number of entries (%d vs %d)" % (len(a.value), len(b.value))
        bad = []
        for x, y in zip(a.value, b.value):
            if y.value is None:
                continue  # not implemented by the candidate: an unknown command to it
            cx, cy = canon_command_entry(x), canon_command_entry(y)
            if cx != cy:
                bad.append(_entry_name(cy))
        return "entries differ: %s" % ", ".join(bad[:10]) if bad else None
    ea = Counter(canon_command_entry(item) for item in a.value)
    eb = Counter(canon_command_entry(item) for item in b.value)
    if not eb:
        return "candidate lists no commands"
    extra = eb - ea
    if extra:
        return "entries differ from every reference entry: %s" % ", ".join(
            sorted(_entry_name(x) for x in extra.elements())[:10])
    return None


def command_count(a, b):
    """COMMAND COUNT: an integer no larger than the reference's (the candidate may implement fewer commands)."""
    if a.kind != ":" or b.kind != ":":
        return exact(a, b)
    return None if 0 < b.value <= a.value else "count %r not in 1..%r" % (b.value, a.value)


def subset(a, b):
    """COMMAND LIST: the candidate's names are a subset of the reference's."""
    if not (a.is_aggregate() and b.is_aggregate()):
        return exact(a, b)
    extra = Counter(canon(x) for x in b.value) - Counter(canon(x) for x in a.value)
    return "names only in candidate: %s" % _few(extra) if extra else None


def _entry_name(entry):
    try:
        return entry[1][0].split(b"\r\n")[1].decode("latin-1")
    except (IndexError, TypeError, AttributeError):
        return repr(entry)[:60]


def command_docs(a, b, ordered):
    """COMMAND DOCS: every document the candidate returns equals the reference's for that command, up to
    subcommand order; the candidate documents only the commands it implements."""
    if not (a.is_aggregate() and b.is_aggregate()):
        return exact(a, b)
    if a.kind != b.kind:
        return "reply types differ (%s vs %s)" % (a.kind, b.kind)
    da = dict((canon(k), canon_docs(v)) for k, v in group(a.value, 2))
    db = [(canon(k), canon_docs(v)) for k, v in group(b.value, 2)]
    unknown = [k for k, _ in db if k not in da]
    if unknown:
        return "documented only by the candidate: %s" % _few(Counter(unknown))
    differing = [k for k, v in db if da[k] != v]
    return "documents differ for %s" % _few(Counter(differing)) if differing else None


def scan_results(ra, rb):
    """Full SCAN-family iterations: ('items', set) or ('reply', Reply) or ('endless', None) per server."""
    if ra[0] != rb[0]:
        return "iteration outcomes differ (%s vs %s)" % (ra[0], rb[0])
    if ra[0] == "reply":
        return exact(ra[1], rb[1])
    if ra[0] == "endless":
        return None
    if ra[1] == rb[1]:
        return None
    return "different elements: only in reference %s; only in candidate %s" % (
        _few(Counter(ra[1] - rb[1])), _few(Counter(rb[1] - ra[1])))


def _few(counter, limit=6, width=120):
    items = list(counter.elements())
    shown = ", ".join(repr(x)[:width] for x in items[:limit])
    return "[%s%s]" % (shown, ", ..." if len(items) > limit else "")


def _fmt_fields(fields, limit=8):
    shown = ", ".join("%s/%s" % (s, f if f is not None else "(header)") for s, f in fields[:limit])
    return "[%s%s]" % (shown, ", ..." if len(fields) > limit else "")


def _acl_normalized(raw):
    """An ACL rule description with each run of single-command rules sorted. Redis 7.0.15 emits the categories in a
    fixed order but the single commands that complete them in its command dict's hash order, which changes from run
    to run (the dict's hash seed is random); everything else keeps its place."""
    end = b"\r\n" if raw.endswith(b"\r\n") else b""
    parts = raw[:len(raw) - len(end)].split(b" ")
    out, run = [], []

    def flush():
        if run:
            closing = any(p.endswith(b")") for p in run)
            items = sorted(p.rstrip(b")") for p in run)
            if closing:
                items[-1] += b")"
            out.extend(items)
            run.clear()

    for p in parts:
        if len(p) > 1 and p[:1] in (b"+", b"-") and p[1:2] != b"@":
            run.append(p)
            if p.endswith(b")"):
                flush()
        else:
            flush()
            out.append(p)
    flush()
    return b" ".join(out) + end


def memory_stats(a, b):
    """MEMORY STATS: the same shape (a map, or a flat array in RESP2, with the same element types) and the same
    field names in the same order; the figures themselves are each server's own memory."""
    if shape(a) != shape(b):
        return "reply shapes differ"

    def names(reply):
        out = []
        for i, item in enumerate(reply.value):
            if i % 2 == 0:
                out.append(item.raw)
            elif item.is_aggregate():
                out.extend(names(item))
        return out

    if names(a) == names(b):
        return None
    return "field names differ: %s vs %s" % (_few(Counter(names(a))), _few(Counter(names(b))))


def acl_rules(a, b):
    """ACL LIST / GETUSER: same shape, same leaves once each run of single-command rules is put in order."""
    if shape(a) != shape(b):
        return "reply shapes differ"
    if [_acl_normalized(x) for x in leaves(a)] == [_acl_normalized(x) for x in leaves(b)]:
        return None
    return "replies differ (single-command rules compared as sets)"
