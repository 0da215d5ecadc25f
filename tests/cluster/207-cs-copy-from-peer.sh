#!/bin/bash
# 207: re-replication.  CS_COPY_FROM_PEER makes a new replica from a peer's
# (verified) data: identical content, sparse where the source has holes,
# and it carries the real version only once complete.  A copy from a peer
# whose data fails its checksum fails and leaves no replica behind.
set -uo pipefail
T=207
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-207.XXXXXX)}
PORT_BASE=${PORT_BASE:-17700}
WITH_MASTER=no
. "$(dirname "$0")/2cs-lib.sh"

for i in 1 2; do start_cs $i; done
for i in 1 2; do wait_serving $i; done
A=$(csaddr 1); B=$(csaddr 2)
CH=$((8 << 20))
"$P" "$A" create 7 3 $CH || fail "create on the source failed"
head -c $((1 << 20)) /dev/urandom >"$SCRATCH/a"
head -c 5000 /dev/urandom >"$SCRATCH/b"
"$P" "$A" write 7 3 0 "$SCRATCH/a" || fail "write a failed"
"$P" "$A" write 7 3 $((6 << 20)) "$SCRATCH/b" || fail "write b failed"

out=$("$P" "$B" copy 7 3 "$A" $CH) || fail "copy failed"
"$P" "$A" read 7 3 0 $CH >"$SCRATCH/ra" || fail "source read failed"
"$P" "$B" read 7 3 0 $CH >"$SCRATCH/rb" || fail "copy read failed"
cmp -s "$SCRATCH/ra" "$SCRATCH/rb" || fail "the copy differs from the source"
[ "$(info_field 2 7 version)" = 3 ] || fail "the copy is not at version 3"
alloc=$(info_field 2 7 allocated)
[ "$alloc" -lt $((3 << 20)) ] || fail "the copy is not sparse ($alloc bytes allocated)"

# a corrupt source: the copy fails and no replica remains on the target
"$P" "$A" create 8 3 $CH || fail "create 8 failed"
"$P" "$A" write 8 3 0 "$SCRATCH/a" || fail "write 8 failed"
f=$(printf '%s/cs1/chunks/%016x.data' "$SCRATCH" 8)
printf 'X' | dd of="$f" bs=1 seek=4097 count=1 conv=notrunc,fsync status=none
"$P" "$B" copy 8 3 "$A" $CH >/dev/null 2>&1; rc=$?
[ $rc = 9 ] || fail "copy from a corrupt source gave exit $rc, want 9 (checksum)"
"$P" "$B" info 8 >/dev/null 2>&1; rc=$?
[ $rc = 2 ] || fail "a failed copy left a replica behind (info exit $rc)"
echo "PASS $T: $(echo $out) (of $CH), sparse copy of $alloc bytes allocated"
