# report.awk: tests/bench/run's raw lines into Markdown tables (POSIX awk).
#
# Input, one line per run (key=value fields; unknown keys are ignored):
#   side=shoal|baseline wl=NAME rep=N ops=N iops=X mbps=X lat_mean_us=X
#   lat_p50_us=N lat_p99_us=N errors=N cs_ticks=N srv_ticks=N cs_faults=N
#   srv_faults=N disk_writes=N disk_flushes=N load=X rc=N
# and the disk floor's (fio: one O_DSYNC writer, floor1, against three at
# once, floor3, whose iops is per set of three writes):
#   side=floor1|floor3 wl=rw1|rw32 rep=N iops=X lat_mean_us=X
# Every figure reported is the median over the repetitions of a workload
# (prefill, rep 0, is shown on its own).  The verdict's ratio pairs the two
# sides' runs of one repetition (back to back, so under the same machine
# load) and takes the median of those per-repetition ratios; they are
# listed too.  Needs -v hz=CLK_TCK.

function med(key,    n, i, j, t, a) {
	n = cnt[key]
	if (n == 0)
		return ""
	for (i = 1; i <= n; i++)
		a[i] = val[key, i]
	for (i = 2; i <= n; i++) {	# insertion sort: a handful of values
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function add(key, v) {
	cnt[key]++
	val[key, cnt[key]] = v + 0
}

function fmt(v) {
	if (v == "")
		return "-"
	return v >= 100 ? sprintf("%.0f", v) : sprintf("%.2f", v)
}

{
	delete f
	for (i = 1; i <= NF; i++) {
		split($i, kv, "=")
		f[kv[1]] = kv[2]
	}
	s = f["side"]
	w = f["wl"]
	if (w == "prefill") {
		prefill[s] = f["mbps"]
		next
	}
	if (s ~ /^floor/) {
		fl[s, w, f["rep"]] = (w == "rw1" ? f["lat_mean_us"] : f["iops"]) + 0
		add(s SUBSEP w, fl[s, w, f["rep"]])
		if (f["rep"] + 0 > maxrep)
			maxrep = f["rep"] + 0
		next
	}
	seen[w] = 1
	add(s SUBSEP w SUBSEP "iops", f["iops"])
	add(s SUBSEP w SUBSEP "mbps", f["mbps"])
	add(s SUBSEP w SUBSEP "mean", f["lat_mean_us"])
	add(s SUBSEP w SUBSEP "p50", f["lat_p50_us"])
	add(s SUBSEP w SUBSEP "p99", f["lat_p99_us"])
	errs[s] += f["errors"]
	if (f["ops"] > 0) {
		add(s SUBSEP w SUBSEP "cs", f["cs_ticks"] * 1e6 / hz / f["ops"])
		add(s SUBSEP w SUBSEP "srv", f["srv_ticks"] * 1e6 / hz / f["ops"])
		add(s SUBSEP w SUBSEP "csf", f["cs_faults"] / f["ops"])
		add(s SUBSEP w SUBSEP "srvf", f["srv_faults"] / f["ops"])
		add(s SUBSEP w SUBSEP "dw", f["disk_writes"] / f["ops"])
		add(s SUBSEP w SUBSEP "df", f["disk_flushes"] / f["ops"])
	}
	add(s SUBSEP w SUBSEP "load", f["load"])
	rv[s, w, "iops", f["rep"]] = f["iops"] + 0
	rv[s, w, "mbps", f["rep"]] = f["mbps"] + 0
	rv[s, w, "mean", f["rep"]] = f["lat_mean_us"] + 0
	if (f["rep"] + 0 > maxrep)
		maxrep = f["rep"] + 0
}

END {
	name["rr1"] = "4K randread QD1"
	name["rr32"] = "4K randread QD32"
	name["rw1"] = "4K randwrite QD1"
	name["rw32"] = "4K randwrite QD32"
	name["sr"] = "1M seq read QD8"
	name["sw"] = "1M seq write QD8"

	# workload, metric, comparison, target
	nt = split("rr32 iops ge 0.8|rr1 iops ge 0.7|rw32 iops ge 0.5|rw1 mean le 2.0|sw mbps ge 0.33|sr mbps ge 0.8", tg, "|")
	unit["iops"] = "IOPS"
	unit["mbps"] = "MB/s"
	unit["mean"] = "mean latency (us)"
	print "| Workload | Metric | Shoal | Baseline | Shoal/baseline | per repetition | Target | Met |"
	print "|---|---|--:|--:|--:|--:|---|---|"
	for (i = 1; i <= nt; i++) {
		split(tg[i], t, " ")
		sv = med("shoal" SUBSEP t[1] SUBSEP t[2])
		bv = med("baseline" SUBSEP t[1] SUBSEP t[2])
		rk = "ratio" SUBSEP t[1] SUBSEP t[2]
		reps = ""
		for (rp = 1; rp <= maxrep; rp++) {
			if (!(("shoal", t[1], t[2], rp) in rv) || !(("baseline", t[1], t[2], rp) in rv))
				continue
			b = rv["baseline", t[1], t[2], rp]
			if (b == 0)
				continue
			add(rk, rv["shoal", t[1], t[2], rp] / b)
			reps = reps (reps == "" ? "" : " ") sprintf("%.2f", rv["shoal", t[1], t[2], rp] / b)
		}
		rm = med(rk)
		if (rm == "") {
			r = "-"; met = "not run"; reps = "-"
		} else {
			r = sprintf("%.2f", rm)
			met = (t[3] == "ge" ? rm >= t[4] : rm <= t[4]) ? "yes" : "**no**"
		}
		printf "| %s | %s | %s | %s | %s | %s | %s %s | %s |\n", name[t[1]], unit[t[2]], fmt(sv), fmt(bv), r,
		       reps, t[3] == "ge" ? ">=" : "<=", t[4], met
	}

	print ""
	print "All workloads (medians; latency in microseconds):"
	print ""
	print "| Workload | Shoal IOPS | Shoal MB/s | Shoal mean / p50 / p99 | Baseline IOPS | Baseline MB/s | Baseline mean / p50 / p99 |"
	print "|---|--:|--:|--:|--:|--:|--:|"
	split("rr1 rr32 rw1 rw32 sr sw", order, " ")
	for (i = 1; i <= 6; i++) {
		w = order[i]
		if (!(w in seen))
			continue
		line = "| " name[w]
		split("shoal baseline", sides, " ")
		for (k = 1; k <= 2; k++) {
			s = sides[k]
			line = line sprintf(" | %s | %s | %s / %s / %s", fmt(med(s SUBSEP w SUBSEP "iops")),
					    fmt(med(s SUBSEP w SUBSEP "mbps")), fmt(med(s SUBSEP w SUBSEP "mean")),
					    fmt(med(s SUBSEP w SUBSEP "p50")), fmt(med(s SUBSEP w SUBSEP "p99")))
		}
		print line " |"
	}

	print ""
	print "Server CPU time per I/O (utime+stime from /proc/PID/stat over each run / its operations; microseconds, medians):"
	print ""
	print "| Workload | Shoal chunkservers (sum of 3) | Shoal gateway (tgtd + bs_shoal) | Shoal total | Baseline tgtd |"
	print "|---|--:|--:|--:|--:|"
	for (i = 1; i <= 6; i++) {
		w = order[i]
		if (!(w in seen))
			continue
		c = med("shoal" SUBSEP w SUBSEP "cs")
		g = med("shoal" SUBSEP w SUBSEP "srv")
		printf "| %s | %s | %s | %s | %s |\n", name[w], fmt(c), fmt(g), fmt(c + g),
		       fmt(med("baseline" SUBSEP w SUBSEP "srv"))
	}
	print ""
	print "Minor page faults and data-disk writes/flushes per I/O (medians; the disk counters are machine-wide):"
	print ""
	print "| Workload | Shoal faults: chunkservers / gateway | Baseline tgtd faults | Shoal disk writes / flushes | Baseline disk writes / flushes |"
	print "|---|--:|--:|--:|--:|"
	for (i = 1; i <= 6; i++) {
		w = order[i]
		if (!(w in seen))
			continue
		printf "| %s | %s / %s | %s | %s / %s | %s / %s |\n", name[w],
		       fmt(med("shoal" SUBSEP w SUBSEP "csf")), fmt(med("shoal" SUBSEP w SUBSEP "srvf")),
		       fmt(med("baseline" SUBSEP w SUBSEP "srvf")),
		       fmt(med("shoal" SUBSEP w SUBSEP "dw")), fmt(med("shoal" SUBSEP w SUBSEP "df")),
		       fmt(med("baseline" SUBSEP w SUBSEP "dw")), fmt(med("baseline" SUBSEP w SUBSEP "df"))
	}
	# The best ratio the disk allows: at QD1 Shoal does at least what the
	# baseline does with its one durable write replaced by three at once
	# (1 + (three - one) / baseline latency); at QD32 it completes at most
	# as many writes as the disk completes sets of three (three / baseline).
	if (cnt["floor1" SUBSEP "rw1"] || cnt["floor1" SUBSEP "rw32"]) {
		print ""
		print "Disk floor (fio on the same filesystem, 4 KiB random O_DIRECT|O_DSYNC writes: one writer, then three at once, as three replicas on this one disk; medians):"
		print ""
		print "| Writes | One writer | Three writers | Three / one | Best Shoal/baseline this disk allows | per repetition | Shoal/baseline measured |"
		print "|---|--:|--:|--:|--:|--:|--:|"
		split("rw1 rw32", fw, " ")
		for (i = 1; i <= 2; i++) {
			w = fw[i]
			m = w == "rw1" ? "mean" : "iops"
			reps = ""
			for (rp = 1; rp <= maxrep; rp++) {
				if (!(("floor1", w, rp) in fl) || !(("floor3", w, rp) in fl) || fl["floor1", w, rp] == 0)
					continue
				add("fdisk" SUBSEP w, fl["floor3", w, rp] / fl["floor1", w, rp])
				if (!(("baseline", w, m, rp) in rv) || rv["baseline", w, m, rp] == 0)
					continue
				b = rv["baseline", w, m, rp]
				v = w == "rw1" ? 1 + (fl["floor3", w, rp] - fl["floor1", w, rp]) / b : fl["floor3", w, rp] / b
				if (w == "rw32" && v > 1)
					v = 1
				add("fbest" SUBSEP w, v)
				reps = reps (reps == "" ? "" : " ") sprintf("%.2f", v)
			}
			fd = med("fdisk" SUBSEP w)
			fb = med("fbest" SUBSEP w)
			sm = med("ratio" SUBSEP w SUBSEP m)
			printf "| %s | %s | %s | %s | %s %s | %s | %s |\n",
			       w == "rw1" ? "QD1, mean latency (us)" : "QD32, IOPS (three writers: sets of three)",
			       fmt(med("floor1" SUBSEP w)), fmt(med("floor3" SUBSEP w)),
			       fd == "" ? "-" : sprintf("%.2f", fd), w == "rw1" ? ">=" : "<=",
			       fb == "" ? "-" : sprintf("%.2f", fb), reps == "" ? "-" : reps,
			       sm == "" ? "-" : sprintf("%.2f", sm)
		}
	}

	print ""
	printf "Prefill (one sequential 1 MiB QD8 pass): Shoal %s MB/s, baseline %s MB/s.", fmt(prefill["shoal"]), fmt(prefill["baseline"])
	printf " I/O errors: Shoal %d, baseline %d.\n", errs["shoal"], errs["baseline"]
}
