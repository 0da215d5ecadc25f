#!/bin/bash
# 201: the real master and three chunkservers.  Client writes of every kind
# (aligned, sub-block, WRITE_SAME, UNMAP, COMPARE_AND_WRITE) go through the
# chunk's primary; afterwards every replica holds byte-identical data
# (compared with CS_READ local_only on each) equal to the model of the writes.
set -uo pipefail
T=201
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-201.XXXXXX)}
PORT_BASE=${PORT_BASE:-17100}
. "$(dirname "$0")/2cs-lib.sh"

CHUNK=$((4 << 20))
start_master
for i in 1 2 3; do start_cs $i; done
for i in 1 2 3; do wait_serving $i; done

vol=$("$P" "$MADDR" vcreate v201 $((64 << 20)) 22) || fail "volume create failed"
read -r cid ver epoch prim < <("$P" "$MADDR" lookup "$vol" 0 write) || fail "lookup for write failed"
[ -n "$cid" ] && [ "$cid" != 0 ] && [ "$prim" != - ] || fail "lookup gave no chunk/primary: '$cid $ver $prim'"

# the model: what the chunk must contain
model=$SCRATCH/model
head -c $CHUNK /dev/zero >"$model"
put() {	# put OFF FILE: apply a write to the model (fast: the lease must not lapse meanwhile)
	dd if="$2" of="$model" bs=64K seek="$1" oflag=seek_bytes conv=notrunc status=none
}
w() {	# w OFF FILE [mode args]: client write through the primary
	"$P" "$prim" write "$cid" "$ver" "$@" || fail "write at $1 ($*) failed"
}

head -c $((1 << 20)) /dev/urandom >"$SCRATCH/a"
w 0 "$SCRATCH/a" primary; put 0 "$SCRATCH/a"
head -c 3000 /dev/urandom >"$SCRATCH/b"
w 5000 "$SCRATCH/b" primary; put 5000 "$SCRATCH/b"
head -c 700 /dev/urandom >"$SCRATCH/c"
w $((1 << 20)) "$SCRATCH/c" primary; put $((1 << 20)) "$SCRATCH/c"
# WRITE_SAME: one 512-byte block over 64 KiB at 2 MiB
head -c 512 /dev/urandom >"$SCRATCH/pat"
w $((2 << 20)) "$SCRATCH/pat" primary same 65536
for k in $(seq 0 127); do cat "$SCRATCH/pat"; done >"$SCRATCH/pat64k"
put $((2 << 20)) "$SCRATCH/pat64k"
# UNMAP 100 KiB from 300000 (unaligned both ends)
: >"$SCRATCH/empty"
w 300000 "$SCRATCH/empty" primary unmap 102400
head -c 102400 /dev/zero >"$SCRATCH/z"; put 300000 "$SCRATCH/z"
# COMPARE_AND_WRITE: right compare half succeeds, stale one is refused
dd if="$model" bs=1 skip=5000 count=1024 status=none >"$SCRATCH/cmp"
head -c 1024 /dev/urandom >"$SCRATCH/new"
cat "$SCRATCH/cmp" "$SCRATCH/new" >"$SCRATCH/caw"
w 5000 "$SCRATCH/caw" primary caw; put 5000 "$SCRATCH/new"
out=$("$P" "$prim" write "$cid" "$ver" 5000 "$SCRATCH/caw" primary caw 2>&1); rc=$?
[ $rc = 10 ] || fail "stale COMPARE_AND_WRITE gave exit $rc, want 10 (miscompare): $out"
# A question about a COMPARE_AND_WRITE no attempt of which arrived (the
# writer's R3, CsWriteReq.outcome_only): no record, so NOENT (exit 2), and
# nothing is written although its compare half matches (the model is not
# updated; the comparison below fails if it ran).  Mutation: the primary
# running a question like an attempt -> exit 0.
dd if="$model" bs=1 skip=9000 count=1024 status=none >"$SCRATCH/qcmp"
cat "$SCRATCH/qcmp" "$SCRATCH/new" >"$SCRATCH/q"
out=$("$P" "$prim" write "$cid" "$ver" 9000 "$SCRATCH/q" primary question 2>&1); rc=$?
[ $rc = 2 ] || fail "a question about a COMPARE_AND_WRITE never run gave exit $rc, want 2 (no record): $out"
# many concurrent overlapping and disjoint writes
for k in $(seq 1 20); do
	head -c 8192 /dev/urandom >"$SCRATCH/p$k"
done
wpids=()
for k in $(seq 1 20); do
	"$P" "$prim" write "$cid" "$ver" $((3 << 20 | (k % 5) * 4096)) "$SCRATCH/p$k" primary &
	wpids+=("$!")
done
wait_ok=0
for j in "${wpids[@]}"; do wait "$j" || wait_ok=1; done
[ $wait_ok = 0 ] || fail "a concurrent write failed"

# every replica is identical; the non-racing parts equal the model
sums=()
for i in 1 2 3; do
	"$P" "$(csaddr $i)" read "$cid" "$ver" 0 $CHUNK >"$SCRATCH/r$i" ||
		fail "local read of replica $i failed"
	sums+=("$(md5sum <"$SCRATCH/r$i" | cut -d' ' -f1)")
done
[ "${sums[0]}" = "${sums[1]}" ] && [ "${sums[0]}" = "${sums[2]}" ] ||
	fail "replicas differ: ${sums[*]}"
cmp -s <(head -c $((3 << 20)) "$SCRATCH/r1") <(head -c $((3 << 20)) "$model") ||
	fail "replica content differs from the model in the first 3 MiB"
# the primary's reads agree
"$P" "$prim" read "$cid" "$ver" 4096 100000 primary >"$SCRATCH/pr" || fail "primary read failed"
cmp -s "$SCRATCH/pr" <(dd if="$model" bs=4096 skip=1 count=25 status=none | head -c 100000) ||
	fail "primary read differs from the model"
echo "PASS $T: $(for i in 1 2 3; do echo -n "cs$i=${sums[$((i-1))]:0:8} "; done)"
