#!/usr/bin/env python3
"""compare.py: judge iscsi-test-cu runs of Shoal against stock tgt's.

usage: compare.py --tests LIST_FILE --skipped SKIPPED_FILE --lu thick|thin
                  [--suite SUITE]... [--require SUITE[.TEST]]... [--gaps GAPS_FILE]
                  EXPECTED_FAILURES BASELINE_LOG SHOAL_LOG [LABEL]

Each log is the concatenated output of one or more iscsi-test-cu -d runs.
A test's outcome is 'pass', 'skip' (CUnit counts it passed but the test
said [SKIPPED]) or 'fail', and a failed test has its failure: the
"file.c:line" of each failed CUnit assertion and each "[FAILED] ..."
message the test printed (the sense data it got, say).

The tests judged are those LIST_FILE (the output of iscsi-test-cu --list)
names in the ALL family, or only those of the given --suite(s).  Both logs
must hold a result for every one of them: a test missing from either log
(an initiator that crashed, hung or was cut short, a log of the wrong run)
fails the check, so a broken baseline can never excuse Shoal.

The rule, for each test by the baseline's outcome:
  stock passes  Shoal must pass.
  stock skips   (tgt or bs_rdwr does not claim the feature) Shoal may pass;
                a failure is a regression (Shoal claims the feature, so it
                must do it right); a skip on both sides must be in
                SKIPPED_FILE, the reviewed list of tests skipped on both.
  stock fails   Shoal may pass, or fail exactly as stock does: the same
                failed assertions with the same messages (the same check
                failing the same way: behaviour of tgt's shared core, not
                of bs_shoal.so); any other failure, or a skip, is a
                regression.
A test listed in EXPECTED_FAILURES (each line: FAMILY.Suite.Test glob or
Suite.Test, whitespace, the reason) is excused from these rules and
printed with its reason.

SKIPPED_FILE: each line "LU GLOB REASON" where LU is thick, thin or any
(the LU kind the skip happens on; --lu says which this run is).  A test
skipped on both sides that no line covers fails the check; so does a line
(in scope and for this LU) that covers no test skipped on both, so the
list stays reviewed.

--require SUITE or SUITE.TEST: must also have run on Shoal with at least
one test passed and none failed, whatever the baseline did (expected
failures and gaps do not excuse it).

--gaps GAPS_FILE: a run with the initiator's paths through different
gateways (cross-gateway-gaps, same format as EXPECTED_FAILURES): a listed
test may fail on Shoal; each such gap is printed with its reason.  A
listed test that passes is reported, so the list stays honest.

Prints the counts for both sides and every difference; exits 1 when the
check fails, 2 on bad usage or an unreadable file.
"""
import fnmatch
import re
import sys


def die(msg):
	print('compare.py: %s' % msg, file=sys.stderr)
	sys.exit(2)


def parse(path):
	"""{Suite.Test: (outcome, its failure: a frozenset of sites and [FAILED] messages)}."""
	res = {}
	sites = {}
	suite = None
	cur = None
	try:
		f = open(path, errors='replace')
	except OSError as e:
		die('cannot read %s: %s' % (path, e.strerror))
	with f:
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
				sites[cur] = set()
				if '[FAILED]' in rest:
					sites[cur].add(rest[rest.index('[FAILED]'):].strip())
				# CUnit's verdict right after "...": a [FAILED] printed
				# after it comes from the suite's teardown, not the test
				if rest.startswith('passed'):
					res[cur] = 'pass'
				elif rest.startswith('FAILED'):
					res[cur] = 'fail'
				elif rest.rstrip().endswith('passed') and res[cur] is None:
					res[cur] = 'pass'
				elif rest.rstrip().endswith('FAILED'):
					res[cur] = 'fail'
				continue
			if cur is None:
				continue
			s = line.strip()
			m = re.match(r'^\d+\. (\S+:\d+) ', s)
			if m:
				sites[cur].add(m.group(1))
			elif '[FAILED]' in s:
				sites[cur].add(s[s.index('[FAILED]'):])
			elif '[SKIPPED]' in s and res[cur] is None:
				res[cur] = 'skip'
			elif s == 'passed' or s.endswith('...passed'):
				if res[cur] is None:
					res[cur] = 'pass'
			elif s == 'FAILED' or s.endswith('...FAILED'):
				res[cur] = 'fail'
	return {k: (v or 'fail', frozenset(sites[k])) for k, v in res.items()}


