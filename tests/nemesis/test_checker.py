#!/usr/bin/env python3
"""The checker's own test: hand-made histories, in iscsi_nemesis's format.

Each bad history must give exactly the finding it was made for; the good
ones (concurrent writes, failed writes seen while or after they ran, a
legitimate MISCOMPARE, a slow answer excused by a fault) must give none.
Run: python3 tests/nemesis/test_checker.py (exit 0 when all pass).
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402

S = 1_000_000   # one second in the history's microseconds


class H:
    """Builds a history: times are seconds, values small integers (0 = zeros)."""

    def __init__(self, client=1):
        self.lines = []
        self.client = client
        self.n = 0

    def _op(self):
        self.n += 1
        return self.client << 48 | self.n

    def _run(self, oid, s, e, outcome, tail, path=0, attempt_result=None, late=None, hung=None):
        self.lines.append("S %d %d %d 1" % (oid, s * S, path))
        if e is None:
            return oid
        res = attempt_result or {"ok": "good", "miscompare": "miscompare"}.get(outcome, "sense:2/04/01")
        self.lines.append("X %d %d %d 1 %s" % (oid, e * S, path, res))
        if late:
            self.lines.append("Z %d %d %d 1 %s %d" % (oid, late[0] * S, path, late[1],
                                                     (late[0] - s) * 1000))
        if hung:
            self.lines.append("H %d %d %d 1 %d" % (oid, hung * S, path, (hung - s) * 1000))
        self.lines.append("E %d %d %s%s" % (oid, e * S, outcome, tail))
        return oid

    def w(self, b, v, s, e, outcome="ok", **kw):
        oid = self._op()
        self.lines.append("I %d %d W %d %x" % (oid, s * S, b, v))
        return self._run(oid, s, e, outcome, "" if outcome != "fail" else " sense:2/04/01", **kw)

    def r(self, b, s, e, *values, outcome="ok", **kw):
        oid = self._op()
        self.lines.append("I %d %d R %d 0" % (oid, s * S, b))
        tail = " " + ",".join("%x" % v for v in values) if outcome == "ok" else " no-path"
        return self._run(oid, s, e, outcome, tail, **kw)

    def c(self, b, v, expect, s, e, outcome="ok", **kw):
        oid = self._op()
        self.lines.append("I %d %d C %d %x %x" % (oid, s * S, b, v, expect))
        return self._run(oid, s, e, outcome, "", **kw)

    def check(self, **kw):
        ops, paths = checker.parse(self.lines)
        findings, _ = checker.check(ops, **kw)
        return sorted(f["kind"] for f in findings)


class Bad(unittest.TestCase):
    def test_lost_write(self):
        h = H()
        h.w(0, 1, 1, 2)
        h.w(0, 2, 3, 4)          # acknowledged, then lost: the final read sees 1
        h.r(0, 10, 11, 1)
        self.assertEqual(h.check(), ["stale-read"])

    def test_stale_read(self):
        h = H()
        h.w(3, 1, 1, 2)
        h.w(3, 2, 3, 4)
        h.r(3, 5, 6, 1, path=1)  # the other gateway still serves the old value
        h.r(3, 7, 8, 2)
        self.assertEqual(h.check(), ["stale-read"])

    def test_read_goes_back_after_seeing_a_failed_write(self):
        h = H()
        h.w(0, 1, 1, 2)
        h.w(0, 2, 3, 4, outcome="fail")
        h.r(0, 5, 6, 2)          # the failed write landed: fine
        h.r(0, 7, 8, 1)          # but it cannot un-land
        self.assertEqual(h.check(), ["stale-read"])

    def test_late_failed_write(self):
        h = H()
        h.w(0, 1, 1, 5, outcome="fail", attempt_result="failover")
        h.w(0, 2, 6, 7)          # began after 1 returned, acknowledged
        h.r(0, 9, 10, 1)         # ... and 1 landed over it
        self.assertEqual(h.check(), ["late-failed-write"])

    def test_resurrected_zero(self):
        h = H()
        h.r(0, 0, 1, 0)
        h.w(0, 1, 1, 2)
        h.r(0, 3, 4, 0)
        self.assertEqual(h.check(), ["zeros-after-write"])

    def test_zero_after_a_failed_write_was_seen(self):
        h = H()
        h.w(0, 1, 1, 2, outcome="fail")
        h.r(0, 3, 4, 1)
        h.r(0, 5, 6, 0)
        self.assertEqual(h.check(), ["zeros-after-write"])

    def test_corrupt_and_foreign_and_future(self):
        h = H()
        h.w(0, 1, 1, 2)
        h.r(0, 3, 4, 1, checker.GARBAGE, 1, 1, 1, 1, 1, 1)
        h.r(0, 5, 6, 0x77)
        h.r(0, 7, 8, 5)
        h.w(0, 5, 9, 10)
        self.assertEqual(h.check(), ["corrupt", "foreign", "future-read"])

    def test_caw_miscompare_but_written(self):
        h = H()
        h.w(0, 1, 1, 2)
        h.c(0, 2, 1, 3, 4, outcome="miscompare")
        h.r(0, 5, 6, 2)
        self.assertEqual(h.check(), ["caw-miscompare-but-written", "spurious-miscompare"])

    def test_spurious_miscompare(self):
        h = H()
        h.w(0, 1, 1, 2)
        h.w(0, 9, 0, 0.5, outcome="fail")   # fenced: cannot land after 1
        h.c(0, 2, 1, 3, 4, outcome="miscompare")
        self.assertEqual(h.check(), ["spurious-miscompare"])

    def _caw_retried(self, first):
        h = H()
        h.w(0, 1, 1, 2)
        oid = h._op()
        h.lines += ["I %d %d C 0 2 1" % (oid, 3 * S), "S %d %d 0 1" % (oid, 3 * S)]
        h.lines += [x % {"o": oid} for x in first]
        h.lines += ["S %d %d 1 2" % (oid, 11 * S),
                    "X %d %d 1 2 miscompare" % (oid, 12 * S), "E %d %d miscompare" % (oid, 12 * S)]
        h.r(0, 13, 14, 2)
        return h

    def test_caw_miscompare_after_an_error_answer_is_a_finding(self):
        # R3: an attempt answered with an error did not write
        h = self._caw_retried(["X %%(o)d %d 0 1 sense:2/04/01" % (10 * S)])
        self.assertEqual(h.check(), ["caw-miscompare-but-written-after-retry",
                                     "spurious-miscompare-after-retry"])
        # nor did one abandoned with its path that answered an error late
        h = self._caw_retried(["X %%(o)d %d 0 1 failover" % (10 * S),
                               "Z %%(o)d %d 0 1 sense:2/04/01 9000" % (12 * S)])
        self.assertEqual(h.check(), ["caw-miscompare-but-written-after-retry",
                                     "spurious-miscompare-after-retry"])

    def test_caw_outcome_lost_with_its_path_is_no_finding(self):
        # the path died with the attempt out: its outcome is lost, as with any SAN
        h = self._caw_retried(["X %%(o)d %d 0 1 failover" % (10 * S)])
        self.assertEqual(h.check(), [])
        h = self._caw_retried(["X %%(o)d %d 0 1 pathdown" % (10 * S),
                               "Z %%(o)d %d 0 1 good 9000" % (12 * S)])
        self.assertEqual(h.check(), [])
        # answered late "may have taken effect" (R5's HARDWARE ERROR 04/44/00, after a C3 loss:
        # nemesis seed 3273): its outcome is lost too
        h = self._caw_retried(["X %%(o)d %d 0 1 failover" % (10 * S),
                               "Z %%(o)d %d 0 1 sense:4/44/00 9000" % (12 * S)])
        self.assertEqual(h.check(), [])

    def test_caw_compared_stale_value(self):
        h = H()
        h.w(0, 1, 1, 2)
        h.w(0, 2, 3, 4)
        h.c(0, 3, 1, 5, 6)       # GOOD although the block held 2
        self.assertEqual(h.check(), ["stale-read"])

    def test_deadline(self):
        h = H()
        h.w(0, 1, 1, 20)         # answered 19 s after it was sent
        h.w(1, 2, 1, 9, outcome="fail", attempt_result="failover", late=(40, "good"))
        self.assertEqual(h.check(deadline_ms=6000), ["deadline", "deadline"])

    def test_hung(self):
        h = H()
        # given up 20 s after it was sent: past the bound, a finding
        h.w(0, 1, 1, 9, outcome="fail", attempt_result="failover", hung=21)
        # given up by the client within the bound (it exited): not known to hang
        h.w(1, 2, 2, 9, outcome="fail", attempt_result="failover", hung=5)
        self.assertEqual(h.check(deadline_ms=6000), ["hung"])

    def test_unreadable_after_heal(self):
        h = H()
        h.w(0, 1, 1, 2)
        v = H(client=2)
        v.r(0, 10, 70, outcome="fail")
        ops, _ = checker.parse(h.lines + v.lines)
        kinds = sorted(f["kind"] for f in checker.check(ops, verify_client=2, blocks=2)[0])
        self.assertEqual(kinds, ["unreadable-after-heal", "unverified"])


class Good(unittest.TestCase):
    def test_concurrent_history(self):
        h = H()
        h.r(0, 0, 1, 0)                  # zeros before any write
        h.w(0, 1, 1, 5)
        h.w(0, 2, 2, 3, path=1)          # concurrent with 1: either may be last
        h.r(0, 2.5, 4, 2)
        h.r(0, 2.6, 4.5, 1)
        h.r(0, 6, 7, 1)
        h.r(0, 6, 7, 1)
        h.w(0, 3, 8, 9, outcome="fail")  # failed: may or may not have landed
        h.r(0, 8.5, 9.5, 3)              # seen while it ran
        h.r(0, 10, 11, 3)                # ... and after
        h.c(0, 4, 3, 12, 13)             # compare value current: GOOD
        h.c(0, 5, 1, 14, 15, outcome="miscompare")   # stale compare value: MISCOMPARE
        h.w(0, 6, 16, 20, outcome="fail", attempt_result="failover")
        h.r(0, 21, 22, 6)                # the abandoned write landed late, nothing acked since
        h.w(0, 7, 23, 24)
        h.r(0, 25, 26, 7)
        # a torn failed write: sectors of two writes
        h.w(1, 8, 1, 2)
        h.w(1, 9, 3, 4, outcome="fail")
        h.r(1, 5, 6, 8, 8, 8, 8, 9, 9, 9, 9)
        self.assertEqual(h.check(), [])

    def test_failed_write_lands_while_concurrent_with_later_write(self):
        h = H()
        h.w(0, 1, 1, 5, outcome="fail", attempt_result="failover")
        h.w(0, 2, 4, 6)          # began before 1 returned: 1 may land after it
        h.r(0, 7, 8, 1)
        self.assertEqual(h.check(), [])

    def test_slow_answer_excused_by_pause(self):
        h = H()
        h.w(0, 1, 1, 20)
        faults = [{"ev": "inject", "id": 1, "t": 2 * S, "hit": ["g1"]},
                  {"ev": "healed", "id": 1, "t": 15 * S}]
        self.assertEqual(h.check(deadline_ms=6000, faults=faults), [])

    def test_bad_input_is_refused(self):
        with self.assertRaises(checker.BadHistory):
            checker.parse(["E 5 100 ok"])
        with self.assertRaises(checker.BadHistory):
            checker.parse(["I 5 100 W zz 1"])


if __name__ == "__main__":
    unittest.main(verbosity=1)
