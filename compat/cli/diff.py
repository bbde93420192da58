#!/usr/bin/env python3
"""Differential test of redoxide-cli against Debian's redis-cli 7.0.15.

Starts a server (Debian's redis-server by default, or --server BIN) on a free 127.0.0.1 port with
--save "" --appendonly no, then runs every case below through /usr/bin/redis-cli and through
target/release/redoxide-cli with the same arguments and the same stdin, after loading the same
fixture into the server before each run, and compares stdout, stderr and the exit code byte for byte.
With --cluster it also starts two cluster-enabled redis-servers and checks -c (MOVED and ASK).
The tool modes (--scan, --bigkeys, --memkeys, --hotkeys, --stat, --latency*) run from MODE_CASES;
the never-ending ones are stopped with SIGINT after a bounded time.

Usage: compat/cli/diff.py [--server BIN] [--cli BIN] [--oracle BIN] [--cluster] [-k SUBSTRING]
Prints one line per difference (with both outputs) and `N passed, M failed`; exits 1 on any failure.
Every server it starts is killed by its pid when the script ends; every wait is bounded.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Keys of every type, loaded before each run so both clients see the same data.
FIXTURE = [
    ["FLUSHALL"],
    ["SET", "str", "hello"],
    ["SET", "num", "41"],
    ["SET", "bin", b"a\x00b\r\n\"\\\t\x07\x08\xff end"],
    ["SET", "uni", "h\u00e9llo \u4e16\u754c"],
    ["SET", "empty", ""],
    ["RPUSH", "list", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"],
    ["HSET", "hash", "f1", "v1", "f2", "v2"],
    ["SADD", "set", "m1"],
    ["ZADD", "zset", "1.5", "one", "2", "two", "3.25", "three"],
    ["SELECT", "3"],
    ["SET", "in3", "db three"],
    ["CONFIG", "RESETSTAT"],
]

# (arguments after -h/-p, stdin bytes or None)
CASES = [
    # every reply shape, default mode (stdout is a pipe: raw)
    (["ping"], None),
    (["echo", "hi there"], None),
    (["echo", b"\xff\xfe bin\x01"], None),
    (["--no-raw", "set", "k\u00e9y", b"\xc3\xa9\x01\xff"], None),
    (["get", "str"], None),
    (["get", "missing"], None),
    (["get", "bin"], None),
    (["get", "uni"], None),
    (["get", "empty"], None),
    (["incr", "num"], None),
    (["incr", "str"], None),
    (["nosuchcommand", "x"], None),
    (["lrange", "list", "0", "-1"], None),
    (["lrange", "nolist", "0", "-1"], None),
    (["hgetall", "hash"], None),
    (["zrange", "zset", "0", "-1", "withscores"], None),
    (["zscore", "zset", "three"], None),
    (["smembers", "set"], None),
    (["mget", "str", "missing", "bin"], None),
    (["exists", "str", "num"], None),
    (["set", "new", "v", "nx", "get"], None),
    (["object", "encoding", "list"], None),
    (["command", "info", "get"], None),
    (["hello", "3"], None),
    (["hello", "2"], None),
    (["client", "list", "id", "999999"], None),
    (["info", "keyspace"], None),
    (["lpos", "list", "zz"], None),
    (["type", "zset"], None),
    # tty format
    (["--no-raw", "ping"], None),
    (["--no-raw", "get", "str"], None),
    (["--no-raw", "get", "missing"], None),
    (["--no-raw", "get", "bin"], None),
    (["--no-raw", "get", "uni"], None),
    (["--no-raw", "get", "empty"], None),
    (["--no-raw", "incr", "num"], None),
    (["--no-raw", "incr", "str"], None),
    (["--no-raw", "lrange", "list", "0", "-1"], None),
    (["--no-raw", "lrange", "nolist", "0", "-1"], None),
    (["--no-raw", "hgetall", "hash"], None),
    (["--no-raw", "zrange", "zset", "0", "-1", "withscores"], None),
    (["--no-raw", "mget", "str", "missing", "bin"], None),
    (["--no-raw", "command", "info", "get", "set"], None),
    (["--no-raw", "command", "docs", "get"], None),
    (["--no-raw", "hello", "3"], None),
    (["--no-raw", "info", "keyspace"], None),
    (["--no-raw", "client", "list", "id", "999999"], None),
    # A nested array from SCAN, matched down to one key: the order SCAN walks the whole keyspace in can change
    # between two calls while Redis's dict rehashes, which made this case fail now and then.
    (["--no-raw", "scan", "0", "match", "str", "count", "100"], None),
    # RESP3
    (["-3", "--no-raw", "hgetall", "hash"], None),
    (["-3", "--no-raw", "hgetall", "nohash"], None),
    (["-3", "--no-raw", "smembers", "set"], None),
    (["-3", "--no-raw", "smembers", "noset"], None),
    (["-3", "--no-raw", "zscore", "zset", "one"], None),
    (["-3", "--no-raw", "zrange", "zset", "0", "-1", "withscores"], None),
    (["-3", "--no-raw", "get", "missing"], None),
    (["-3", "--no-raw", "command", "docs", "get"], None),
    (["-3", "--no-raw", "hello", "3"], None),
    (["-3", "--no-raw", "config", "get", "maxmemory*"], None),
    (["-3", "hgetall", "hash"], None),
    (["-3", "zscore", "zset", "one"], None),
    (["-3", "hello", "3"], None),
    (["-3", "--csv", "hgetall", "hash"], None),
    (["-3", "--csv", "zscore", "zset", "one"], None),
    (["-3", "--no-raw", "debug", "protocol", "map"], None),
    (["-3", "--no-raw", "debug", "protocol", "set"], None),
    (["-3", "--no-raw", "debug", "protocol", "double"], None),
    (["-3", "--no-raw", "debug", "protocol", "true"], None),
    (["-3", "--no-raw", "debug", "protocol", "false"], None),
    (["-3", "--no-raw", "debug", "protocol", "null"], None),
    (["-3", "--no-raw", "debug", "protocol", "verbatim"], None),
    (["-3", "--no-raw", "debug", "protocol", "bignum"], None),
    (["-3", "--no-raw", "debug", "protocol", "attrib"], None),
    (["-3", "debug", "protocol", "true"], None),
    (["-3", "--csv", "debug", "protocol", "false"], None),
    (["-3", "--csv", "debug", "protocol", "null"], None),
    # csv
    (["--csv", "get", "bin"], None),
    (["--csv", "get", "missing"], None),
    (["--csv", "lrange", "list", "0", "3"], None),
    (["--csv", "incr", "str"], None),
    (["--csv", "ping"], None),
    (["--csv", "hgetall", "hash"], None),
    # --raw explicitly, delimiters
    (["--raw", "lrange", "list", "0", "2"], None),
    (["--raw", "-d", ",", "lrange", "list", "0", "2"], None),
    (["--raw", "-D", "|", "get", "str"], None),
    (["--raw", "get", "missing"], None),
    # -n, -r, -i, -e, -x
    (["-n", "3", "get", "in3"], None),
    (["-n", "3", "--no-raw", "dbsize"], None),
    (["-n", "99", "ping"], None),
    (["-u", "redis://127.0.0.1:{port}/3", "get", "in3"], None),
    (["-u", "redis://127.0.0.1:{port}", "--no-raw", "dbsize"], None),
    (["-u", "redis://:pw%41@127.0.0.1:{port}/1", "ping"], None),
    (["-u", "REDIS://bob:pw@127.0.0.1:{port}", "ping"], None),
    (["-u", "http://127.0.0.1:{port}", "ping"], None),
    (["-u", "redis://%zz@127.0.0.1:{port}", "ping"], None),
    (["-r", "3", "incr", "num"], None),
    (["-r", "3", "--no-raw", "incr", "num"], None),
    (["-r", "2", "-i", "0.05", "ping"], None),
    (["-r", "2", "incr", "str"], None),
    (["-e", "incr", "str"], None),
    (["-e", "--no-raw", "incr", "str"], None),
    (["-e", "incr", "num"], None),
    (["-x", "set", "fromstdin"], b"line one\nline two\n"),
    (["-x", "--no-raw", "append", "str"], b" world"),
    (["-X", "TAG", "set", "TAG", "v"], b"from stdin"),
    (["-X", "TAG", "set", "k", "v"], b"from stdin"),
    (["-x", "-X", "TAG", "set", "k"], b"v"),
    (["--quoted-input", "set", '"a\\x00b"', "'c d'"], None),
    (["--quoted-input", "--no-raw", "get", '"a\\x00b"'], None),
    (["--quoted-input", "get", '"unbalanced'], None),
    # stdin mode
    (["--no-raw"], b'set a 1\nget a\nincr str\n\nbad "quote\nlrange list 0 2\n3 incr a\nget "sp ace"\nhgetall hash\n'),
    ([], b"set a 1\nget a\nincr str\nlrange list 0 2\nmget a missing\n"),
    (["-3", "--no-raw"], b"hgetall hash\nzscore zset two\n"),
    (["--csv"], b"lrange list 0 1\nget bin\n"),
    (["-n", "3"], b"get in3\nselect 0\nget str\n"),
    ([], b"get str\nquit\nget str\n"),
    ([], b"0 ping\n-1 ping\n"),
    ([], b"ping"),
    # shows that the stdin mode sends COMMAND DOCS first, as redis-cli's prompt does to load its help
    (["--no-raw"], b"ping\ninfo commandstats\n"),
    # option and connection errors
    (["--nosuch", "ping"], None),
    (["-a", "secret", "ping"], None),
    (["-a", "secret", "--no-auth-warning", "ping"], None),
    (["--user", "bob", "--pass", "secret", "ping"], None),
    (["-2", "-3", "ping"], None),
    (["-p"], None),
    (["-h", "127.0.0.1", "-p", "1", "ping"], "NOPORT"),
    (["-s", "{sock}", "--no-raw", "lrange", "list", "0", "2"], None),
    (["-s", "/nonexistent/redis.sock", "ping"], None),
    (["-s", "{sock}", "-c", "ping"], None),
    (["-h", "127.0.0.1", "-p", "1"], b"ping\n"),
    # --pipe
    (["--pipe"], b"*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$3\r\nstr\r\nPING\r\n"),
]

# Tool modes: (arguments, setup run after the fixture in db 0, how to run, normaliser or None).
# How to run: "exit" (the mode ends by itself; stdout is a pipe), or ("pty" | "pipe", seconds): the
# CLI runs that long with stdout on a pseudo-terminal or a pipe and is then stopped with SIGINT, as a
# user stops these modes. A normaliser masks only what differs from run to run (timings, counters
# the server moves on its own); the shape around it is compared byte for byte.
# Keys whose names need quoting: --scan prints them quoted on a tty and as C strings (cut at the NUL)
# otherwise.
ODD_KEYS = [["SET", b"nul\x00key", "v"], ["SET", "nl\nkey", "v"], ["SET", "s p", "v"], ["SADD", "set", "m2", "m3"]]
# OBJECT FREQ needs an LFU policy, set before the keys are written so their counters start at
# LFU_INIT_VAL (5); one GET moves str's to 6. A second access would be random (LFULogIncr). No
# decay (lfu-decay-time 0): with the default, a minute boundary crossed between the fixture and the
# scan takes one off every counter in one run and not in the other (seen in a CI rehearsal).
LFU = (
    [["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu", "lfu-decay-time", "0"]]
    + FIXTURE
    + [["SELECT", "0"], ["GET", "str"]]
)
NO_LFU = [["CONFIG", "SET", "maxmemory-policy", "noeviction"]]
MODE_CASES = [
    (["--scan"], ODD_KEYS, "exit", None),
    (["--no-raw", "--scan"], ODD_KEYS, "exit", None),
    (["--csv", "--scan"], ODD_KEYS, "exit", None),
    (["--scan", "--pattern", "*s*"], ODD_KEYS, "exit", None),
    (["--scan", "--pattern", "nomatch*"], [], "exit", None),
    (["--no-raw", "--scan", "--quoted-pattern", '"nul\\x00*"'], ODD_KEYS, "exit", None),
    (["--scan", "--quoted-pattern", '"nul'], [], "exit", None),
    (["-n", "3", "--scan", "-i", "0.01"], [], "exit", None),
    (["-p", "1", "--scan"], [], "exit", None),
    (["--scan", "-n", "99"], [], "exit", None),
    (["--bigkeys"], ODD_KEYS, "exit", None),
    (["--bigkeys", "-i", "0.01", "--pattern", "*i*"], [], "exit", None),
    (["--bigkeys", "-n", "5"], [], "exit", None),
    (["-n", "3", "--bigkeys"], [], "exit", None),
    # MEMORY USAGE is the server's own measure: same server, same data, same bytes.
    (["--memkeys"], [], "exit", None),
    (["--memkeys-samples", "2"], [], "exit", None),
    (["--memkeys", "-n", "5"], [], "exit", None),
    (["--hotkeys"], NO_LFU, "exit", None),
    (["--hotkeys"], LFU, "exit", None),
    (["--hotkeys", "--pattern", "*s*"], LFU, "exit", None),
    (["--latency", "-i", "0.2"], [], "exit", "latency"),
    (["--csv", "--latency", "-i", "0.2"], [], "exit", "latency"),
    (["--latency", "-p", "1"], [], "exit", None),
    # Not a terminal: C's stdio keeps these lines in its 4096-byte buffer, so a CLI stopped after
    # half a second has printed nothing.
    (["--latency-history", "-i", "0.1"], [], ("pipe", 0.5), None),
    (["--stat", "-i", "0.1"], [], ("pipe", 0.5), None),
    (["--latency"], [], ("pty", 0.5), "redraw"),
    (["--latency-history", "-i", "0.15"], [], ("pty", 0.8), "redraw"),
    (["--stat", "-i", "0.1"], [], ("pty", 0.75), "stat"),
    (["--latency-dist", "-i", "0.15"], [], ("pty", 0.8), "spectrum"),
    (["--latency-dist", "--mono", "-i", "0.15"], [], ("pty", 0.5), "spectrum"),
]

# --latency's one line off a terminal: min, max, avg (ms) and the sample count vary with timing.
# The count is kept when it is implausible for the interval, so a wrong sampling rate still fails.
LATENCY_LINE = re.compile(rb"^(\d+)([ ,])(\d+)[ ,](\d+\.\d\d)[ ,](\d+)\n$")


def mask_latency(out, interval_s):
    m = LATENCY_LINE.match(out)
    if not m:
        return out
    sep = m.group(2)
    count = int(m.group(5))
    # One PING per 10 ms (plus the PING's own time) for the interval.
    plausible = interval_s * 50 <= count <= interval_s * 110
    return sep.join([b"<min>", b"<max>", b"<avg>", b"<n>" if plausible else m.group(5)]) + b"\n"


# A redrawn --latency / --latency-history line: numbers masked, then runs of identical shapes
# collapsed (how many samples fit in the run is timing); at least two redraws must be there.
REDRAW_NUMBERS = re.compile(rb"\d+(\.\d\d)?")


def mask_redraw(out):
    pieces = out.split(b"\x1b[0G\x1b[2K")
    shapes = []
    for piece in pieces[1:]:
        shape = REDRAW_NUMBERS.sub(lambda m: b"N.NN" if m.group(1) else b"N", piece)
        if not shapes or shapes[-1] != shape:
            shapes.append(shape)
    if len(pieces) < 3:
        return out
    # How many history ranges fit in the run is timing: the first four shapes (two ranges).
    return pieces[0] + b"|".join(shapes[:4])


def mask_stat(out):
    """--stat on a terminal: the header lines exact; in each data line the keys, clients and
    blocked columns and the first "(+0)" exact, memory, request and connection counts masked, and
    every column checked at redis-cli's fixed offsets. The last line may be cut by the stop."""
    lines = out.split(b"\r\n")
    res = []
    for n, line in enumerate(lines[:-1]):
        if line.startswith(b"---") or line.startswith(b"keys "):
            res.append(line)
            continue
        keys, mem, gap, clients, blocked = line[:11], line[11:19], line[19:20], line[20:28], line[28:36]
        requests, gap2, conns = line[36:55], line[55:56], line[56:68]
        ok = (re.match(rb"^\d+ *$", keys) and re.match(rb"^\d+(\.\d\d)?[BKMG] *$", mem) and gap == b" "
              and re.match(rb"^\d+ *$", clients) and re.match(rb"^\d+ *$", blocked) and gap2 == b" "
              and re.match(rb"^\d+ \(\+\d+\) *$", requests) and re.match(rb"^\d+ *$", conns))
        if not ok:
            res.append(line)
            continue
        delta = re.search(rb"\(\+\d+\)", requests).group(0)
        res.append(b"|".join([keys.rstrip(), b"<mem>", clients.rstrip(), blocked.rstrip(),
                              delta if delta == b"(+0)" else b"(+N)", b"<conns>", line[68:]]))
    # How many lines fit in the run is timing: compare the first four (header, header, 2 lines).
    return b"\n".join(res[:4]) if len(res) >= 4 else out


