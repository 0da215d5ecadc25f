"""The nemesis's hosts: one network namespace per daemon, a switch between.

Every daemon (3 masters, the chunkservers, 2 gateways = stock tgtd loading
bs_shoal.so) and the workload client run in a network namespace of their
own, named PREFIX-m1, PREFIX-c1, PREFIX-g1, PREFIX-cl, each with one veth
("eth0", an address in 10.213.0.0/24 that exists only inside these
namespaces) whose peer is a port of the bridge in PREFIX-sw.  A partition is
an nftables table "nemesis" inside a host's namespace; nothing is changed
outside the namespaces the test creates.

Each chunkserver has DISKS disks (data directories): XFS file systems on
loop devices, mounted only inside the chunkserver's own mount namespace
(unshare -m), so they die with the process and no other process pins them;
a shut-down disk comes back clean (log recovery) on the next start.

Processes are started in their own session and stopped by PID; the
namespaces, mounts and loop devices are removed by the names this module
created.
"""

import os
import shutil
import signal
import subprocess
import time

SUBNET = "10.213.0"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
DISK_MB = 320            # mkfs.xfs wants at least 300 MB
DISKS = 2                # per chunkserver: emptying one keeps the server's id on the other
MASTER_PORT = 7300       # Raft on the next port
CS_PORT = 7400
PORTAL_PORT = 3260


class HostError(Exception):
    pass


