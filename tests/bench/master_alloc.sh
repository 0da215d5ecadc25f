#!/bin/bash
# master_alloc: chunk allocation rate and master resident memory per chunk
# at 10k, 100k and 1,000,000 chunks (one master, three fake chunkservers,
# M_LOOKUP for_write in batches of --batch, default 256).
#   tests/bench/master_alloc.sh BUILD_DIR [BATCH]
set -uo pipefail
BUILD=${1:-${BUILD:?usage: master_alloc.sh BUILD_DIR [BATCH]}}
BATCH=${2:-256}
PORT_BASE=${PORT_BASE:-18300}
own_scratch=no
[ -n "${SCRATCH:-}" ] || { SCRATCH=$(mktemp -d /tmp/shoal-master-alloc.XXXXXX); own_scratch=yes; }
mkdir -p "$SCRATCH"
M=$BUILD/master/shoal-master
L=$BUILD/tests/tools/master_load
addr=127.0.0.1:$PORT_BASE
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ $own_scratch = no ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT
"$M" --listen "$addr" --data-dir "$SCRATCH/m1" --log-level warn 2>>"$SCRATCH/m1.log" &
mpid=$!
pids+=("$mpid")
"$L" --masters "$addr" wait-serving --timeout-ms 10000 >/dev/null || { echo "master did not serve"; exit 1; }
echo "shoal-master allocation: batch $BATCH chunks per M_LOOKUP (one Raft entry each), data on $(df -P "$SCRATCH" | awk 'NR==2{print $1}')"
"$L" --masters "$addr" bench --chunks 1000000 --batch "$BATCH" --steps 10000,100000,1000000 --pid "$mpid" ||
	{ echo "bench failed"; exit 1; }
echo "single-chunk lookups (one fsync'd Raft entry per chunk), 10,000 more chunks:"
"$L" --masters "$addr" bench --chunks 10000 --batch 1 --steps 10000 --servers 3 --pid "$mpid" ||
	{ echo "bench (batch 1) failed"; exit 1; }
kill -TERM "$mpid"; wait "$mpid"
echo "master exit status after SIGTERM: $?; data dir $(du -sh "$SCRATCH/m1" | cut -f1)"
