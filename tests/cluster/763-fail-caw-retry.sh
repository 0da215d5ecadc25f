#!/bin/bash
# 763: a COMPARE AND WRITE never miscompares against its own write
# (DESIGN.md invariant 5: a retried operation returns its first outcome).
# For each chunkserver in turn -- the chunk's primary and each secondary --
# the server is paused (SIGSTOP) for 8 s while a COMPARE AND WRITE runs
# through gateway 1: the forward to a paused secondary times out, a paused
# primary leaves the gateway's attempt unanswered, and retries follow.
# Whatever the answer, it must match the block as read through gateway 2
# afterwards: GOOD = the new data, MISCOMPARE = the old data, a path error
# (NOT READY, which multipath retries on gateway 2) = the old data.  Last,
# both secondaries are paused at once (below min_replicas).
DEADLINE_MS=20000
# The gateway waits for a chunkserver longer than a primary waits for its
# secondaries (1 s), as with the defaults (5 s each) whenever the primary
# is first: a primary's answer after a failed forward reaches the gateway.
GW_RPC_TIMEOUT_MS=4000
. "$(dirname "$0")/7fail-lib.sh"
CO=$BUILD/tests/tools/iscsi_caw_outcome
[ -x "$CO" ] || fail "$CO not built"

two_gateway_volume v763 16M
qemu-io -f raw -c "write -P 0x5a 0 4096" "$(url 1 t 1)" >/dev/null 2>&1 || fail "initial write"

# paused_caw WHAT ROUNDS PID...: PIDs paused (SIGSTOP) for 8 s while a
# COMPARE AND WRITE runs through gateway 1, ROUNDS times; every answer must
# match the block; then the set heals (the paused servers were dropped).
paused_caw() {
	local what=$1 rounds=$2 out rc
	shift 2
	CLEANUP_HOOKS+=("kill -CONT $* 2>/dev/null")
	log "$what (pids $*) paused for 8 s during a COMPARE AND WRITE"
	out=$("$CO" "$(url 1 t 1)" "$(url 2 t 1)" --pause "kill -STOP $*" --resume "kill -CONT $*" \
		--hold-ms 8000 --rounds "$rounds" 2>&1)
	rc=$?
	echo "$out" | sed 's/^/    /'
	case $rc in
	0) ;;
	1) fail "$what paused: $(grep -m1 FINDING <<<"$out")" ;;
	*) fail "iscsi_caw_outcome exited $rc: $(tail -n 1 <<<"$out")" ;;
	esac
	wait_until 60 "the volume fully replicated again" fully_replicated 3
}

for j in 1 2 3; do
	P=$(cs_pid "$j")
	[ -n "$P" ] || fail "no pid for chunkserver $j"
	paused_caw "chunkserver $j" 2 "$P"
done

# Then both secondaries of the block's chunk at once: the primary applies
# the COMPARE AND WRITE, its forwards time out, and the master, asked to
# drop them, is left below min_replicas (745's path): the primary answers
# an error after its write took effect.  That error must not be a path
# error (lib/client_io.c R5): multipath would send the command again
# through gateway 2, where it would compare against its own write.
vid=$(adm --timeout-ms 3000 --json volume info v763 | jq -r .id)
[[ $vid =~ ^[0-9]+$ ]] || fail "volume info v763: no id"
paddr=$("$PROBE_BIN" "$SHOAL_MASTERS" lookup "$vid" 0 write | awk '{ print $4 }')
pj=$((${paddr##*:} - PORT_BASE - 1))	# one master: chunkserver j listens on PORT_BASE + 1 + j
[[ $pj =~ ^[1-3]$ ]] || fail "the primary of chunk 0 ('$paddr') is not one of the chunkservers"
secs=()
for j in 1 2 3; do [ "$j" = "$pj" ] || secs+=("$(cs_pid "$j")"); done
[ "${#secs[@]}" = 2 ] && [ -n "${secs[0]}" ] && [ -n "${secs[1]}" ] || fail "no pids for the secondaries"
paused_caw "both secondaries of chunk 0 (its primary: chunkserver $pj)" 1 "${secs[@]}"
echo "PASS 763: every COMPARE AND WRITE answer matched the block, with each chunkserver paused in turn and both secondaries at once"
