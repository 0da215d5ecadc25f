#!/bin/bash
# 757: the primary of most chunks is paused (SIGSTOP: a GC or swap stall,
# a frozen VM) under a verifying iSCSI load, for longer than its lease but
# well short of cs_timeout_ms, so the master still counts it up.
#
# Its leases run out after LEASE_MS; the next lookup must grant each of its
# chunks to a member the master heard from lately (master/lease.h, the
# availability rule), not to the paused server again: a grant to it would
# leave every write to its chunks unanswered until cs_timeout_ms marks it
# down (15 s here).  Bound on any command of the load: the gateway's
# unanswered attempt (GW_RPC_TIMEOUT_MS 1 s), the lease running out
# (2 s), the new primary's set-version round timing out on the paused
# server (1 s) and the fence of the retired gateway session (gateway
# lease 3 s): 7 s, then margin: 9 s.
#
# Pass when: while the victim is paused and still up at the master, every
# chunk it was primary of has another primary; no command took longer than
# STALL_MS; after SIGCONT the victim's stale replicas are dropped or
# resynced, every chunk is back to 3 identical replicas, and everything
# acknowledged reads back.  Mutation: lease_for_lookup choosing the
# recorded primary while it is up, silent or not (the rule before) ->
# "chunk N still has the paused chunkserver V as primary".
LEASE_MS=2000
CS_TIMEOUT_MS=15000
STALL_MS=9000
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
SIZE_MB=8
NSLOTS=$((SIZE_MB * M / LOAD_SLOT))
[ -x "$BUILD/tests/tools/master_load" ] && [ -x "$PROBE_BIN" ] || fail "master_load or $PROBE_BIN not built"

cluster_up --chunkservers 4 --gateways 1
vol_create v757 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v757 t 1 1
U=$(url 1 t 1)
load_start "$U" "$NSLOTS"
load_wait_acks "$NSLOTS" 120

master_dump >"$SCRATCH/before.txt" || fail "dump failed"
victim=$(busiest_primary "$SCRATCH/before.txt")
[ -n "$victim" ] || fail "no recorded primary"
# "chunk VOLUME INDEX id=... primary=P ...": the indexes the victim is primary of
owned=$(sed -n "s/^chunk [0-9]* \([0-9]*\) id=[0-9]* version=[0-9]* primary=$victim .*/\1/p" "$SCRATCH/before.txt")
vaddr=127.0.0.1:$((PORT_BASE + 1 + victim))
vid=$(adm --json volume info v757 | jq -r .id)
vpid=$(cs_pid "$victim")
[ -n "$vpid" ] || fail "no pid for chunkserver $victim"
CLEANUP_HOOKS+=("kill -CONT $vpid 2>/dev/null")
kill -STOP "$vpid" || fail "SIGSTOP of chunkserver $victim (pid $vpid) failed"
T0=$(now_ms)
log "chunkserver $victim (pid $vpid, primary of $(wc -w <<<"$owned") chunks) paused"

# Every chunk of the victim moves to a member heard from, within a few
# leases and long before cs_timeout_ms: a client's lookup (the load's, or
# this one, which grants like any other) names another primary.
end=$((SECONDS + 10))
while :; do
	load_check
	left=
	for i in $owned; do
		prim=$("$PROBE_BIN" "$SHOAL_MASTERS" lookup "$vid" "$i" 2>&1 | awk '{ print $4 }')
		[ "$prim" = "$vaddr" ] && left=$i
	done
	[ -z "$left" ] && break
	((SECONDS < end)) ||
		fail "chunk $left still has the paused chunkserver $victim as primary $(($(now_ms) - T0)) ms after the pause (lease $LEASE_MS ms)"
	sleep 0.3
done
state=$(cs_state "$victim")
[ "$state" = up ] || fail "chunkserver $victim is '$state' at the master: the test needs it up (cs_timeout_ms $CS_TIMEOUT_MS)"
log "all its chunks under other primaries after $(($(now_ms) - T0)) ms, while the master still counts it up"
# the gateway's log line shoal(7) quotes for a chunkserver that stopped
# answering: logged when an attempt to it times out (the gateway's
# rpc_timeout_ms), which may come after the chunks moved
_silent_logged() { page_logged "Stopping a chunkserver without maintenance" 1 "$DIR/logs/gateway-1.log" 2>/dev/null; }
wait_until 5 "shoal(7)'s gateway log line for a silent chunkserver" _silent_logged
load_wait_acks "$NSLOTS" 60

kill -CONT "$vpid" || fail "SIGCONT of chunkserver $victim failed"
log "chunkserver $victim resumed after $(($(now_ms) - T0)) ms"
load_wait_acks "$NSLOTS" 60
load_stop
wait_until 60 "3 replicas of every chunk after the resume" fully_replicated 3
# the verify reads first: their leases' set-version rounds bring every
# member to the version a copy joined at (as in 700-740)
load_verify "$U"
replicas_identical v757
log "PASS: paused primary passed over while up; no command over $STALL_MS ms; $(load_acked) acknowledged writes verified; replicas identical ($IDENTICAL)"
