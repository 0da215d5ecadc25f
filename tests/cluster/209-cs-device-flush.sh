#!/bin/bash
# 209: a device flush behind every acknowledged write, on XFS and on ext4
# with a journal.  Three chunkservers, each with its data directory on a
# filesystem of its own on a loop device; a 3-replica volume exported
# through stock tgtd.  tests/tools/iscsi_flush_check (libiscsi) fills the
# LUN, then keeps 16 random 4 KiB overwrites in flight and reads every
# replica disk's flush count (/sys/block/loopN/stat field 16) just before
# each write is queued and just after it is acknowledged.  Fails when a
# write was acknowledged while some replica's disk completed no flush in
# between: loop devices have no FUA, so a flush is the only way data gets
# past their volatile cache, and a write without one was acknowledged
# without being durable (the tool's comment gives the whole argument).
# Once per filesystem (FLUSH_FS, default "xfs ext4"), each on a fresh
# cluster; ext4 is made by mkfs's defaults, with a journal (the case where a
# directory's fsync flushes nothing: the root filesystem of the test
# machines has no journal and cannot show it).  The run prints flushes per
# write and the latency for each.  First, data directories on tmpfs, on ext4
# mounted nobarrier and on ext4 with data=journal are refused at start with
# one line.  Needs root, loop devices, mkfs.xfs (xfsprogs) and mkfs.ext4
# (e2fsprogs).
CONTROL_BASE=329	# tgtadm -C; the 7NN scenarios use 330-339
. "$(dirname "$0")/7fail-lib.sh"

FLUSH_FS=${FLUSH_FS:-xfs ext4}
CHECK=$BUILD/tests/tools/iscsi_flush_check
[ "$(id -u)" = 0 ] || fail "needs root (loop devices, mount)"
[ -x "$CHECK" ] || fail "$CHECK not built"
command -v losetup >/dev/null || fail "needs losetup (util-linux)"
command -v mkfs.xfs >/dev/null || fail "needs mkfs.xfs (Debian package xfsprogs)"
command -v mkfs.ext4 >/dev/null || fail "needs mkfs.ext4 (e2fsprogs)"

# The loop devices and mounts of the current cluster, released by name.
declare -a MNTS=() LOOPS=()
disks_release() {
	local m l
	for m in "${MNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
	for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
	MNTS=() LOOPS=()
}
CLEANUP_HOOKS+=(disks_release)

# loopdisk FS MOUNTPOINT [MOUNT_OPTIONS]: a new FS on a loop device over a
# sparse 512 MiB file in $SCRATCH (mkfs.xfs wants 300 MiB at least),
# mounted at MOUNTPOINT.  Sets LOOPDEV (e.g. loop3).
loopdisk() {
	local fs=$1 mnt=$2 mopts=${3:-defaults} img dev out
	img=$SCRATCH/$fs-$(basename "$(dirname "$mnt")").img
	rm -f "$img"
	truncate -s 512M "$img" || fail "cannot create $img"
	case $fs in
	xfs) out=$(mkfs.xfs -q -f "$img" 2>&1) ;;
	ext4) out=$(mkfs.ext4 -q -F "$img" 2>&1) ;;
	*) fail "FLUSH_FS: '$fs' is not xfs or ext4" ;;
	esac || fail "mkfs.$fs on $img: $out"
	dev=$(losetup -f --show "$img" 2>&1) || fail "no loop device available (losetup -f: $dev)"
	LOOPS+=("$dev")
	mkdir -p "$mnt"
	mount -o "$mopts" "$dev" "$mnt" || fail "mount -o $mopts $dev on $mnt failed"
	MNTS+=("$mnt")
	LOOPDEV=${dev#/dev/}
	[ "$(cat "/sys/block/$LOOPDEV/queue/fua")" = 0 ] ||
		fail "$dev supports FUA: a durable write need not show as a flush there"
	[ "$(findmnt -n -o FSTYPE "$mnt")" = "$fs" ] || fail "$mnt is not $fs"
	if [ "$fs" = ext4 ]; then
		dumpe2fs -h "$dev" 2>/dev/null | grep -q '^Filesystem features:.*has_journal' ||
			fail "$dev: ext4 without a journal (mkfs.ext4's defaults should have one)"
	fi
}

