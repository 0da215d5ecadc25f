#!/usr/bin/env python3
"""checker.py: the nemesis's history checker (block registers over multipath).

    checker.py HISTORY... [--faults FAULTS] [--deadline-ms MS] [--blocks N]
               [--verify-client C] [--json OUT]

HISTORY is what tests/tools/iscsi_nemesis logs (the format is in its
header); FAULTS the JSON lines tests/nemesis/nemesis.py writes when it
injects and heals a fault.  Prints one line per finding and a summary;
exits 1 if anything was found, 2 on bad input.

Each 4 KiB block is a register; every write stores a value no other write
has, so a read names the write it sees (per 512-byte sector).  An
operation is the logical operation of the multipath initiator: invoked at
its I line, returned at its E line, whichever paths its attempts took.
A write "returned" at E whatever its answer; it is acknowledged if E says
ok.  The rule a read R of block B obeys:

  R may see write W of B (or zeros, the initial value) unless
  - W started after R returned (a value from the future), or
  - W is superseded before R began: some write W2 of B certainly took
    effect after W, and certainly before R began.

  W2 certainly took effect after W when
    W is zeros (the initial value), or
    W was acknowledged and W2 began after W returned, or
    W failed and W2 was acknowledged and began after W returned (a failed
    write is fenced before its error is answered: it never lands after a
    later acknowledged write);
  W2 certainly took effect before time T when it was acknowledged before T,
  or a read that returned before T saw it.

So a read sees the last acknowledged write, a write concurrent with it, or
a failed write that began before it ended, but never a write (acknowledged
or failed) that returned before another write began and was acknowledged,
and never zeros once a write was acknowledged or seen.  COMPARE AND WRITE:
GOOD is an acknowledged write that also read its compare value (the rule
above applies to that value); MISCOMPARE wrote nothing, so its value seen
anywhere is a finding, and a MISCOMPARE is itself a finding when its compare
value was certainly the block's only possible content while it ran (both
are marked "-after-retry" when an earlier attempt of that COMPARE AND WRITE,
on the other path, was answered with an error the client retries: the
gateways promise such an answer means it did not write, R3/R5; one whose
outcome is unknown is answered HARDWARE ERROR, which ends the operation as
failed, a write that may have taken effect).  Not a finding: an earlier attempt abandoned with its path
(failover, pathdown) that may have written -- its outcome is lost with the
path, as with any multipath SAN; counted as caw_outcome_lost_with_path.  A
sector matching no write is corruption.  Every attempt answered more than
--deadline-ms (the gateways' answer bound, doc/protocol.md; +1 s of
slack) after it was sent, or given up unanswered after that, is a finding
unless a fault (kill, pause, cut, power loss) hit its gateway meanwhile.
A block the final verify pass (--verify-client) could not read is a
finding.
"""

import bisect
import collections
import json
import sys

ZERO = 0
GARBAGE = 0xffffffffffffffff
INF = float("inf")
DEADLINE_SLACK_US = 1_000_000    # scheduling on a busy 2-core machine


class BadHistory(Exception):
    pass


class Op:
    __slots__ = ("id", "kind", "block", "value", "expect", "s", "e", "outcome", "values", "why",
                 "attempts", "client")

    def __init__(self, oid, kind, block, value, expect, s):
        self.id = oid
        self.kind = kind
        self.block = block
        self.value = value
        self.expect = expect
        self.s = s
        self.e = INF
        self.outcome = None
        self.values = []
        self.why = ""
        self.attempts = {}       # n -> dict(path, sent, end, result, late, hung)
        self.client = oid >> 48


def parse(lines, ops=None, paths=None, where="history"):
    """Read history LINES into OPS (id -> Op); path events into PATHS."""
    ops = {} if ops is None else ops
    paths = [] if paths is None else paths
    for ln, line in enumerate(lines, 1):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        try:
            tag = f[0]
            if tag == "P":
                paths.append((int(f[2]), int(f[1]), f[3], " ".join(f[4:])))
                continue
            oid, t = int(f[1]), int(f[2])
            if tag == "I":
                if oid in ops:
                    raise BadHistory("%s line %d: operation %d invoked twice" % (where, ln, oid))
                ops[oid] = Op(oid, f[3], int(f[4]), int(f[5], 16),
                              int(f[6], 16) if f[3] == "C" else None, t)
                continue
            op = ops.get(oid)
            if op is None:
                raise BadHistory("%s line %d: operation %d not invoked" % (where, ln, oid))
            if tag == "S":
                op.attempts[int(f[4])] = {"path": int(f[3]), "sent": t, "end": None,
                                          "result": None, "late": None, "hung": False}
            elif tag in ("X", "Z", "H"):
                a = op.attempts.get(int(f[4]))
                if a is None:
                    if tag == "X" and f[5] == "noqueue":
                        continue
                    raise BadHistory("%s line %d: attempt not sent" % (where, ln))
                if tag == "X":
                    a["end"], a["result"] = t, f[5]
                elif tag == "Z":
                    a["late"] = (t, f[5])
                else:
                    a["hung"] = t
            elif tag == "E":
                op.e = t
                op.outcome = f[3]
                if op.kind == "R" and op.outcome == "ok":
                    op.values = [int(v, 16) for v in f[4].split(",")]
                else:
                    op.why = " ".join(f[4:])
            else:
                raise BadHistory("%s line %d: unknown event %r" % (where, ln, tag))
        except (IndexError, ValueError):
            raise BadHistory("%s line %d: malformed: %s" % (where, ln, line.rstrip()))
    return ops, paths


