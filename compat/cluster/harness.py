"""Starts cluster nodes (redoxide-server or Debian's redis-server) the way the seed configures them, on free
127.0.0.1 ports whose bus ports (+10000) are free too, and ends every process it started by its pid.

Used by compat/cluster/test_cluster.py and test_partition.py. Nothing here talks to any address but 127.0.0.1,
except a node given another loopback `host`, which only test_partition.py does, inside a private network namespace.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_handed_out = set()


def free_cluster_port():
    """A port p with p and p+10000 free, below the kernel's ephemeral range so a client socket cannot take it
    meanwhile; each port is handed out once per run."""
    for _ in range(2000):
        p = random.randrange(20000, 30000)
        if p in _handed_out or p + 10000 in _handed_out:
            continue
        if _port_free(p) and _port_free(p + 10000):
            _handed_out.add(p)
            return p
    raise RuntimeError("no free port pair found")


def resp_command(port, *args, timeout=5.0, host="127.0.0.1"):
    """Sends one command, returns the decoded reply (bytes / int / list / None; errors as RespError)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        payload = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            payload += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(payload)
        f = s.makefile("rb")
        return _read_reply(f)


class RespError(Exception):
    pass


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        return RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(f) for _ in range(n)]
    raise RespError("unexpected reply type %r" % line)


class Node:
    def __init__(self, binary, port, directory, extra=(), host="127.0.0.1", node_timeout_ms=5000):
        self.binary = binary
        self.host = host
        self.node_timeout_ms = node_timeout_ms
        self.port = port
        self.dir = directory
        self.extra = list(extra)
        self.proc = None
        self.log = os.path.join(directory, "node-%d.log" % port)

    @property
    def kind(self):
        return "redis" if os.path.basename(self.binary) == "redis-server" else "redoxide"

    def write_config(self):
        """The seed's redis.conf for this node."""
        path = os.path.join(self.dir, "redis-%d.conf" % self.port)
        with open(path, "w") as f:
            f.write(
                "port %d\nbind %s\ncluster-enabled yes\ncluster-config-file nodes-%d.conf\n"
                "cluster-node-timeout %d\nappendonly no\nappendfilename \"appendonly-%d.aof\"\n"
                "dbfilename dump-%d.rdb\ndir %s\nsave \"\"\n"
                % (self.port, self.host, self.port, self.node_timeout_ms, self.port, self.port, self.dir)
            )
            if self.host != "127.0.0.1":
                # Bus and replication links leave from the node's own address, so a firewall rule between two
                # addresses cuts exactly the links between those two nodes. Redis's protected mode counts only
                # 127.0.0.1 and ::1 as local and would refuse a replica connecting from 127.0.0.12.
                f.write("bind-source-addr %s\nprotected-mode no\n" % self.host)
        return path

    def start(self):
        conf = self.write_config()
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [self.binary, conf] + self.extra, stdout=logf, stderr=subprocess.STDOUT, cwd=self.dir
        )
        logf.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s on port %d exited: %s" % (self.kind, self.port, self.tail_log()))
            try:
                if resp_command(self.port, "PING", timeout=1, host=self.host) == "PONG":
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("%s did not start on port %d" % (self.kind, self.port))

    def stop(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def cmd(self, *args, timeout=5.0):
        return resp_command(self.port, *args, timeout=timeout, host=self.host)

    def tail_log(self, lines=20):
        try:
            with open(self.log, "rb") as f:
                return b"".join(f.readlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    def addr(self):
        return "%s:%d" % (self.host, self.port)


class Cluster:
    """A set of nodes in one temp directory; a context manager that kills them all."""

    def __init__(self, binaries, node_timeout_ms=5000):
        self.dir = tempfile.mkdtemp(prefix="redoxide-cluster-")
        self.nodes = [Node(b, free_cluster_port(), self.dir, node_timeout_ms=node_timeout_ms) for b in binaries]

    def __enter__(self):
        try:
            for n in self.nodes:
                n.start()
        except Exception:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for n in self.nodes:
            try:
                n.stop()
            except Exception:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def add(self, binary):
        n = Node(binary, free_cluster_port(), self.dir)
        self.nodes.append(n)
        return n.start()


def redis_cli(*args, timeout=120, input_text=None, cli=REDIS_CLI):
    """Runs the real redis-cli (or `cli`); returns (exit code, stdout+stderr text)."""
    p = subprocess.run(
        [cli] + [str(a) for a in args],
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout + p.stderr


def cluster_info(node):
    text = node.cmd("CLUSTER", "INFO")
    if isinstance(text, RespError):
        raise text
    return dict(line.split(":", 1) for line in text.decode().split("\r\n") if ":" in line)


def key_slot(key):
    """Redis's keyHashSlot (CRC16 mod 16384) of a key with no hash tag in it."""
    crc = 0
    for b in key.encode():
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc % 16384


def wait_until(predicate, what, timeout=30.0, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, RespError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))
