#!/bin/bash
# 755: a primary killed (kill -9) and restarted within its lease while a
# gateway keeps writing.  The master still counts the old process's lease
# as live when the new process asks for it; the new process knows nothing
# of the writes its predecessor had in flight (forwarded frames still in
# the secondaries' sockets, torn local writes).  It must not serve under
# the old lease's version: the lease it gets moves the version through the
# master, so every replica is fenced by set-version and reconciled before
# it serves.  One master, three chunkservers, a 3-replica volume of 1 MiB
# chunks; lease 8 s (the restart takes well under it) and chunkservers
# marked down after 6 s (it is never marked down).
#
# Before the load, chunkserver 3 is restarted while nothing runs: its chunk
# report lists every chunk at its version (on 0a632e2 that marked them
# confirmed, the path on which a renewed lease ran neither set-version nor
# reconcile).  Then, twice, the
# recorded primary of the most chunks is killed and started again.  Pass
# when: for every chunk it was primary of, the restarted process went live
# only at a version above the one its predecessor's lease had; no command
# of the load failed; everything acknowledged reads back; and, with the
# load stopped and every chunk back to 3 replicas, every chunk's replicas
# are byte-identical.
. "$(dirname "$0")/7fail-lib.sh"
LEASE_MS=8000
CS_TIMEOUT_MS=6000

M=$((1024 * 1024))
SIZE_MB=8
NSLOTS=$((SIZE_MB * M / LOAD_SLOT))
P=$BUILD/tests/tools/cs_probe
L=$BUILD/tests/tools/master_load
[ -x "$P" ] && [ -x "$L" ] || fail "$P or $L not built"

cluster_up --chunkservers 3 --gateways 1
vol_create v755 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v755 t 1 1
U=$(url 1 t 1)

out=$(timeout -k 5 120 qemu-io -f raw -c "write -P 0x5a 0 $((SIZE_MB * M))" "$U" 2>&1) || fail "fill failed: $out"
wait_until 20 "3 replicas of every chunk" fully_replicated 3
"$CLUSTER" kill "$DIR" chunkserver 3 >/dev/null && "$CLUSTER" start "$DIR" chunkserver 3 >/dev/null ||
	fail "restarting chunkserver 3 failed"
wait_until 20 "3 replicas of every chunk after the quiet restart" fully_replicated 3
log "volume filled; chunkserver 3 restarted while idle (it reported every chunk at its version)"

load_start "$U" "$NSLOTS"
load_wait_acks "$NSLOTS" 120

for round in 1 2; do
	master_dump >"$SCRATCH/before-$round.txt" || fail "dump failed"
	victim=$(busiest_primary "$SCRATCH/before-$round.txt")
	[ -n "$victim" ] || fail "no recorded primary"
	nlog=$(wc -l <"$DIR/logs/chunkserver-$victim.log")
	"$CLUSTER" kill "$DIR" chunkserver "$victim" >/dev/null || fail "kill chunkserver $victim failed"
	"$CLUSTER" start "$DIR" chunkserver "$victim" >/dev/null || fail "start chunkserver $victim failed"
	log "round $round: chunkserver $victim (primary of $(grep -c " primary=$victim " "$SCRATCH/before-$round.txt") chunks) killed and restarted"
	load_wait_acks $((2 * NSLOTS)) 120
	# Every chunk the victim was primary of at the kill, with the version of that lease.
	while read -r id v; do
		line=$(tail -n +"$((nlog + 1))" "$DIR/logs/chunkserver-$victim.log" |
			grep -m 1 "chunk $(printf %016x "$id"): primary at version")
		[ -n "$line" ] || continue	# primary elsewhere now: nothing served by the new process
		nv=$(sed -n 's/.*primary at version \([0-9]*\).*/\1/p' <<<"$line")
		((nv > v)) || fail "round $round: the restarted chunkserver $victim went live on chunk $id at version $nv, the version of its predecessor's lease ($v): $line"
		log "round $round: chunk $id: lease at version $v before the kill; the new process went live at $nv"
	done < <(sed -n "s/^chunk .* id=\([0-9]*\) version=\([0-9]*\) primary=$victim .*/\1 \2/p" "$SCRATCH/before-$round.txt")
done

load_stop
# A write forwarded to the dead process dropped that replica from its set:
# wait for re-replication.  No I/O from here on: compare the replicas as
# they are, at their own versions.
wait_until 60 "3 replicas of every chunk after the load" fully_replicated 3
chunks_identical $SIZE_MB $M
load_verify "$U"
log "PASS: $(load_acked) acknowledged writes verified"