SPECTRUM_LINE = re.compile(rb"^\x1b\[38;5;0m(\x1b\[48;5;\d+m[.\-*#1-9A-Q?]){31}\x1b\[0m$")


def mask_spectrum(out):
    """--latency-dist: the legend exact; a spectrum line's colours (the share of each bucket) vary,
    its 31 bucket characters in order and the escape codes around them do not."""
    lines = out.split(b"\r\n")
    res = []
    for line in lines[:-1]:
        if line.startswith(b"\x1b[38;5;0m"):
            if not SPECTRUM_LINE.match(line):
                res.append(line)
                continue
            line = re.sub(rb"\x1b\[48;5;\d+m", b"<c>", line)
        res.append(line)
    # The legend's 8 lines and the first spectrum line after it.
    return b"\n".join(res[:9]) if len(res) >= 9 else out


def run_stopped(binary, args, env, seconds, on_pty):
    """Runs a never-ending mode for `seconds` (stdout on a pty or a pipe), then stops it with SIGINT
    as a user does; returns what it printed, its stderr and its exit status."""
    import pty
    import signal
    if on_pty:
        master, slave = pty.openpty()
        p = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=env)
        os.close(slave)
    else:
        p = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    if not on_pty:
        try:
            out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # it ignored SIGINT: it must not outlive the script
            p.kill()
            out, err = p.communicate(timeout=10)
        return out, err, p.returncode
    out = b""
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait(timeout=10)
    err = p.stderr.read()
    p.stderr.close()
    return out, err, rc


