#!/usr/bin/env python3
"""Captures Redis 7.0.15's COMMAND and COMMAND DOCS replies as a data file for redoxide.

COMMAND's entries (arity, flags, key specs, subcommands) and COMMAND DOCS are part of the
interface clients depend on (redis-py routes by them), so redoxide must reply with exactly the
same content. Rather than retyping ~240 entries by hand, this script asks a reference
redis-server (Debian's 7.0.15) over RESP3 and stores the reply trees as JSON, keeping RESP3
types (map, set, double) so the server can re-encode them for either protocol.

Usage: tools/gen_command_table.py PORT > crates/commands/data/commands.json
"""
import json
import socket
import sys


class Resp3:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.sock.recv(1 << 20)
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self.line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return {"simple": rest.decode()}
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            return self.exact(int(rest)).decode()
        if t == b"_":
            return None
        if t == b",":
            return {"double": rest.decode()}
        if t == b"*":
            return [self.read() for _ in range(int(rest))]
        if t == b"~":
            return {"set": [self.read() for _ in range(int(rest))]}
        if t == b"%":
            return {"map": [[self.read(), self.read()] for _ in range(int(rest))]}
        raise RuntimeError("unexpected reply type %r" % t)


def main():
    conn = Resp3(int(sys.argv[1]))
    conn.send("HELLO", "3")
    info = conn.send("COMMAND")
    docs = conn.send("COMMAND", "DOCS")
    docs_map = {k: v for k, v in docs["map"]}
    entries = []
    for entry in sorted(info, key=lambda e: e[0]):
        name = entry[0]
        entries.append({"name": name, "info": entry, "docs": docs_map.get(name)})
    json.dump({"source": "redis-server 7.0.15 (Debian)", "commands": entries}, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
