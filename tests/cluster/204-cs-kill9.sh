#!/bin/bash
# 204: a power cut of the primary chunkserver right after it acknowledged
# writes, some writes still in flight.  The chunkservers are the
# crash-simulating build (tests/cluster/81crash-lib.sh build_crash_sim,
# chunkserver/crash_sim.h): a plain kill -9 keeps the page cache and loses
# nothing a power cut would, so here kill -9 drops every write that was not
# durable yet, or tears it at sector granularity.  After a restart on the
# same data directory every acknowledged write is on it (and on the other
# replicas), and the restart recovered the dirty regions (torn_regions > 0)
# instead of reporting them as corruption (checksum_errors = 0 everywhere).
set -uo pipefail
T=204
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-204.XXXXXX)}
PORT_BASE=${PORT_BASE:-17400}
# The crash-sim chunkserver, built (or brought up to date) by 81crash-lib.sh
# in a subshell: that library brings the integrity scenarios' helpers along.
(. "$(dirname "$0")/81crash-lib.sh" && build_crash_sim) >"$SCRATCH/crash-sim-build.log" 2>&1 ||
	{ echo "FAIL $T: no crash-sim chunkserver: $(tail -n 1 "$SCRATCH/crash-sim-build.log")"; exit 1; }
. "$(dirname "$0")/2cs-lib.sh"
CS=$BUILD/crash-sim/chunkserver/shoal-chunkserver
[ -x "$CS" ] || fail "no $CS"
# Each simulated disk request takes up to 20 ms (default 2): the 24
# parallel writes stay in flight long enough for the kill to land among them.
export SHOAL_CRASH_SIM_MAX_US=20000

start_master
for i in 1 2 3; do start_cs $i; done
for i in 1 2 3; do wait_serving $i; done
vol=$("$P" "$MADDR" vcreate v204 $((64 << 20)) 23) || fail "volume create failed"
read -r cid ver epoch prim < <("$P" "$MADDR" lookup "$vol" 0 write) || fail "lookup failed"
pi=0
for i in 1 2 3; do [ "$(csaddr $i)" = "$prim" ] && pi=$i; done
[ $pi != 0 ] || fail "primary $prim is none of ours"

: >"$SCRATCH/acked"
# 40 acknowledged writes, mixed sizes and alignment, each to its own range
for k in $(seq 0 39); do
	len=$(( (k % 4 == 0) ? 700 : 4096 * (1 + k % 8) ))
	off=$(( k * 65536 + (k % 3) * 512 ))
	head -c $len /dev/urandom >"$SCRATCH/w$k"
	"$P" "$prim" write "$cid" "$ver" $off "$SCRATCH/w$k" primary && echo "$off $SCRATCH/w$k" >>"$SCRATCH/acked"
done
[ "$(wc -l <"$SCRATCH/acked")" = 40 ] || fail "not every write before the kill was acknowledged"

# 24 more of 128 KiB in flight at once (their data made first, so they
# start together); kill -9 the primary right after the first acks
for k in $(seq 40 63); do head -c 131072 /dev/urandom >"$SCRATCH/w$k"; done
wpids=()
for k in $(seq 40 63); do
	off=$(( (k - 40) * 131072 + (3 << 20) ))
	( "$P" "$prim" write "$cid" "$ver" $off "$SCRATCH/w$k" primary 2>/dev/null &&
		echo "$off $SCRATCH/w$k" >>"$SCRATCH/acked" ) &
	wpids+=("$!")
done
for n in $(seq 1 2000); do
	[ "$(wc -l <"$SCRATCH/acked")" -gt 40 ] && break
	sleep 0.002
done
kill9_cs $pi
for j in "${wpids[@]}"; do wait "$j"; done
nacked=$(wc -l <"$SCRATCH/acked")
# the kill landed while writes were in flight: some were never acknowledged
((nacked > 40 && nacked < 64)) || fail "the kill did not land mid-I/O ($((nacked - 40)) of 24 writes acknowledged)"

start_cs $pi
wait_serving $pi
[ "$(grep -c "crash-sim I/O backend" "$SCRATCH/cs$pi.log")" = 2 ] ||
	fail "cs$pi did not run the crash-sim I/O backend both times"
# Every region written since the last clean pass (clean_ms: 5 min) was
# dirty at the kill, the in-flight writes' regions among them: open()
# recovered them, and counts them.
torn=$(status_field $pi torn_regions)
[ -n "$torn" ] && ((torn > 0)) || fail "cs$pi recovered no dirty region after the crash (torn_regions=${torn:-?})"
grep -q "recovered dirty regions" "$SCRATCH/cs$pi.log" || fail "cs$pi logged no dirty-region recovery"
for i in 1 2 3; do
	v=$(info_field $i "$cid" version) || fail "replica $i lost the chunk"
	while read -r off f; do
		len=$(stat -c %s "$f")
		"$P" "$(csaddr $i)" read "$cid" "$v" "$off" "$len" >"$SCRATCH/r" ||
			fail "replica $i: read of acknowledged write at $off failed"
		cmp -s "$SCRATCH/r" "$f" || fail "replica $i: acknowledged write at $off is missing after kill -9"
	done <"$SCRATCH/acked"
done
for i in 1 2 3; do
	e=$(status_field $i checksum_errors)
	[ "$e" = 0 ] || fail "replica $i counted checksum_errors=${e:-?}: torn writes taken for corruption"
done
echo "PASS $T: $nacked acknowledged writes present on all 3 replicas after a power cut of cs$pi; $torn dirty regions recovered, no checksum error"
