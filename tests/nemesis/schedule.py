"""The nemesis's fault schedule: a pure function of (seed, duration, shape).

A schedule is a list of faults, each {"t": start second, "d": duration,
"kind": ..., target fields}, sorted by start.  Several run at once: a new
fault starts every 2-7 s while fewer than MAX_ACTIVE are active.  Rules
keep the cluster healable and the findings meaningful:

- a daemon is the target of one fault at a time (no pause of a killed
  process), with 3 s between its faults;
- at most one fault that destroys or replaces a disk (empty, stale, swap,
  eio) at a time and at most two a minute: with 3 replicas a chunk always
  keeps a good one;
- a whole-cluster power loss runs alone;
- a minority of the masters is affected at a time by kill, pause, cut or
  clock faults (the majority split cuts exactly one), so the cluster can
  always make progress once a fault ends; half the master kills and pauses
  hit whichever master leads at the time ("leader").

Replay: the same seed, duration and shape give the same schedule (Python's
random.Random is stable across versions for these calls).
"""

import random

KINDS = {
    # kind: (weight, roles it targets)
    "kill": (14, ("master", "cs", "gw")),
    "pause": (14, ("master", "cs", "gw")),
    "cut": (8, ("master", "cs", "gw")),          # a host cut off
    "split": (5, ()),                            # master majority/minority split, hosts split too
    "oneway": (8, ()),                           # X drops what Y sends
    "flow": (14, ()),                            # a gateway->chunkserver TCP flow black-holed
    "eio": (5, ("cs",)),                         # xfs_io shutdown of one of its disks
    "empty": (6, ("cs",)),                       # killed, back after d s with a disk emptied
    "stale": (4, ("cs",)),                       # a disk swapped for an older copy of itself
    "swap": (2, ("cs",)),                        # two chunkservers exchange a disk
    "clock": (5, ("master", "cs")),              # libfaketime rate/offset
    "power": (4, ()),                            # whole cluster, crash-sim chunkservers
}
DISK_KINDS = ("eio", "empty", "stale", "swap")
MAX_ACTIVE = 3
MAX_DISK = 2
GAP = 3.0
# libfaketime rates and offsets for the clock fault.  libfaketime does reach
# CLOCK_MONOTONIC in the masters and chunkservers (their event loops wake 2x
# as often under "x2" and half as often under "x0.5", measured with strace),
# so their timers and leases really run fast or slow.  It also moves that
# clock to the fake wall-clock epoch, which only relative uses survive:
# tgtd and the gateway module arm timerfds at absolute CLOCK_MONOTONIC times,
# which libfaketime does not translate, so a faked gateway would just never
# time out; gateways get no clock fault.
CLOCK_SPECS = ("+0 x1.5", "+0 x0.67", "+0 x1.1", "+0 x0.9", "+3600 x1", "-3600 x1")


