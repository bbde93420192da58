#!/usr/bin/env python3
"""Records real Redis cluster-bus packets, for crates/cluster/tests/fixtures.

Starts three redis-server processes (cluster mode, 127.0.0.1 only), each announcing a bus port
that is a recording proxy in front of its real bus port, so every bus packet between them passes
through this script. Drives a short scenario (MEET, slots, replica, PUBLISH, SPUBLISH, a killed
node -> FAIL, manual failover), saves each packet as <outdir>/<seq>-<type>-{to,from}-<node>.bin and
copies each node's nodes.conf. Every process it starts is stopped by its pid.

usage: capture_cluster_bus.py OUTDIR [REDIS_SERVER]
"""
import asyncio, os, random, shutil, socket, struct, subprocess, sys, tempfile, time

TYPES = {0: "ping", 1: "pong", 2: "meet", 3: "fail", 4: "publish", 5: "auth-req", 6: "auth-ack",
         7: "update", 8: "mfstart", 9: "module", 10: "publishshard"}


def free_port():
    while True:
        p = random.randint(20000, 40000)
        ok = True
        for q in (p, p + 10000):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
        if ok:
            return p


class Recorder:
    def __init__(self, outdir):
        self.outdir, self.seq = outdir, 0

    def save(self, pkt, direction, node):
        self.seq += 1
        kind = TYPES.get(struct.unpack(">H", pkt[12:14])[0], "unknown")
        name = f"{self.seq:04d}-{kind}-{direction}-{node}.bin"
        with open(os.path.join(self.outdir, name), "wb") as f:
            f.write(pkt)


async def pump(reader, writer, rec, src, dst):
    buf = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
            buf += data
            while len(buf) >= 8:
                totlen = struct.unpack(">I", buf[4:8])[0]
                if len(buf) < totlen:
                    break
                rec.save(buf[:totlen], src, dst)
                buf = buf[totlen:]
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def proxy(listen_port, target_port, name, rec):
    async def handle(cr, cw):
        try:
            tr, tw = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            cw.close()
            return
        try:
            # Packets written to the node, and the node's replies on the same link (PONGs).
            await asyncio.gather(pump(cr, tw, rec, "to", name), pump(tr, cw, rec, "from", name))
        except asyncio.CancelledError:
            pass
    return await asyncio.start_server(handle, "127.0.0.1", listen_port)


def cli(port, *args):
    out = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=10)
    return out.stdout.strip()


async def main():
    outdir = sys.argv[1]
    server = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/redis-server"
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="rx-bus-")
    rec = Recorder(outdir)
    nodes, procs, servers = {}, [], []
    try:
        for name in "abc":
            port, proxy_port = free_port(), free_port()
            nodes[name] = (port, proxy_port)
            servers.append(await proxy(proxy_port, port + 10000, name, rec))
            args = [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                    "--cluster-config-file", f"{work}/nodes-{name}.conf", "--dir", work, "--save", "",
                    "--appendonly", "no", "--cluster-node-timeout", "1000",
                    "--cluster-announce-bus-port", str(proxy_port), "--logfile", f"{work}/{name}.log"]
            if name == "a":
                args += ["--cluster-announce-hostname", "node-a.local"]
            procs.append(subprocess.Popen(args))
        await asyncio.sleep(0.5)
        pa, pb, pc = nodes["a"][0], nodes["b"][0], nodes["c"][0]
        print(cli(pa, "cluster", "meet", "127.0.0.1", str(pb), str(nodes["b"][1])))
        print(cli(pa, "cluster", "meet", "127.0.0.1", str(pc), str(nodes["c"][1])))
        print(cli(pa, "cluster", "addslotsrange", "0", "16383"))
        await asyncio.sleep(3)
        print(cli(pb, "cluster", "replicate", cli(pa, "cluster", "myid")))
        await asyncio.sleep(2)
        ida, idc = cli(pa, "cluster", "myid"), cli(pc, "cluster", "myid")
        print(cli(pa, "cluster", "setslot", "100", "migrating", idc))
        print(cli(pc, "cluster", "setslot", "100", "importing", ida))
        print(cli(pa, "publish", "news", "hello"))
        print(cli(pa, "spublish", "news", "shard-hello"))
        await asyncio.sleep(1)
        for name in "abc":
            shutil.copy(f"{work}/nodes-{name}.conf", os.path.join(outdir, f"nodes-{name}-before.conf"))
        procs[2].terminate()
        procs[2].wait(10)
        await asyncio.sleep(4)
        print(cli(pb, "cluster", "failover"))
        await asyncio.sleep(3)
        print(cli(pa, "cluster", "nodes"))
        for name in "ab":
            shutil.copy(f"{work}/nodes-{name}.conf", os.path.join(outdir, f"nodes-{name}-after.conf"))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        for s in servers:
            s.close()
        shutil.rmtree(work, ignore_errors=True)


asyncio.run(main())
