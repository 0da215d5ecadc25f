#!/bin/bash
# 404-gw-failover: a chunkserver is killed (-9) while an initiator writes
# through the gateway.  The client library refreshes the chunk map and
# retries inside each command's deadline, so the initiator sees no error,
# and everything written reads back identical, through both gateways.
. "$(dirname "$0")/4gw-lib.sh"

start_cluster 2000
create_volume vol404 128M --replicas 3 --chunk-size 1M
start_gateway 0
start_gateway 1
A=$(export_lun 0 1 1 vol404 "masters=$MASTER;deadline_ms=25000")
B=$(export_lun 1 2 1 vol404 "masters=$MASTER;deadline_ms=25000")

# Round 1 allocates 16 chunks (every chunkserver is primary of some).
cmds=()
for i in $(seq 0 15); do cmds+=(-c "write -P $((i + 1)) $((i * 1048576 + 520192)) 65536"); done
out=$(qemu-io -f raw "${cmds[@]}" "$A" 2>&1)
echo "$out" | grep -qi "error\|fail" && { echo "$out"; fail "initial writes failed"; }

# Round 2 runs while chunkserver 1 dies: each write crosses a chunk boundary.
# Eight passes, each 16 writes issued at once (aio_write; aio_flush waits
# for them before the next pass), the last leaving pattern i+201: the
# gateway has writes to every chunk in flight, so to every chunkserver as a
# primary and as a replica.  The kill waits until the initiator is logged
# in and writing (4 of the 128 writes completed: qemu-io prints a line per
# write, line-buffered by stdbuf), and must land while writes remain: fewer
# than 128 completed once it took effect (three passes were too few: a fast
# disk finished them between two looks at the log).
cmds=()
for p in 61 81 101 121 141 161 181 201; do
	for i in $(seq 0 15); do cmds+=(-c "aio_write -P $((i + p)) $((i * 1048576 + 1015808)) 65536"); done
	cmds+=(-c aio_flush)
done
timeout 200 stdbuf -oL qemu-io -f raw "${cmds[@]}" "$A" >"$SCRATCH/round2.log" 2>&1 &
qpid=$!
wrote() { grep -c '^wrote 65536/65536 bytes' "$SCRATCH/round2.log" || true; }
for _ in $(seq 1 3000); do
	[ "$(wrote)" -ge 4 ] && break
	kill -0 "$qpid" 2>/dev/null || break
	sleep 0.01
done
before=$(wrote)
[ "$before" -ge 4 ] || { cat "$SCRATCH/round2.log"; fail "round 2 did not start writing within 30 s"; }
victim=${DAEMON_PIDS[2]}
kill -9 "$victim"
wait "$victim" 2>/dev/null || true	# reaped: the daemon is gone when wait returns
after=$(wrote)
log "kill -9 chunkserver 1 (pid $victim) with $before of 128 writes done before it, $after once it was dead"
((after < 128)) || fail "the kill landed after round 2 had finished ($after of 128 writes done): nothing was in flight"
kill -0 "$qpid" 2>/dev/null || fail "the initiator had exited before the kill took effect"
t0=$(date +%s)
wait "$qpid" || { cat "$SCRATCH/round2.log"; fail "writes failed while a chunkserver died"; }
log "round 2 finished $(( $(date +%s) - t0 )) s after the kill"
grep -qi "error\|fail" "$SCRATCH/round2.log" && { cat "$SCRATCH/round2.log"; fail "a write failed while a chunkserver died"; }
[ "$(wrote)" -eq 128 ] || { cat "$SCRATCH/round2.log"; fail "round 2 completed $(wrote) of 128 writes"; }

# Everything reads back, through both gateways, after the failure.
cmds=()
for i in $(seq 0 15); do
	cmds+=(-c "read -P $((i + 1)) $((i * 1048576 + 520192)) 65536")
	cmds+=(-c "read -P $((i + 201)) $((i * 1048576 + 1015808)) 65536")
done
for url in "$A" "$B"; do
	out=$(timeout 200 qemu-io -f raw "${cmds[@]}" "$url" 2>&1) || fail "reads through $url failed or hung"
	echo "$out" | grep -qi "verification failed\|error\|fail" && { echo "$out" | grep -i "fail\|error" | head; fail "data differs through $url after the failure"; }
	[ "$(echo "$out" | grep -c '^read ')" -eq 32 ] || fail "not every read completed through $url"
done
log "all 32 ranges read back identical through both gateways after losing a chunkserver"
log "PASS"
