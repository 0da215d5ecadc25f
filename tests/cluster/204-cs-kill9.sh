#!/bin/bash
# 204: kill -9 of the primary chunkserver right after it acknowledged
# writes, some writes still in flight.  After a restart on the same data
# directory every acknowledged write is on it (and on the other replicas),
# and the restart recovered the dirty regions instead of reporting them as
# corruption.
set -uo pipefail
T=204
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-204.XXXXXX)}
PORT_BASE=${PORT_BASE:-17400}
. "$(dirname "$0")/2cs-lib.sh"

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

# 24 more of 128 KiB in flight at once; kill -9 the primary right after the first acks
wpids=()
for k in $(seq 40 63); do
	off=$(( (k - 40) * 131072 + (3 << 20) ))
	head -c 131072 /dev/urandom >"$SCRATCH/w$k"
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

start_cs $pi
wait_serving $pi
grep -q "recovered dirty regions" "$SCRATCH/cs$pi.log" ||
	echo "note: no dirty region needed recovery (the kill hit between writes)"
for i in 1 2 3; do
	v=$(info_field $i "$cid" version) || fail "replica $i lost the chunk"
	while read -r off f; do
		len=$(stat -c %s "$f")
		"$P" "$(csaddr $i)" read "$cid" "$v" "$off" "$len" >"$SCRATCH/r" ||
			fail "replica $i: read of acknowledged write at $off failed"
		cmp -s "$SCRATCH/r" "$f" || fail "replica $i: acknowledged write at $off is missing after kill -9"
	done <"$SCRATCH/acked"
done
echo "PASS $T: $nacked acknowledged writes present on all 3 replicas after kill -9 of cs$pi"