def make(seed, seconds, n_cs=5, kinds=None):
    rng = random.Random(seed)
    names = {"master": ["m1", "m2", "m3"], "cs": ["c%d" % j for j in range(1, n_cs + 1)],
             "gw": ["g1", "g2"]}
    allowed = {k: v for k, v in KINDS.items() if kinds is None or k in kinds}
    if not allowed:
        raise ValueError("no fault kind left to draw from")
    busy = {}                  # daemon name -> time it is free again
    active = []                # (end, fault)
    disk_faults = 0
    out = []
    t = rng.uniform(2, 5)
    while t < seconds - 2:
        active = [(e, f) for e, f in active if e > t]
        if len(active) >= MAX_ACTIVE or any(f["kind"] == "power" for _, f in active):
            t = min(e for e, _ in active) + 0.5
            continue
        kinds_w = [(k, w) for k, (w, _) in allowed.items()]
        kind = rng.choices([k for k, _ in kinds_w], [w for _, w in kinds_w])[0]
        d = round(rng.uniform(2, 14), 1)
        f = {"t": round(t, 1), "d": d, "kind": kind}
        free = [n for role in names for n in names[role] if busy.get(n, 0) <= t]
        masters_hit = sum(1 for n in names["master"] if busy.get(n, 0) > t)
        ok = True
        if kind == "power":
            ok = not active
            f["d"] = round(rng.uniform(1, 4), 1)
            targets = [n for role in names for n in names[role]]
        elif kind in ("kill", "pause", "cut", "clock") or kind in DISK_KINDS:
            roles = KINDS[kind][1]
            cands = [n for n in free if any(n in names[r] for r in roles)]
            if masters_hit >= 1:
                cands = [n for n in cands if n not in names["master"]]
            if kind in DISK_KINDS:
                ok = disk_faults < MAX_DISK * max(1, int(seconds // 60)) and \
                    not any(g["kind"] in DISK_KINDS for _, g in active)
            if kind == "swap":
                cands = [n for n in cands if n in names["cs"]]
                ok = ok and len(cands) >= 2
                if ok:
                    a, b = rng.sample(cands, 2)
                    f["host"], f["other"] = a, b
                targets = [f.get("host"), f.get("other")]
            else:
                ok = ok and bool(cands)
                if ok:
                    f["host"] = rng.choice(cands)
                targets = [f.get("host")]
                if ok and kind in ("kill", "pause") and f["host"] in names["master"] \
                        and rng.random() < 0.5:
                    # whichever master leads when the fault starts
                    f["host"] = "leader"
                    targets = list(names["master"])
            if kind in DISK_KINDS:
                f["disk"] = rng.choice([1, 2])
            if kind == "pause":
                # around the initiator's 8 s path failover time, on both sides
                f["d"] = round(rng.choice([rng.uniform(1, 6), rng.uniform(8, 14)]), 1)
            if kind == "clock":
                f["spec"] = rng.choice(CLOCK_SPECS)
                f["d"] = round(rng.uniform(8, 20), 1)
            if kind == "empty":
                # down that long before it comes back on the empty disk
                f["d"] = round(rng.choice([0.0, rng.uniform(1, 8)]), 1)
            if kind == "stale":
                f["d"] = round(rng.uniform(5, 15), 1)
        elif kind == "split":
            ok = masters_hit == 0
            minority = rng.choice(names["master"])
            side = [minority] + [n for n in names["cs"] + names["gw"] if rng.random() < 0.4]
            f["side"] = sorted(side)
            targets = []
        elif kind == "oneway":
            pairs = [("cs", "master"), ("master", "cs"), ("master", "master"), ("gw", "cs"),
                     ("cs", "gw"), ("cs", "cs"), ("gw", "master")]
            a_role, b_role = rng.choice(pairs)
            a = rng.choice(names[a_role])
            b = rng.choice([n for n in names[b_role] if n != a])
            f["host"], f["from"] = a, b          # host drops packets from 'from'
            targets = []
        elif kind == "flow":
            f["gw"] = rng.choice(names["gw"])
            f["pick"] = round(rng.random(), 3)   # which of its flows to chunkservers, when it runs
            # lifted within the gateways' deadline (the gateway retried elsewhere meanwhile)
            # or long after it (the command was answered with an error)
            f["d"] = round(rng.uniform(1, 5) if rng.random() < 0.3 else rng.uniform(7, 25), 1)
            targets = []
        if ok:
            end = f["t"] + f["d"]
            for n in targets:
                busy[n] = end + GAP + (10 if kind in ("kill", "empty", "stale", "swap", "eio", "clock")
                                       else 0)
            if kind in DISK_KINDS:
                disk_faults += 1
            if kind == "power":
                for n in targets:
                    busy[n] = end + 15
            active.append((end + (15 if kind == "power" else 0), f))
            out.append(f)
        t += rng.uniform(2, 7)
    return out


def describe(f):
    """One line for a fault, as the report prints it."""
    extra = " ".join("%s=%s" % (k, v) for k, v in f.items() if k not in ("t", "d", "kind"))
    return "t=%6.1fs %-6s for %4.1fs %s" % (f["t"], f["kind"], f["d"], extra)
