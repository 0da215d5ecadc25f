#!/bin/bash
# 745: writes stop below min_replicas rather than land on a single copy.
# Three chunkservers, a 3-replica volume (min_replicas 2, the default),
# gateway deadline 6 s.  Two chunkservers are killed: a write then fails
# after about the deadline (the primary applied it locally, the master
# dropped the two dead members and answered UNAVAIL, and the chunk serves
# nothing while it has one copy).  One server comes back: re-replication
# copies the chunk from the survivor, I/O resumes, every chunk's replicas
# are byte-identical, and everything acknowledged reads back.
DEADLINE_MS=6000
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
SIZE_MB=4
P=$BUILD/tests/tools/cs_probe
[ -x "$P" ] || fail "$P not built"

cluster_up --chunkservers 3 --gateways 1
vol_create v745 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v745 t 1 1
U=$(url 1 t 1)

qio_out() { timeout -k 5 120 qemu-io -f raw "$@" "$U" 2>&1; }
out=$(qio_out -c "write -P 0x11 0 $((SIZE_MB * M))") || fail "initial write failed: $out"
grep -qiE 'fail|error' <<<"$out" && fail "initial write failed: $out"
wait_until 20 "3 replicas of every chunk" fully_replicated 3

"$CLUSTER" kill "$DIR" chunkserver 2 >/dev/null && "$CLUSTER" kill "$DIR" chunkserver 3 >/dev/null ||
	fail "shoal-cluster kill failed"
_down() { [ "$(cs_state 2)" = down ] && [ "$(cs_state 3)" = down ]; }
wait_until 10 "chunkservers 2 and 3 marked down" _down
log "chunkservers 2 and 3 killed; writing to chunk 0 with one replica left"

t0=$(now_ms)
out=$(qio_out -c "write -P 0x22 0 65536")
t1=$(now_ms)
grep -qiE 'error|fail' <<<"$out" || fail "a write with 1 of 3 replicas (min_replicas 2) was acknowledged: $out"
el=$((t1 - t0))
log "the write failed after $el ms: $(grep -iE 'error|fail' <<<"$out" | head -n 1)"
((el >= DEADLINE_MS - 1000)) || fail "the write failed after $el ms, before the deadline ($DEADLINE_MS): not retried"
((el <= DEADLINE_MS + 10000)) || fail "the write took $el ms, far beyond the deadline ($DEADLINE_MS)"
[ "$(cs_chunks 1)" = "$SIZE_MB" ] || fail "chunkserver 1 left a set"

"$CLUSTER" start "$DIR" chunkserver 2 >/dev/null || fail "shoal-cluster start chunkserver 2 failed"
_two() { [ "$(cs_state 2)" = up ] && [ "$(status_field replications_running)" = 0 ] &&
	 [ "$(replicas_in_state up)" -ge $((2 * SIZE_MB)) ]; }
wait_until 30 "every chunk back to at least 2 replicas" _two
log "chunkserver 2 back: every chunk has 2 replicas again ($(status_field replicated_bytes) bytes copied)"

out=$(qio_out -c "write -P 0x33 65536 65536" -c "read -P 0x33 65536 65536") || fail "I/O after the return failed: $out"
grep -qiE 'fail|error' <<<"$out" && fail "I/O after the return failed: $out"

# Both live replicas of every chunk are identical (the failed write's range included).
for ((id = 1; id <= SIZE_MB; id++)); do
	sums=()
	for j in 1 2; do
		a=127.0.0.1:$((PORT_BASE + 2 + j - 1))
		replica_version "$a" $id
		replica_sum "$a" $id "$VER" 0 $M	# a failed read fails here, never hashes as empty
		sums+=("$SUM")
	done
	[ "${sums[0]}" = "${sums[1]}" ] || fail "chunk $id differs across its replicas"
done
out=$(qio_out -c "read -P 0x33 65536 65536" -c "read -P 0x11 $((2 * 65536)) $((SIZE_MB * M - 2 * 65536))") ||
	fail "read back failed: $out"
grep -qiE 'fail|error' <<<"$out" && fail "acknowledged data lost: $(grep -iE 'fail|error' <<<"$out" | head -n 2)"
log "PASS: write refused below min_replicas after $el ms (deadline $DEADLINE_MS), I/O back after re-replication, replicas identical"