class Write:
    __slots__ = ("op", "value", "s", "e", "acked", "effective")

    def __init__(self, op, acked):
        self.op = op
        self.value = op.value
        self.s = op.s
        self.e = op.e
        self.acked = acked
        # the earliest time it certainly took effect by (INF: not known to)
        self.effective = op.e if acked else INF


class Block:
    """Everything about one register, indexed for the supersede queries."""

    def __init__(self, b):
        self.b = b
        self.ops = []
        self.writes = {}         # value -> Write
        self.miscompared = {}    # value -> C op that answered MISCOMPARE

    def observations(self):
        """(op, value, s, e) for every value a read or a good CAW's compare saw."""
        for op in self.ops:
            if op.kind == "R" and op.outcome == "ok":
                for v in sorted(set(op.values)):
                    yield op, v, op.s, op.e
            elif op.kind == "C" and op.outcome == "ok":
                yield op, op.expect, op.s, op.e

    def index(self):
        # a write seen by a read took effect before that read returned
        for op, v, _s, e in self.observations():
            w = self.writes.get(v)
            if w is not None and e < w.effective:
                w.effective = e
        ws = sorted(self.writes.values(), key=lambda w: w.s)
        self.starts = [w.s for w in ws]
        self.sorted_writes = ws
        # suffix minima of 'effective' by start: any write, acknowledged writes
        n = len(ws)
        self.min_any = [INF] * (n + 1)
        self.min_acked = [INF] * (n + 1)
        for i in range(n - 1, -1, -1):
            self.min_any[i] = min(self.min_any[i + 1], ws[i].effective)
            self.min_acked[i] = min(self.min_acked[i + 1], ws[i].effective if ws[i].acked else INF)

    def first_effective_after(self, t, acked_only):
        """Earliest time a write that began after T certainly took effect by."""
        i = bisect.bisect_right(self.starts, t)
        return (self.min_acked if acked_only else self.min_any)[i]

    def superseded_by(self, v, before):
        """Is value V (zeros: ZERO) certainly overwritten before time BEFORE?"""
        if v == ZERO:
            return self.first_effective_after(-INF, False) < before
        w = self.writes[v]
        return self.first_effective_after(w.e, not w.acked) < before


def retried_op(op):
    """Did an earlier attempt of OP fail or go unanswered?"""
    return any(a["result"] not in ("good", "miscompare") for a in op.attempts.values())


# The answer that says a COMPARE AND WRITE may have taken effect (R5:
# SL_E_INDOUBT -> HARDWARE ERROR, INTERNAL TARGET FAILURE).
CAW_IN_DOUBT = "sense:4/44/00"


def caw_lost_with_path(op):
    """Was an earlier attempt of COMPARE AND WRITE OP abandoned with its path
    (failover, pathdown) and not answered later with an error that says it
    did not write?  It may have written, and its outcome died with the path:
    an initiator's retry on another path compares against it, as with any
    multipath SAN.  A late answer of GOOD or "in doubt" (R5) says it may have
    written; any other error answer says it did not (R3/R5, doc/protocol.md)."""
    for a in op.attempts.values():
        if a["result"] in ("failover", "pathdown") and \
                (a["late"] is None or a["late"][1] in ("good", "transport", CAW_IN_DOUBT)):
            return True
    return False


