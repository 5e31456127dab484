#!/usr/bin/env python3
"""Random sorted set command sequences sent to ringledger-server and to a real redis-server
7.0.15 side by side; every reply must be the same bytes (RESP2, and RESP3 for odd seeds).

Usage: zsets.py SERVER_BINARY [--seeds 1-40] [--redis redis-server]

Each seed picks encoding thresholds (everything skiplist, tiny listpacks, or Redis's defaults)
and sends ~450 commands over three keys: ZADD with every option, ZINCRBY, ZREM, ranges by rank,
score and lex (lex ones on a key whose scores are all 0, the case Redis defines; with
--mixed-lex on any key, all listpacks), ZCOUNT, ZLEXCOUNT, ZREMRANGEBY*, pops, ZMPOP, the
algebra with WEIGHTS/AGGREGATE, the STORE forms, ZRANGESTORE, ZRANK, ZMSCORE, ZINTERCARD.
Replies that are random or hash-ordered in Redis (ZRANDMEMBER, ZSCAN of a skiplist) are left out.
Debian's redis-tools ships the server as redis-check-rdb; a symlink to it named redis-server runs
it as the server.
"""
import argparse, random, socket, subprocess, sys, tempfile, time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Conn:
    def __init__(self, port):
        for _ in range(100):
            try:
                self.s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.05)
        self.buf = b""

    def cmd(self, args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        i = self.buf.index(b"\r\n")
        l, self.buf = self.buf[:i + 2], self.buf[i + 2:]
        return l

    def n(self, k):
        while len(self.buf) < k:
            self.buf += self.s.recv(65536)
        d, self.buf = self.buf[:k], self.buf[k:]
        return d

    def read(self):
        l = self.line()
        t = l[:1]
        if t in b"$=!":
            k = int(l[1:-2])
            return l if k < 0 else l + self.n(k + 2)
        if t in b"*~%>":
            k = int(l[1:-2])
            mul = 2 if t == b"%" else 1
            return l + b"".join(self.read() for _ in range(max(k, 0) * mul))
        return l


def commands(seed, mixed_lex):
    rnd = random.Random(seed)
    keys = ["a", "b", "c"]
    mem = lambda: rnd.choice(["x", "y", "z", "w", "v", "u", "t", "long_member_name_here", "1", "2", "10"])
    sc = lambda: rnd.choice(["0", "1", "2", "-1", "1.5", "-2.5", "+inf", "-inf", "3", "0.1", "1e3", "-0"])
    bound = lambda: rnd.choice(["-inf", "+inf", "0", "1", "(1", "(0", "2", "(2", "-1", "(-inf", "1.5", "(1.5", "x"])
    lex = lambda: rnd.choice(["-", "+", "[x", "(x", "[u", "(z", "[w", "[", "(", "[long", "a", "(10"])
    idx = lambda: str(rnd.randint(-6, 6))
    limit = lambda: rnd.choice(["", " LIMIT %d %d" % (rnd.randint(-1, 3), rnd.randint(-1, 3))])
    out = []
    if seed % 2:
        out.append("HELLO 3")
    if mixed_lex:
        out += ["CONFIG SET zset-max-ziplist-entries 128", "CONFIG SET zset-max-ziplist-value 64"]
    else:
        out += ["CONFIG SET zset-max-ziplist-entries %d" % rnd.choice([0, 3, 128]),
                "CONFIG SET zset-max-ziplist-value %d" % rnd.choice([5, 64])]
    for _ in range(400):
        k = rnd.choice(keys)
        c = rnd.randint(0, 20)
        lk = k if mixed_lex else "L"
        if c == 0:
            out.append("ZADD %s %s %s %s %s" % (k, sc(), mem(), sc(), mem()))
        elif c == 1:
            o = rnd.sample(["NX", "XX", "GT", "LT", "CH", "INCR"], rnd.randint(0, 2))
            out.append("ZADD %s %s%s %s" % (k, " ".join(o) + " " if o else "", sc(), mem()))
        elif c == 2:
            out.append("ZINCRBY %s %s %s" % (k, sc(), mem()))
        elif c == 3:
            out.append("ZREM %s %s %s" % (k, mem(), mem()))
        elif c == 4:
            out.append("ZRANGE %s %s %s%s" % (k, idx(), idx(), rnd.choice(["", " WITHSCORES", " REV", " REV WITHSCORES"])))
        elif c == 5:
            out.append("ZRANGE %s %s %s BYSCORE%s%s%s" % (k, bound(), bound(), rnd.choice(["", " REV"]), limit(),
                                                         rnd.choice(["", " WITHSCORES"])))
        elif c == 6:
            if not mixed_lex:
                out.append("ZADD L 0 %s 0 %s" % (mem(), mem()))
            out.append("ZRANGE %s %s %s BYLEX%s%s" % (lk, lex(), lex(), rnd.choice(["", " REV"]), limit()))
        elif c == 7:
            out.append("ZCOUNT %s %s %s" % (k, bound(), bound()))
        elif c == 8:
            out.append("ZLEXCOUNT %s %s %s" % (lk, lex(), lex()))
        elif c == 9:
            out.append("ZREMRANGEBYRANK %s %s %s" % (k, idx(), idx()))
        elif c == 10:
            out.append("ZREMRANGEBYSCORE %s %s %s" % (k, bound(), bound()))
        elif c == 11:
            out.append("ZREMRANGEBYLEX %s %s %s" % (lk, lex(), lex()))
        elif c == 12:
            out.append("%s %s%s" % (rnd.choice(["ZPOPMIN", "ZPOPMAX"]), k, rnd.choice(["", " 0", " 1", " 2", " 5"])))
        elif c == 13:
            out.append("ZMPOP 2 %s %s %s%s" % (k, rnd.choice(keys), rnd.choice(["MIN", "MAX"]), rnd.choice(["", " COUNT 2"])))
        elif c == 14:
            op = rnd.choice(["ZUNION", "ZINTER", "ZDIFF"])
            w = " WEIGHTS 2 -1" if op != "ZDIFF" and rnd.random() < 0.4 else ""
            a = " AGGREGATE %s" % rnd.choice(["SUM", "MIN", "MAX"]) if op != "ZDIFF" and rnd.random() < 0.4 else ""
            out.append("%s 2 %s %s%s%s WITHSCORES" % (op, k, rnd.choice(keys), w, a))
        elif c == 15:
            op = rnd.choice(["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"])
            out.append("%s %s 2 %s %s" % (op, rnd.choice(keys), k, rnd.choice(keys)))
        elif c == 16:
            out.append("ZRANGESTORE %s %s %s %s" % (rnd.choice(keys), k, idx(), idx()))
        elif c == 17:
            out += ["ZRANK %s %s" % (k, mem()), "ZREVRANK %s %s" % (k, mem())]
        elif c == 18:
            out.append("ZMSCORE %s %s %s" % (k, mem(), mem()))
        elif c == 19:
            out.append("ZINTERCARD 2 %s %s LIMIT %d" % (k, rnd.choice(keys), rnd.randint(0, 2)))
        else:
            out += ["ZRANGE %s 0 -1 WITHSCORES" % k, "OBJECT ENCODING %s" % k, "ZCARD %s" % k]
    out += ["ZRANGE %s 0 -1 WITHSCORES" % k for k in keys + ["L"]]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("--seeds", default="1-40")
    ap.add_argument("--redis", default="redis-server")
    ap.add_argument("--mixed-lex", action="store_true")
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.seeds.split("-"))
    work = tempfile.mkdtemp(prefix="zset-diff-")
    p1, p2 = free_port(), free_port()
    cfg = f"{work}/c.toml"
    with open(cfg, "w") as f:
        f.write(f'[server]\nworkers = 2\n\n[[listener]]\nprotocol = "resp"\naddress = "127.0.0.1:{p1}"\n')
    ours = subprocess.Popen([a.server, cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = subprocess.Popen([a.redis, "--port", str(p2), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                              "--dir", work], stdout=subprocess.DEVNULL)
    bad = 0
    try:
        for seed in range(lo, hi + 1):
            A, B = Conn(p1), Conn(p2)
            for c in (A, B):
                c.cmd(["FLUSHALL"])
            for line in commands(seed, a.mixed_lex):
                args = line.split(" ")
                ra, rb = A.cmd(args), B.cmd(args)
                if ra != rb and args[0] != "HELLO":
                    bad += 1
                    print(f"seed {seed}: {line}\n  ours:  {ra[:300]!r}\n  redis: {rb[:300]!r}")
                    break
    finally:
        ours.kill()
        redis.kill()
    print(f"zsets.py: seeds {lo}-{hi}: " + ("all replies identical" if not bad else f"{bad} seed(s) differ"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
