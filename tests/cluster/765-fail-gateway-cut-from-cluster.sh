#!/bin/bash
# 765: a gateway cut off from the cluster but not from its initiators
# answers the commands it held on their own connections, within the
# answer bound (backing-store/bs_fence.h DRAINING).  Found by the nemesis
# (seed 3136): the gateway lost its session with writes held (their
# attempts unanswered, their fences waiting for the masters) and closed
# its initiators' connections at once; tgtd closes a socket only when the
# connection's last task is freed, so the initiator heard nothing -- no
# answer, no NOP-In, no FIN -- until the last held write was answered,
# past the first one's bound.
#
# Gateway 1 is cut from the master and the chunkservers only: its
# established flows to their ports are dropped both ways, and its tgtd is
# moved to a cgroup of this scenario whose new sockets to those ports are
# dropped (nftables "socket cgroupv2"), so gateway 2 and the chunkservers
# keep connecting freely; its iSCSI connections are left alone.  Write A
# is sent through it; 2 s later a second write on the same connection.
# The gateway retires the session A's attempt ran under, cannot open
# another, loses it (C3), and answers A once that session is fenced by
# time.  Pass when A is answered NOT READY (02/04/01) on its own connection
# within the answer bound D + U + 2L = 17 s (+ 2 s, an initiator's command
# timeout); B, written through gateway 2 afterwards, is never overwritten
# by A (watched 20 s after the heal); and the gateway logged the drain and
# the close that ended it.  Before DRAINING (connections closed at C3):
# "write A answered after 11956 ms: status 2 sense 6/2900" -- not A's
# answer but a unit attention after libiscsi reconnected, once tgtd freed
# the connection.  Needs root, nftables and a cgroup v2 hierarchy.
DEADLINE_MS=6000
BOUND_MS=$((DEADLINE_MS + 5000 + 2 * 3000 + 2000))	# D + U + 2L, + 2 s
. "$(dirname "$0")/7fail-lib.sh"
LW=$BUILD/tests/tools/iscsi_late_write
[ -x "$LW" ] || fail "$LW not built"

two_gateway_volume v765 64M nft
ports="$PORT_BASE $((PORT_BASE + 2)) $((PORT_BASE + 3)) $((PORT_BASE + 4))"	# the master, 3 chunkservers
# shellcheck disable=SC2086
gw_cut_script shoal765 both $ports
log "gateway 1 (tgtd pid $G1): cut from the master and the chunkservers ($ports), not from its initiator, before write A"
out=$("$LW" "$(url 1 t 1)" "$(url 2 t 1)" --abandon-ms 40000 --watch-ms 20000 --second-ms 2000 \
	--fault "bash $SCRATCH/fault.sh" --heal "nft flush chain inet $NFT_TABLE out" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
grep -q dropped <<<"$out" || fail "no flow of gateway 1 to the cluster was dropped"
case $rc in
0) ;;
1) fail "$(grep -m1 FINDING <<<"$out")" ;;
*) fail "iscsi_late_write exited $rc: $(tail -n 1 <<<"$out")" ;;
esac
line=$(grep 'write A' <<<"$out")
ms=$(sed -n 's/.*write A answered after \([0-9]*\) ms: status 2 sense 2\/0401.*/\1/p' <<<"$line")
[ -n "$ms" ] || fail "write A was not answered NOT READY on its own connection: $line"
((ms <= BOUND_MS)) || fail "write A answered $ms ms after it was sent, past the answer bound ($BOUND_MS ms)"
G=$DIR/logs/gateway-1.log
grep -q "refused every new command, and closed once the" "$G" ||
	fail "gateway 1 did not keep its connections draining: $(grep -m1 'iSCSI connection' "$G")"
grep -q "the commands held when the session was lost are answered: closed" "$G" ||
	fail "gateway 1 did not close its draining connections"
log "PASS: write A answered NOT READY after $ms ms (bound $BOUND_MS) on its connection; B never overwritten"
