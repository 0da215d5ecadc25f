#!/bin/bash
# 747: the last good copy of a chunk is the one that left its set.
# Found by the nemesis (seed 3050): a 2-replica chunk's secondary S is
# paused, a write's round to it times out, and the master drops S from the
# set, leaving one member, below min_replicas 2: the write fails and the
# chunk serves nothing until it is re-replicated.  S's replica then still
# holds every acknowledged write (none can be acknowledged below
# min_replicas), yet the master used to tell S to delete it the moment S
# answered again.  The remaining member P then comes back from a restart
# with an empty disk, and the chunk was gone: unreadable for good.
#
# Here: two chunkservers, one 1 MiB chunk with 2 replicas, written
# (0x11) and fully replicated.  S paused; a write of 0x22 to the first
# 64 KiB must fail (below min_replicas); S out of the set; the master
# restarted (what it knows of S comes from its log); P killed, its data
# emptied; S resumed and given time to act on the master's orders; P
# started.  Pass when: the chunk's set is back to 2 members and status
# OK; the MiB reads back through iSCSI, 0x11 everywhere but the failed
# write's 64 KiB, which holds one of the two patterns whole; both replicas
# are identical; a new write reads back.
#
# The same sequence found a second bug on the way: the master client runs
# M_REPLICA_FAILED again after the UNAVAIL of a drop below min_replicas,
# and the retry was answered OK ("already dropped"), so the primary
# acknowledged the write on its one copy.  Mutations: that retry answered
# OK again (m_chunk.c h_replica_failed) -> "a write with the secondary
# paused (min_replicas 2) was acknowledged"; a member leaving below
# min_replicas told to delete like any other (fsm.c set_members) -> S
# deletes its replica when it resumes: "not back to 2 replicas ... reps=".
# The fallback rules themselves: master/chunk_map.h K1-K4.
DEADLINE_MS=6000
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
[ -x "$BUILD/tests/tools/master_load" ] && [ -x "$PROBE_BIN" ] || fail "master_load or $PROBE_BIN not built"

cluster_up --chunkservers 2 --gateways 1
vol_create v747 1M --chunk-size 1M --replicas 2
lun_export 1 v747 t 1 1
U=$(url 1 t 1)
qio "write -P 0x11 0 $M" || fail "initial write failed"
wait_until 20 "2 replicas of the chunk" fully_replicated 2

# "chunk VOLUME INDEX id=I version=V primary=P reps=A,B ..."
chunk_line() { master_dump | grep '^chunk ' | head -n 1; }
line=$(chunk_line)
cid=$(sed -n 's/.* id=\([0-9]*\) .*/\1/p' <<<"$line")
P=$(sed -n 's/.* primary=\([0-9]*\) .*/\1/p' <<<"$line")
reps=$(sed -n 's/.* reps=\([0-9,]*\).*/\1/p' <<<"$line")
S=$(tr , '\n' <<<"$reps" | grep -vx "$P" | head -n 1)
[ -n "$cid" ] && [ -n "$P" ] && [ -n "$S" ] || fail "no primary and secondary in the dump: $line"
spid=$(cs_pid "$S")
[ -n "$spid" ] || fail "no pid for chunkserver $S"
CLEANUP_HOOKS+=("kill -CONT $spid 2>/dev/null")
log "chunk $cid: primary cs $P, secondary cs $S"

kill -STOP "$spid" || fail "SIGSTOP of chunkserver $S failed"
out=$(timeout -k 5 120 qemu-io -f raw -c "write -P 0x22 0 65536" "$U" 2>&1)
grep -qiE 'error|fail' <<<"$out" || fail "a write with the secondary paused (min_replicas 2) was acknowledged: $out"
line=$(chunk_line)
reps=$(sed -n 's/.* reps=\([0-9,]*\).*/\1/p' <<<"$line")
[ "$reps" = "$P" ] || fail "the failed write did not leave cs $P alone in the set: $line"
log "the write failed ($(grep -iE 'error|fail' <<<"$out" | head -n 1)); set now: $line"

# What the master knows of S's replica must come from its log.
"$CLUSTER" kill "$DIR" master 1 >/dev/null || fail "shoal-cluster kill master 1 failed"
"$CLUSTER" start "$DIR" master 1 >/dev/null || fail "shoal-cluster start master 1 failed"
"$CLUSTER" kill "$DIR" chunkserver "$P" >/dev/null || fail "shoal-cluster kill chunkserver $P failed"
for d in "$DIR"/cs-"$P"/disk-*; do rm -rf "$d/chunks" && mkdir "$d/chunks" || fail "cannot empty $d"; done
log "master restarted; chunkserver $P killed and its data emptied"

kill -CONT "$spid" || fail "SIGCONT of chunkserver $S failed"
_s_up() { [ "$(cs_state "$S")" = up ]; }
wait_until 20 "chunkserver $S up again" _s_up
sleep 3	# heartbeats: every order the master has for S reaches it
"$CLUSTER" start "$DIR" chunkserver "$P" >/dev/null || fail "shoal-cluster start chunkserver $P failed"
log "chunkserver $S resumed; chunkserver $P started with an empty disk"

_healed() { fully_replicated 2 && [ "$(status_field health)" = OK ]; }
end=$((SECONDS + 40))
until _healed; do
	((SECONDS < end)) || fail "not back to 2 replicas and OK within 40 s: $(chunk_line); health $(status_field health); S's log: $(grep -iE "$(printf '%016x' "$cid")" "$DIR/logs/chunkserver-$S.log" | tail -n 3 | tr '\n' ' ')"
	sleep 0.5
done
log "back to 2 replicas, status OK: $(chunk_line)"
# the master's log line shoal(7) quotes for it
page_logged "Stopping a chunkserver without maintenance" 3 "$DIR/logs/master-1.log" ||
	fail "shoal(7)'s master log line for a chunk whose last member lost its replica"

qio "read -P 0x11 65536 $((M - 65536))" || fail "acknowledged data lost or unreadable"
qio "read -P 0x11 0 65536" >/dev/null || qio "read -P 0x22 0 65536" >/dev/null ||
	fail "the failed write's range holds neither pattern whole"
replicas_identical v747
qio "write -P 0x33 0 65536" "read -P 0x33 0 65536" || fail "I/O after the recovery failed"
log "PASS: the copy that left the set below min_replicas was kept and served; $IDENTICAL identical"
