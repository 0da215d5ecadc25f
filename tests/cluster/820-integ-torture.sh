#!/bin/bash
# 820: crash torture.  Three crash-simulating chunkservers, one master under
# the crash preload (tests/cluster/81crash-lib.sh; subset mode), one
# gateway, a 3-replica 4 MiB volume.  Each cycle: the verifying writer
# (tests/tools/iscsi_torture, queue depth 8, random LBAs and lengths, a
# unique pattern in every sector) runs for a few seconds; at a random
# moment one victim is killed with -9 — the master, a chunkserver, two
# chunkservers, the gateway, or all of them at once (a power cut) — and
# restarted; then the whole LUN is verified: every block holds its last
# acknowledged write or a later in-flight one, and no chunkserver counted
# a checksum error (torn writes are not corruption).  Before the next cycle every chunk is back to
# three replicas.  A command that fails (e.g. NOT READY past the deadline)
# is unacknowledged and fine; a wrong block fails the scenario.  At the end
# every replica of every chunk reads back byte-identical on every server of
# its set, torn regions were recovered along the way, and the logs prove
# the crash model ran at every start and its cuts dropped and kept sectors.
#
# TORTURE_CYCLES (default 20; by hand e.g. 200), TORTURE_SEED (default: the
# PID; printed, so a run can be repeated), TORTURE_WRITE_S (seconds the
# writer runs each cycle, default 5), TORTURE_HEAL=0 (do not wait for three
# replicas of every chunk between cycles: harsher).
CS_EXTRA="scrub_rate = 8388608; scrub_interval = 1;"
. "$(dirname "$0")/81crash-lib.sh"

CYCLES=${TORTURE_CYCLES:-20}
SEED=${TORTURE_SEED:-$$}
WRITE_S=${TORTURE_WRITE_S:-5}
[[ $CYCLES =~ ^[0-9]+$ ]] && ((CYCLES >= 1 && CYCLES <= 10000)) || fail "TORTURE_CYCLES: '$CYCLES' is not 1..10000"
[[ $SEED =~ ^[0-9]+$ ]] || fail "TORTURE_SEED: '$SEED' is not a number"
[[ $WRITE_S =~ ^[0-9]+$ ]] && ((WRITE_S >= 3 && WRITE_S <= 600)) || fail "TORTURE_WRITE_S: '$WRITE_S' is not 3..600"
RANDOM=$SEED

build_crash_sim
cluster_up --chunkservers 3 --gateways 1
vol_create v820 4M --chunk-size 1M --replicas 3
lun_export 1 v820 t 1 1
U=$(url 1 t 1)
log "torture: $CYCLES cycles, seed $SEED, writer $WRITE_S s per cycle"

VICTIMS=(master chunkserver chunkserver two gateway all)
declare -A KILLS=()
t0=$SECONDS
for ((c = 1; c <= CYCLES; c++)); do
	writer_start "$U" "$c" "$WRITE_S"
	# at a random moment 0.5 .. 2.5 s into the run, so that the rest of it
	# writes through the restarted process
	sleep "$((RANDOM % 2)).$((RANDOM % 10))"
	sleep 0.5
	v=${VICTIMS[RANDOM % ${#VICTIMS[@]}]}
	case $v in
	all)
		power_cut
		sleep "0.$((RANDOM % 10))"
		restart_all
		count_torn 1 2 3
		what="power cut"
		;;
	chunkserver)
		n=$((RANDOM % 3 + 1))
		"$CLUSTER" kill "$DIR" chunkserver "$n" >/dev/null || fail "kill chunkserver $n"
		sleep "0.$((RANDOM % 10))"
		restart chunkserver "$n"
		count_torn "$n"
		what="chunkserver $n"
		;;
	two)
		n=$((RANDOM % 3 + 1)) m=$((n % 3 + 1))
		"$CLUSTER" kill "$DIR" chunkserver "$n" >/dev/null || fail "kill chunkserver $n"
		"$CLUSTER" kill "$DIR" chunkserver "$m" >/dev/null || fail "kill chunkserver $m"
		sleep "0.$((RANDOM % 10))"
		restart chunkserver "$n" "$m"
		count_torn "$n" "$m"
		what="chunkservers $n and $m"
		;;
	*)
		"$CLUSTER" kill "$DIR" "$v" 1 >/dev/null || fail "kill $v 1"
		sleep "0.$((RANDOM % 10))"
		restart "$v" 1
		what=$v
		;;
	esac
	KILLS[$v]=$((${KILLS[$v]:-0} + 1))
	writer_wait
	verify "$U"
	err=$(cs_stat_sum checksum_errors)
	[ "$err" = 0 ] || fail "cycle $c: checksum_errors=$err after a crash (torn writes counted as corruption?)"
	log "cycle $c: kill -9 $what; ${WRITER_LAST#iscsi_torture: }; verify: ${VERIFY_LAST#iscsi_torture: }"
	# TORTURE_HEAL=0: the next cycle's kill may hit a cluster still re-replicating
	[ "${TORTURE_HEAL:-1}" = 0 ] || wait_until 60 "cycle $c: 3 replicas of every chunk again" fully_replicated 3
done
wait_sets_equal v820 60
err=$(cs_stat_sum checksum_errors) unrep=$(cs_stat_sum unrepaired_blocks)
[ "$err" = 0 ] && [ "$unrep" = 0 ] || fail "checksum_errors=$err unrepaired_blocks=$unrep at the end"
log "replicas identical: $SETS_CHECKED, every server of each set"
((TORN_TOTAL > 0)) || fail "no torn region was recovered in $CYCLES cycles: the crash model tore nothing"
crash_model_check
acked_total=$(acked)
failed_total=$(grep -c '^F ' "$TLOG")
kills=$(for k in "${!KILLS[@]}"; do printf '%s=%s ' "$k" "${KILLS[$k]}"; done)
log "kills: $kills"
log "torn regions recovered over the run $TORN_TOTAL, reconciled_regions $(cs_stat_sum reconciled_regions), checksum_errors 0"
echo "PASS 820: $CYCLES cycles in $((SECONDS - t0)) s, $acked_total acknowledged writes verified" \
	"($failed_total unacknowledged), findings 0, seed $SEED"
