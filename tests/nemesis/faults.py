"""Injecting and healing the nemesis's faults (kinds: see schedule.py).

Each fault runs in a thread of its own: inject, wait its duration, heal.
It takes the locks of the daemons it touches; a fault whose daemons are
still held by a late heal is skipped (and logged as skipped), never run
on a daemon in an unexpected state.  Every step is logged as a JSON line
in FAULTS (times CLOCK_MONOTONIC in microseconds, as the history's):

  {"ev": "inject"|"healed"|"skipped"|"error", "id": N, "t": T, "kind": ...,
   "hit": [gateways and daemons whose process was stopped, paused, cut off
           or restarted: an attempt on such a gateway may be slow]}
"""

import json
import os
import threading
import time

from hosts import CS_PORT, HostError, sh

ALL = "*"


def now_us():
    return time.monotonic_ns() // 1000


class Nemesis:
    def __init__(self, cluster, log_path, stats):
        self.c = cluster
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.locks = {d.name: threading.Lock() for d in cluster.daemons()}
        self.stats = stats           # Counter: injected_<kind>, skipped_<kind>, errors
        self.threads = []
        self.notes = []              # things seen worth a line in the report
        self.snapshots = {}

    def log(self, **ev):
        ev["t"] = now_us()
        with self.log_lock:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(ev) + "\n")

    def note(self, text):
        with self.log_lock:
            self.notes.append(text)

    # ---- running a schedule ----

    def start(self, i, f):
        th = threading.Thread(target=self._run, args=(i, f), daemon=True)
        th.start()
        self.threads.append(th)

    def join(self, timeout):
        end = time.monotonic() + timeout
        for th in self.threads:
            th.join(max(0.1, end - time.monotonic()))
        return not any(th.is_alive() for th in self.threads)

    def _targets(self, f):
        k = f["kind"]
        if k == "power":
            return [d.name for d in self.c.daemons()]
        if k == "swap":
            return [f["host"], f["other"]]
        if k in ("kill", "pause", "cut", "clock", "eio", "empty", "stale"):
            return [f["host"]]
        return []

    def leader(self):
        """The name of the master that leads now, or None."""
        s = cluster_status(self.c)
        for m in self.c.masters:
            if s and s.get("leader") == m.addr():
                return m.name
        return None

    def _run(self, i, f):
        if f.get("host") == "leader":
            name = self.leader()
            if name is None:
                self.stats["skipped_" + f["kind"]] += 1
                self.log(ev="skipped", id=i, kind=f["kind"], why="no leader")
                return
            f = dict(f, host=name, leader=True)
        names = self._targets(f)
        held = []
        try:
            for n in names:
                if not self.locks[n].acquire(timeout=2):
                    self.stats["skipped_" + f["kind"]] += 1
                    self.log(ev="skipped", id=i, kind=f["kind"], why="%s busy" % n)
                    return
                held.append(n)
            inject = getattr(self, "inject_" + f["kind"])
            heal = getattr(self, "heal_" + f["kind"])
            # the fault counts from before its first action
            t_inject = now_us()
            try:
                hit = inject(i, f)
            except HostError as e:
                self.stats["errors"] += 1
                self.log(ev="error", id=i, kind=f["kind"], step="inject", why=str(e))
                hit = None
            if hit is None:
                return
            self.stats["injected_" + f["kind"]] += 1
            self.log(ev="inject", id=i, kind=f["kind"], hit=hit, t_start=t_inject,
                     **{k: v for k, v in f.items() if k not in ("t", "kind")})
            time.sleep(f["d"])
            try:
                heal(i, f)
            except HostError as e:
                self.stats["errors"] += 1
                self.log(ev="error", id=i, kind=f["kind"], step="heal", why=str(e))
            self.log(ev="healed", id=i, kind=f["kind"])
        finally:
            for n in held:
                self.locks[n].release()

    def _d(self, name):
        return self.c.by_name(name)

    def _alive(self, name):
        d = self._d(name)
        if not d.alive():
            raise HostError("%s is not running" % name)
        return d

    # ---- kill -9 and restart ----

    def inject_kill(self, i, f):
        d = self._alive(f["host"])
        self.c.kill9(d)
        return [d.name]

    def heal_kill(self, i, f):
        self.c.start(self._d(f["host"]))

    # ---- SIGSTOP / SIGCONT ----

    def inject_pause(self, i, f):
        d = self._alive(f["host"])
        self.c.pause(d)
        return [d.name]

    def heal_pause(self, i, f):
        self.c.resume(self._d(f["host"]))

    # ---- network ----

    def table(self, i):
        return "nemesis%d" % i

    def inject_cut(self, i, f):
        self.c.nft_drop(f["host"], self.table(i), ["in iifname eth0", "out oifname eth0"])
        return [f["host"]]

    def heal_cut(self, i, f):
        self.c.nft_reset(f["host"], self.table(i))

    def _hosts(self):
        return [d.name for d in self.c.daemons()]

    def inject_split(self, i, f):
        side = set(f["side"])
        a = [self.c.ip_of(n) for n in self._hosts() if n in side]
        b = [self.c.ip_of(n) for n in self._hosts() if n not in side]
        for n in self._hosts():
            other = b if n in side else a
            s = "{ %s }" % ", ".join(other)
            self.c.nft_drop(n, self.table(i), ["in ip saddr " + s, "out ip daddr " + s])
        return []

    def heal_split(self, i, f):
        for n in self._hosts():
            self.c.nft_reset(n, self.table(i))

    def inject_oneway(self, i, f):
        self.c.nft_drop(f["host"], self.table(i), ["in ip saddr " + self.c.ip_of(f["from"])])
        return []

    def heal_oneway(self, i, f):
        self.c.nft_reset(f["host"], self.table(i))

    def inject_flow(self, i, f):
        """Black-hole what gateway GW sends on one of its flows to a chunkserver.

        Only that flow: a new connection gets through, so the gateway can
        go on while the old flow's data waits in its socket; lifting the
        rule lets TCP's retransmission deliver that data late."""
        gw = self._d(f["gw"])
        flows = self.c.flows(gw) if gw.alive() else []
        if not flows:
            self.log(ev="skipped", id=i, kind="flow", why="no established flow")
            self.stats["skipped_flow"] += 1
            return None
        name, sport = flows[min(len(flows) - 1, int(f["pick"] * len(flows)))]
        cs = self._d(name)
        self.c.nft_drop(gw.name, self.table(i), ["out ip daddr %s tcp sport %d tcp dport %d"
                                                 % (cs.ip, sport, CS_PORT)])
        f["flow"] = "%s:%d->%s" % (gw.name, sport, cs.addr())
        return []

    def heal_flow(self, i, f):
        self.c.nft_reset(f["gw"], self.table(i))

    # ---- disks ----

    def inject_eio(self, i, f):
        d = self._alive(f["host"])
        self.c.in_cs_mounts(d, ["xfs_io", "-x", "-c", "shutdown", self.c.mountpoint(d, f["disk"])])
        return [d.name]

    def heal_eio(self, i, f):
        """The failed disk is replaced by a new, empty one, and the server restarted.

        Not the old disk again: the crash-simulating chunkserver keeps its
        durable writes in the page cache (it survives kill -9 there), which
        a shut-down file system drops, so the old disk would come back
        without writes that were acknowledged, which no real disk does."""
        d = self._d(f["host"])
        self.c.kill9(d)
        self.c.new_disk(d, f["disk"])
        self.c.start(d)

    def inject_empty(self, i, f):
        d = self._alive(f["host"])
        self.c.kill9(d)
        self.c.on_disk(d, f["disk"], 'rm -rf "$M/data"')
        return [d.name]

    def heal_empty(self, i, f):
        self.c.start(self._d(f["host"]))

    def inject_stale(self, i, f):
        """Copy the disk now (paused: a consistent image); swap it in after D seconds."""
        d = self._alive(f["host"])
        snap = os.path.join(self.c.work, "disks", "%s-snap%d" % (d.name, i))
        self.c.pause(d)
        try:
            self.c.in_cs_mounts(d, ["cp", "-a", "--sparse=always", self.c.data_dir(d, f["disk"]), snap])
        finally:
            self.c.resume(d)
        self.snapshots[i] = snap
        return [d.name]

    def heal_stale(self, i, f):
        d = self._d(f["host"])
        self.c.kill9(d)
        self.c.on_disk(d, f["disk"], 'rm -rf "$M/data" && cp -a --sparse=always "%s" "$M/data"'
                       % self.snapshots[i])
        sh(["rm", "-rf", self.snapshots.pop(i)])
        self.c.start(d)

    def inject_swap(self, i, f):
        a, b = self._alive(f["host"]), self._alive(f["other"])
        self.c.kill9(a)
        self.c.kill9(b)
        k = f["disk"] - 1
        la, lb = self.c.loops[a.name], self.c.loops[b.name]
        la[k], lb[k] = lb[k], la[k]
        for d in (a, b):
            try:
                self.c.start(d)
            except HostError:
                pass
        time.sleep(3)
        started = [d.name for d in (a, b) if d.alive()]
        if started:
            self.note("swap (fault %d): %s ran with the other's disk" % (i, ",".join(started)))
        self.stats["swap_refused"] += 2 - len(started)
        f["started"] = started
        return [a.name, b.name]

    def heal_swap(self, i, f):
        a, b = self._d(f["host"]), self._d(f["other"])
        self.c.kill9(a)
        self.c.kill9(b)
        k = f["disk"] - 1
        la, lb = self.c.loops[a.name], self.c.loops[b.name]
        la[k], lb[k] = lb[k], la[k]
        self.c.start(a)
        self.c.start(b)

    # ---- clock ----

    def inject_clock(self, i, f):
        d = self._alive(f["host"])
        self.c.kill9(d)
        d.faketime = f["spec"]
        self.c.start(d)
        return [d.name]

    def heal_clock(self, i, f):
        d = self._d(f["host"])
        self.c.kill9(d)
        d.faketime = None
        self.c.start(d)

    # ---- power ----

    def inject_power(self, i, f):
        """Every host loses power at once (chunkservers simulate their disks' caches)."""
        ds = [d for d in self.c.daemons() if d.alive()]
        for d in ds:
            try:
                os.kill(d.pid, 9)
            except ProcessLookupError:
                pass
        for d in ds:
            self.c.kill9(d)
        return [d.name for d in self.c.daemons()]

    def heal_power(self, i, f):
        for d in self.c.masters + self.c.chunkservers:
            self.c.start(d)
        wait_servers(self.c, len(self.c.chunkservers), 60)
        for d in self.c.gateways:
            self.c.start(d)

    # ---- the end ----

    def heal_all(self):
        """Whatever a fault left behind (a failed heal, the run's end): undo it."""
        for n in self._hosts() + ["cl"]:
            self.c.nft_reset(n)
        for d in self.c.daemons():
            if d.paused:
                self.c.resume(d)
        # disks back in their slots
        if self.c.loops != self.c.original_loops:
            for cs in self.c.chunkservers:
                self.c.kill9(cs)
            self.c.loops = {n: list(v) for n, v in self.c.original_loops.items()}
        for d in self.c.daemons():
            if d.faketime:
                self.c.kill9(d)
                d.faketime = None
        for d in self.c.masters + self.c.chunkservers:
            if not d.alive():
                self.c.start(d)
        for d in self.c.gateways:
            if not d.alive():
                self.c.start(d)


def cluster_status(c):
    r = c.admin(["--timeout-ms", "2000", "--json", "cluster", "status"], check=False, timeout=15)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def wait_servers(c, want, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s = cluster_status(c)
        if s and s.get("servers_up", 0) >= want:
            return s
        time.sleep(0.5)
    raise HostError("fewer than %d chunkservers up after %ds" % (want, timeout))