def load_list(path, what, fields):
	"""[(field..., reason)] from a list file: FIELDS fields, then the reason."""
	out = []
	try:
		f = open(path)
	except OSError as e:
		die('cannot read %s: %s' % (path, e.strerror))
	with f:
		for n, line in enumerate(f, 1):
			line = line.split('#', 1)[0].strip()
			if not line:
				continue
			parts = line.split(None, fields)
			if len(parts) <= fields:
				die('%s:%d: %s line without a reason: %s' % (path, n, what, line))
			out.append(tuple(parts))
	return out


def load_tests(path, suites):
	"""Suite.Test names of the ALL family in an iscsi-test-cu --list output."""
	tests = set()
	try:
		f = open(path)
	except OSError as e:
		die('cannot read %s: %s' % (path, e.strerror))
	with f:
		for line in f:
			parts = line.strip().split('.')
			if len(parts) != 3 or parts[0] != 'ALL':
				continue
			if suites and parts[1] not in suites:
				continue
			tests.add(parts[1] + '.' + parts[2])
	if not tests:
		die('%s names no test%s' % (path, ' of ' + ', '.join(suites) if suites else ''))
	return tests


def listed(t, exp):
	"""The reason t is listed in exp [(glob, reason)], or None."""
	for e, why in exp:
		if fnmatch.fnmatch(t, e) or fnmatch.fnmatch('ALL.' + t, e):
			return why
	return None


def counts(r):
	c = {'pass': 0, 'fail': 0, 'skip': 0}
	for v, _ in r.values():
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


def sites_str(s):
	return ', '.join(sorted(s)) if s else 'no failure site'


def judge(t, b, v, exp, gaps):
	"""(bad, message or None) for test t: baseline (outcome, sites) b, Shoal's v."""
	(bo, bs), (so, ss) = b, v
	why = listed(t, exp)
	gap = listed(t, gaps) if gaps is not None else None
	if so != 'pass' and gap:
		return False, 'cross-gateway gap %s: %s on shoal across two gateways (%s on stock, one tgtd): %s' % (
			t, 'fails' if so == 'fail' else 'skipped', bo, gap)
	if so == 'pass':
		if gap:
			return False, '%s passes across two gateways although cross-gateway-gaps lists it: update the list' % t
		if bo != 'pass':
			return False, '%s: stock %s, shoal pass' % (t, bo)
		return False, None
	what = 'fails (%s)' % sites_str(ss) if so == 'fail' else 'is skipped'
	if bo == 'pass':
		verdict = 'passes on stock tgt, %s on shoal' % what
	elif bo == 'skip' and so == 'skip':
		return False, None	# judged against the reviewed list of skips
	elif bo == 'skip':
		verdict = 'skipped on stock tgt, %s on shoal (a feature Shoal claims must work)' % what
	elif so == 'fail' and ss and ss == bs:
		return False, 'note %s: fails on shoal as on stock tgt, the same way (%s): tgt core' % (
			t, sites_str(ss))
	else:
		verdict = 'fails on stock tgt (%s), %s on shoal: not the same failure' % (sites_str(bs), what)
	if why:
		return False, 'note %s: %s; listed as expected: %s' % (t, verdict, why)
	return True, 'REGRESSION %s: %s' % (t, verdict)