def mode_cases(server, cli, oracle, env, dead_port, only, failures):
    passed = 0
    for args, setup, how, masker in MODE_CASES:
        if only and only not in " ".join(args):
            continue
        full = ["-h", "127.0.0.1", "-p", str(server.port)] + args
        full = [dead_port if a == "1" and full[i - 1] == "-p" else a for i, a in enumerate(full)]
        results = []
        for binary in (oracle, cli):
            for argv in FIXTURE + [["SELECT", "0"]] + setup:
                server.cmd(argv)
            # Two serverCron ticks (hz 10): Redis finishes rehashing the tables the fixture grew,
            # so SCAN walks the same layout for both CLIs (mid-rehash, its order can change).
            time.sleep(0.25)
            try:
                if how == "exit":
                    try:
                        r = run(binary, full, None, env)
                    except subprocess.TimeoutExpired:  # run() has killed it; a mode that should end did not
                        r = (b"<did not exit within 30 s>", b"", None)
                else:
                    r = run_stopped(binary, full, env, how[1], how[0] == "pty")
            finally:
                for argv in NO_LFU:
                    server.cmd(argv)
            out, err, rc = r
            if masker == "latency":
                out = mask_latency(out, float(args[-1]))
            elif masker == "redraw":
                out = mask_redraw(out)
            elif masker == "stat":
                out = mask_stat(out)
            elif masker == "spectrum":
                out = mask_spectrum(out)
            results.append((out, err, rc))
        if compare("mode %r" % args, results[0], results[1], failures):
            passed += 1
    return passed


