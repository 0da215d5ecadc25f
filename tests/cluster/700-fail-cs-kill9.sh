#!/bin/bash
# 700: kill -9 one of the chunkservers holding a 3-replica volume while a
# verifying load runs through iSCSI.  Four chunkservers (one spare's worth
# of room), 1 MiB chunks.  Pass when: no command of the load fails or takes
# longer than STALL_MS (below), every acknowledged write reads back, every
# chunk is back to 3 replicas on up servers within the time the
# re-replication throttle implies (printed with the measured time), and
# the replicas of every chunk on the servers of its set are byte-identical.
# No stall: a command whose chunk's primary died waits for its call to be
# lost (connection reset, or rpc_timeout_ms 1 s), for the dead primary's
# lease to run out before the master grants another (LEASE_MS 2 s), and for
# the new primary's set-version round to give up on the dead member
# (rpc_timeout_ms 1 s): about 4 s (4.3 s measured).  Twice that, well below
# the 20 s gateway deadline, bounds every command of the load.
STALL_MS=8000
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
SIZE_MB=32
NSLOTS=$((SIZE_MB * M / LOAD_SLOT))

cluster_up --chunkservers 4 --gateways 1
vol_create v700 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v700 t 1 1
U=$(url 1 t 1)

load_start "$U" "$NSLOTS"
# one full pass allocates every chunk
load_wait_acks "$NSLOTS" 120
chunks=$(status_field chunks)
[ "$chunks" = "$SIZE_MB" ] || fail "expected $SIZE_MB chunks after one pass, master has $chunks"
wait_until 20 "3 replicas of every chunk before the failure" fully_replicated 3

VICTIM=2
held=$(cs_chunks $VICTIM)
log "kill -9 chunkserver $VICTIM (pid $(cs_pid $VICTIM)), a member of $held of $chunks chunks' sets"
t_kill=$(now_ms)
"$CLUSTER" kill "$DIR" chunkserver $VICTIM >/dev/null || fail "shoal-cluster kill failed"

# The throttle: each copy takes a slot on its source and its target
# (REPL_PER_SERVER each), so 3 survivors run 3*REPL_PER_SERVER/2 copies at
# once; one copy of an active chunk waits out its lease, then takes about
# two heartbeats (order, result) and the copy itself (< 1 s for 1 MiB).
conc=$((3 * REPL_PER_SERVER / 2))
rounds=$(((held + conc - 1) / conc))
bound_ms=$((CS_TIMEOUT_MS + HB_MS + rounds * (LEASE_MS + 3 * HB_MS + 1000) + 10000))
log "throttle: $conc copies at once, $rounds rounds: bound $((bound_ms / 1000)) s"

# Down, out of every set (the under-replicated count lags the down mark by
# a scan: counting 3 before the drop is not healing) and 3 replicas again.
_healed() { load_check; [ "$(cs_state $VICTIM)" = down ] && [ "$(cs_chunks $VICTIM)" = 0 ] && fully_replicated 3; }
wait_until $((bound_ms / 1000 + 1)) "3 replicas of every chunk after the kill" _healed
t_heal=$(now_ms)
copied=$(status_field replicated_bytes)
log "replica count back to 3 on every chunk $(((t_heal - t_kill))) ms after the kill ($held chunks, $copied bytes copied)"
[ "$(cs_chunks $VICTIM)" = 0 ] || fail "the dead chunkserver is still in $(cs_chunks $VICTIM) replica sets"
[ "$(status_field replications_running)" = 0 ] || fail "copies still running after the heal"

# The load goes on over the healed sets, then everything is checked.
load_wait_acks $((2 * LOAD_BATCH)) 60
load_stop
load_verify "$U"
replicas_identical v700
log "replicas identical on the servers of each set: $IDENTICAL"
log "PASS: $(load_acked) acknowledged writes verified; healed in $(((t_heal - t_kill))) ms (bound $bound_ms ms); no command over $STALL_MS ms"