def sh(cmd, check=True, timeout=60, **kw):
    """Run CMD (a list); returns CompletedProcess with text output."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise HostError("timed out after %ss: %s" % (timeout, " ".join(cmd)))
    if check and r.returncode != 0:
        raise HostError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                             (r.stderr or r.stdout).strip()[-300:]))
    return r


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child is dead for us
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Daemon:
    """One daemon process: ROLE (master, cs, gw) number N in host NAME."""

    def __init__(self, cluster, role, n):
        self.cluster = cluster
        self.role = role
        self.n = n
        self.name = {"master": "m", "cs": "c", "gw": "g"}[role] + str(n)
        self.ns = cluster.prefix + "-" + self.name
        octet = {"master": 10, "cs": 20, "gw": 30}[role] + n
        self.ip = "%s.%d" % (SUBNET, octet)
        self.proc = None
        self.paused = False
        self.faketime = None     # FAKETIME spec this process runs under, or None
        self.log = os.path.join(cluster.work, "logs", self.name + ".log")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def addr(self):
        port = {"master": MASTER_PORT, "cs": CS_PORT, "gw": PORTAL_PORT}[self.role]
        return "%s:%d" % (self.ip, port)


class Cluster:
    def __init__(self, work, build, prefix, n_cs=5, cs_bin=None, conf_extra="",
                 tgtd="/usr/sbin/tgtd", control_base=500):
        self.work = work
        self.build = build
        self.prefix = prefix
        self.cs_bin = cs_bin or os.path.join(build, "chunkserver/shoal-chunkserver")
        self.admin_bin = os.path.join(build, "admin/shoal-admin")
        self.tgtd = tgtd
        self.control_base = control_base
        self.masters = [Daemon(self, "master", i) for i in (1, 2, 3)]
        self.chunkservers = [Daemon(self, "cs", j) for j in range(1, n_cs + 1)]
        self.gateways = [Daemon(self, "gw", k) for k in (1, 2)]
        self.client_ns = prefix + "-cl"
        self.client_ip = SUBNET + ".100"
        self.switch_ns = prefix + "-sw"
        self.namespaces = []
        self.loops = {}          # cs name -> [loop device of disk 1, 2...] (a swap exchanges two)
        self.original_loops = {}
        self.conf = os.path.join(work, "shoal.conf")
        self.conf_extra = conf_extra
        self.exports = []        # (volume, target iqn) exported on every gateway
        for d in ("logs", "disks", "run"):
            os.makedirs(os.path.join(work, d), exist_ok=True)

    def daemons(self):
        return self.masters + self.chunkservers + self.gateways

    def by_name(self, name):
        for d in self.daemons():
            if d.name == name:
                return d
        raise KeyError(name)

    def master_list(self):
        return ",".join(m.addr() for m in self.masters)

    # ---- network ----

    def _add_host(self, ns, ip, port_name):
        sh(["ip", "netns", "add", ns])
        self.namespaces.append(ns)
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "-n", self.switch_ns, "link", "add", port_name, "type", "veth",
            "peer", "name", "eth0", "netns", ns])
        sh(["ip", "-n", self.switch_ns, "link", "set", port_name, "master", "br0", "up"])
        sh(["ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0"])
        sh(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def net_up(self):
        sh(["ip", "netns", "add", self.switch_ns])
        self.namespaces.append(self.switch_ns)
        sh(["ip", "-n", self.switch_ns, "link", "add", "br0", "type", "bridge"])
        sh(["ip", "-n", self.switch_ns, "link", "set", "br0", "up"])
        for d in self.daemons():
            self._add_host(d.ns, d.ip, "p-" + d.name)
        self._add_host(self.client_ns, self.client_ip, "p-cl")

    def ns_of(self, name):
        return self.client_ns if name == "cl" else self.by_name(name).ns

    def ip_of(self, name):
        return self.client_ip if name == "cl" else self.by_name(name).ip

    def nft(self, name, script):
        """Load an nft SCRIPT into host NAME's namespace."""
        sh(["ip", "netns", "exec", self.ns_of(name), "nft", "-f", "-"], input=script)

    def nft_reset(self, name, table=None):
        """Remove the nemesis's TABLE from host NAME (None: every rule of the host)."""
        if table:
            cmd = ["nft", "delete", "table", "inet", table]
        else:
            cmd = ["nft", "flush", "ruleset"]
        sh(["ip", "netns", "exec", self.ns_of(name)] + cmd, check=False)

    def nft_drop(self, name, table, rules):
        """Host NAME drops what RULES (nft rule bodies, 'in ...' or 'out ...') match.

        Each fault has a table of its own, so that healing one fault never
        lifts another fault's rules on the same host."""
        lines = ["table inet %s {" % table,
                 " chain in { type filter hook input priority 0; }",
                 " chain out { type filter hook output priority 0; }", "}"]
        for r in rules:
            chain, body = r.split(" ", 1)
            lines.append("add rule inet %s %s %s drop" % (table, chain, body))
        self.nft(name, "\n".join(lines) + "\n")

    def flows(self, gw):
        """Established TCP flows from gateway GW to chunkservers: [(cs, sport)], sorted."""
        r = sh(["ip", "netns", "exec", gw.ns, "ss", "-Htn", "state", "established",
                "dport", "= :%d" % CS_PORT], check=False)
        ips = {cs.ip: cs for cs in self.chunkservers}
        out = []
        for line in r.stdout.splitlines():
            f = line.split()
            # Recv-Q Send-Q Local:Port Peer:Port
            if len(f) >= 4 and f[3].rsplit(":", 1)[0] in ips:
                out.append((ips[f[3].rsplit(":", 1)[0]].name, int(f[2].rsplit(":", 1)[1])))
        return sorted(out)

    # ---- disks ----

    def disks_up(self):
        for cs in self.chunkservers:
            self.loops[cs.name] = []
            for k in range(1, DISKS + 1):
                img = os.path.join(self.work, "disks", "%s-disk%d.img" % (cs.name, k))
                with open(img, "wb") as f:
                    f.truncate(DISK_MB << 20)
                loop = sh(["losetup", "--find", "--show", img]).stdout.strip()
                self.loops[cs.name].append(loop)
                sh(["mkfs.xfs", "-q", "-f", loop])
                os.makedirs(self.mountpoint(cs, k), exist_ok=True)
        self.original_loops = {n: list(v) for n, v in self.loops.items()}

    def mountpoint(self, cs, k):
        return os.path.join(self.work, "mnt", cs.name, "disk%d" % k)

    def data_dir(self, cs, k):
        return os.path.join(self.mountpoint(cs, k), "data")

    def wait_disk_released(self, cs, timeout=10):
        """After CS died: until no mount namespace holds any of its file systems."""
        devs = [os.path.basename(loop) for loop in self.loops[cs.name]]
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not any(os.path.exists("/sys/fs/xfs/" + dev) for dev in devs):
                return True
            time.sleep(0.1)
        return False

    def on_disk(self, cs, k, script, timeout=120):
        """Run shell SCRIPT with CS's disk K mounted at $M (CS must be stopped)."""
        if cs.alive():
            raise HostError("%s is running; its disks are in use" % cs.name)
        if not self.wait_disk_released(cs):
            raise HostError("%s's disks are still mounted somewhere" % cs.name)
        return sh(["unshare", "-m", "--propagation", "private", "sh", "-c",
                   'mount "$1" "$2" && M="$2" && { %s; }; r=$?; umount "$2"; exit $r' % script,
                   "sh", self.loops[cs.name][k - 1], self.mountpoint(cs, k)], timeout=timeout)

    def new_disk(self, cs, k):
        """A new, empty file system on CS's disk K (CS must be stopped)."""
        if not self.wait_disk_released(cs):
            raise HostError("%s's disks are still mounted somewhere" % cs.name)
        sh(["mkfs.xfs", "-q", "-f", self.loops[cs.name][k - 1]])

    def in_cs_mounts(self, cs, cmd, timeout=60, check=True):
        """Run CMD inside running CS's mount namespace (where its disk is mounted)."""
        return sh(["nsenter", "-t", str(cs.pid), "-m"] + cmd, timeout=timeout, check=check)

    # ---- configuration ----

    def write_conf(self):
        with open(self.conf, "w") as f:
            f.write("# the nemesis's cluster (tests/nemesis)\ncluster: {\n\tmasters = [%s];\n};\n"
                    % ", ".join('"%s"' % m.addr() for m in self.masters))
            f.write(self.conf_extra)

    # ---- processes ----

    def _spawn(self, d, argv, env_extra=None):
        env = dict(os.environ)
        if d.faketime:
            env["LD_PRELOAD"] = FAKETIME_LIB
            env["FAKETIME"] = d.faketime
        if env_extra:
            env.update(env_extra)
        logf = open(d.log, "a")
        logf.write("=== %s start%s: %s\n" % (time.strftime("%T"),
                   " (FAKETIME=%s)" % d.faketime if d.faketime else "", " ".join(argv)))
        logf.flush()
        # ip netns exec, unshare and sh all exec: the PID is the daemon's
        d.proc = subprocess.Popen(["ip", "netns", "exec", d.ns] + argv, stdin=subprocess.DEVNULL,
                                  stdout=logf, stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
        logf.close()
        d.paused = False

    def start(self, d):
        if d.alive():
            raise HostError("%s already running" % d.name)
        if d.role == "master":
            data = os.path.join(self.work, "run", d.name)
            os.makedirs(data, exist_ok=True)
            self._spawn(d, [os.path.join(self.build, "master/shoal-master"), "--config", self.conf,
                            "--id", str(d.n), "--listen", d.addr(), "--data-dir", data,
                            "--masters", self.master_list()])
        elif d.role == "cs":
            if not self.wait_disk_released(d):
                raise HostError("%s's disks are still mounted somewhere" % d.name)
            # sh -c 'mount A MA && mkdir -p MA/data && mount B MB && ... && exec cs ...'
            # (positional parameters past $9 need braces)
            script, args, dirs = "", [], []
            for k, loop in enumerate(self.loops[d.name], 1):
                n = len(args)
                script += 'mount "${%d}" "${%d}" && mkdir -p "${%d}/data" && ' % (n + 1, n + 2, n + 2)
                args += [loop, self.mountpoint(d, k)]
                dirs.append(self.data_dir(d, k))
            n = len(args)
            script += ('exec "${%d}" --config "${%d}" --listen "${%d}" --data-dirs "${%d}" --masters "${%d}" '
                       '--host "${%d}"') \
                % tuple(range(n + 1, n + 7))
            args += [self.cs_bin, self.conf, d.addr(), ",".join(dirs), self.master_list(), d.name]
            self._spawn(d, ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"] + args)
        else:
            self._start_gateway(d)
        time.sleep(0.2)
        if not d.alive():
            raise HostError("%s exited at once (see %s)" % (d.name, d.log))

    def control_port(self, gw):
        return self.control_base + gw.n

    def gw_conf_dir(self, gw):
        return os.path.join(self.work, "run", gw.name + "-conf.d")

    def _start_gateway(self, gw):
        mods = os.path.join(self.work, "modules")
        if not os.path.exists(os.path.join(mods, "bs_shoal.so")):
            os.makedirs(mods, exist_ok=True)
            tmp = os.path.join(mods, ".bs_shoal.so.tmp")
            shutil.copy(os.path.join(self.build, "backing-store/.libs/bs_shoal.so"), tmp)
            os.rename(tmp, os.path.join(mods, "bs_shoal.so"))
        os.makedirs("/usr/lib/tgt/backing-store", exist_ok=True)
        os.makedirs(self.gw_conf_dir(gw), exist_ok=True)
        cp = self.control_port(gw)
        self._spawn(gw, ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                         'mount --bind "$1" /usr/lib/tgt/backing-store && exec "$2" -f -C "$3" '
                         '--iscsi portal="$4"', "sh", mods, self.tgtd, str(cp), gw.addr()])
        end = time.monotonic() + 20
        while time.monotonic() < end:
            r = sh(["tgtadm", "-C", str(cp), "--op", "show", "--mode", "sys"], check=False)
            if r.returncode == 0 and "shoal" in r.stdout:
                break
            if not gw.alive():
                raise HostError("%s (tgtd) exited (see %s)" % (gw.name, gw.log))
            time.sleep(0.2)
        else:
            raise HostError("%s (tgtd) did not load bs_shoal.so" % gw.name)
        if os.listdir(self.gw_conf_dir(gw)):
            self.gw_admin(gw, ["lun", "restore"], timeout=60)

    def kill9(self, d):
        if not d.alive():
            return
        os.kill(d.pid, signal.SIGKILL)
        try:
            d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            raise HostError("%s (pid %d) survived kill -9" % (d.name, d.pid))
        d.paused = False

    def stop(self, d):
        """Stop D for good: SIGTERM (tgtd: delete its system), then kill -9."""
        if not d.alive():
            return
        if d.paused:
            os.kill(d.pid, signal.SIGCONT)
            d.paused = False
        if d.role == "gw":
            sh(["tgtadm", "-C", str(self.control_port(d)), "--op", "delete", "--mode", "system"],
               check=False, timeout=10)
        else:
            os.kill(d.pid, signal.SIGTERM)
        try:
            d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill9(d)

    def pause(self, d):
        os.kill(d.pid, signal.SIGSTOP)
        d.paused = True

    def resume(self, d):
        if d.alive():
            os.kill(d.pid, signal.SIGCONT)
        d.paused = False

    # ---- shoal-admin ----

    def admin(self, args, ns=None, timeout=30, check=True):
        """shoal-admin ARGS in namespace NS (default: the client's host)."""
        return sh(["ip", "netns", "exec", ns or self.client_ns, self.admin_bin, "--config", self.conf]
                  + args, timeout=timeout, check=check)

    def gw_admin(self, gw, args, timeout=30, check=True):
        return self.admin(["--control-port", str(self.control_port(gw)), "--conf-dir",
                           self.gw_conf_dir(gw)] + args, ns=gw.ns, timeout=timeout, check=check)

    # ---- teardown ----

    def teardown(self):
        for d in self.daemons():
            try:
                if d.alive():
                    if d.paused:
                        os.kill(d.pid, signal.SIGCONT)
                    os.kill(d.pid, signal.SIGKILL)
                    d.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for cs in self.chunkservers:
            if cs.name in self.loops:
                self.wait_disk_released(cs, timeout=10)
        for loops in self.original_loops.values():
            for loop in loops:
                sh(["losetup", "-d", loop], check=False)
        for ns in reversed(self.namespaces):
            sh(["ip", "netns", "del", ns], check=False)
        self.namespaces = []
