#!/usr/bin/env python3
"""Memory of small hashes, sets and sorted sets: loads the same data into redis-server and into
ringledger-server (each fresh, empty, no persistence) with `redis-cli --pipe`, then prints each
process's RSS (VmRSS from /proc) before and after, and the bytes per key.

  bench/scripts/collections-memory.py [--keys N] [--only hashes,intsets,strsets,strings]

Workloads, N keys each (default 1,000,000), one server pair per workload:
  hashes   HSET h:<i> field0 v<i> ... field9 v<i>      (10 fields, 6-byte names, 8-byte values)
  intsets  SADD s:<i> <10 integers>                    (intset in both)
  strsets  SADD t:<i> member:0 ... member:9            (Redis 7.0: hashtable; here too)
  strings  SET k:<i> v<i>                              (for comparison: what a key alone costs)
  zsets    ZADD z:<i> 0 member:0 ... 99 member:99      (100 members, integer scores: listpack)
  fzsets   ZADD f:<i> 0.1 member:0 ... 9.9 member:99   (100 members, fractional scores: listpack)
  bigzsets ZADD b:<i> <200 integer-scored members>     (past 128 entries: skiplist)

Builds nothing: run `cargo build --release -p server` first. REDIS_SERVER names the Redis
binary (default redis-server; Debian's redis-tools ships it as redis-check-rdb, which acts as
the server when invoked through a symlink named redis-server).
"""
import argparse, os, socket, subprocess, sys, tempfile, time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ping(port):
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"no PING answer on {port}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def commands(workload, n):
    for i in range(n):
        if workload == "hashes":
            v = b"v%07d" % (i % 10_000_000)
            args = [b"HSET", b"h:%d" % i]
            for j in range(10):
                args += [b"field%d" % j, v]
            yield resp(*args)
        elif workload == "intsets":
            yield resp(b"SADD", b"s:%d" % i, *[(i * 10 + j) % 30000 for j in range(10)])
        elif workload == "strsets":
            yield resp(b"SADD", b"t:%d" % i, *[b"member:%d" % j for j in range(10)])
        elif workload == "zsets":
            args = [b"ZADD", b"z:%d" % i]
            for j in range(100):
                args += [b"%d" % j, b"member:%d" % j]
            yield resp(*args)
        elif workload == "fzsets":
            args = [b"ZADD", b"f:%d" % i]
            for j in range(100):
                args += [b"%d.%d" % (j // 10, j % 10), b"member:%d" % j]
            yield resp(*args)
        elif workload == "bigzsets":
            args = [b"ZADD", b"b:%d" % i]
            for j in range(200):
                args += [b"%d" % (j * 7 % 200), b"member:%d" % j]
            yield resp(*args)
        else:
            yield resp(b"SET", b"k:%d" % i, b"v%07d" % (i % 10_000_000))


def load(port, workload, n):
    p = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    buf = []
    for c in commands(workload, n):
        buf.append(c)
        if len(buf) >= 4096:
            p.stdin.write(b"".join(buf))
            buf = []
    p.stdin.write(b"".join(buf))
    p.stdin.close()
    out = p.stdout.read().decode(errors="replace")
    p.wait()
    if "errors: 0" not in out:
        sys.exit(f"load failed: {out}")


def start_redis(work):
    port = free_port()
    proc = subprocess.Popen([os.environ.get("REDIS_SERVER", "redis-server"), "--port", str(port),
                             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", work],
                            stdout=subprocess.DEVNULL)
    wait_ping(port)
    return proc, port


def start_ours(work):
    port = free_port()
    cfg = os.path.join(work, "m.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nworkers = 2\n\n[[listener]]\nprotocol = "resp"\naddress = "127.0.0.1:{port}"\n')
    proc = subprocess.Popen([os.path.join(ROOT, "target/release/ringledger-server"), cfg],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ping(port)
    return proc, port


def measure(name, start, workload, n, work):
    proc, port = start(work)
    try:
        before = rss_kib(proc.pid)
        load(port, workload, n)
        time.sleep(1)
        after = rss_kib(proc.pid)
        dbsize = subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True,
                                text=True).stdout.strip()
    finally:
        proc.terminate()
        proc.wait()
    per_key = (after - before) * 1024 / n
    print(f"{workload:8} {name:10} keys={dbsize:>8} rss_before={before / 1024:7.1f} MiB "
          f"rss_after={after / 1024:7.1f} MiB  grew={(after - before) / 1024:7.1f} MiB "
          f"({per_key:.0f} B/key)", flush=True)
    return after - before


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--only", default="hashes,intsets,strsets")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="coll-mem-")
    for workload in a.only.split(","):
        measure("redis", start_redis, workload, a.keys, work)
        measure("ringledger", start_ours, workload, a.keys, work)


if __name__ == "__main__":
    main()
