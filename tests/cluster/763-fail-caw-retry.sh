#!/bin/bash
# 763: a COMPARE AND WRITE never miscompares against its own write
# (DESIGN.md invariant 5: a retried operation returns its first outcome).
# For each chunkserver in turn -- the chunk's primary and each secondary --
# the server is paused (SIGSTOP) for 8 s while a COMPARE AND WRITE runs
# through gateway 1: the forward to a paused secondary times out, a paused
# primary leaves the gateway's attempt unanswered, and retries follow.
# Whatever the answer, it must match the block as read through gateway 2
# afterwards: GOOD = the new data, MISCOMPARE = the old data.
DEADLINE_MS=20000
. "$(dirname "$0")/7fail-lib.sh"
CO=$BUILD/tests/tools/iscsi_caw_outcome
[ -x "$CO" ] || fail "$CO not built"

cluster_up --chunkservers 3 --gateways 2
vol_create v763 16M --chunk-size 1M --replicas 3
lun_export 1 v763 t 1 1
lun_export 2 v763 t 1 1
qemu-io -f raw -c "write -P 0x5a 0 4096" "$(url 1 t 1)" >/dev/null 2>&1 || fail "initial write"
for j in 1 2 3; do
	P=$(cs_pid "$j")
	[ -n "$P" ] || fail "no pid for chunkserver $j"
	CLEANUP_HOOKS+=("kill -CONT $P 2>/dev/null")
	log "chunkserver $j (pid $P) paused for 8 s during a COMPARE AND WRITE"
	out=$("$CO" "$(url 1 t 1)" "$(url 2 t 1)" --pause "kill -STOP $P" --resume "kill -CONT $P" \
		--hold-ms 8000 --rounds 2 2>&1)
	rc=$?
	echo "$out" | sed 's/^/    /'
	case $rc in
	0) ;;
	1) fail "chunkserver $j paused: $(grep -m1 FINDING <<<"$out")" ;;
	*) fail "iscsi_caw_outcome exited $rc: $(tail -n 1 <<<"$out")" ;;
	esac
	# let the set heal before the next round (the paused server was dropped)
	wait_until 60 "the volume fully replicated again" fully_replicated 3
done
echo "PASS 763: every COMPARE AND WRITE answer matched the block, with each chunkserver paused in turn"
