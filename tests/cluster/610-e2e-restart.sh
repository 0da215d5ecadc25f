#!/bin/bash
# Restart of each daemon kind -- the master, one chunkserver, the gateway --
# while a LUN is in use.  For each kind, one qemu-io session writes a
# pattern, sleeps while the daemon is killed with -9 and started again by
# the launcher, then writes into a chunk that was already allocated and into
# a chunk never written before (which needs the master to allocate it), and
# reads both back: the I/O resumes in the same initiator session.  After
# each restart every pattern written so far is verified in a fresh session,
# and at the end through the whole volume once more.
. "$(dirname "$0")/6e2e-lib.sh"

M=$((1024 * 1024))
cluster_up --chunkservers 3 --gateways 1
vol_create v610 32M --chunk-size 1M
lun_export 1 v610 vol 1 1
U=$(url 1 vol 1)

# Every pattern written so far, as "byte offset length".
declare -a DONE=()
verify_all() {
	local -a cmds=()
	local p
	for p in "${DONE[@]}"; do cmds+=("read -P $p"); done
	qio "$U" "${cmds[@]}" || fail "$1: an earlier pattern was lost"
}

qio "$U" "write -P 0x01 0 $((2 * M))" || fail "first write"
DONE+=("0x01 0 $((2 * M))")

# Phase N (1..3), patterns 0xN1-0xN3 (decimal 16(N+1)+1..3): P1 across the
# boundary at (2+2N) MiB before the kill, P2 into the chunk P1 allocated and
# P3 into chunks (8+4N, 9+4N) never written before, both after the restart.
# The session's output is line-buffered into its own log (stdbuf): the kill
# comes once P1 is written (the session is logged in and has done I/O), and
# must land mid-session: when the daemon is dead, the initiator is still
# running and has not yet issued P2 (it sleeps 2.5 s between P1 and P2).
n=0
for role in master chunkserver gateway; do
	n=$((n + 1))
	idx=1
	[ $role = chunkserver ] && idx=2
	a=$((16 * (n + 1)))
	p1=$((a + 1)) p2=$((a + 2)) p3=$((a + 3))
	o1=$(((2 + 2 * n) * M - 8192)) o2=$(((2 + 2 * n) * M + 65536)) o3=$(((8 + 4 * n) * M + 4096))
	log "phase $n: $role $idx killed and started during a session"
	slog=$SCRATCH/session-$n.log
	timeout -k 5 "$QEMU_TIMEOUT" stdbuf -oL qemu-io -f raw -c "write -P $p1 $o1 16384" -c "sleep 2500" \
		-c "write -P $p2 $o2 65536" -c "write -P $p3 $o3 $((M + 512))" \
		-c "read -P $p1 $o1 16384" -c "read -P $p2 $o2 65536" -c "read -P $p3 $o3 $((M + 512))" \
		"$U" >"$slog" 2>&1 &
	sess=$!
	BG_PIDS+=($sess)
	_p1_done() { grep -q "^wrote 16384/16384 bytes at offset $o1\$" "$slog"; }
	wait_until 20 "phase $n: the session's first write" _p1_done
	"$CLUSTER" kill "$DIR" $role $idx >>"$SCRATCH/launcher.log" 2>&1 || fail "kill $role $idx"
	kill -0 $sess 2>/dev/null || fail "phase $n: the session had ended when $role $idx died: $(tail -n 2 "$slog")"
	! grep -q "^wrote 65536/65536 bytes at offset $o2\$" "$slog" ||
		fail "phase $n: the session had written P2 before $role $idx died: the kill was not mid-session"
	log "phase $n: $role $idx died with the session logged in, P1 written, P2 still to come"
	"$CLUSTER" start "$DIR" $role $idx >>"$SCRATCH/launcher.log" 2>&1 ||
		fail "start $role $idx: $(tail -n 2 "$SCRATCH/launcher.log")"
	rc=0
	wait $sess || rc=$?
	{ echo "=== phase $n session"; cat "$slog"; echo "=== rc $rc"; } >>"$SCRATCH/qemu-io.log"
	[ $rc -eq 0 ] && ! grep -qiE 'fail|error|mismatch|abort' "$slog" ||
		fail "I/O did not resume after $role $idx restart (rc $rc): $(grep -iE 'fail|error|mismatch|abort' "$slog" | head -n 2 | tr '\n' ' ')"
	[ "$(grep -c '^wrote \|^read ' "$slog")" = 6 ] || fail "phase $n: the session completed $(grep -c '^wrote \|^read ' "$slog") of 6 commands"
	DONE+=("$p1 $o1 16384" "$p2 $o2 65536" "$p3 $o3 $((M + 512))")
	verify_all "after $role restart"
done

# Once more with everything up for a while, and nothing else changed.
sleep 1
verify_all "at the end"
qio "$U" "read -P 0 $((30 * M)) $((2 * M))" || fail "the unwritten end of the volume is not zeros"
echo "PASS $SCEN: I/O resumed and ${#DONE[@]} patterns intact across master, chunkserver and gateway kill -9/start"
