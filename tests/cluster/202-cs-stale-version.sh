#!/bin/bash
# 202: version fencing.  With the real master: a client write carrying a
# version other than the lease's is refused with STALE_VERSION by the
# primary, and a forwarded write with a stale version is refused by a
# secondary; after the master bumps the version (the primary's lease expires
# and a new one is granted) the old version is refused everywhere and
# nothing it carried lands.  CS_SET_VERSION never moves a replica backwards.
set -uo pipefail
T=202
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-202.XXXXXX)}
PORT_BASE=${PORT_BASE:-17200}
. "$(dirname "$0")/2cs-lib.sh"

start_master
for i in 1 2 3; do start_cs $i; done
for i in 1 2 3; do wait_serving $i; done
vol=$("$P" "$MADDR" vcreate v202 $((64 << 20)) 22) || fail "volume create failed"
read -r cid ver epoch prim < <("$P" "$MADDR" lookup "$vol" 0 write) || fail "lookup failed"
[ "$prim" != - ] || fail "no primary"
head -c 8192 /dev/urandom >"$SCRATCH/good"
head -c 8192 /dev/urandom >"$SCRATCH/bad"
"$P" "$prim" write "$cid" "$ver" 0 "$SCRATCH/good" primary || fail "write at the current version failed"

# client write with a wrong version: refused by the primary (exit 4 = STALE_VERSION)
"$P" "$prim" write "$cid" $((ver + 7)) 0 "$SCRATCH/bad" primary 2>/dev/null; rc=$?
[ $rc = 4 ] || fail "primary accepted/failed a wrong-version write with exit $rc, want 4"
# forwarded write with a wrong version straight into each replica: refused
for i in 1 2 3; do
	"$P" "$(csaddr $i)" write "$cid" $((ver - 1)) 0 "$SCRATCH/bad" 2>/dev/null; rc=$?
	[ $rc = 4 ] || fail "replica $i accepted a stale forwarded write (exit $rc)"
done

# let the lease lapse (3 s lease, renewed while used within 3 s); the next lookup
# grants a new lease at a bumped version
sleep 7
read -r cid2 ver2 epoch2 prim2 < <("$P" "$MADDR" lookup "$vol" 0 write) || fail "second lookup failed"
[ "$cid2" = "$cid" ] || fail "chunk id changed: $cid -> $cid2"
# the new primary moves every replica to the new version on first use
"$P" "$prim2" write "$cid" "$ver2" 8192 "$SCRATCH/good" primary || fail "write at the new version failed"
[ "$ver2" -gt "$ver" ] || fail "version did not move after a new lease ($ver -> $ver2)"
for i in 1 2 3; do
	v=$(info_field $i "$cid" version)
	[ "$v" = "$ver2" ] || fail "replica $i is at version $v, want $ver2"
	"$P" "$(csaddr $i)" write "$cid" "$ver" 0 "$SCRATCH/bad" 2>/dev/null; rc=$?
	[ $rc = 4 ] || fail "replica $i accepted a write at the old version $ver (exit $rc)"
	"$P" "$(csaddr $i)" read "$cid" "$ver" 0 4096 >/dev/null 2>&1; rc=$?
	[ $rc = 4 ] || fail "replica $i served a read at the old version $ver (exit $rc)"
	# set-version backwards is refused
	"$P" "$(csaddr $i)" setver "$cid" "$ver" 2>/dev/null; rc=$?
	[ $rc = 4 ] || fail "replica $i moved back to version $ver (exit $rc)"
	"$P" "$(csaddr $i)" read "$cid" "$ver2" 0 8192 >"$SCRATCH/r$i" || fail "replica $i read failed"
	cmp -s "$SCRATCH/r$i" "$SCRATCH/good" || fail "replica $i holds data from a refused write"
done
"$P" "$prim2" write "$cid" "$ver" 0 "$SCRATCH/bad" primary 2>/dev/null; rc=$?
[ $rc = 4 ] || fail "primary accepted a write at the old version (exit $rc)"
echo "PASS $T: version $ver -> $ver2, stale requests refused on all replicas"
