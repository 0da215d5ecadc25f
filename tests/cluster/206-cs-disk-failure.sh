#!/bin/bash
# 206: a disk fails under a running chunkserver.  Two data directories,
# each its own ext4 on a loop device; the first is shut down (xfs_io
# shutdown: every later I/O there fails with EIO).  The first EIO marks that
# disk failed: its replicas are dropped (and queued as lost for the master),
# never served, while the replicas on the other disk keep serving reads and
# writes and new replicas go there.  Needs root and loop devices.
set -uo pipefail
T=206
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-206.XXXXXX)}
PORT_BASE=${PORT_BASE:-17600}
WITH_MASTER=no
. "$(dirname "$0")/2cs-lib.sh"

loops=()
mnts=()
cleanup_disks() {
	cleanup
	for m in "${mnts[@]}"; do umount -l "$m" 2>/dev/null; done
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null; done
}
trap cleanup_disks EXIT
[ "$(id -u)" = 0 ] || fail "needs root (loop devices, mount)"
command -v xfs_io >/dev/null || fail "needs xfs_io (Debian package xfsprogs)"

mkdisk() {	# mkdisk NAME SIZE_MB: a mounted ext4 on a loop device
	local img=$SCRATCH/$1.img mnt=$SCRATCH/$1 dev
	truncate -s "${2}M" "$img"
	mkfs.ext4 -q -F "$img" || fail "mkfs $1 failed"
	dev=$(losetup -f --show "$img") || fail "losetup $1 failed"
	loops+=("$dev")
	mkdir -p "$mnt"
	mount "$dev" "$mnt" || fail "mount $1 failed"
	mnts+=("$mnt")
}
mkdisk d1 80
mkdisk d2 64
DATA_DIRS="$SCRATCH/d1/data,$SCRATCH/d2/data" start_cs 1
wait_serving 1
A=$(csaddr 1)
CH=$((4 << 20))

# chunks 1..6 fill the bigger disk d1 until the other has more room
head -c $CH /dev/urandom >"$SCRATCH/full"
for c in 1 2 3 4 5 6; do
	"$P" "$A" create $c 1 $CH || fail "create chunk $c failed"
	"$P" "$A" write $c 1 0 "$SCRATCH/full" || fail "write chunk $c failed"
done
"$P" "$A" create 100 1 $CH || fail "create chunk 100 failed"
[ "$(info_field 1 1 disk)" = 0 ] || fail "chunk 1 is not on disk 0"
[ "$(info_field 1 100 disk)" = 1 ] || fail "chunk 100 did not go to the disk with more free space"
declare -A disk_of
on0=0
for c in 1 2 3 4 5 6; do
	disk_of[$c]=$(info_field 1 $c disk)
	[ "${disk_of[$c]}" = 0 ] && on0=$((on0 + 1))
done
head -c 65536 /dev/urandom >"$SCRATCH/x"
"$P" "$A" write 100 1 0 "$SCRATCH/x" || fail "write chunk 100 failed"

# the disk dies
xfs_io -x -c shutdown "$SCRATCH/d1" || fail "xfs_io shutdown failed"
"$P" "$A" read 1 1 0 65536 >"$SCRATCH/out" 2>/dev/null; rc=$?
[ $rc != 0 ] || fail "a read from the failed disk succeeded"
[ -s "$SCRATCH/out" ] && fail "data came back from a failed disk"
"$P" "$A" status >"$SCRATCH/status" || fail "status failed after the disk failure"
grep -q "^disk=0 .* failed=1" "$SCRATCH/status" || fail "disk 0 not marked failed: $(cat "$SCRATCH/status")"
grep -q "^disk=1 .* failed=0" "$SCRATCH/status" || fail "disk 1 marked failed too"
for c in 1 2 3 4 5 6; do
	"$P" "$A" info $c >/dev/null 2>&1; rc=$?
	if [ "${disk_of[$c]}" = 0 ]; then
		[ $rc = 2 ] || fail "replica $c of the failed disk still listed (exit $rc)"
	else
		"$P" "$A" read $c 1 0 $CH >"$SCRATCH/out" || fail "replica $c on the healthy disk unreadable"
		cmp -s "$SCRATCH/out" "$SCRATCH/full" || fail "replica $c on the healthy disk differs"
	fi
done
grep -q "disk 0 .* failed" "$SCRATCH/cs1.log" || fail "no log line for the disk failure"
# the other disk keeps serving
"$P" "$A" read 100 1 0 65536 >"$SCRATCH/out" || fail "read from the healthy disk failed"
cmp -s "$SCRATCH/out" "$SCRATCH/x" || fail "healthy disk returned wrong data"
"$P" "$A" write 100 1 65536 "$SCRATCH/x" || fail "write to the healthy disk failed"
"$P" "$A" create 101 1 $CH || fail "create after the disk failure failed"
[ "$(info_field 1 101 disk)" = 1 ] || fail "new replica placed on the failed disk"
echo "PASS $T: disk 0 failed ($on0 replicas dropped as lost), disk 1 kept serving"
