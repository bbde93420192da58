"""Starting and stopping the servers under test on free 127.0.0.1 ports.

Owns: one server process per ServerProcess, its temporary directory and log. Every process it starts is killed by
its pid when stop() runs (run.py calls it from atexit and from signal handlers), and the kernel also sends it
SIGTERM if this Python process dies first (PR_SET_PDEATHSIG), so no server outlives a test run. Every wait is
bounded. Must never bind anything but 127.0.0.1.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from resp import Conn

PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
START_ATTEMPTS = 3


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class ServerError(Exception):
    pass


class ServerProcess:
    def __init__(self, binary, label, extra_args=()):
        self.binary = binary
        self.label = label
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.dir = tempfile.mkdtemp(prefix="redoxide-diff-%s-" % label)
        self.log_path = os.path.join(self.dir, "server.log")

    def start(self):
        last_error = None
        for _ in range(START_ATTEMPTS):
            try:
                self._start_once()
                return
            except ServerError as e:
                last_error = e
                self.stop()
        raise last_error

    def _start_once(self):
        self.port = free_port()
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir] + self.extra_args
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.dir, preexec_fn=_die_with_parent)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("%s (%s) exited with code %s during startup; log tail:\n%s" % (
                    self.label, self.binary, self.proc.returncode, self.log_tail()))
            try:
                conn = Conn(self.port, timeout_s=2.0)
                try:
                    reply = conn.call([b"PING"])
                finally:
                    conn.close()
                if reply.raw == b"+PONG\r\n":
                    return
            except (OSError, TimeoutError, ConnectionError):
                pass
            time.sleep(0.05)
        raise ServerError("%s (%s) did not answer PING within %.0f s; log tail:\n%s" % (
            self.label, self.binary, START_TIMEOUT_S, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "r", encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    pass
            except OSError:
                pass
        self.proc = None

    def remove_dir(self):
        shutil.rmtree(self.dir, ignore_errors=True)
