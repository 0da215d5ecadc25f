#!/bin/bash
# 737: a chunkserver restarted in maintenance, exactly as shoal(7)
# "Restarting a chunkserver" says, is resynced in place, not copied whole
# (master/maintenance.h M1, M2; issue "procedures as tests").  The
# procedure's commands are read from the man page itself, so the page and
# this test cannot drift: each `shoal-admin` line runs as written (the
# page's example id replaced by the server chosen here), `systemctl
# stop|start shoal-chunkserver` becomes scripts/shoal-cluster stop|start
# (SIGTERM and wait, as systemd does).
# Four chunkservers, so a whole copy to the spare is possible (and happens
# without maintenance).  A 64 MiB volume of 16 MiB chunks is filled and read
# back under new leases (the fill's version is then older than any write in
# the maintenance window); a member of chunk 0's set is put in maintenance
# and stopped for 60 s while the verifying load rewrites 5 MiB of chunk 0.
# While it is down nothing may be copied (the leader's copied bytes stay
# put, the chunk is counted as held); after it is back every chunk is
# resynced, the bytes copied are compared with the bytes the load changed,
# no chunkserver made a whole copy, every replica set is byte-identical and
# the load's last acknowledged writes read back.
# cs_timeout_ms (8 s) is well above the lease (2 s), as the defaults are
# (5 s, 3 s): a write fails on the stopped server and drops it long before
# the master marks it down, so the hold must start from its silence
# (maintenance.h M1b), or a whole copy is ordered once the lease ran out.
CS_CLEAN_MS=1000
CS_TIMEOUT_MS=8000
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
SIZE_MB=64
CHUNK_MB=16
NSLOTS=40		# the load: 40 slots of 128 KiB = the first 5 MiB of chunk 0
DOWN_S=60
PAGE=$SRC/man/shoal.7

# ---- the procedure, from the page ----
mapfile -t PROC < <(awk '/^\.Ss Restarting a chunkserver$/ { on = 1; next }
	on && /^\.S[sh] / { exit }
	on && /^\.Dl / { sub(/^\.Dl /, ""); print }' "$PAGE")
want=("shoal-admin chunkserver maintenance 3 --for 30m" "systemctl stop shoal-chunkserver"
      "systemctl start shoal-chunkserver" "shoal-admin cluster status"
      "shoal-admin chunkserver maintenance 3 --off")
[ "${#PROC[@]}" = 5 ] || fail "shoal(7) 'Restarting a chunkserver' has ${#PROC[@]} commands, not the 5 this test runs: ${PROC[*]}"
for i in 0 1 2 3 4; do
	[ "${PROC[i]}" = "${want[i]}" ] ||
		fail "shoal(7) step $((i + 1)) is '${PROC[i]}', this test runs '${want[i]}': update one of them"
done
# step N of the page, as written, on chunkserver $ID
step() {
	local line=${PROC[$1 - 1]} out rc
	[ -n "${2:-}" ] || log "shoal(7) step $1: $line"
	case $line in
	"systemctl stop shoal-chunkserver") out=$("$CLUSTER" stop "$DIR" chunkserver "$ID" 2>&1) ;;
	"systemctl start shoal-chunkserver") out=$("$CLUSTER" start "$DIR" chunkserver "$ID" 2>&1) ;;
	"shoal-admin "*)
		local -a args
		read -ra args <<<"${line#shoal-admin }"
		for i in "${!args[@]}"; do [ "${args[i]}" = 3 ] && args[i]=$ID; done
		out=$(adm "${args[@]}" 2>&1) ;;
	*) fail "no way to run '$line'" ;;
	esac
	rc=$?
	STEP_OUT=$out
	[ $rc = 0 ] || fail "shoal(7) step $1 '$line' exited $rc: $out"
}

cluster_up --chunkservers 4 --gateways 1
vol_create v737 ${SIZE_MB}M --chunk-size ${CHUNK_MB}M --replicas 3
lun_export 1 v737 t 1 1
U=$(url 1 t 1)
cmds=()
for ((i = 0; i < SIZE_MB; i++)); do cmds+=("write -P $((i % 200 + 1)) $((i * M)) $M"); done
qio "${cmds[@]}" || fail "writing the whole volume failed"
wait_until 30 "3 replicas of every chunk" fully_replicated 3
sleep $((2 * LEASE_MS / 1000 + 2))
cmds=()
for ((i = 0; i < SIZE_MB; i++)); do cmds+=("read -P $((i % 200 + 1)) $((i * M)) $M"); done
qio "${cmds[@]}" || fail "the volume does not read back as filled"

