#!/bin/bash
# 800: bit rot.  Three chunkservers, a 3-replica volume of 1 MiB chunks
# written through iSCSI.  (1) Corrupt one replica of a chunk and read the
# volume through iSCSI: the data is right, the corruption is counted, and
# the bad replica is repaired (its file equals the other two again).
# (2) Corrupt a replica of another chunk and read nothing: the background
# scrubber (fast rate for the test) finds it, counts it and repairs it
# within a bounded time.
CS_EXTRA="scrub_rate = 8388608; scrub_interval = 1;"
. "$(dirname "$0")/8integ-lib.sh"

M=$((1024 * 1024))
SIZE_MB=8
cluster_up --chunkservers 3 --gateways 1
vol_create v800 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v800 t 1 1
U=$(url 1 t 1)

out=$(qemu-io -f raw -c "write -P 0x5a 0 $((SIZE_MB * M))" "$U" 2>&1) || fail "write: $out"
grep -qiE 'fail|error' <<<"$out" && fail "write: $out"
mapfile -t CH < <(common_chunks)
[ "${#CH[@]}" -ge 2 ] || fail "expected chunks on every server, have ${#CH[@]}"
wait_until 20 "replicas equal after the write" replicas_equal "${CH[0]}"

# (1) read repair: corrupt the primary's copy (the one reads are served from)
primary_of() {
	local j
	for ((j = 1; j <= N_CHUNKSERVERS; j++)); do
		"$PROBE" "$(cs_addr "$j")" info $((16#$1)) 2>/dev/null | grep -q 'primary=1' && { echo "$j"; return 0; }
	done
	return 1
}
P=$(primary_of "${CH[0]}") || fail "no primary for chunk ${CH[0]}"
err0=$(cs_stat_sum checksum_errors) rep0=$(cs_stat_sum repaired_blocks)
flip_bytes "$(replica_file "$P" "${CH[0]}")" $((8192 + 100))
replicas_equal "${CH[0]}" && fail "the corruption did not change chunkserver $P's file"
log "corrupted chunk ${CH[0]} on chunkserver $P (its primary)"
out=$(qemu-io -f raw -c "read -P 0x5a 0 $((SIZE_MB * M))" "$U" 2>&1)
grep -qiE 'fail|error|mismatch' <<<"$out" && fail "read after corruption: $out"
wait_until 20 "chunk ${CH[0]} repaired on chunkserver $P" replicas_equal "${CH[0]}"
err1=$(cs_stat_sum checksum_errors) rep1=$(cs_stat_sum repaired_blocks)
((err1 > err0)) || fail "checksum_errors did not move ($err0 -> $err1)"
((rep1 > rep0)) || fail "repaired_blocks did not move ($rep0 -> $rep1)"
log "read repair: data right, checksum_errors $err0 -> $err1, repaired_blocks $rep0 -> $rep1"

# (2) the scrubber: a secondary's copy that nobody reads
S=$(( P % 3 + 1 ))
C=${CH[1]}
err0=$err1 rep0=$rep1
flip_bytes "$(replica_file "$S" "$C")" $((512 * 1024 + 7))
replicas_equal "$C" && fail "the corruption did not change chunkserver $S's file"
log "corrupted chunk $C on chunkserver $S; waiting for its scrubber (8 MiB/s, ${SIZE_MB} MiB per pass)"
t0=$SECONDS
wait_until 60 "the scrubber repairs chunk $C on chunkserver $S" replicas_equal "$C"
err1=$(cs_stat_sum checksum_errors) rep1=$(cs_stat_sum repaired_blocks)
((err1 > err0)) || fail "checksum_errors did not move ($err0 -> $err1)"
((rep1 > rep0)) || fail "repaired_blocks did not move ($rep0 -> $rep1)"
scr=$(cs_stat "$S" scrubbed_bytes)
((scr > 0)) || fail "chunkserver $S reports no scrubbed bytes"
log "scrub repair in $((SECONDS - t0)) s: checksum_errors $err0 -> $err1, repaired_blocks $rep0 -> $rep1, cs $S scrubbed $scr bytes"
out=$(qemu-io -f raw -c "read -P 0x5a 0 $((SIZE_MB * M))" "$U" 2>&1)
grep -qiE 'fail|error|mismatch' <<<"$out" && fail "final read: $out"
grep -rh "unrepaired\|no good copy" "$DIR"/logs/ 2>/dev/null | head -n 3 | grep . && fail "unrepaired blocks logged"
echo "PASS 800"
