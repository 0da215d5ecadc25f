#!/usr/bin/env python3
"""nemesis.py: randomized faults against a real Shoal cluster, and a checker.

    nemesis.py --build BUILD --out DIR [--seeds 1,2,5-9] [--minutes M]
               [--seconds S] [--kinds kill,pause,...] [--schedule FILE] [--cs-bin PATH]
               [--keep]

For each seed: bring up 3 masters, 5 chunkservers (crash-simulating, each
with two XFS disks of its own) and 2 gateways (stock tgtd + bs_shoal.so), each in a
network namespace of its own (hosts.py); export one volume through both
gateways; run the multipath workload (tests/tools/iscsi_nemesis) for S
seconds while the seed's schedule (schedule.py) injects faults
(faults.py); heal everything; then check:

  - the history (checker.py: the block register rule, COMPARE AND WRITE
    outcomes, no command past its deadline),
  - a final read of every block through the gateways, against the same rule,
  - `shoal-admin cluster status` OK within HEAL_BOUND seconds,
  - the replicas of every chunk byte-identical on disk.

With --minutes, seeds go on after the listed ones (the next numbers) until
the time is spent.  A violation prints the seed, the schedule, the block's
history and a replay command; everything is kept in DIR/seed-N/ (history,
faults.jsonl, report.txt, daemon logs).  Exit 0 when no seed found anything,
1 when one did, 2 on a usage error or a failure to run.
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
import schedule  # noqa: E402
from faults import Nemesis, cluster_status, now_us, wait_servers  # noqa: E402
from hosts import Cluster, HostError, sh  # noqa: E402

VOLUME = "nem"
IQN = "iqn.2024-01.org.shoal.test:nemesis"
CHUNK = 1 << 20                 # 1 MiB chunks: many chunks, many primaries
BLOCKS = 64                     # 4 KiB registers, 4 per chunk
STRIDE = CHUNK // 4 // 512      # sectors between two registers
DEADLINE_MS = 6000              # the gateways' command deadline, D
GW_LEASE_MS = 3000              # master gateway_lease_ms (default), L
MASTER_USER_TIMEOUT_MS = 5000   # TCP_USER_TIMEOUT to a master, U
# doc/protocol.md, timing contract: a command is answered by D + U + 2L;
# the initiator waits that long on a live path, and fails a path whose
# NOP-Outs go unanswered for L + 1 s, the documented minimum.
ANSWER_MS = DEADLINE_MS + MASTER_USER_TIMEOUT_MS + 2 * GW_LEASE_MS
FAILOVER_MS = GW_LEASE_MS + 1000
HEAL_BOUND = 60                 # cluster status OK within this after healing
CONF = """master: {{ lease_ms = 2000; heartbeat_ms = 300; cs_timeout_ms = 2000;
	replication_max_per_server = 4; }};