# A data directory where durability is not proven is refused at start, with
# one line on stderr and exit 1: tmpfs; ext4 without cache flushes; ext4
# with data=journal (O_DIRECT becomes buffered there).
refused() {	# refused WHAT DIR PATTERN
	local rc
	timeout -k 5 20 "$BUILD/chunkserver/shoal-chunkserver" --config /dev/null --data-dirs "$2" \
		--listen "127.0.0.1:$((PORT_BASE + 19))" >"$SCRATCH/refused.out" 2>"$SCRATCH/refused.err"
	rc=$?
	[ $rc = 1 ] || fail "$1: the chunkserver's exit is $rc, not 1: $(head -c 300 "$SCRATCH/refused.err")"
	[ "$(wc -l <"$SCRATCH/refused.err")" = 1 ] && grep -q "^shoal-chunkserver: --data-dirs: $2 .*$3" "$SCRATCH/refused.err" ||
		fail "$1: wanted one 'shoal-chunkserver: --data-dirs: $2 ...$3' line, got: $(cat "$SCRATCH/refused.err")"
	log "refused: $1: $(cat "$SCRATCH/refused.err")"
}
mkdir -p "$SCRATCH/tmpfs"
mount -t tmpfs -o size=16m tmpfs "$SCRATCH/tmpfs" || fail "mount tmpfs on $SCRATCH/tmpfs failed"
MNTS+=("$SCRATCH/tmpfs")
refused "tmpfs" "$SCRATCH/tmpfs/d" "is on tmpfs.*only ext4 and xfs"
loopdisk ext4 "$SCRATCH/nobarrier/d" nobarrier
refused "ext4 nobarrier" "$SCRATCH/nobarrier/d" "without cache flushes"
loopdisk ext4 "$SCRATCH/journal/d" data=journal
refused "ext4 data=journal" "$SCRATCH/journal/d" "data=journal"
disks_release

results=()
for fs in $FLUSH_FS; do
	DIR=$SCRATCH/$fs
	stats=()
	for j in 1 2 3; do
		loopdisk "$fs" "$DIR/cs-$j/disk-1"
		stats+=(--stat "/sys/block/$LOOPDEV/stat")
	done
	log "$fs: chunkservers' disks on ${LOOPS[*]}"
	cluster_up --chunkservers 3 --gateways 1
	vol_create v209 48M --chunk-size 4M --replicas 3
	# write-through: GOOD promises durability on every replica
	[ "$(adm --json volume info v209 | jq -r .write_back)" = false ] || fail "v209 is not write-through"
	lun_export 1 v209 t 1 1
	out=$SCRATCH/flush-$fs.out
	seed=$RANDOM
	log "$fs: iscsi_flush_check --seed $seed"
	timeout -k 5 300 "$CHECK" "$(url 1 t 1)" "${stats[@]}" --qd 16 --count 3000 --seconds 20 \
		--seed "$seed" >"$out" 2>&1
	rc=$?
	sed "s/^/    [$fs] /" "$out"
	# every chunk on all three: a disk missing a chunk's writes would show unmoved counts
	fully_replicated 3 || fail "$fs: the volume's chunks are not on all three chunkservers"
	[ $rc = 0 ] || fail "$fs: exit $rc: $(grep -m 1 -E ' acknowledged, [0-9]+ with no flush|failed|cannot|bad' "$out"); first: $(grep -m 1 '^UNFLUSHED' "$out")"
	results+=("$fs: $(sed -n 's/^iscsi_flush_check: \([0-9]*\) random.*latency \(.*\)$/\1 writes, latency \2/p' "$out")")
	"$CLUSTER" down "$DIR" >/dev/null 2>&1 || fail "shoal-cluster down $DIR failed"
	disks_release
done
echo "PASS 209: a flush behind every acknowledged write on every replica's disk (${results[*]})"
