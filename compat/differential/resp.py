"""A minimal RESP2/RESP3 client over a raw socket, for differential testing.

Owns: encoding commands as RESP arrays of bulk strings, and parsing replies into `Reply` trees that keep the
exact bytes each reply arrived as (so two servers' replies can be compared byte for byte, or structurally).
Must never interpret replies (that is compare.py's job) and never talk to anything but 127.0.0.1.
"""
import socket
import time

AGGREGATE_KINDS = "*%~>|"
NULL_KINDS = "_"
LINE_KINDS = "+-:,(#_"
BLOB_KINDS = "$!="


class ProtocolError(Exception):
    pass


class Incomplete(Exception):
    pass


class Reply:
    """One reply. kind is the RESP type byte as a str ('+', '-', ':', '$', '*', '_', ',', '#', '(', '!', '=', '%',
    '~', '>', '|'); value is bytes for line/blob types, None for null bulk/array ('$-1', '*-1') and '_', a list of
    Reply for aggregates (a map's list alternates key, value); raw is the exact bytes of the whole reply."""

    __slots__ = ("kind", "value", "raw")

    def __init__(self, kind, value, raw):
        self.kind = kind
        self.value = value
        self.raw = raw

    def is_error(self):
        return self.kind in "-!"

    def is_null(self):
        return self.kind == "_" or (self.kind in "$*" and self.value is None)

    def is_aggregate(self):
        return self.kind in AGGREGATE_KINDS and self.value is not None

    def text(self):
        """The payload of a bulk/simple/verbatim reply as bytes (verbatim without its 'txt:' prefix)."""
        if self.kind == "=" and self.value is not None:
            return self.value[4:]
        return self.value

    def __repr__(self):
        return "Reply(%r)" % (self.raw,)


def encode_command(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def _read_line(buf, pos):
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete()
    return buf[pos:end], end + 2


def parse_reply(buf, pos=0):
    """Parses one reply starting at buf[pos]; returns (Reply, position after it). Raises Incomplete."""
    if pos >= len(buf):
        raise Incomplete()
    kind = chr(buf[pos])
    line, after = _read_line(buf, pos + 1)
    if kind in "+-,(#":
        return Reply(kind, line, buf[pos:after]), after
    if kind == ":":
        try:
            value = int(line)
        except ValueError:
            raise ProtocolError("bad integer reply %r" % line)
        return Reply(kind, value, buf[pos:after]), after
    if kind == "_":
        return Reply(kind, None, buf[pos:after]), after
    if kind in BLOB_KINDS:
        try:
            length = int(line)
        except ValueError:
            raise ProtocolError("bad length %r" % line)
        if length < 0:
            return Reply(kind, None, buf[pos:after]), after
        end = after + length
        if len(buf) < end + 2:
            raise Incomplete()
        if buf[end:end + 2] != b"\r\n":
            raise ProtocolError("blob of length %d not followed by CRLF" % length)
        return Reply(kind, buf[after:end], buf[pos:end + 2]), end + 2
    if kind in AGGREGATE_KINDS:
        try:
            count = int(line)
        except ValueError:
            raise ProtocolError("bad aggregate length %r" % line)
        if count < 0:
            return Reply(kind, None, buf[pos:after]), after
        if kind in "%|":
            count *= 2
        items = []
        cur = after
        for _ in range(count):
            item, cur = parse_reply(buf, cur)
            items.append(item)
        if kind == "|":
            # An attribute precedes the real reply; keep it in raw so byte comparison still sees it.
            real, cur = parse_reply(buf, cur)
            return Reply(real.kind, real.value, buf[pos:cur]), cur
        return Reply(kind, items, buf[pos:cur]), cur
    raise ProtocolError("unknown reply type byte %r" % kind)


class Conn:
    """A blocking connection with bounded waits: every read gives up after timeout_s."""

    def __init__(self, port, timeout_s=10.0, host="127.0.0.1"):
        if host != "127.0.0.1":
            raise ValueError("differential tests only talk to 127.0.0.1")
        self.timeout_s = timeout_s
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, args):
        self.sock.sendall(encode_command(args))

    def read_reply(self):
        deadline = time.monotonic() + self.timeout_s
        while True:
            if self.buf:
                try:
                    reply, used = parse_reply(self.buf)
                    self.buf = self.buf[used:]
                    return reply
                except Incomplete:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError("no complete reply within %.0f s" % self.timeout_s)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk

    def call(self, args):
        self.send(args)
        return self.read_reply()
