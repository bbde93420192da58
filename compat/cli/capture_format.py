#!/usr/bin/env python3
"""Captures Debian redis-cli 7.0.15's exact output for canned replies, as the expectations of
crates/cli/tests/format.rs.

A fake server on 127.0.0.1 answers any command with one canned RESP payload; redis-cli runs one
command against it in each mode (--no-raw, --raw, --csv) and the stdout, stderr and exit code are
written out as JSON (crates/cli/tests/fixtures/format.json). Rerun after adding a payload:
    python3 compat/cli/capture_format.py > crates/cli/tests/fixtures/format.json
"""
import json
import socket
import subprocess
import sys
import threading

PAYLOADS = {
    "status": b"+OK\r\n",
    "error": b"-ERR unknown command 'x', with args beginning with: \r\n",
    "error_quote": b"-WRONGTYPE say \"hi\"\r\n",
    "integer": b":42\r\n",
    "negative": b":-9223372036854775808\r\n",
    "bulk": b"$5\r\nhello\r\n",
    "bulk_empty": b"$0\r\n\r\n",
    "bulk_binary": b"$12\r\na\x00b\r\n\"\\\t\x07\x08\xff\x7f\r\n",
    "bulk_unicode": b"$13\r\nh\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c\r\n",
    "nil": b"$-1\r\n",
    "nil_array": b"*-1\r\n",
    "resp3_null": b"_\r\n",
    "empty_array": b"*0\r\n",
    "array": b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n",
    "array_12": b"*12\r\n" + b"".join(b"$1\r\n%c\r\n" % (97 + i) for i in range(12)),
    "nested": b"*3\r\n:1\r\n*2\r\n$1\r\nx\r\n*2\r\n+y\r\n*0\r\n*1\r\n*1\r\n$1\r\nz\r\n",
    "protocol_error": b"*2\r\n:1\r\n\r\n",
    "attribute": b"|1\r\n+a\r\n+b\r\n:1\r\n",
    "nested_wide": b"*2\r\n*11\r\n" + b":1\r\n" * 11 + b"*1\r\n$1\r\nq\r\n",
    "map": b"%2\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nk2\r\n:7\r\n",
    "map_nested": b"%3\r\n$1\r\na\r\n*2\r\n:1\r\n:2\r\n$1\r\nb\r\n%1\r\n$1\r\nc\r\n~1\r\n$1\r\nd\r\n$1\r\ne\r\n*1\r\n*2\r\n:3\r\n:4\r\n",
    "map_single_array_value": b"%1\r\n$1\r\nk\r\n*1\r\n$1\r\nv\r\n",
    "empty_map": b"%0\r\n",
    "set": b"~2\r\n$1\r\na\r\n$1\r\nb\r\n",
    "empty_set": b"~0\r\n",
    "double": b",3.141\r\n",
    "double_inf": b",inf\r\n",
    "true": b"#t\r\n",
    "false": b"#f\r\n",
    "verbatim": b"=15\r\ntxt:Some string\r\n",
    "verbatim_lines": b"=16\r\ntxt:line1\nline2\n\r\n",
    "push": b">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n",
    "bignum": b"(3492890328409238509324850943850943825024385\r\n",
}


def serve(payload, ready):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    ready.append(srv.getsockname()[1])
    srv.settimeout(10)
    conn, _ = srv.accept()
    conn.settimeout(10)
    conn.recv(65536)
    conn.sendall(payload)
    try:
        conn.recv(65536)  # wait for the client to go away
    except OSError:
        pass
    conn.close()
    srv.close()


def capture(payload, mode):
    ready = []
    t = threading.Thread(target=serve, args=(payload, ready))
    t.start()
    while not ready:
        pass
    p = subprocess.run(["/usr/bin/redis-cli", "-p", str(ready[0])] + mode + ["x"], capture_output=True, timeout=20)
    t.join(20)
    return {"stdout": p.stdout.decode("latin-1"), "stderr": p.stderr.decode("latin-1"), "exit": p.returncode}


def main():
    out = []
    for name, payload in PAYLOADS.items():
        for mode_name, mode in (("tty", ["--no-raw"]), ("raw", ["--raw"]), ("csv", ["--csv"])):
            r = capture(payload, mode)
            out.append({"name": name, "mode": mode_name, "payload": payload.decode("latin-1"), **r})
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