def check(ops, faults=(), deadline_ms=None, blocks=None, verify_client=None, paths=()):
    """Returns (findings, stats); a finding is a dict with kind, block, op, text."""
    findings = []
    bl = {}
    stats = collections.Counter()

    def block(b):
        if b not in bl:
            bl[b] = Block(b)
        return bl[b]

    for op in ops.values():
        blk = block(op.block)
        blk.ops.append(op)
        stats["ops"] += 1
        stats["ops_" + op.kind + "_" + str(op.outcome)] += 1
        if op.kind in ("W", "C") and op.value in blk.writes:
            raise BadHistory("value %x written twice" % op.value)
        if op.kind == "W":
            blk.writes[op.value] = Write(op, op.outcome == "ok")
        elif op.kind == "C":
            if op.outcome == "miscompare":
                blk.miscompared[op.value] = op
            else:
                blk.writes[op.value] = Write(op, op.outcome == "ok")

    def add(kind, op, text):
        findings.append({"kind": kind, "block": op.block, "op": op.id,
                         "text": "op %s: %s" % (op_name(op.id), text)})

    for b, blk in sorted(bl.items()):
        blk.ops.sort(key=lambda o: o.s)
        blk.index()
        for op, v, s, e in blk.observations():
            stats["observations"] += 1
            what = "read" if op.kind == "R" else "compare of COMPARE AND WRITE"
            if v == GARBAGE:
                add("corrupt", op, "a %s returned a sector no write of block %d wrote (torn or "
                    "foreign data)" % (what, b))
                continue
            if v in blk.miscompared:
                c = blk.miscompared[v]
                if caw_lost_with_path(c):
                    stats["caw_outcome_lost_with_path"] += 1
                    continue
                retried = retried_op(c)
                add("caw-miscompare-but-written" + ("-after-retry" if retried else ""), op,
                    "a %s returned %x, the value of COMPARE AND WRITE op %s that answered MISCOMPARE%s"
                    % (what, v, op_name(c.id), " (after a failed attempt on another path)" if retried else ""))
                continue
            if v != ZERO and v not in blk.writes:
                add("foreign", op, "a %s returned value %x, never written to block %d" % (what, v, b))
                continue
            if v != ZERO and blk.writes[v].s > e:
                add("future-read", op, "a %s returned value %x of a write invoked after it returned"
                    % (what, v))
                continue
            if blk.superseded_by(v, s):
                if v == ZERO:
                    add("zeros-after-write", op, "a %s returned zeros after a write to the block was "
                        "acknowledged or seen" % what)
                else:
                    w = blk.writes[v]
                    add("stale-read" if w.acked else "late-failed-write", op,
                        "a %s returned %x, a %s write (op %s) that returned before a later "
                        "write began and was acknowledged or seen" %
                        (what, v, "acknowledged" if w.acked else "failed", op_name(w.op.id)))
        # a MISCOMPARE while its compare value was certainly the only possible content
        for c in blk.miscompared.values():
            x = c.expect
            if x == ZERO:
                cur_since = -INF
            elif x in blk.writes:
                cur_since = blk.writes[x].effective
            else:
                continue
            if cur_since >= c.s:
                continue
            wx = blk.writes.get(x)
            possible = False
            for w in blk.sorted_writes:
                if w.s >= c.e:
                    break
                if w is wx:
                    continue
                if wx is not None and w.acked and w.e < wx.s:
                    continue
                if wx is not None and not w.acked and wx.acked and wx.s > w.e:
                    continue
                possible = True
                break
            if not possible:
                if caw_lost_with_path(c):
                    stats["caw_outcome_lost_with_path"] += 1
                    continue
                retried = retried_op(c)
                add("spurious-miscompare" + ("-after-retry" if retried else ""), c,
                    "COMPARE AND WRITE answered MISCOMPARE although the block certainly held its "
                    "compare value %x throughout%s" % (x, " (after a failed attempt on another path)"
                                                       if retried else ""))
    # the final pass
    if verify_client is not None:
        seen = set()
        for op in ops.values():
            if op.client == verify_client and op.kind == "R":
                if op.outcome == "ok":
                    seen.add(op.block)
                else:
                    add("unreadable-after-heal", op, "the final read of block %d failed: %s"
                        % (op.block, op.why or op.outcome))
        for b in range(blocks or 0):
            if b not in seen and not any(f["block"] == b and f["kind"] == "unreadable-after-heal"
                                         for f in findings):
                findings.append({"kind": "unverified", "block": b, "op": None,
                                 "text": "block %d was never read by the final pass" % b})
    # bounded time
    if deadline_ms is not None:
        excuses = gateway_excuses(faults)
        limit = deadline_ms * 1000 + DEADLINE_SLACK_US
        for op in ops.values():
            for n, a in op.attempts.items():
                stats["attempts"] += 1
                answered = None
                if a["late"] is not None and a["late"][1] != "transport":
                    answered = a["late"][0]
                elif a["result"] not in (None, "failover", "pathdown", "noqueue", "transport"):
                    answered = a["end"]
                if answered is None and not a["hung"]:
                    continue
                until = answered if answered is not None else a["hung"]
                if until - a["sent"] <= limit:
                    # answered in time, or given up by the client before the bound
                    continue
                if excused(excuses, a["path"], a["sent"], until):
                    stats["deadline_excused"] += 1
                    continue
                if answered is not None:
                    add("deadline", op, "attempt %d on path %d answered %.1f s after it was sent "
                        "(deadline %d ms)" % (n, a["path"], (answered - a["sent"]) / 1e6, deadline_ms))
                else:
                    add("hung", op, "attempt %d on path %d never answered (given up after %.1f s; "
                        "deadline %d ms)" % (n, a["path"], (a["hung"] - a["sent"]) / 1e6, deadline_ms))
    stats["blocks"] = len(bl)
    return findings, stats