def free_port():
    # Below 55535 so that a cluster node's bus port (port + 10000) is a valid port too.
    for _ in range(1000):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port < 55535:
            return port
    raise RuntimeError("no free port below 55535")


# HELLO shows the connection's id, one higher for the second client: masked before comparing.
CLIENT_ID = re.compile(rb'(\bid(?:\n| |" => \(integer\) ))\d+')


# Command durations in INFO commandstats differ from run to run.
USEC = re.compile(rb"usec(_per_call)?=[0-9.]+")


def normalize(result):
    out, err, rc = result
    return USEC.sub(rb"usec\1=<t>", CLIENT_ID.sub(rb"\1<id>", out)), err, rc


def encode(argv):
    out = b"*%d\r\n" % len(argv)
    for a in argv:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    if not line:
        raise RuntimeError("server closed the connection")
    t, rest = line[:1], line[1:-2]
    if t in (b"+", b"-", b":", b",", b"#", b"_", b"("):
        return line
    if t in (b"$", b"="):
        n = int(rest)
        return line + (f.read(n + 2) if n >= 0 else b"")
    if t in (b"*", b"~", b">", b"%"):
        n = int(rest) * (2 if t == b"%" else 1)
        return line + b"".join(read_reply(f) for _ in range(max(n, 0)))
    raise RuntimeError("bad reply %r" % line)


