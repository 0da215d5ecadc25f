#!/bin/bash
# 735: resync copies what changed inside the chunks, not the chunks.
# Three chunkservers (no spare: the copies can only go back to the
# returning server), a fully written 64 MiB volume of 16 MiB chunks.  The
# volume is read back after its lease ran out, so every replica moves to a
# version newer than the one the fill was written at (resync compares
# versions: what a replica held at its own version is not copied).  Then
# chunkserver 3 is killed and 96 KiB in every MiB are rewritten (9.4% of
# the volume, spread over every chunk and every region), and it is
# restarted.  Its stale replicas are resynced in place: only the 64 KiB
# tracks written since their version travel (2 per MiB here, 12.5%).  The
# test prints the bytes copied against the volume size and requires well
# under 30%; then every replica of every chunk is compared byte for byte
# across the three servers, and everything reads back through iSCSI.
# A kill -9 leaves every region written within clean_ms dirty, and a dirty
# region's tracks count as modified at the replica's version (chunk_store.h):
# after a crash, resync copies the regions that were hot, like DRBD's
# activity log.  This test measures track granularity, so the fill's
# regions are cleaned (1 s idle) before the kill.
CS_CLEAN_MS=1000
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
K=1024
SIZE_MB=64
CHUNK_MB=16
NCHUNKS=$((SIZE_MB / CHUNK_MB))
RW_OFF=$((200 * K))	# inside each MiB: [200 KiB, 296 KiB) = tracks 3 and 4
RW_LEN=$((96 * K))
P=$BUILD/tests/tools/cs_probe
[ -x "$P" ] || fail "$P not built"

cluster_up --chunkservers 3 --gateways 1
vol_create v735 ${SIZE_MB}M --chunk-size ${CHUNK_MB}M --replicas 3
lun_export 1 v735 t 1 1
U=$(url 1 t 1)
csaddr() { echo "127.0.0.1:$((PORT_BASE + 2 + $1 - 1))"; }
version_on() { "$P" "$(csaddr "$1")" info "$2" | sed -n 's/^version=\([0-9]*\).*/\1/p'; }


# Pattern of MiB i: i % 200 + 1 (the fill), then 0xee over [RW_OFF, RW_OFF + RW_LEN) of it.
cmds=()
for ((i = 0; i < SIZE_MB; i++)); do cmds+=("write -P $((i % 200 + 1)) $((i * M)) $M"); done
qio "${cmds[@]}" || fail "writing the whole volume failed"
wait_until 20 "3 replicas of every chunk" fully_replicated 3
declare -a fill_v=()
for ((id = 1; id <= NCHUNKS; id++)); do fill_v[id]=$(version_on 3 $id); done
log "volume written: $SIZE_MB MiB in $NCHUNKS chunks, 3 replicas, at versions ${fill_v[*]}"

# A read after the lease ran out takes a new lease: every replica moves past the fill's version.
# (A primary renews while used within a lease period, so the last lease may
# run up to two periods past the last write.)
sleep $((2 * LEASE_MS / 1000 + 2))
cmds=()
for ((i = 0; i < SIZE_MB; i++)); do cmds+=("read -P $((i % 200 + 1)) $((i * M)) $M"); done
qio "${cmds[@]}" || fail "the volume does not read back as filled"
for ((id = 1; id <= NCHUNKS; id++)); do
	v=$(version_on 3 $id)
	((v > fill_v[id])) || fail "chunk $id on chunkserver 3 still at version $v after a new lease"
done
log "read back under new leases: chunkserver 3 holds every chunk past its fill version"

"$CLUSTER" kill "$DIR" chunkserver 3 >/dev/null || fail "shoal-cluster kill chunkserver 3 failed"
_down() { [ "$(cs_state 3)" = down ]; }
wait_until 10 "chunkserver 3 marked down" _down
cmds=()
for ((i = 0; i < SIZE_MB; i++)); do cmds+=("write -P 0xee $((i * M + RW_OFF)) $RW_LEN"); done
qio "${cmds[@]}" || fail "rewriting with a chunkserver down failed"
REWRITE=$((SIZE_MB * RW_LEN))
log "chunkserver 3 down; rewrote $REWRITE bytes ($RW_LEN in each of the $SIZE_MB MiB, every chunk) of $((SIZE_MB * M))"

before=$(status_field replicated_bytes)
"$CLUSTER" start "$DIR" chunkserver 3 >/dev/null || fail "shoal-cluster start chunkserver 3 failed"
t0=$(now_ms)
wait_until 60 "3 replicas of every chunk after the restart" fully_replicated 3
t1=$(now_ms)
after=$(status_field replicated_bytes)
resync=$("$P" "$(csaddr 3)" status | sed -n 's/.*resync_bytes=\([0-9]*\).*/\1/p')
copied=$((after - before))
log "RESULT: resync copied $copied bytes (chunkserver 3 resync_bytes=$resync) for $REWRITE rewritten bytes spread over every chunk of a $((SIZE_MB * M))-byte volume ($((copied * 1000 / (SIZE_MB * M)))‰ of it; whole chunks would be 1000‰), in $((t1 - t0)) ms"
[ "$copied" = "$resync" ] || fail "leader counted $copied bytes, chunkserver 3 $resync"
((copied >= REWRITE)) || fail "resync copied $copied bytes, less than the $REWRITE rewritten"
((copied * 100 < SIZE_MB * M * 30)) || fail "resync copied $copied bytes, not under 30% of the volume"
n=$(grep -c "resynced .* tracks modified since" "$DIR/logs/chunkserver-3.log")
((n == NCHUNKS)) || fail "chunkserver 3 logged $n resyncs, expected $NCHUNKS"
! grep -q "whole copy" "$DIR/logs/chunkserver-3.log" || fail "chunkserver 3 fell back to a whole copy"

# Every replica of every chunk is identical on the three servers.
for ((id = 1; id <= NCHUNKS; id++)); do
	for ((o = 0; o < CHUNK_MB * M; o += 4 * M)); do
		sums=()
		for j in 1 2 3; do
			replica_version "$(csaddr $j)" $id
			replica_sum "$(csaddr $j)" $id "$VER" $o $((4 * M))	# a failed read fails here
			sums+=("$SUM")
		done
		[ "${sums[0]}" = "${sums[1]}" ] && [ "${sums[0]}" = "${sums[2]}" ] ||
			fail "chunk $id at $o differs across replicas: ${sums[*]}"
	done
done
log "all $NCHUNKS chunks identical on the 3 chunkservers"

cmds=()
for ((i = 0; i < SIZE_MB; i++)); do
	p=$((i % 200 + 1)) b=$((i * M))
	cmds+=("read -P $p $b $RW_OFF" "read -P 0xee $((b + RW_OFF)) $RW_LEN"
	       "read -P $p $((b + RW_OFF + RW_LEN)) $((M - RW_OFF - RW_LEN))")
done
qio "${cmds[@]}" || fail "the volume does not read back as written"
log "PASS: resync copied $copied of $((SIZE_MB * M)) bytes after rewriting $REWRITE spread over every chunk"
