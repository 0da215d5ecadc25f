#!/bin/bash
# 810: power loss.  Three crash-simulating chunkservers (writes not yet
# durable live only in process memory; kill -9 drops them or tears them at
# 512-byte sectors), a 3-replica volume written through iSCSI by the
# verifying writer (queue depth 8, random LBAs and lengths).  Three cuts
# while writes are in flight: (1) the whole cluster at once, master and
# gateway too; (2) the three chunkservers at once; (3) one chunkserver.
# After each restart every acknowledged write reads back and every block
# holds its last acknowledged write or a later in-flight one (never a
# sector mixed from two writes).  At the end the replicas of every chunk
# are byte-identical (torn and half-forwarded regions reconciled by the
# leases after the restarts) and no checksum error was counted: torn
# writes are not corruption.  Last, shoal-admin chunkserver status shows
# the counters (text and --json) and rejects bad input.
CS_EXTRA="scrub_rate = 8388608; scrub_interval = 1;"
. "$(dirname "$0")/81crash-lib.sh"

build_crash_sim
cluster_up --chunkservers 3 --gateways 1
vol_create v810 4M --chunk-size 1M --replicas 3
lun_export 1 v810 t 1 1
U=$(url 1 t 1)

# (1) whole-cluster power cut
writer_start "$U" 1 12
wait_acked 300 30
log "power cut of the whole cluster with $(acked) writes acknowledged"
power_cut
restart_all
log "cluster restarted"
writer_wait
log "writer: $WRITER_LAST"
verify "$U"
log "after the power cut: $VERIFY_LAST"

# (2) the three chunkservers at once
writer_start "$U" 2 10
wait_acked 300 30
P=()
for j in 1 2 3; do "$CLUSTER" kill "$DIR" chunkserver "$j" >/dev/null & P+=($!); done
wait "${P[@]}"
log "killed the three chunkservers with $(acked) writes acknowledged"
P=()
for j in 1 2 3; do (restart chunkserver "$j") & P+=($!); done
wait "${P[@]}"
for j in 1 2 3; do [ -n "$(cs_pid "$j")" ] || fail "chunkserver $j did not restart"; done
writer_wait
log "writer: $WRITER_LAST"
verify "$U"
log "after the chunkservers' crash: $VERIFY_LAST"

# (3) one chunkserver
writer_start "$U" 3 10
wait_acked 300 30
"$CLUSTER" kill "$DIR" chunkserver 2 >/dev/null || fail "kill chunkserver 2"
sleep 1
restart chunkserver 2
writer_wait
log "writer: $WRITER_LAST"
verify "$U"
log "after one chunkserver's crash: $VERIFY_LAST"

wait_until 60 "every chunk's replicas identical" all_replicas_equal
log "replicas identical: $(common_chunks | wc -l) chunks on all three chunkservers"
for j in 1 2 3; do log "chunkserver $j: $("$PROBE" "$(cs_addr "$j")" status 2>/dev/null | head -n 1)"; done
# every replica scrubbed once more after the writes: still no corruption
p0=$(cs_stat_sum scrub_passes)
_scrubbed() { (($(cs_stat_sum scrub_passes) >= p0 + 3)); }
wait_until 30 "a scrub pass on every chunkserver" _scrubbed
err=$(cs_stat_sum checksum_errors) unrep=$(cs_stat_sum unrepaired_blocks)
[ "$err" = 0 ] || fail "torn writes counted as corruption: checksum_errors=$err"
[ "$unrep" = 0 ] || fail "unrepaired_blocks=$unrep"
log "checksum_errors 0, unrepaired 0; torn_regions $(cs_stat_sum torn_regions), reconciled_regions $(cs_stat_sum reconciled_regions)"

# shoal-admin chunkserver status: the same counters, by id and by address, text and JSON
# adm_expect RC PATTERN ARGS...: exit RC; on an error exactly one "shoal-admin:" line matching PATTERN
adm_expect() {
	local want=$1 pat=$2 rc
	shift 2
	adm --timeout-ms 2000 "$@" >"$SCRATCH/adm.out" 2>"$SCRATCH/adm.err"
	rc=$?
	[ "$rc" = "$want" ] || fail "shoal-admin $*: exit $rc, wanted $want: $(head -c 300 "$SCRATCH/adm.err")"
	if [ "$want" != 0 ]; then
		[ "$(wc -l <"$SCRATCH/adm.err")" = 1 ] && grep -q "^shoal-admin: .*$pat" "$SCRATCH/adm.err" ||
			fail "shoal-admin $*: wanted one 'shoal-admin: ...$pat' line, got: $(cat "$SCRATCH/adm.err")"
	fi
}
torn1=$(cs_stat 1 torn_regions)
adm_expect 0 "" chunkserver status 1
grep -q "^chunkserver 1 at $(cs_addr 1) (up)$" "$SCRATCH/adm.out" || fail "status 1: $(head -n 1 "$SCRATCH/adm.out")"
grep -q "^checksum errors: *0 (0 blocks repaired, 0 unrepaired)$" "$SCRATCH/adm.out" || fail "status 1: no checksum line"
grep -q "^torn regions: *$torn1 " "$SCRATCH/adm.out" || fail "status 1: torn regions not $torn1"
grep -q "^scrub: *8M/s; [1-9][0-9]* passes complete" "$SCRATCH/adm.out" || fail "status 1: $(grep scrub "$SCRATCH/adm.out")"
log "shoal-admin chunkserver status 1:"; sed 's/^/    /' "$SCRATCH/adm.out"
adm_expect 0 "" --json chunkserver status 1
j=$(jq -r '[.id, .state, .checksum_errors, .unrepaired_blocks, .torn_regions, .scrub_rate, (.scrub_passes > 0), (.disks | length)] | @tsv' \
	<"$SCRATCH/adm.out" 2>/dev/null) || fail "status --json is not JSON: $(head -c 200 "$SCRATCH/adm.out")"
[ "$j" = "$(printf '1\tup\t0\t0\t%s\t8388608\ttrue\t1' "$torn1")" ] || fail "status --json: $j"
adm_expect 0 "" --json chunkserver status "$(cs_addr 3)"
[ "$(jq .id <"$SCRATCH/adm.out")" = 3 ] && [ "$(jq -r .state <"$SCRATCH/adm.out")" = null ] ||
	fail "status by address: $(head -c 200 "$SCRATCH/adm.out")"
adm_expect 2 "needs ID or ADDR" chunkserver status
adm_expect 2 "unexpected argument" chunkserver status 1 2
adm_expect 2 "bad value '0' for ID" chunkserver status 0
adm_expect 2 "bad value 'x' for ID" chunkserver status x
adm_expect 2 "unknown option '--bogus'" chunkserver status 1 --bogus
adm_expect 2 "bad chunkserver address '300.1.1.1:5'" chunkserver status 300.1.1.1:5
adm_expect 4 "chunkserver 99 does not exist" chunkserver status 99
adm_expect 3 "did not answer within 2000 ms" chunkserver status 127.0.0.1:$((PORT_BASE + 19))
log "shoal-admin chunkserver status: text, --json, by id and address, bad input: ok"
echo "PASS 810: 3 crashes, $VERIFIED acknowledged writes verified, 0 findings"
