#!/bin/bash
# 764: a gateway cut off while it is busy does not land old writes when it
# is healed (DESIGN.md invariant 5; lib/client_session.h C3).  As 762, but
# gateway 1 is serving a load of its own when every flow of its tgtd is
# dropped: an attempt to a chunkserver goes unanswered within the RPC
# timeout (1 s), before the session's view (lease 3 s) runs out, so the
# gateway retires its session by choice and tries to open another -- which
# the cut master never answers.  Write A, sent through gateway 1 just after
# the cut, reaches it only when TCP retransmits it after the heal; by then
# the initiator gave path 1 up (8 s) and wrote B through gateway 2.  No
# session was answered for longer than a lease: gateway 1 must drop A (and
# its initiators) rather than open a new session and land it.  For 20 s
# block 0 must read B, never A.
DEADLINE_MS=6000
. "$(dirname "$0")/7fail-lib.sh"
LW=$BUILD/tests/tools/iscsi_late_write
[ -x "$LW" ] || fail "$LW not built"

two_gateway_volume v764 64M nft

# The busy part: four initiators writing through gateway 1, far from block
# 0's chunk, until the cut fails them (their failures are expected).
busy() {
	local i=$1 n=0 cmds=()
	for ((n = 0; n < 64; n++)); do cmds+=(-c "write -P $((n % 200 + 1)) $((8 + i * 8))M 64k"); done
	n=0
	while [ ! -f "$SCRATCH/busy.stop" ] && ((n < 2000)); do
		timeout -k 2 20 qemu-io -f raw "${cmds[@]}" "$(url 1 t 1)" >/dev/null 2>&1
		n=$((n + 1))
	done
}
for i in 0 1 2 3; do
	busy $i &
	BG_PIDS+=($!)
done
CLEANUP_HOOKS+=("touch $SCRATCH/busy.stop")
sleep 2

cat >"$SCRATCH/fault.sh" <<EOS
#!/bin/bash
. "$SRC/tests/cluster/nft-flows.sh"
nft_drop_flows $NFT_TABLE $G1 both
EOS
log "gateway 1 (tgtd pid $G1) is cut off while busy, before write A; the initiator abandons the path after 8 s"
out=$("$LW" "$(url 1 t 1)" "$(url 2 t 1)" --abandon-ms 8000 --watch-ms 20000 \
	--fault "bash $SCRATCH/fault.sh" --heal "nft flush chain inet $NFT_TABLE out" 2>&1)
rc=$?
touch "$SCRATCH/busy.stop"
echo "$out" | sed 's/^/    /'
[ "$(grep -c dropped <<<"$out")" -ge 6 ] || fail "gateway 1's flows were not all dropped (busy: 4 initiators, the master, 3 chunkservers)"
case $rc in
0) ;;
1) fail "$(grep -m1 FINDING <<<"$out")" ;;
*) fail "iscsi_late_write exited $rc: $(tail -n 1 <<<"$out")" ;;
esac
grep -qE "path 1 abandoned|write A answered" <<<"$out" || fail "no outcome for write A"
# the path under test: the session was retired by choice (an unanswered
# attempt), not lost by its view running out as in 762
grep -q "retired: an attempt under it went unanswered" "$DIR/logs/gateway-1.log" ||
	fail "gateway 1 never retired its session for an unanswered attempt: the cut did not catch it busy"
echo "PASS 764: the busy, cut-off gateway's write A never landed after B"
