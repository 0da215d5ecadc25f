#!/bin/bash
# 760: a write answered with an error never lands after a later
# acknowledged write (DESIGN.md invariant 5).  Two gateways export one
# 3-replica volume; a reader through gateway 2 keeps the chunk's primary
# lease (and version) alive.  Gateway 1's TCP packets to the chunkservers
# are dropped (nftables on its established flows: a NIC or switch fault),
# so its write A of block 0 is answered NOT READY by the gateway's
# deadline.  New connections to the chunkservers are dropped too: the
# gateway drops a connection that swallowed an attempt and connects again
# (lib/client_io.c Q3), and a NIC fault would drop that one as well.  The
# initiator then writes B to block 0 through gateway 2: acknowledged, read
# back.  The drop is lifted, TCP retransmits gateway 1's
# queued frames to the primary; for 40 s block 0 must read B, never A.
DEADLINE_MS=6000
. "$(dirname "$0")/7fail-lib.sh"
LW=$BUILD/tests/tools/iscsi_late_write
[ -x "$LW" ] || fail "$LW not built"

two_gateway_volume v760 64M nft
# Gateway 1 alone: its flows by port pair, its new sockets by its cgroup.
# (A rule dropping every new connection to the chunkservers' ports also
# cut gateway 2 off once one of its connections was reset meanwhile -- one
# fresh-clone run: 'write B through path 2 failed for 60 s'.)
cs_ports="$((PORT_BASE + 2)) $((PORT_BASE + 3)) $((PORT_BASE + 4))"
# The tool runs it at the right moment (after login, before write A).
# shellcheck disable=SC2086
gw_cut_script shoal760 out $cs_ports
heal="nft flush chain inet $NFT_TABLE out"
fault="bash $SCRATCH/fault.sh"
log "gateway 1 (tgtd pid $G1): dropping its packets to the chunkservers ($cs_ports) before write A"
out=$("$LW" "$(url 1 t 1)" "$(url 2 t 1)" --abandon-ms 20000 --watch-ms 40000 \
	--fault "$fault" --heal "$heal" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
grep -q "dropped" <<<"$out" || fail "no flow of gateway 1 to a chunkserver was dropped"
case $rc in
0) ;;
1) fail "$(grep -m1 FINDING <<<"$out")" ;;
*) fail "iscsi_late_write exited $rc: $(tail -n 1 <<<"$out")" ;;
esac
grep -q "write A answered" <<<"$out" || fail "write A was not answered with an error: $(grep 'write A' <<<"$out")"
echo "PASS 760: write A answered with an error never landed after B ($(grep -m1 'held B' <<<"$out" | sed 's/.*held B in all \([0-9]*\) reads.*/\1 reads/'))"
