#!/bin/bash
# 770: a disk that hangs is given up (DESIGN.md fault model: a disk
# hanging).  Chunkserver 1's data directory is on a filesystem of its own,
# on a loop device whose backing file lives on another loop-mounted
# filesystem; freezing that outer filesystem (fsfreeze) makes every write
# to chunkserver 1's disk hang in the device -- submitted, never completed
# -- while the chunkserver itself keeps running and heartbeating.  A
# verifying load through the gateway must go on: no command may fail or
# take longer than the gateway's deadline, because the chunkserver declares
# the disk failed once a request waited disk_timeout_ms (3 s here), gives up its
# replicas and leases there, and the master moves them.  After the thaw
# every acknowledged write reads back.
DEADLINE_MS=20000
CS_EXTRA="disk_timeout_ms = 3000;"
. "$(dirname "$0")/7fail-lib.sh"
[ "$(id -u)" = 0 ] || fail "needs root (loop devices, mount, fsfreeze)"
command -v fsfreeze >/dev/null || fail "needs fsfreeze (util-linux)"

OUTER=$SCRATCH/outer
declare -a MNTS=() LOOPS=()
thaw() { fsfreeze -u "$OUTER" 2>/dev/null; }
disks_release() {
	local i
	thaw
	for ((i = ${#MNTS[@]} - 1; i >= 0; i--)); do umount "${MNTS[i]}" 2>/dev/null || umount -l "${MNTS[i]}" 2>/dev/null; done
	for ((i = ${#LOOPS[@]} - 1; i >= 0; i--)); do losetup -d "${LOOPS[i]}" 2>/dev/null; done
}
# A frozen filesystem must be thawed before any process with I/O on it is killed.
trap 'thaw; cleanup; disks_release' EXIT

# mkloop IMAGE MOUNTPOINT: an ext4 filesystem on a loop device over IMAGE
mkloop() {
	local dev out
	truncate -s 400M "$1" || fail "cannot create $1"
	out=$(mkfs.ext4 -q -F "$1" 2>&1) || fail "mkfs.ext4 $1: $out"
	dev=$(losetup -f --show "$1" 2>&1) || fail "no loop device: $dev"
	LOOPS+=("$dev")
	mkdir -p "$2"
	mount "$dev" "$2" || fail "mount $dev on $2 failed"
	MNTS+=("$2")
}
mkloop "$SCRATCH/outer.img" "$OUTER"
mkloop "$OUTER/inner.img" "$DIR/cs-1/disk-1"
log "chunkserver 1's disk: ${LOOPS[1]} over a file on ${LOOPS[0]} ($OUTER)"

cluster_up --chunkservers 4 --gateways 1
# 4 replicas on 4 servers: every chunk has one on the small disk (placement weighs free space)
vol_create v770 32M --chunk-size 1M --replicas 4
lun_export 1 v770 t 1 1
U=$(url 1 t 1)
qemu-io -f raw -c "write -P 0x33 0 32M" "$U" >"$SCRATCH/fill.out" 2>&1 || fail "fill: $(tail -n 1 "$SCRATCH/fill.out")"
n1=$(cs_chunks 1)
[ "${n1:-0}" -gt 0 ] || fail "chunkserver 1 holds no replica"
load_start "$U" 200
load_wait_acks 40 60
log "freezing $OUTER: chunkserver 1's writes hang from now ($n1 replicas there)"
fsfreeze -f "$OUTER" || fail "fsfreeze -f $OUTER failed"
t0=$SECONDS
load_wait_acks 400 120
log "$(load_acked) writes acknowledged; $((SECONDS - t0)) s into the hang"
load_check
thaw
log "thawed after $((SECONDS - t0)) s"
load_stop
load_verify "$U"
failed=$(cs_json | jq -r '.[] | select(.id == 1) | [.disks[] | select(.failed)] | length')
[ "${failed:-0}" -ge 1 ] || fail "chunkserver 1's hung disk is not reported failed"
echo "PASS 770: the hung disk was given up; every command within the deadline, $(load_acked) writes verified; longest $(sort -n "$SCRATCH/load.lat" | tail -n 1) ms"