def gateway_excuses(faults):
    """Per gateway path (0 = g1, 1 = g2): intervals in which a fault hit that gateway."""
    spans = {0: [], 1: []}
    open_ = {}
    for ev in faults:
        key = ev.get("id")
        if ev.get("ev") == "inject":
            ev = dict(ev, t=ev.get("t_start", ev["t"]))
            open_[key] = ev
        elif ev.get("ev") == "healed" and key in open_:
            inj = open_.pop(key)
            for p, gw in ((0, "g1"), (1, "g2")):
                if gw in inj.get("hit", ()):
                    spans[p].append((inj["t"], ev["t"]))
    for inj in open_.values():
        for p, gw in ((0, "g1"), (1, "g2")):
            if gw in inj.get("hit", ()):
                spans[p].append((inj["t"], INF))
    return spans


def excused(spans, path, t0, t1):
    return any(a <= t1 and t0 <= b for a, b in spans.get(path, ()))


def load_faults(path):
    out = []
    if path:
        with open(path) as f:
            for line in f:
                if line.strip():
                    out.append(json.loads(line))
    return out


def op_name(oid):
    """CLIENT.SEQ, as the workload numbers its operations."""
    return "%d.%d" % (oid >> 48, oid & 0xffffffffffff)


def block_history(ops, b, t0=0, around=None, window_s=40):
    """Readable lines of block B's operations (times in seconds from T0)."""
    lines = []
    for op in sorted((o for o in ops.values() if o.block == b), key=lambda o: o.s):
        if around is not None and (op.s > around + window_s * 1e6 or op.e < around - window_s * 1e6):
            continue
        end = "  (never returned)" if op.e == INF else "%8.3f" % ((op.e - t0) / 1e6)
        if op.kind == "R":
            what = "read   -> %s" % (",".join("%x" % v for v in op.values) if op.outcome == "ok"
                                     else op.outcome + " " + op.why)
        elif op.kind == "W":
            what = "write  %x -> %s %s" % (op.value, op.outcome, op.why)
        else:
            what = "caw    %x if %x -> %s %s" % (op.value, op.expect, op.outcome, op.why)
        tries = " ".join("%d@p%d:%s%s" % (n, a["path"], a["result"],
                                         "/late:%s" % a["late"][1] if a["late"] else "")
                         for n, a in sorted(op.attempts.items()))
        lines.append("  op %-9s %8.3f %s  %s  [%s]" % (op_name(op.id), (op.s - t0) / 1e6, end, what, tries))
    return lines


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="check a nemesis history")
    ap.add_argument("history", nargs="+")
    ap.add_argument("--faults")
    ap.add_argument("--deadline-ms", type=int)
    ap.add_argument("--blocks", type=int)
    ap.add_argument("--verify-client", type=int)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    ops, paths = {}, []
    try:
        for h in args.history:
            with open(h) as f:
                parse(f, ops, paths, where=h)
        faults = load_faults(args.faults)
    except (OSError, BadHistory, json.JSONDecodeError) as e:
        print("checker: %s" % e, file=sys.stderr)
        return 2
    findings, stats = check(ops, faults, args.deadline_ms, args.blocks, args.verify_client, paths)
    t0 = min((o.s for o in ops.values()), default=0)
    for f in findings:
        print("FINDING %s block %d: %s" % (f["kind"], f["block"], f["text"]))
    print("checker: %d operations on %d blocks, %d observations checked, %d findings"
          % (stats["ops"], stats["blocks"], stats["observations"], len(findings)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"findings": findings, "stats": dict(stats), "t0": t0}, f, indent=1)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
