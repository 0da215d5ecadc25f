#!/bin/bash
# 405-gw-reset-ua: a LUN RESET through one gateway raises a unit attention
# on the other gateway's path to the same volume (bs_reset.c): on its next
# TEST UNIT READY, and within seconds for an initiator that only reads (the
# gateway's poll).  The reset generation is in the master's Raft state: it
# survives a master restart.  With the master down a TUR still answers GOOD
# promptly and a LUN RESET is still answered, within its 3 s recording
# deadline, with one error line in the gateway's log.
. "$(dirname "$0")/4gw-lib.sh"
need "$TOOLS/iscsi_reset_ua" "$BUILD/tests/tools/master_load"

start_cluster
create_volume vol405 64M --replicas 3 --chunk-size 1M
start_gateway 0
start_gateway 1
A=$(export_lun 0 1 1 vol405)
B=$(export_lun 1 2 1 vol405)

reset_gen() {
	"$BUILD/tests/tools/master_load" --masters "$MASTER" dump 2>/dev/null |
		sed -n 's/^vol [0-9]* name=vol405 .* reset_gen=\([0-9]*\)$/\1/p'
}
restart_master() {
	kill -9 "${DAEMON_PIDS[0]}"
	wait "${DAEMON_PIDS[0]}" 2>/dev/null || true
	"$BUILD/master/shoal-master" --config "$CONF" --id 1 --listen "$MASTER" --masters "$MASTER" \
		--data-dir "$SCRATCH/master" --lease-ms 3000 --heartbeat-ms 200 \
		--cs-timeout-ms 2000 >>"$SCRATCH/master.log" 2>&1 &
	DAEMON_PIDS[0]=$!
	"$BUILD/tests/tools/master_load" --masters "$MASTER" wait-serving --timeout-ms 20000 >/dev/null ||
		fail "master did not serve again after its restart"
}

[ "$(reset_gen)" = 0 ] || fail "a new volume has reset generation '$(reset_gen)', not 0"
log "LUN RESET through gateway 0, then through gateway 1: UA on the other path's next TUR"
"$TOOLS/iscsi_reset_ua" "$A" "$B" tur || fail "reset through gateway 0: no UA on gateway 1's path"
"$TOOLS/iscsi_reset_ua" "$B" "$A" tur || fail "reset through gateway 1: no UA on gateway 0's path"
log "LUN RESET through gateway 0, gateway 1's path only reads: UA from the poll"
"$TOOLS/iscsi_reset_ua" "$A" "$B" read || fail "a reading initiator on gateway 1 saw no UA"
[ "$(reset_gen)" = 3 ] || fail "reset generation is '$(reset_gen)' after 3 resets"
grep -q 'vol405: LUN RESET through another gateway' "$SCRATCH/tgtd1.log" ||
	fail "gateway 1 logged no UA raised for another gateway's reset"

log "master restart: the generation is kept, and resets keep reaching the other gateway"
restart_master
[ "$(reset_gen)" = 3 ] || fail "reset generation is '$(reset_gen)' after a master restart, not 3"
"$TOOLS/iscsi_reset_ua" "$A" "$B" tur || fail "after the master restart: no UA on gateway 1's path"
[ "$(reset_gen)" = 4 ] || fail "reset generation is '$(reset_gen)' after 4 resets"

log "master down: TUR answers from local state, LUN RESET is answered by its deadline"
kill -9 "${DAEMON_PIDS[0]}"
wait "${DAEMON_PIDS[0]}" 2>/dev/null || true
"$TOOLS/iscsi_reset_ua" "$A" "$B" down || fail "with the master down"
grep -q 'vol405: LUN RESET not recorded in the master' "$SCRATCH/tgtd0.log" ||
	fail "gateway 0 did not log the reset it could not record"
log "PASS"
