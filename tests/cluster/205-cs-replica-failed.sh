#!/bin/bash
# 205: a secondary dies.  The next client write through the primary times
# out on it; the primary reports it (M_REPLICA_FAILED), the master drops it
# and bumps the version, the survivors move to the new version, and only
# then is the write acknowledged.  The dead replica, restarted, holds the
# old version: it refuses requests at the new one (never serves stale data).
set -uo pipefail
T=205
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-205.XXXXXX)}
PORT_BASE=${PORT_BASE:-17500}
. "$(dirname "$0")/2cs-lib.sh"

start_master
for i in 1 2 3; do start_cs $i --rpc-timeout-ms 1000; done
for i in 1 2 3; do wait_serving $i; done
vol=$("$P" "$MADDR" vcreate v205 $((64 << 20)) 22) || fail "volume create failed"
read -r cid ver epoch prim < <("$P" "$MADDR" lookup "$vol" 0 write) || fail "lookup failed"
pi=0
for i in 1 2 3; do [ "$(csaddr $i)" = "$prim" ] && pi=$i; done
[ $pi != 0 ] || fail "primary $prim is none of ours"
si=$(( pi % 3 + 1 ))
oi=$(( si % 3 + 1 ))
head -c 65536 /dev/urandom >"$SCRATCH/a"
head -c 65536 /dev/urandom >"$SCRATCH/b"
"$P" "$prim" write "$cid" "$ver" 0 "$SCRATCH/a" primary || fail "first write failed"

kill9_cs $si
"$P" "$prim" write "$cid" "$ver" 0 "$SCRATCH/b" primary || fail "write with a dead secondary was not acknowledged"
nv=$(info_field $pi "$cid" version)
[ "$nv" -gt "$ver" ] || fail "version did not move after the replica failed ($ver -> $nv)"
[ "$(info_field $oi "$cid" version)" = "$nv" ] || fail "surviving secondary cs$oi not at version $nv"
for i in $pi $oi; do
	"$P" "$(csaddr $i)" read "$cid" "$nv" 0 65536 >"$SCRATCH/r$i" || fail "read from cs$i failed"
	cmp -s "$SCRATCH/r$i" "$SCRATCH/b" || fail "cs$i does not hold the acknowledged write"
done
grep -q "reporting\|failed a write" "$SCRATCH/cs$pi.log" || fail "primary logged no replica failure"

# the failed replica comes back with the old version and refuses the new one
start_cs $si
wait_serving $si
v=$(info_field $si "$cid" version 2>/dev/null)
if [ -n "$v" ]; then
	[ "$v" -lt "$nv" ] || fail "restarted failed replica claims version $v >= $nv"
	"$P" "$(csaddr $si)" read "$cid" "$nv" 0 4096 >/dev/null 2>&1; rc=$?
	[ $rc = 4 ] || fail "stale replica served a read at the new version (exit $rc)"
fi
# writes keep working with two replicas
"$P" "$prim" write "$cid" "$nv" 65536 "$SCRATCH/a" primary || fail "write after the failure failed"
echo "PASS $T: cs$si dropped, version $ver -> $nv, writes acknowledged on cs$pi and cs$oi"
