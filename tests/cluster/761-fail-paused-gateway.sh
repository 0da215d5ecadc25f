#!/bin/bash
# 761: a paused gateway does not come back from the dead with old writes
# (DESIGN.md invariant 5; doc/protocol.md "Gateway sessions").  Two
# gateways export one volume; a reader through gateway 2 keeps the chunk's
# lease alive.  Gateway 1's tgtd is paused (SIGSTOP: a GC stall, a VM
# migration) just as the initiator sends write A of block 0 through it.
# The initiator hears nothing, gives up on the path after 8 s (a path
# failover time above the documented minimum) and closes it, then writes B
# through gateway 2: acknowledged, read back.  Gateway 1 resumes (SIGCONT)
# with A in its socket; for 30 s block 0 must read B, never A.  Then the
# same at the documented minimum path failover time (doc/protocol.md: the
# gateway lease, 3 s, plus 1 s): the initiator gives up after 4 s.
DEADLINE_MS=6000
. "$(dirname "$0")/7fail-lib.sh"
LW=$BUILD/tests/tools/iscsi_late_write
[ -x "$LW" ] || fail "$LW not built"

two_gateway_volume v761 64M
CLEANUP_HOOKS+=("kill -CONT $G1 2>/dev/null")
log "gateway 1 (tgtd pid $G1) is paused before write A; the initiator abandons the path after 8 s"
out=$("$LW" "$(url 1 t 1)" "$(url 2 t 1)" --abandon-ms 8000 --watch-ms 30000 \
	--fault "kill -STOP $G1" --heal "kill -CONT $G1" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
case $rc in
0) ;;
1) fail "$(grep -m1 FINDING <<<"$out")" ;;
*) fail "iscsi_late_write exited $rc: $(tail -n 1 <<<"$out")" ;;
esac
grep -q "path 1 abandoned" <<<"$out" || fail "write A was answered while gateway 1 was paused: $(grep 'write A' <<<"$out")"
kill -0 "$G1" 2>/dev/null || fail "gateway 1 died"
# gateway 1 serves again after it was fenced: a new login and a read
qio_ok=$(timeout -k 5 60 qemu-io -f raw -c "read -P 0xbb 0 512" "$(url 1 t 1)" 2>&1)
grep -q "^read 512/512" <<<"$qio_ok" || fail "gateway 1 does not serve after it resumed: $qio_ok"
# at the documented minimum failover time, on block 64 (another LBA, same chunk)
G1=$(gw_pid 1)
log "again with a 4 s path failover time (gateway lease 3 s + 1 s)"
out=$("$LW" "$(url 1 t 1)" "$(url 2 t 1)" --lba 128 --abandon-ms 4000 --watch-ms 20000 \
	--fault "kill -STOP $G1" --heal "kill -CONT $G1" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
case $rc in
0) ;;
1) fail "4 s failover: $(grep -m1 FINDING <<<"$out")" ;;
*) fail "iscsi_late_write (4 s) exited $rc: $(tail -n 1 <<<"$out")" ;;
esac
grep -q "path 1 abandoned" <<<"$out" || fail "4 s failover: write A was answered while gateway 1 was paused"
echo "PASS 761: the paused gateway's write A never landed after B, with the initiator failing over after 8 s and after 4 s; gateway 1 serves again"
