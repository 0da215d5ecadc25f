#!/bin/bash
# 730: a chunkserver is stopped while 10% of a volume is rewritten, then
# restarted.  Three chunkservers (no spare: the copies can only go back to
# the returning server), a fully written 64 MiB volume of 1 MiB chunks.
# While chunkserver 3 is down the first 6.5 MiB are rewritten through
# iSCSI (its replicas of those 7 chunks leave their sets; the other 57 are
# untouched and stay members).  After the restart its stale replicas are
# never served and are replaced, and the test prints the bytes the resync
# copied (leader's replicated_bytes and the server's own resync_bytes)
# against the volume size.  The stale replicas are resynced in place, but
# the fill and the failed write share version 1 (one lease), so every
# track the fill wrote counts as modified since the stale version: the
# bound is the rewritten chunks' size (735 covers the precise case: a
# rewrite spread inside every chunk after a later lease).  Then every replica
# of every chunk is compared byte for byte across the three servers, and
# everything reads back through iSCSI.
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
SIZE_MB=64
P=$BUILD/tests/tools/cs_probe
[ -x "$P" ] || fail "$P not built"

cluster_up --chunkservers 3 --gateways 1
vol_create v730 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v730 t 1 1
U=$(url 1 t 1)


# Pattern of MiB i: i % 200 + 1 (first write), then 0xee over the rewritten part.
cmds=()
for ((i = 0; i < SIZE_MB; i++)); do cmds+=("write -P $((i % 200 + 1)) $((i * M)) $M"); done
qio "${cmds[@]}" || fail "writing the whole volume failed"
wait_until 20 "3 replicas of every chunk" fully_replicated 3
log "volume written: $SIZE_MB MiB, 3 replicas"

"$CLUSTER" kill "$DIR" chunkserver 3 >/dev/null || fail "shoal-cluster kill chunkserver 3 failed"
_down() { [ "$(cs_state 3)" = down ]; }
wait_until 10 "chunkserver 3 marked down" _down
REWRITE=$((SIZE_MB * M / 10 / LOAD_SLOT * LOAD_SLOT + LOAD_SLOT))	# 10%, rounded up to 128 KiB
cmds=()
for ((o = 0; o < REWRITE; o += LOAD_SLOT)); do cmds+=("write -P 0xee $o $LOAD_SLOT"); done
qio "${cmds[@]}" || fail "rewriting 10% with a chunkserver down failed"
touched=$(((REWRITE + M - 1) / M))
log "chunkserver 3 down; rewrote $REWRITE bytes ($touched chunks) of $((SIZE_MB * M))"

before=$(status_field replicated_bytes)
"$CLUSTER" start "$DIR" chunkserver 3 >/dev/null || fail "shoal-cluster start chunkserver 3 failed"
t0=$(now_ms)
wait_until 60 "3 replicas of every chunk after the restart" fully_replicated 3
t1=$(now_ms)
after=$(status_field replicated_bytes)
A3=127.0.0.1:$((PORT_BASE + 2 + 2))
resync=$("$P" "$A3" status | sed -n 's/.*resync_bytes=\([0-9]*\).*/\1/p')
copied=$((after - before))
log "RESULT: resync copied $copied bytes (chunkserver 3 resync_bytes=$resync) for $REWRITE rewritten bytes of a $((SIZE_MB * M))-byte volume ($((copied * 1000 / (SIZE_MB * M)))‰ of it), in $((t1 - t0)) ms"
[ "$copied" = "$resync" ] || fail "leader counted $copied bytes, chunkserver 3 $resync"
((copied >= REWRITE)) || fail "resync copied $copied bytes, less than the $REWRITE rewritten"
((copied <= touched * M)) || fail "resync copied $copied bytes, more than the $touched rewritten chunks ($((touched * M)))"

# Every replica of every chunk is identical on the three servers.
chunks_identical $SIZE_MB $M

cmds=()
for ((i = 0; i < SIZE_MB; i++)); do
	lo=$((i * M)) hi=$(((i + 1) * M))
	if ((hi <= REWRITE)); then
		cmds+=("read -P 0xee $lo $M")
	elif ((lo >= REWRITE)); then
		cmds+=("read -P $((i % 200 + 1)) $lo $M")
	else
		cmds+=("read -P 0xee $lo $((REWRITE - lo))" "read -P $((i % 200 + 1)) $REWRITE $((hi - REWRITE))")
	fi
done
qio "${cmds[@]}" || fail "the volume does not read back as written"
log "PASS: resync copied $copied of $((SIZE_MB * M)) bytes after a 10% rewrite"
