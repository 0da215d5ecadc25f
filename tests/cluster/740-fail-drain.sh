#!/bin/bash
# 740: drain a chunkserver while a verifying load runs through iSCSI.
# Four chunkservers, a 3-replica volume of 1 MiB chunks.  `chunkserver
# remove` is refused while the server still holds replicas; `drain` moves
# every replica off it (the new copy joins as the drained one leaves, in one
# set change), sampled every 0.2 s the replica sets always total exactly
# 3 x chunks (a set never shrinks below 3), no command of the load fails or
# takes longer than STALL_MS (below), then `remove` forgets the server,
# every acknowledged write reads back, and the replicas of every chunk on
# the servers of its set are byte-identical.
# No stall: a chunk being copied has its lease run out first (LEASE_MS
# 2 s), then the copy of 1 MiB (well under 1 s here) and a new grant: about
# 3-4 s for a write that hits it.  8 s, well below the 20 s gateway
# deadline, bounds every command of the load.
STALL_MS=8000
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
SIZE_MB=32
NSLOTS=$((SIZE_MB * M / LOAD_SLOT))

cluster_up --chunkservers 4 --gateways 1
vol_create v740 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v740 t 1 1
U=$(url 1 t 1)

load_start "$U" "$NSLOTS"
load_wait_acks "$NSLOTS" 120
chunks=$(status_field chunks)
[ "$chunks" = "$SIZE_MB" ] || fail "expected $SIZE_MB chunks after one pass, master has $chunks"
wait_until 20 "3 replicas of every chunk" fully_replicated 3

D=3
held=$(cs_chunks $D)
((held > 0)) || fail "chunkserver $D holds no replica: nothing to drain"
out=$(adm chunkserver remove $D 2>&1) && fail "remove of a server holding $held replicas was accepted: $out"
log "remove refused while it holds $held replicas: $out"

adm chunkserver drain $D >"$SCRATCH/drain.txt" 2>&1 || fail "drain: $(cat "$SCRATCH/drain.txt")"
[ "$(cs_state $D)" = draining ] || fail "chunkserver $D is not draining: $(cs_state $D)"
t0=$(now_ms)
log "draining chunkserver $D ($held replicas)"

# Sample the sets until the server is empty (bounded by the throttle: 3
# servers' worth of slots; two heartbeats, a lease and the copy per round).
conc=$((3 * REPL_PER_SERVER / 2))
bound=$((((held + conc - 1) / conc) * (LEASE_MS + 3 * HB_MS + 1000) / 1000 + 15))
samples=0 min_total=999999
end=$((SECONDS + bound))
while ((SECONDS < end)); do
	load_check
	js=$(cs_json) || { sleep 0.2; continue; }
	total=$(jq '[.[] | .chunks] | add' <<<"$js")
	left=$(jq ".[] | select(.id == $D) | .chunks" <<<"$js")
	samples=$((samples + 1))
	((total < min_total)) && min_total=$total
	((total == 3 * chunks)) || fail "replica sets total $total, not $((3 * chunks)) (a set left 3 during the drain)"
	((left == 0)) && break
	sleep 0.2
done
((left == 0)) || fail "drain did not finish within ${bound}s ($left replicas left)"
t1=$(now_ms)
log "drained $held replicas in $((t1 - t0)) ms; $samples samples, the sets always totalled $min_total = 3 x $chunks"

wait_until 10 "nothing under-replicated after the drain" fully_replicated 3
adm chunkserver remove $D >"$SCRATCH/remove.txt" 2>&1 || fail "remove after the drain: $(cat "$SCRATCH/remove.txt")"
[ "$(cs_state $D)" = removed ] || fail "chunkserver $D is $(cs_state $D) after remove"
log "chunkserver $D removed"

load_wait_acks $((2 * LOAD_BATCH)) 60
load_stop
load_verify "$U"
replicas_identical v740
log "replicas identical on the servers of each set: $IDENTICAL"
log "PASS: drain of $held replicas in $((t1 - t0)) ms under load, sets never below 3, no command over $STALL_MS ms"
