#!/bin/bash
# 710: one disk of a chunkserver fails under a verifying iSCSI load.
# Four chunkservers with two data directories each; chunkserver 1's are
# ext4 filesystems on loop devices, and the first one is shut down
# mid-load (xfs_io -x -c shutdown: every later I/O there fails with EIO).
# Pass when: that disk is reported failed while the server stays up, its
# replicas leave their sets and are copied elsewhere (chunkserver 1's
# other disk may take some) until every chunk is back to 3 replicas on good
# disks, no command of the load fails or takes longer than STALL_MS
# (below), every acknowledged write reads back, and the replicas of every
# chunk on the servers of its set are byte-identical.  Needs root and loop
# devices.
# No stall: a write to a replica on the failed disk fails there with EIO at
# once and the primary has the master drop that replica; when the primary's
# own replica is on the disk, its lease must run out (LEASE_MS 2 s) and the
# next primary's set-version round runs (a heartbeat or two): about 3-4 s
# at worst.  8 s, well below the 20 s gateway deadline, bounds every command.
STALL_MS=8000
. "$(dirname "$0")/7fail-lib.sh"

[ "$(id -u)" = 0 ] || fail "needs root (loop device, mount, xfs_io shutdown)"
command -v losetup >/dev/null || fail "needs losetup (util-linux)"
command -v xfs_io >/dev/null || fail "needs xfs_io (Debian package xfsprogs)"
command -v mkfs.ext4 >/dev/null || fail "needs mkfs.ext4 (e2fsprogs)"

M=$((1024 * 1024))
SIZE_MB=32
NSLOTS=$((SIZE_MB * M / LOAD_SLOT))

# Chunkserver 1's two disks, each its own ext4 on a loop device, mounted
# before the launcher starts it.  disk-1 is the bigger one, so new replicas
# (placed on the disk with the most free space) land there first.
MNT=$DIR/cs-1/disk-1
loopdisk() {	# loopdisk MOUNTPOINT SIZE_MB
	local img=$SCRATCH/$(basename "$1").img dev
	mkdir -p "$1"
	truncate -s "${2}M" "$img"
	mkfs.ext4 -q -F "$img" >/dev/null 2>&1 || fail "mkfs.ext4 on $img failed"
	dev=$(losetup -f --show "$img" 2>&1) || fail "no loop device available (losetup -f: $dev)"
	CLEANUP_HOOKS+=("umount -l '$1' 2>/dev/null; losetup -d '$dev' 2>/dev/null")
	mount "$dev" "$1" || fail "mount $dev on $1 failed"
}
loopdisk "$MNT" 256
loopdisk "$DIR/cs-1/disk-2" 160

cluster_up --chunkservers 4 --disks 2 --gateways 1
# Chunkserver 4 is the spare: down while the volume is written (so every
# chunk has a replica on chunkserver 1, whose small loop disks placement
# would otherwise rarely pick), back before the disk fails.
"$CLUSTER" kill "$DIR" chunkserver 4 >/dev/null || fail "shoal-cluster kill chunkserver 4 failed"
_cs4_down() { [ "$(cs_state 4)" = down ]; }
wait_until 10 "chunkserver 4 marked down" _cs4_down
vol_create v710 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v710 t 1 1
U=$(url 1 t 1)

load_start "$U" "$NSLOTS"
load_wait_acks "$NSLOTS" 120
chunks=$(status_field chunks)
[ "$chunks" = "$SIZE_MB" ] || fail "expected $SIZE_MB chunks after one pass, master has $chunks"
wait_until 20 "3 replicas of every chunk before the failure" fully_replicated 3
"$CLUSTER" start "$DIR" chunkserver 4 >/dev/null || fail "shoal-cluster start chunkserver 4 failed"
_cs4_up() { [ "$(cs_state 4)" = up ]; }
wait_until 10 "chunkserver 4 up again" _cs4_up

disk_field() { cs_json | jq -r ".[] | select(.id == 1) | .disks[] | select(.path == \"$MNT\") | .$1"; }
on_disk=$(disk_field chunks)
((on_disk > 0)) || fail "no replica landed on the loop-device disk"
log "shutting down chunkserver 1's disk $MNT ($on_disk replicas) under load"
t0=$(now_ms)
xfs_io -x -c shutdown "$MNT" || fail "xfs_io shutdown failed"

_disk_failed() { load_check; [ "$(disk_field failed)" = true ]; }
wait_until 30 "the disk reported failed" _disk_failed
[ "$(cs_state 1)" = up ] || fail "chunkserver 1 is $(cs_state 1), not up, after losing one disk"
log "disk reported failed after $(($(now_ms) - t0)) ms; chunkserver 1 still up"

conc=$((4 * REPL_PER_SERVER / 2))
bound=$((((on_disk + conc - 1) / conc) * (LEASE_MS + 3 * HB_MS + 1000) / 1000 + 20))
_healed() { load_check; fully_replicated 3; }
wait_until "$bound" "3 replicas of every chunk after the disk failure" _healed
t1=$(now_ms)
log "replica count back to 3 on every chunk $((t1 - t0)) ms after the failure (bound ${bound}s, $(status_field replicated_bytes) bytes copied)"
[ "$(disk_field chunks)" = 0 ] || fail "the failed disk still counts $(disk_field chunks) replicas"

load_wait_acks $((2 * LOAD_BATCH)) 60
load_stop
load_verify "$U"
replicas_identical v710
log "replicas identical on the servers of each set: $IDENTICAL"
log "PASS: disk failure healed in $((t1 - t0)) ms under load; no command over $STALL_MS ms"
