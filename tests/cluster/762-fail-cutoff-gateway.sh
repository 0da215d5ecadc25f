#!/bin/bash
# 762: a gateway cut off from the network (not paused) does not land old
# writes when it is healed (DESIGN.md invariant 5; doc/protocol.md "Gateway
# sessions").  As 761, but instead of SIGSTOP every established flow of
# gateway 1's tgtd -- to the master, the chunkservers and the initiator --
# is dropped in both directions just before the initiator sends write A;
# the initiator abandons the path after 8 s and writes B through gateway 2;
# the cut is lifted and TCP delivers whatever it retransmits, late.  For
# 40 s block 0 must read B, never A.
DEADLINE_MS=6000
. "$(dirname "$0")/7fail-lib.sh"
LW=$BUILD/tests/tools/iscsi_late_write
[ -x "$LW" ] || fail "$LW not built"

two_gateway_volume v762 64M nft
cat >"$SCRATCH/fault.sh" <<EOS
#!/bin/bash
. "$SRC/tests/cluster/nft-flows.sh"
nft_drop_flows $NFT_TABLE $G1 both
EOS
log "gateway 1 (tgtd pid $G1) is cut off before write A; the initiator abandons the path after 8 s"
out=$("$LW" "$(url 1 t 1)" "$(url 2 t 1)" --abandon-ms 8000 --watch-ms 40000 \
	--fault "bash $SCRATCH/fault.sh" --heal "nft flush chain inet $NFT_TABLE out" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
[ "$(grep -c dropped <<<"$out")" -ge 2 ] || fail "gateway 1's flows were not all dropped"
case $rc in
0) ;;
1) fail "$(grep -m1 FINDING <<<"$out")" ;;
*) fail "iscsi_late_write exited $rc: $(tail -n 1 <<<"$out")" ;;
esac
grep -qE "path 1 abandoned|write A answered" <<<"$out" || fail "no outcome for write A"
echo "PASS 762: the cut-off gateway's write A never landed after B"