chunkserver: {{ rpc_timeout_ms = 1000; }};
gateway: {{ deadline_ms = {deadline}; rpc_timeout_ms = 1000; }};
"""


def log(msg):
    print("[nemesis %s] %s" % (time.strftime("%T"), msg), flush=True)


def parse_seeds(s):
    out = []
    for part in s.replace(" ", ",").split(","):
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


class SeedRun:
    def __init__(self, args, seed):
        self.args = args
        self.seed = seed
        self.dir = os.path.join(args.out, "seed-%d" % seed)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.hist = os.path.join(self.dir, "history")
        self.faults_log = os.path.join(self.dir, "faults.jsonl")
        self.stats = collections.Counter()
        self.findings = []
        if args.schedule:
            with open(args.schedule) as f:
                self.schedule = json.load(f)
        else:
            self.schedule = schedule.make(seed, args.seconds, kinds=args.kinds)
        self.c = Cluster(self.dir, args.build, "nm%d" % (os.getpid() % 100000), cs_bin=args.cs_bin,
                         conf_extra=CONF.format(deadline=DEADLINE_MS))
        self.tools = os.path.join(args.build, "tests/tools")
        self.t0 = None

    def finding(self, kind, text, block=None, op=None):
        self.findings.append({"kind": kind, "block": block, "op": op, "text": text})

    # ---- bring-up ----

    def up(self):
        c = self.c
        c.net_up()
        c.disks_up()
        c.write_conf()
        for d in c.masters + c.chunkservers:
            c.start(d)
        wait_servers(c, len(c.chunkservers), 60)
        for d in c.gateways:
            c.start(d)
        r = c.admin(["--json", "volume", "create", VOLUME, str(BLOCKS * STRIDE * 512), "--chunk-size",
                     str(CHUNK), "--thin"])
        self.volume_id = json.loads(r.stdout)["id"]
        for gw in c.gateways:
            c.gw_admin(gw, ["lun", "export", VOLUME, "--target", IQN, "--tid", "1", "--lun", "1"])
        self.urls = ["iscsi://%s/%s/1" % (gw.addr(), IQN) for gw in c.gateways]

    def client(self, mode, client_id, extra):
        argv = ["ip", "netns", "exec", self.c.client_ns, os.path.join(self.tools, "iscsi_nemesis"), mode,
                self.urls[0], self.urls[1], self.hist, "--blocks", str(BLOCKS), "--stride", str(STRIDE),
                "--client", str(client_id), "--failover-ms", str(FAILOVER_MS), "--deadline-ms",
                str(ANSWER_MS), "--seed", str(self.seed)] + extra
        out = open(os.path.join(self.dir, "client-%s.out" % mode), "w")
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    # ---- the run ----

    def run(self):
        a = self.args
        log("seed %d: %d faults in %d s: %s" % (self.seed, len(self.schedule), a.seconds,
            ", ".join("%s@%.0f" % (f["kind"], f["t"]) for f in self.schedule)))
        with open(os.path.join(self.dir, "schedule.json"), "w") as f:
            json.dump(self.schedule, f, indent=1)
        self.up()
        nem = Nemesis(self.c, self.faults_log, self.stats)
        self.t0 = now_us()
        nem.log(ev="start", seed=self.seed)
        load = self.client("run", 1, ["--seconds", str(a.seconds), "--workers", "10", "--think-ms", "20",
                                      "--read-pct", "35", "--caw-pct", "15", "--op-timeout-ms", "60000"])
        start = time.monotonic()
        for i, f in enumerate(self.schedule):
            delay = start + f["t"] - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            nem.start(i, f)
        # the faults end by themselves: every one is bounded by its duration and its heal
        if not nem.join(a.seconds + 120):
            self.finding("nemesis", "a fault's heal did not end within %d s" % (a.seconds + 120))
        try:
            load.wait(timeout=max(5, a.seconds - (time.monotonic() - start)) + 150)
        except Exception:
            load.kill()
            self.finding("client", "the workload did not end within its bound")
        nem.log(ev="heal-all")
        nem.heal_all()
        self.notes = nem.notes
        t_healed = time.monotonic()
        self.settle()
        verify = self.client("verify", 2, ["--workers", "4", "--op-timeout-ms", "60000"])
        try:
            verify.wait(timeout=400)
        except Exception:
            verify.kill()
            self.finding("client", "the final verify pass did not end within 400 s")
        self.wait_ok(t_healed)
        self.check_replicas()
        self.check_history()
        if any(f["kind"] in ("not-ok-after-heal", "unreadable-after-heal", "client") for f in self.findings):
            self.diagnose()

    def diagnose(self):
        """The cluster did not recover: what every daemon and master says, before teardown."""
        c = self.c
        out = []
        for d in c.daemons():
            st = "not running"
            if d.alive():
                try:
                    with open("/proc/%d/stat" % d.pid) as f:
                        st = "state %s" % f.read().split(")")[-1].split()[0]
                    with open("/proc/%d/wchan" % d.pid) as f:
                        st += ", wchan %s" % f.read().strip()
                except OSError:
                    pass
            out.append("%s pid %s: %s%s" % (d.name, d.pid, st, " (paused)" if d.paused else ""))
        for m in c.masters:
            r = c.admin(["--masters", m.addr(), "--timeout-ms", "3000", "master", "status"], check=False)
            out.append("--- master status via %s (exit %d):\n%s%s" % (m.name, r.returncode, r.stdout, r.stderr))
        r = c.admin(["--timeout-ms", "3000", "cluster", "status"], check=False)
        out.append("--- cluster status (exit %d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
        with open(os.path.join(self.dir, "diagnostics.txt"), "w") as f:
            f.write("\n".join(out) + "\n")
        self.notes = getattr(self, "notes", []) + ["the cluster did not recover: daemon states and master "
                                                   "status in diagnostics.txt"]

    def settle(self):
        """Forget the identities of replaced disks (an emptied disk is a new server)."""
        c = self.c
        end = time.monotonic() + 30
        while time.monotonic() < end:
            s = cluster_status(c)
            if s and s.get("servers_up", 0) >= len(c.chunkservers):
                break
            time.sleep(0.5)
        time.sleep(3)
        r = c.admin(["--json", "chunkserver", "list"], check=False)
        try:
            servers = json.loads(r.stdout)
        except ValueError:
            servers = []
        for s in servers:
            if s.get("state") == "down":
                log("seed %d: chunkserver id %s (%s) is down after healing: an identity whose disk was "
                    "replaced; removing it" % (self.seed, s.get("id"), s.get("addr")))
                c.admin(["chunkserver", "remove", str(s["id"]), "--force"], check=False)
                self.stats["removed_identities"] += 1

    def wait_ok(self, t_healed):
        end = t_healed + HEAL_BOUND
        s = None
        while time.monotonic() < end:
            s = cluster_status(self.c)
            if s and s.get("health") == "OK":
                self.stats["seconds_to_ok"] = int(time.monotonic() - t_healed)
                return
            time.sleep(1)
        self.finding("not-ok-after-heal", "cluster status not OK %d s after healing: %s"
                     % (HEAL_BOUND, json.dumps(s)))

    def check_replicas(self):
        """Every chunk's replicas at its highest version are byte-identical, and 3.

        Read from the disks (chunk files named by id, the version each
        chunkserver reports for it), not from the master: a lookup could
        itself start a new lease."""
        c = self.c
        probe = os.path.join(self.tools, "cs_probe")
        replicas = collections.defaultdict(dict)     # chunk id -> cs name -> (version, md5)
        for cs in c.chunkservers:
            if not cs.alive():
                continue
            r = c.in_cs_mounts(cs, ["sh", "-c", 'for d; do (cd "$d/chunks" 2>/dev/null && md5sum *.data); done',
                                    "sh"] + [c.data_dir(cs, k) for k in range(1, len(c.loops[cs.name]) + 1)],
                               check=False)
            for line in r.stdout.splitlines():
                md5, name = line.split()
                chunk = int(name.split(".")[0], 16)
                info = sh(["ip", "netns", "exec", c.client_ns, probe, cs.addr(), "info", str(chunk)],
                          check=False)
                ver = [int(w[8:]) for w in info.stdout.split() if w.startswith("version=")]
                if ver:
                    replicas[chunk][cs.name] = (ver[0], md5)
        for chunk, reps in sorted(replicas.items()):
            top = max(v for v, _ in reps.values())
            sums = {n: m for n, (v, m) in reps.items() if v == top}
            self.stats["chunks_compared"] += 1
            if len(set(sums.values())) > 1:
                self.finding("replicas-differ", "chunk %016x version %d: replicas differ: %s"
                             % (chunk, top, sums))
            # A replica one version behind with the same bytes missed only
            # a grant no write used yet (the next grant brings it up): in
            # sync, as replicas_identical in tests/cluster counts it.
            top_md5 = next(iter(sums.values()))
            in_sync = len(sums) + sum(1 for v, m in reps.values() if v == top - 1 and m == top_md5)
            if in_sync < 3:
                self.finding("too-few-replicas", "chunk %016x: %d replicas at its highest version %d "
                             "(%s); all: %s" % (chunk, len(sums), top, sorted(sums), reps))

    def check_history(self):
        faults = checker.load_faults(self.faults_log)
        ops, paths = {}, []
        with open(self.hist) as f:
            checker.parse(f, ops, paths)
        self.ops = ops
        found, st = checker.check(ops, faults, ANSWER_MS, BLOCKS, 2, paths)
        self.findings.extend(found)
        self.stats.update({k: v for k, v in st.items()})

    # ---- reporting ----

    def report(self):
        a = self.args
        lines = []
        replay = "NEMESIS_SEEDS=%d NEMESIS_SECONDS=%d%s%s tests/nemesis/run %s" % (
            self.seed, a.seconds, " NEMESIS_KINDS=" + ",".join(a.kinds) if a.kinds else "",
            " NEMESIS_SCHEDULE=" + os.path.abspath(a.schedule) if a.schedule else "", a.build)
        kinds = collections.Counter(f["kind"] for f in self.findings)
        lines.append("seed %d: %s" % (self.seed, "%d findings (%s)" % (
            len(self.findings), ", ".join("%s x%d" % kv for kv in sorted(kinds.items())))
            if self.findings else "no finding"))
        lines.append("  operations %d, observations %d, attempts %d; faults: %s" % (
            self.stats["ops"], self.stats["observations"], self.stats["attempts"],
            ", ".join("%s %d" % (k[9:], v) for k, v in sorted(self.stats.items())
                      if k.startswith("injected_")) or "none"))
        if self.findings:
            lines.append("  replay: " + replay)
            lines.append("  schedule:")
            lines.extend("    " + schedule.describe(f) for f in self.schedule)
            t0 = self.t0 or 0
            shown = set()
            for f in self.findings[:20]:
                lines.append("  FINDING %s%s: %s" % (f["kind"], "" if f["block"] is None else
                                                     " block %d" % f["block"], f["text"]))
                if f.get("op") is not None and f["block"] is not None and f["block"] not in shown:
                    shown.add(f["block"])
                    op = self.ops.get(f["op"]) if hasattr(self, "ops") else None
                    lines.append("    block %d history (s since start: invoked, returned, what, "
                                 "[attempt@path:result]):" % f["block"])
                    lines.extend("  " + x for x in checker.block_history(
                        self.ops, f["block"], t0, around=op.s if op else None))
            if len(self.findings) > 20:
                lines.append("  ... %d more findings in %s" % (len(self.findings) - 20, self.dir))
            lines.append("  faults as run (s since start):")
            # a run that failed while setting up has no fault log: its finding says why
            evs = checker.load_faults(self.faults_log) if os.path.exists(self.faults_log) else []
            for ev in evs:
                if ev.get("ev") in ("inject", "healed", "skipped", "error"):
                    rest = {k: v for k, v in ev.items() if k not in ("t", "ev", "id", "kind")}
                    lines.append("    %8.3f %-7s #%s %s %s" % ((ev["t"] - t0) / 1e6, ev["ev"], ev.get("id"),
                                                          ev.get("kind"), json.dumps(rest) if rest else ""))
        for n in getattr(self, "notes", []):
            lines.append("  note: " + n)
        lines.append("  kept in " + self.dir)
        text = "\n".join(lines)
        with open(os.path.join(self.dir, "report.txt"), "w") as f:
            f.write(text + "\n")
        with open(os.path.join(self.dir, "stats.json"), "w") as f:
            json.dump({"seed": self.seed, "findings": self.findings, "stats": dict(self.stats)}, f,
                      indent=1)
        print(text, flush=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--minutes", type=float, default=0)
    ap.add_argument("--seconds", type=int, default=40)
    ap.add_argument("--kinds", default="")
    ap.add_argument("--schedule", help="run this schedule (JSON, as saved in schedule.json) instead of "
                    "the seed's")
    ap.add_argument("--cs-bin")
    ap.add_argument("--keep", action="store_true", help="keep the disk images of clean seeds")
    args = ap.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError:
        print("nemesis: --seeds: '%s' is not a list of numbers and ranges (1,2,5-9)" % args.seeds,
              file=sys.stderr)
        return 2
    args.kinds = [k for k in args.kinds.split(",") if k]
    bad = [k for k in args.kinds if k not in schedule.KINDS]
    if bad:
        print("nemesis: --kinds: unknown fault kind %s (%s)" % (bad[0], ", ".join(schedule.KINDS)),
              file=sys.stderr)
        return 2
    args.kinds = args.kinds or None
    if not 10 <= args.seconds <= 3600:
        print("nemesis: --seconds: %d is not 10..3600" % args.seconds, file=sys.stderr)
        return 2
    args.build = os.path.abspath(args.build)
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    t_end = time.monotonic() + args.minutes * 60
    total = collections.Counter()
    bad_seeds = []
    i = 0
    while i < len(seeds) or (args.minutes and time.monotonic() < t_end):
        seed = seeds[i] if i < len(seeds) else max(seeds) + 1 + i - len(seeds)
        i += 1
        run = SeedRun(args, seed)
        try:
            run.run()
        except (HostError, OSError, ValueError, checker.BadHistory) as e:
            run.finding("harness", "the run failed: %s" % e)
        finally:
            run.c.teardown()
        run.report()
        if not args.keep:
            shutil.rmtree(os.path.join(run.dir, "disks"), ignore_errors=True)
        total.update({k: v for k, v in run.stats.items() if k.startswith("injected_")})
        total["ops"] += run.stats["ops"]
        total["observations"] += run.stats["observations"]
        total["seeds"] += 1
        if run.findings:
            bad_seeds.append(seed)
    log("%d seeds, %d operations, %d observations checked; faults injected: %s; seeds with findings: %s"
        % (total["seeds"], total["ops"], total["observations"],
           ", ".join("%s %d" % (k[9:], v) for k, v in sorted(total.items()) if k.startswith("injected_")),
           " ".join(map(str, bad_seeds)) or "none"))
    return 1 if bad_seeds else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
