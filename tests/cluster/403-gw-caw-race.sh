#!/bin/bash
# 403-gw-caw-race: COMPARE AND WRITE through two gateways racing on one
# LBA.  CAW runs at the chunk's primary under its range lock, so in every
# round exactly one session wins and the other gets MISCOMPARE 0e/1d/00,
# and the winner's block reads back through the loser's gateway.
. "$(dirname "$0")/4gw-lib.sh"
need "$TOOLS/iscsi_caw_race"
ROUNDS=${CAW_ROUNDS:-200}

start_cluster
create_volume vol403 64M --replicas 3 --chunk-size 1M
start_gateway 0
start_gateway 1
A=$(export_lun 0 1 1 vol403)
B=$(export_lun 1 2 1 vol403)

"$TOOLS/iscsi_caw_race" "$A" "$B" "$ROUNDS" 2048 || fail "CAW race on LBA 2048"
# Again on the first block of another chunk, swapping the sides.
"$TOOLS/iscsi_caw_race" "$B" "$A" "$((ROUNDS / 2))" 6144 || fail "CAW race on LBA 6144"
log "PASS"