vid=$(adm --json volume info v737 | jq -r .id)
read -r cid0 _ addrs0 <<<"$("$PROBE_BIN" "$SHOAL_MASTERS" replicas "$vid" 0)"
# a secondary: a write fails on it and drops it at once, seconds before
# the master marks it down (M1b)
read -r _ _ _ prim0 <<<"$("$PROBE_BIN" "$SHOAL_MASTERS" lookup "$vid" 0)"
a=
for x in $addrs0; do [ "$x" != "$prim0" ] && a=$x; done
[ -n "$a" ] || fail "chunk 0 has no member but its primary ($prim0): $addrs0"
ID=$((${a##*:} - PORT_BASE - 2 + 1))
[[ $ID =~ ^[1-4]$ ]] || fail "cannot tell the id of chunk 0's member $a"
log "chunk 0 (id $cid0) on ${addrs0}, primary $prim0: chunkserver $ID, a secondary, is the one restarted"

step 1
[ "$(cs_json | jq ".[] | select(.id == $ID) | .maintenance_left_ms > 1700000")" = true ] ||
	fail "chunkserver list does not show chunkserver $ID in maintenance: $(cs_json)"
load_start "$U" $NSLOTS
load_wait_acks 16 60
step 2
a0=$(load_acked)
r0=$(status_field replicated_bytes)
t_end=$((SECONDS + DOWN_S))
held_seen=0
while ((SECONDS < t_end)); do
	load_check
	s=$(status_json)
	r=$(jq .replicated_bytes <<<"$s") run=$(jq .replications_running <<<"$s")
	[ "$r" = "$r0" ] && [ "$run" = 0 ] ||
		fail "a copy ran while chunkserver $ID was in maintenance: copied $r0 -> $r bytes, $run running ($s)"
	if [ "$(jq .held <<<"$s")" -ge 1 ] && [ "$(jq .servers_maintenance <<<"$s")" = 1 ]; then
		held_seen=$((held_seen + 1))
	fi
	sleep 2
done
((held_seen > 0)) || fail "cluster status never counted a chunk waiting for the server in maintenance: $s"
[ "$(cs_state "$ID")" = down ] || fail "chunkserver $ID is $(cs_state "$ID") after ${DOWN_S}s stopped"
grep -q "down,maint" <<<"$(adm chunkserver list)" || fail "chunkserver list does not show down,maint: $(adm chunkserver list)"
load_stop
a1=$(load_acked)
# bytes the load changed while the server was away: the distinct slots written
changed=$(sed -n "$((a0 + 1)),${a1}p" "$SCRATCH/ack" | awk '{ print $1 }' | sort -u | wc -l)
changed=$((changed * LOAD_SLOT))
log "down ${DOWN_S}s in maintenance: $((a1 - a0)) writes acknowledged, $changed distinct bytes changed in chunk 0, nothing copied (held in $held_seen of the samples)"
sleep 2		# the load's regions clean (clean_ms 1 s): resync then copies by track

step 3
t0=$(now_ms)
log "shoal(7) step 4, until it reports 0 under-replicated chunks: ${PROC[3]}"
_caught_up() { step 4 quiet; grep -q "(0 under-replicated" <<<"$STEP_OUT"; }
wait_until 120 "cluster status reporting 0 under-replicated chunks" _caught_up
t1=$(now_ms)
fully_replicated 3 || fail "0 under-replicated, but not 3 replicas of every chunk up"
step 5
[ "$(cs_json | jq ".[] | select(.id == $ID) | .maintenance_left_ms")" = 0 ] || fail "maintenance did not end at --off"

r1=$(status_field replicated_bytes)
copied=$((r1 - r0))
csaddr=127.0.0.1:$((PORT_BASE + 2 + ID - 1))
resync=$("$PROBE_BIN" "$csaddr" status | sed -n 's/.*resync_bytes=\([0-9]*\).*/\1/p')
whole=$((CHUNK_MB * M))
log "RESULT: resync copied $copied bytes (chunkserver $ID resync_bytes=$resync) for $changed bytes changed while it was down, in $((t1 - t0)) ms; ratio $((copied * 100 / (changed > 0 ? changed : 1)))%; a whole copy of chunk 0 alone would be $whole"
((changed > 0)) || fail "the load changed nothing while the server was down"
[ "$copied" = "$resync" ] || fail "leader counted $copied bytes, chunkserver $ID $resync: a copy went elsewhere"
((copied >= changed)) || fail "resync copied $copied bytes, less than the $changed changed"
# track granularity (64 KiB) and a region busy at the stop: within 1 MiB of what changed
((copied <= changed + M)) || fail "resync copied $copied bytes for $changed changed: more than 1 MiB over"
for j in 1 2 3 4; do
	! grep -qE "whole copy|: copied [0-9]+ bytes" "$DIR/logs/chunkserver-$j.log" ||
		fail "chunkserver $j made a whole copy: $(grep -m1 -E "whole copy|: copied [0-9]+ bytes" "$DIR/logs/chunkserver-$j.log")"
done
# the reads take new leases: the set-version round brings every member to the resync's version
load_verify "$U"
replicas_identical v737
log "$IDENTICAL"
echo "PASS 737: shoal(7)'s maintenance restart: nothing copied during ${DOWN_S}s down, $copied bytes resynced for $changed changed"
