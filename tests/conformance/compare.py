#!/usr/bin/env python3
"""compare.py: judge iscsi-test-cu runs of Shoal against stock tgt's.

usage: compare.py [--require SUITE[.TEST]]... [--gaps GAPS_FILE]
                  EXPECTED_FAILURES BASELINE_LOG SHOAL_LOG [LABEL]

Each log is the concatenated output of one or more iscsi-test-cu runs.  A
test's outcome is 'pass', 'skip' (CUnit counts it passed but the test said
[SKIPPED]) or 'fail'.  The check fails if a test that the baseline passes
fails, is skipped or did not run on Shoal, unless EXPECTED_FAILURES lists
it (each line: the test's FAMILY.Suite.Test glob or Suite.Test,
whitespace, the reason).  Prints the counts for both sides and every
difference.

--require SUITE or SUITE.TEST: must also have run on Shoal with at least
one test passed and none failed, whatever the baseline did (expected
failures and gaps do not excuse it).

--gaps GAPS_FILE: a run whose SHOAL_LOG holds only some suites, with the
initiator's paths through different gateways (cross-gateway-gaps, same
format as EXPECTED_FAILURES).  Only the suites present in SHOAL_LOG are
compared, and a listed test may fail; each such gap is printed with its
reason.  A listed test that passes is reported, so the list stays honest.
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
	"""[(glob, reason)] from a list file."""
	exp = []
	with open(path) as f:
		for line in f:
			line = line.split('#', 1)[0].strip()
			if not line:
				continue
			parts = line.split(None, 1)
			if len(parts) < 2:
				sys.exit('compare.py: %s: line without a reason: %s' % (path, line))
			exp.append((parts[0], parts[1]))
	return exp


def listed(t, exp):
	"""The reason t is listed in exp, or None."""
	for e, why in exp:
		if fnmatch.fnmatch(t, e) or fnmatch.fnmatch('ALL.' + t, e):
			return why
	return None


def counts(r):
	c = {'pass': 0, 'fail': 0, 'skip': 0}
	for v in r.values():
		c[v] += 1
	return c


def check_required(shoal, suites):
	"""Names of the required suites or tests that did not pass on Shoal."""
	bad = []
	for s in suites:
		r = {t: v for t, v in shoal.items() if t == s or t.startswith(s + '.')}
		c = counts(r)
		ok = c['pass'] > 0 and c['fail'] == 0
		print('  required %s on shoal: %d passed, %d failed, %d skipped: %s' %
		      (s, c['pass'], c['fail'], c['skip'], 'ok' if ok else 'NOT PASSED'))
		if not ok:
			bad.append(s)
	return bad


def main():
	args = sys.argv[1:]
	required = []
	gaps = None
	while len(args) >= 2 and args[0] in ('--require', '--gaps'):
		if args[0] == '--require':
			required.append(args[1])
		else:
			gaps = load_expected(args[1])
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
	if gaps is not None:
		suites = {t.rsplit('.', 1)[0] for t in shoal}
		base = {t: v for t, v in base.items() if t.rsplit('.', 1)[0] in suites}
	cb, cs = counts(base), counts(shoal)
	print('%-28s %6s %6s %6s %6s' % (label, 'tests', 'passed', 'failed', 'skipped'))
	print('%-28s %6d %6d %6d %6d' % ('  stock tgt (bs_rdwr)', len(base), cb['pass'], cb['fail'], cb['skip']))
	print('%-28s %6d %6d %6d %6d' % ('  shoal', len(shoal), cs['pass'], cs['fail'], cs['skip']))
	bad = []
	for t, v in sorted(shoal.items()):
		b = base.get(t)
		gap = listed(t, gaps) if gaps is not None else None
		why = listed(t, exp)
		if v != 'pass' and gap:
			print('  cross-gateway gap %s: %s on shoal across two gateways (%s on stock, one tgtd): %s' %
			      (t, 'fails' if v == 'fail' else 'skipped', b, gap))
		elif v != 'pass' and b == 'pass':
			what = 'fails' if v == 'fail' else 'is skipped'
			if why:
				print('  note %s: %s on shoal, passes on stock; listed as expected: %s' % (t, what, why))
			else:
				bad.append(t)
				print('  REGRESSION %s: passes on stock tgt, %s on shoal' % (t, what))
		elif v == 'fail':
			print('  note %s: fails on shoal (%s on stock, so not judged)' % (t, b))
		elif gap:
			print('  %s passes across two gateways although cross-gateway-gaps lists it: update the list' % t)
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
