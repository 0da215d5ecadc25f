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
# Three passes, so the writes are still running when the chunkserver dies;
# the last pass leaves pattern i+101.
cmds=()
for p in 61 81 101; do
	for i in $(seq 0 15); do cmds+=(-c "write -P $((i + p)) $((i * 1048576 + 1015808)) 65536"); done
done
timeout 200 qemu-io -f raw "${cmds[@]}" "$A" >"$SCRATCH/round2.log" 2>&1 &
qpid=$!
sleep 0.1
victim=${DAEMON_PIDS[2]}
log "kill -9 chunkserver 1 (pid $victim)"
kill -9 "$victim"
t0=$(date +%s)
wait "$qpid" || { cat "$SCRATCH/round2.log"; fail "writes failed while a chunkserver died"; }
log "round 2 finished $(( $(date +%s) - t0 )) s after the kill"
grep -qi "error\|fail" "$SCRATCH/round2.log" && { cat "$SCRATCH/round2.log"; fail "a write failed while a chunkserver died"; }

# Everything reads back, through both gateways, after the failure.
cmds=()
for i in $(seq 0 15); do
	cmds+=(-c "read -P $((i + 1)) $((i * 1048576 + 520192)) 65536")
	cmds+=(-c "read -P $((i + 101)) $((i * 1048576 + 1015808)) 65536")
done
for url in "$A" "$B"; do
	out=$(timeout 200 qemu-io -f raw "${cmds[@]}" "$url" 2>&1) || fail "reads through $url failed or hung"
	echo "$out" | grep -qi "verification failed\|error\|fail" && { echo "$out" | grep -i "fail\|error" | head; fail "data differs through $url after the failure"; }
	[ "$(echo "$out" | grep -c '^read ')" -eq 32 ] || fail "not every read completed through $url"
done
log "all 32 ranges read back identical through both gateways after losing a chunkserver"
log "PASS"