def main():
	args = sys.argv[1:]
	required, suites = [], []
	gaps = tests_file = skipped_file = lu = None
	opts = ('--require', '--gaps', '--tests', '--skipped', '--lu', '--suite')
	while len(args) >= 2 and args[0] in opts:
		o, a = args[0], args[1]
		if o == '--require':
			required.append(a)
		elif o == '--suite':
			suites.append(a[4:] if a.startswith('ALL.') else a)
		elif o == '--gaps':
			gaps = [(g, w) for g, w in load_list(a, 'gap', 1)]
		elif o == '--tests':
			tests_file = a
		elif o == '--skipped':
			skipped_file = a
		else:
			lu = a
		args = args[2:]
	if len(args) < 3 or args[0].startswith('-') or not tests_file or not skipped_file or \
	   lu not in ('thick', 'thin'):
		print(__doc__, file=sys.stderr)
		sys.exit(2)
	exp = [(g, w) for g, w in load_list(args[0], 'expected failure', 1)]
	skipped = load_list(skipped_file, 'skipped', 2)
	for k, g, _ in skipped:
		if k not in ('thick', 'thin', 'any'):
			die("%s: LU '%s' of %s is none of thick, thin, any" % (skipped_file, k, g))
	names = load_tests(tests_file, suites)
	base_all, shoal_all = parse(args[1]), parse(args[2])
	label = args[3] if len(args) > 3 else 'run'
	base = {t: v for t, v in base_all.items() if t in names}
	shoal = {t: v for t, v in shoal_all.items() if t in names}

	cb, cs = counts(base), counts(shoal)
	print('%-28s %6s %6s %6s %6s %6s' % (label, 'tests', 'passed', 'failed', 'skipped', 'absent'))
	print('%-28s %6d %6d %6d %6d %6d' % ('  stock tgt (bs_rdwr)', len(base), cb['pass'], cb['fail'],
					      cb['skip'], len(names) - len(base)))
	print('%-28s %6d %6d %6d %6d %6d' % ('  shoal', len(shoal), cs['pass'], cs['fail'], cs['skip'],
					      len(names) - len(shoal)))
	bad = []
	for side, got, path in (('stock tgt', base, args[1]), ('shoal', shoal, args[2])):
		miss = sorted(names - set(got))
		if miss:
			bad += miss
			print('  MISSING from the %s log (%s): %d of %d tests have no result: %s%s' % (
				side, path, len(miss), len(names), ' '.join(miss[:12]),
				' ...' if len(miss) > 12 else ''))
	both_skipped = set()
	for t in sorted(names & set(base) & set(shoal)):
		if base[t][0] == 'skip' and shoal[t][0] == 'skip' and not (gaps and listed(t, gaps)):
			both_skipped.add(t)
		r, msg = judge(t, base[t], shoal[t], exp, gaps)
		if r:
			bad.append(t)
		if msg:
			print('  ' + msg)
	used = set()
	for t in sorted(both_skipped):
		why = None
		for i, (k, g, w) in enumerate(skipped):
			if k in ('any', lu) and (fnmatch.fnmatch(t, g) or fnmatch.fnmatch('ALL.' + t, g)):
				why = why or w
				used.add(i)
		if why is None:
			bad.append(t)
			print('  UNREVIEWED SKIP %s: skipped on stock tgt and on shoal, not in %s' % (t, skipped_file))
	for i, (k, g, w) in enumerate(skipped):
		in_scope = any(fnmatch.fnmatch(t, g) or fnmatch.fnmatch('ALL.' + t, g) for t in names)
		if k in ('any', lu) and in_scope and i not in used:
			bad.append(g)
			print('  STALE %s (%s) in %s: no test it names is skipped on both sides any more' % (
				g, k, skipped_file))
	print('  skipped on both sides (reviewed in %s): %d' % (skipped_file.rsplit('/', 1)[-1],
								 len(both_skipped)))
	bad += check_required(shoal, required)
	return 1 if bad else 0


if __name__ == '__main__':
	sys.exit(main())
