#!/usr/bin/env python3
"""compare.py: judge iscsi-test-cu runs of Shoal against stock tgt's.

usage: compare.py [--require SUITE]... EXPECTED_FAILURES BASELINE_LOG SHOAL_LOG [LABEL]

Each log is the concatenated output of one or more iscsi-test-cu runs.  A
test's outcome is 'pass', 'skip' (CUnit counts it passed but the test said
[SKIPPED]) or 'fail'.  The check fails if a test that the baseline passes
fails on Shoal, unless EXPECTED_FAILURES lists it (each line: the test's
FAMILY.Suite.Test glob or Suite.Test, whitespace, the reason).  Prints the
counts for both sides and every difference.

--require SUITE: the suite must also have run on Shoal with at least one
test passed and none failed, whatever the baseline did (and expected
failures do not excuse it).
"""
import fnmatch
import re
import sys


def parse(path):
	res = {}
	suite = None
	cur = None
	with open(path, errors='replace') as f:
		for line in f:
			m = re.match(r'^Suite: (\S+)', line)
			if m:
				suite = m.group(1)
				cur = None
				continue
			m = re.match(r'^  Test: (\S+) \.\.\.(.*)$', line)
			if m and suite:
				cur = suite + '.' + m.group(1)
				rest = m.group(2)
				res[cur] = 'skip' if '[SKIPPED]' in rest else None
				if rest.rstrip().endswith('passed') and res[cur] is None:
					res[cur] = 'pass'
				elif rest.rstrip().endswith('FAILED'):
					res[cur] = 'fail'
				continue
			if cur is None:
				continue
			s = line.strip()
			if '[SKIPPED]' in s and res[cur] is None:
				res[cur] = 'skip'
			elif s == 'passed' or s.endswith('...passed'):
				if res[cur] is None:
					res[cur] = 'pass'
			elif s == 'FAILED' or s.endswith('...FAILED'):
				res[cur] = 'fail'
	return {k: (v or 'fail') for k, v in res.items()}


def load_expected(path):
	exp = []
	with open(path) as f:
		for line in f:
			line = line.split('#', 1)[0].strip()
			if not line:
				continue
			parts = line.split(None, 1)
			if len(parts) < 2:
				sys.exit('compare.py: %s: expected-failure line without a reason: %s' % (path, line))
			exp.append(parts[0])
	return exp


def counts(r):
	c = {'pass': 0, 'fail': 0, 'skip': 0}
	for v in r.values():
		c[v] += 1
	return c


def check_required(shoal, suites):
	"""Names of the required suites that did not pass on Shoal."""
	bad = []
	for s in suites:
		r = {t: v for t, v in shoal.items() if t.startswith(s + '.')}
		c = counts(r)
		ok = c['pass'] > 0 and c['fail'] == 0
		print('  required suite %s on shoal: %d passed, %d failed, %d skipped: %s' %
		      (s, c['pass'], c['fail'], c['skip'], 'ok' if ok else 'NOT PASSED'))
		if not ok:
			bad.append(s)
	return bad


def main():
	args = sys.argv[1:]
	required = []
	while len(args) >= 2 and args[0] == '--require':
		required.append(args[1])
		args = args[2:]
	if len(args) < 3 or args[0].startswith('-'):
		sys.exit(__doc__)
	exp = load_expected(args[0])
	base = parse(args[1])
	shoal = parse(args[2])
	label = args[3] if len(args) > 3 else 'run'
	if not shoal:
		print('%s: no test results in %s' % (label, args[2]))
		return 1
	cb, cs = counts(base), counts(shoal)
	print('%-28s %6s %6s %6s %6s' % (label, 'tests', 'passed', 'failed', 'skipped'))
	print('%-28s %6d %6d %6d %6d' % ('  stock tgt (bs_rdwr)', len(base), cb['pass'], cb['fail'], cb['skip']))
	print('%-28s %6d %6d %6d %6d' % ('  shoal', len(shoal), cs['pass'], cs['fail'], cs['skip']))
	bad = []
	for t, v in sorted(shoal.items()):
		b = base.get(t)
		if v == 'fail':
			allowed = any(fnmatch.fnmatch(t, e) or fnmatch.fnmatch('ALL.' + t, e) for e in exp)
			if b == 'pass' and not allowed:
				bad.append(t)
				print('  REGRESSION %s: passes on stock tgt, fails on shoal' % t)
			elif allowed:
				print('  note %s: fails on shoal (%s on stock; listed as expected)' % (t, b))
			elif b != 'fail':
				print('  note %s: fails on shoal (%s on stock, so not judged)' % (t, b))
		elif b is not None and b != v:
			print('  %s: stock %s, shoal %s' % (t, b, v))
	for t in sorted(set(base) - set(shoal)):
		if base[t] == 'pass':
			bad.append(t)
			print('  MISSING %s: passes on stock tgt, did not run on shoal' % t)
	bad += check_required(shoal, required)
	return 1 if bad else 0


if __name__ == '__main__':
	sys.exit(main())
