#!/bin/bash
# 810: power loss.  Three crash-simulating chunkservers and a master under
# the crash preload (tests/cluster/81crash-lib.sh: every write either makes
# is lost or torn at a cut unless it was durable; subset mode), a 3-replica
# volume written through iSCSI by the verifying writer (queue depth 8,
# random LBAs and lengths).  Four cuts while writes are in flight: (1) the
# whole cluster, master and gateway too, a moment after the volume's chunks
# were created (their files, names and the master's records of them are
# young); (2) the whole site again, initiator included, under steady
# writes, and every replica set compared right after (no later write
# covers what the cut left: the leases' reconciliation must); (3) the three
# chunkservers at once; (4) one chunkserver.  After each restart every
# acknowledged write reads back and every block holds its last
# acknowledged write or a later in-flight one (never a sector mixed from
# two writes).  (5) The master alone, cut three times in the middle of a
# stream of volume creates: every create it acknowledged is still there.
# At the end: every replica of every chunk, on every server
# of its set, reads back byte-identical through its chunkserver (torn and
# half-forwarded regions reconciled by the leases after the restarts); no
# checksum error was counted (torn writes are not corruption); torn regions
# were recovered along the way; and the logs prove the crash model ran at
# every start and its cuts dropped and kept sectors.  Last, shoal-admin
# chunkserver status shows the counters (text and --json) and rejects bad
# input.
CS_EXTRA="scrub_rate = 8388608; scrub_interval = 1;"
. "$(dirname "$0")/81crash-lib.sh"

build_crash_sim
cluster_up --chunkservers 3 --gateways 1
vol_create v810 4M --chunk-size 1M --replicas 3
lun_export 1 v810 t 1 1
U=$(url 1 t 1)

# (1) whole-cluster power cut while the chunks are new
writer_start "$U" 1 8
wait_acked 24 30
log "power cut of the whole cluster with $(acked) writes acknowledged, the volume's chunks just created"
power_cut
restart_all
count_torn 1 2 3
writer_wait
log "writer: $WRITER_LAST"
verify "$U"
log "after the first power cut: $VERIFY_LAST"

# (2) the whole site under steady writes, the initiator too: nothing is
# written after the restart, so the replicas hold what the cut left of the
# writes in flight, each its own subset, until the primaries' new leases
# reconcile them (the reads of the verify take those leases)
writer_start "$U" 2 30
wait_acked 300 30
power_cut "$WRITER_PID"
writer_killed
log "power cut of the whole cluster and the initiator with $(acked) writes acknowledged"
restart_all
count_torn 1 2 3
log "cluster restarted"
verify "$U"
log "after the power cut: $VERIFY_LAST"
wait_sets_equal v810 60
log "replicas identical after the cut: $SETS_CHECKED, every server of each set"

# (3) the three chunkservers at once
writer_start "$U" 3 10
wait_acked 300 30
P=()
for j in 1 2 3; do "$CLUSTER" kill "$DIR" chunkserver "$j" >/dev/null & P+=($!); done
wait "${P[@]}"
log "killed the three chunkservers with $(acked) writes acknowledged"
P=()
for j in 1 2 3; do (restart chunkserver "$j") & P+=($!); done
wait "${P[@]}"
for j in 1 2 3; do [ -n "$(cs_pid "$j")" ] || fail "chunkserver $j did not restart"; done
count_torn 1 2 3
writer_wait
log "writer: $WRITER_LAST"
verify "$U"
log "after the chunkservers' crash: $VERIFY_LAST"

# (4) one chunkserver
writer_start "$U" 4 10
wait_acked 300 30
"$CLUSTER" kill "$DIR" chunkserver 2 >/dev/null || fail "kill chunkserver 2"
sleep 1
restart chunkserver 2
count_torn 2
writer_wait
log "writer: $WRITER_LAST"
verify "$U"
log "after one chunkserver's crash: $VERIFY_LAST"

wait_sets_equal v810 60
log "replicas identical: $SETS_CHECKED, every server of each set"
((TORN_TOTAL > 0)) || fail "no torn region was recovered after 4 cuts under writes: the crash model tore nothing"

# (5) the master alone, cut three times under a metadata load (volume creates,
# each a Raft entry): every create it acknowledged is there after its restart
ML=$BUILD/tests/tools/master_load
rm -f "$SCRATCH/acked-volumes"
for k in 1 2 3; do
	"$ML" --masters "$SHOAL_MASTERS" wait-serving --timeout-ms 20000 >/dev/null || fail "the master does not serve"
	"$ML" --masters "$SHOAL_MASTERS" create --volumes 3000 --prefix "p$k-" --out "$SCRATCH/acked-volumes" \
		>"$SCRATCH/master-load-$k.out" 2>&1 &
	ml=$!
	BG_PIDS+=("$ml")
	_creating() { [ -s "$SCRATCH/acked-volumes" ] && grep -q "^p$k-" "$SCRATCH/acked-volumes"; }
	wait_until 20 "volume creates acknowledged before master cut $k" _creating
	sleep "0.$((RANDOM % 5))"
	"$CLUSTER" kill "$DIR" master 1 >/dev/null || fail "kill master 1"
	# what counts is what it acknowledged (whole lines, flushed one by one)
	kill -9 "$ml" 2>/dev/null
	wait "$ml" 2>/dev/null
	restart master 1
done
"$ML" --masters "$SHOAL_MASTERS" wait-serving --timeout-ms 20000 >/dev/null || fail "the master does not serve after its cuts"
# the volume list, not the FSM dump: up to 9000 volumes' dump lines outgrow
# one 1 MiB frame (M_DUMP answers "out of range" past ~6400), the list does not
"$BUILD/admin/shoal-admin" --config "$SHOAL_CONF" --timeout-ms 30000 --json volume list \
	>"$SCRATCH/master-volumes.json" 2>&1 || fail "volume list: $(tail -c 300 "$SCRATCH/master-volumes.json")"
jq -r '.[].name' "$SCRATCH/master-volumes.json" | sort >"$SCRATCH/master-volumes" ||
	fail "volume list is not JSON: $(tail -c 300 "$SCRATCH/master-volumes.json")"
grep -x 'p[1-3]-[0-9]*' "$SCRATCH/acked-volumes" | sort >"$SCRATCH/acked-sorted"	# whole lines only
gone=$(comm -23 "$SCRATCH/acked-sorted" "$SCRATCH/master-volumes" | head -n 5 | tr '\n' ' ')
[ -z "$gone" ] || fail "volumes acknowledged before a master cut and gone after it: $gone"
n=$(wc -l <"$SCRATCH/acked-sorted")
((n > 0)) || fail "no volume create was acknowledged before the master cuts"
log "master: $n acknowledged volume creates survived 3 power cuts of the master"
crash_model_check master
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
echo "PASS 810: 4 crashes, $VERIFIED acknowledged writes verified, 0 findings, $TORN_TOTAL torn regions recovered;" \
	"3 master cuts, $n acknowledged volume creates kept"