class Server:
    def __init__(self, binary, workdir, extra=()):
        self.port = free_port()
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", workdir]
        if os.path.basename(binary) == "redis-server":
            args += ["--enable-debug-command", "yes"]
        # A unix socket too, for -s (a server that does not support it fails those cases).
        self.unixsocket = os.path.join(workdir, "redis-%d.sock" % self.port)
        if not extra:
            args += ["--unixsocket", self.unixsocket]
        args += list(extra)
        self.log = open(os.path.join(workdir, "server-%d.log" % self.port), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                self.f = self.sock.makefile("rb")
                if self.cmd(["PING"]) == b"+PONG\r\n":
                    return
            except OSError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("server %s did not start on port %d" % (binary, self.port))
            time.sleep(0.05)

    def cmd(self, argv):
        self.sock.sendall(encode(argv))
        return read_reply(self.f)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


def run(binary, args, stdin, env=None):
    p = subprocess.run([binary] + args, input=stdin if stdin is not None else b"", capture_output=True,
                       timeout=30, env=env)
    return p.stdout, p.stderr, p.returncode


def run_on_pty(binary, args, env, stdin=None):
    """Runs with stdout on a pseudo-terminal, so the CLI picks its tty format (and shows pushes) by
    itself; stderr and stdin stay pipes. Returns what the terminal received (the pty turns \\n into
    \\r\\n for both CLIs alike)."""
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([binary] + args, stdin=subprocess.PIPE, stdout=slave, stderr=subprocess.PIPE, env=env)
    os.close(slave)
    p.stdin.write(stdin or b"")
    p.stdin.close()
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    err = p.stderr.read()
    p.stderr.close()
    return out, err, p.wait(timeout=30)


def run_streaming(binary, args, server, feed):
    """Starts a SUBSCRIBE, lets `feed` act on the server through the fixture connection once the
    client is subscribed, then kills the subscriber server-side; returns stdout, stderr, exit code."""
    p = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while b"sub=1" not in server.cmd(["CLIENT", "LIST", "TYPE", "pubsub"]):
        if time.time() > deadline:
            p.kill()
            p.wait(timeout=10)
            raise RuntimeError("%s did not subscribe" % binary)
        time.sleep(0.02)
    feed(server)
    time.sleep(0.2)
    server.cmd(["CLIENT", "KILL", "TYPE", "pubsub"])
    out, err = p.communicate(timeout=30)
    return out, err, p.returncode


def compare(name, oracle, ours, failures):
    if oracle == ours:
        return True
    failures.append(name)
    print("FAIL %s" % name)
    for label, (a, b) in zip(("stdout", "stderr", "exit"), zip(oracle, ours)):
        if a != b:
            print("  %s redis-cli:    %r" % (label, a))
            print("  %s redoxide-cli: %r" % (label, b))
    return False


def cluster_cases(cli, oracle, workdir, failures):
    """Two cluster-enabled redis-servers splitting the slots: -c must follow MOVED, and ASK with ASKING."""
    a = Server("/usr/bin/redis-server", workdir, ["--cluster-enabled", "yes",
                                                  "--cluster-config-file", "a-%d.conf" % os.getpid()])
    try:
        b = Server("/usr/bin/redis-server", workdir, ["--cluster-enabled", "yes",
                                                      "--cluster-config-file", "b-%d.conf" % os.getpid()])
    except Exception:
        a.stop()  # b stopped itself; a must not outlive the script
        raise
    passed = 0
    try:
        a.cmd(["CLUSTER", "ADDSLOTSRANGE", "0", "8191"])
        b.cmd(["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"])
        a.cmd(["CLUSTER", "MEET", "127.0.0.1", str(b.port)])
        deadline = time.time() + 20
        while b"cluster_state:ok" not in a.cmd(["CLUSTER", "INFO"]) or \
                b"cluster_state:ok" not in b.cmd(["CLUSTER", "INFO"]):
            if time.time() > deadline:
                raise RuntimeError("cluster did not reach state ok")
            time.sleep(0.1)
        # "foo" hashes to slot 12182 (node b); "{mig}x" to the slot we leave half-migrated from a to b.
        mig_slot = int(a.cmd(["CLUSTER", "KEYSLOT", "{mig}x"]).split(b":")[1])
        a_id = a.cmd(["CLUSTER", "MYID"]).split(b"\r\n")[1]
        b_id = b.cmd(["CLUSTER", "MYID"]).split(b"\r\n")[1]
        if mig_slot < 8192:
            b.cmd(["CLUSTER", "SETSLOT", str(mig_slot), "IMPORTING", a_id])
            a.cmd(["CLUSTER", "SETSLOT", str(mig_slot), "MIGRATING", b_id])
            ask_port = a.port
        else:
            a.cmd(["CLUSTER", "SETSLOT", str(mig_slot), "IMPORTING", b_id])
            b.cmd(["CLUSTER", "SETSLOT", str(mig_slot), "MIGRATING", a_id])
            ask_port = b.port
        # (arguments, stdin, what redis-cli's stdout must start with: proof that the case redirects)
        cases = [
            (["-c", "-p", str(a.port), "set", "foo", "bar"], None, b"OK\n"),
            (["-c", "-p", str(a.port), "--no-raw", "set", "foo", "bar"], None, b"OK\n"),
            (["-p", str(a.port), "set", "foo", "bar"], None, b"MOVED 12182 127.0.0.1:%d" % b.port),
            (["-c", "-p", str(a.port)], b"set foo bar\nget foo\n", b"-> Redirected to slot [12182]"),
            (["-c", "-p", str(ask_port), "set", "{mig}x", "v"], None, b"OK\n"),
            (["-c", "-p", str(ask_port), "--no-raw", "get", "{mig}x"], None, b"(nil)\n"),
            (["-p", str(ask_port), "get", "{mig}x"], None, b"ASK %d" % mig_slot),
        ]
        for args, stdin, expect in cases:
            results = []
            for binary in (oracle, cli):
                for n in (a, b):
                    n.cmd(["FLUSHALL"])
                results.append(run(binary, args, stdin))
            if not results[0][0].startswith(expect):
                failures.append("cluster setup: %r" % args)
                print("FAIL cluster setup: redis-cli %r printed %r, expected %r first" % (args, results[0][0], expect))
                continue
            if compare("cluster: %r stdin=%r" % (args[2:], stdin), results[0], results[1], failures):
                passed += 1
    finally:
        a.stop()
        b.stop()
    return passed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="/usr/bin/redis-server")
    ap.add_argument("--cli", default=os.path.join(ROOT, "target/release/redoxide-cli"))
    ap.add_argument("--oracle", default="/usr/bin/redis-cli")
    ap.add_argument("--cluster", action="store_true", help="also check -c against two redis-server cluster nodes")
    ap.add_argument("-k", default="", help="only cases whose arguments contain this text")
    opts = ap.parse_args()
    for b in (opts.cli, opts.oracle, opts.server):
        if not os.access(b, os.X_OK):
            print("cli-diff: %s is not an executable" % b)
            return 2
    workdir = tempfile.mkdtemp(prefix="redoxide-cli-diff.")
    server = Server(opts.server, workdir)
    failures = []
    passed = 0
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("REDISCLI_AUTH", "FAKETTY")}
        # A port nobody listens on, for the connection-refused cases.
        dead_port = str(free_port())
        for args, stdin in CASES:
            if opts.k and opts.k not in " ".join(a if isinstance(a, str) else a.decode("latin-1") for a in args):
                continue
            if stdin == "NOPORT":
                stdin = None
            full = ["-h", "127.0.0.1", "-p", str(server.port)] + [a.replace("{port}", str(server.port)).replace("{sock}", server.unixsocket) if isinstance(a, str) else a
                    for a in args]
            full = [dead_port if a == "1" and full[i - 1] == "-p" else a for i, a in enumerate(full)]
            results = []
            for binary in (opts.oracle, opts.cli):
                for argv in FIXTURE:
                    server.cmd(argv)
                server.cmd(["SELECT", "0"])
                results.append(normalize(run(binary, full, stdin, env)))
            if compare("%r stdin=%r" % (args, stdin), results[0], results[1], failures):
                passed += 1
        passed += mode_cases(server, opts.cli, opts.oracle, env, dead_port, opts.k, failures)
        # FAKETTY makes both pick the tty format although stdout is a pipe.
        for args in (["lrange", "list", "0", "-1"], ["-3", "hgetall", "hash"]):
            full = ["-p", str(server.port)] + args
            results = []
            for binary in (opts.oracle, opts.cli):
                for argv in FIXTURE:
                    server.cmd(argv)
                server.cmd(["SELECT", "0"])
                results.append(run(binary, full, None, dict(env, FAKETTY="1")))
            if compare("FAKETTY %r" % args, results[0], results[1], failures):
                passed += 1
        # Streaming: SUBSCRIBE prints every message until the connection is killed.
        def publish(srv):
            srv.cmd(["PUBLISH", "ch", "hello"])
            srv.cmd(["PUBLISH", "ch", b"bin\x00\xff"])
        streaming = (["subscribe", "ch"], ["--no-raw", "subscribe", "ch"], ["-3", "--no-raw", "subscribe", "ch"],
                     ["--csv", "subscribe", "ch"])
        if server.cmd(["PUBLISH", "probe", "x"]).startswith(b"-"):
            print("cli-diff: skipping the %d SUBSCRIBE cases: this server has no pub/sub" % len(streaming))
            streaming = ()
        for args in streaming:
            full = ["-p", str(server.port)] + args
            results = [run_streaming(binary, full, server, publish) for binary in (opts.oracle, opts.cli)]
            if b"hello" not in results[0][0]:
                failures.append("streaming setup %r" % args)
                print("FAIL streaming setup: redis-cli printed %r" % (results[0],))
                continue
            if compare("streaming %r" % args, results[0], results[1], failures):
                passed += 1
        # A real terminal on stdout: the default format must be the tty one, with no option given.
        # The last one also prints RESP3 pushes (client-side caching invalidations), as only a tty does.
        for args, stdin in ((["lrange", "list", "0", "-1"], None), (["-3", "hgetall", "hash"], None),
                            (["get", "bin"], None), (["--raw", "get", "bin"], None),
                            (["-3"], b"client tracking on\nget str\nset str x\nget str\n"),
                            (["-3", "--raw"], b"client tracking on\nget str\nset str x\nget str\n")):
            full = ["-p", str(server.port)] + args
            results = []
            for binary in (opts.oracle, opts.cli):
                for argv in FIXTURE:
                    server.cmd(argv)
                server.cmd(["SELECT", "0"])
                results.append(run_on_pty(binary, full, env, stdin))
            if compare("pty %r stdin=%r" % (args, stdin), results[0], results[1], failures):
                passed += 1
        if opts.cluster:
            passed += cluster_cases(opts.cli, opts.oracle, workdir, failures)
    finally:
        server.stop()
    print("cli-diff (%s): %d passed, %d failed" % (os.path.basename(opts.server), passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
