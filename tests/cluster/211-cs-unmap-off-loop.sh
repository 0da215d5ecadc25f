#!/bin/bash
# 211: UNMAP never blocks the chunkserver's event loop.  Punching a hole
# (fallocate) and making it durable (fdatasync) can take long on a busy
# disk; run on the loop thread they stall every other request of that
# server meanwhile.  strace follows every thread of each chunkserver while
# client UNMAPs of 4 MiB go through the primary: a fallocate, fdatasync or
# fsync made by the main thread (the loop's) fails the scenario; the
# punches must still be seen (on the aio helper thread), and the unmapped
# range must read back as zeros from every replica.
set -uo pipefail
T=211
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-211.XXXXXX)}
PORT_BASE=${PORT_BASE:-18100}
. "$(dirname "$0")/2cs-lib.sh"
command -v strace >/dev/null || fail "strace not installed (scripts/setup-deps installs it)"

start_master
for i in 1 2 3; do start_cs $i; done
for i in 1 2 3; do wait_serving $i; done
vol=$("$P" "$MADDR" vcreate v211 $((64 << 20)) 23) || fail "volume create failed"
read -r cid ver epoch prim < <("$P" "$MADDR" lookup "$vol" 0 write) || fail "lookup failed"
head -c $((8 << 20)) /dev/urandom >"$SCRATCH/data"
"$P" "$prim" write "$cid" "$ver" 0 "$SCRATCH/data" primary || fail "fill write failed"

spids=()
for i in 1 2 3; do
	eval "cpid=\$CSPID$i"
	strace -f -qq -e trace=fallocate,fdatasync,fsync -p "$cpid" -o "$SCRATCH/strace.$i" 2>/dev/null &
	spids+=($!)
	pids+=($!)
done
sleep 1	# strace attached to every thread
for off in 0 $((4 << 20)); do
	"$P" "$prim" write "$cid" "$ver" "$off" /dev/null primary unmap $((4 << 20)) ||
		fail "UNMAP at $off failed"
done
sleep 0.5
for p in "${spids[@]}"; do kill -INT "$p" 2>/dev/null; done
for p in "${spids[@]}"; do wait "$p" 2>/dev/null; done

punches=0
for i in 1 2 3; do
	eval "cpid=\$CSPID$i"
	main=$(grep -E "^$cpid +(fallocate|fdatasync|fsync)\(" "$SCRATCH/strace.$i" | head -n 3)
	[ -z "$main" ] || fail "chunkserver $i made a blocking call on its loop thread: $main"
	punches=$((punches + $(grep -c "fallocate(.*FALLOC_FL_PUNCH_HOLE" "$SCRATCH/strace.$i")))
done
[ "$punches" -ge 6 ] || fail "saw $punches hole punches, want 2 per replica (strace saw nothing?)"
head -c $((8 << 20)) /dev/zero >"$SCRATCH/zeros"
for i in 1 2 3; do
	"$P" "$(csaddr "$i")" read "$cid" "$ver" 0 $((8 << 20)) >"$SCRATCH/r$i" || fail "read from cs$i failed"
	cmp -s "$SCRATCH/r$i" "$SCRATCH/zeros" || fail "cs$i: the unmapped range does not read as zeros"
done
echo "PASS 211: $punches hole punches, none on a chunkserver's loop thread; the range reads as zeros everywhere"
