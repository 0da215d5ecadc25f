#!/bin/bash
# 300: one master; 100 volumes and 10,000 chunks allocated one Raft entry per
# chunk (so snapshots are taken and the log tail replays); kill -9; restart:
# the dump is byte-identical.  Then again after a second kill -9 mid-load.
set -uo pipefail
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /tmp/shoal-300.XXXXXX)}
PORT_BASE=${PORT_BASE:-18100}
M=$BUILD/master/shoal-master
L=$BUILD/tests/tools/master_load
addr=127.0.0.1:$PORT_BASE
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
fail() { echo "FAIL 300: $*"; exit 1; }

start() {
	"$M" --listen "$addr" --data-dir "$SCRATCH/m1" --lease-ms 2000 2>>"$SCRATCH/m1.log" &
	mpid=$!
	pids+=("$mpid")
	"$L" --masters "$addr" wait-serving --timeout-ms 10000 >/dev/null || fail "master did not serve after start"
}

start
"$L" --masters "$addr" populate --volumes 100 --chunks 10000 --batch 1 || fail "populate failed"
"$L" --masters "$addr" dump >"$SCRATCH/before.txt" || fail "dump before kill failed"
[ "$(grep -c '^vol ' "$SCRATCH/before.txt")" = 100 ] || fail "expected 100 volumes in the dump"
[ "$(grep -c '^chunk ' "$SCRATCH/before.txt")" = 10000 ] || fail "expected 10000 chunks in the dump"

kill -9 "$mpid"; wait "$mpid" 2>/dev/null
ls "$SCRATCH/m1" | grep -q '^snapshot-' || fail "no snapshot was taken (threshold not reached?)"
start
"$L" --masters "$addr" dump >"$SCRATCH/after.txt" || fail "dump after restart failed"
cmp -s "$SCRATCH/before.txt" "$SCRATCH/after.txt" || fail "dump differs after kill -9 and restart"

# Second round: kill -9 while allocations run; what was acknowledged survives.
"$L" --masters "$addr" populate --volumes 1 --chunks 3000 --batch 1 --prefix mid >"$SCRATCH/load2.log" 2>&1 &
lpid=$!
pids+=("$lpid")
sleep 0.5
"$L" --masters "$addr" dump >"$SCRATCH/mid.txt" || fail "dump during load failed"
kill -9 "$mpid"; wait "$mpid" 2>/dev/null
start
wait "$lpid" || fail "load did not complete across the restart: $(tail -1 "$SCRATCH/load2.log")"
"$L" --masters "$addr" dump >"$SCRATCH/after2.txt" || fail "dump after second restart failed"
# Every chunk line in the mid-load dump is still there, unchanged.
missing=$(grep '^chunk ' "$SCRATCH/mid.txt" | grep -vxFf "$SCRATCH/after2.txt" | wc -l)
[ "$missing" = 0 ] || fail "$missing acknowledged chunks changed or vanished after kill -9"
n=$(grep -c '^chunk ' "$SCRATCH/after2.txt")
[ "$n" = 13000 ] || fail "expected 13000 chunks after the second load, got $n"
echo "PASS 300: 100 volumes, 10000 chunks, dump identical after kill -9 and restart; 13000 after a mid-load kill"
