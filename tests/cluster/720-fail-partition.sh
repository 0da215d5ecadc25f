#!/bin/bash
# 720: a chunkserver isolated in a network namespace (all its traffic
# dropped by nftables), then healed, under a verifying iSCSI load.
#
# Chunkservers 1-3 run on 127.0.0.1 (launcher); chunkserver X runs in its
# own namespace behind a veth pair (10.207.20.1 host side, .2 inside) and
# listens on 10.207.20.2.  It reaches the master and its peers, which the
# launcher puts on 127.0.0.1, through two plain TCP relays (inside the
# namespace 127.0.0.1:P -> 10.207.20.1:P, on the host 10.207.20.1:P ->
# 127.0.0.1:P), so every byte it exchanges crosses the veth pair and the
# drop rules in its namespace cut all of it.  Nothing leaves this machine.
#
# Pass when: no command of the load fails or takes longer than STALL_MS
# (below) while X is cut off; X's chunks get 3 replicas on the other
# servers; after the heal X
# comes back up, never serves a stale replica (a client read of each chunk
# it held, at the version it held, is refused, and each such replica is
# deleted or re-joined at the current version), catches up (a drain of
# chunkserver 1 moves replicas onto X, which then serves them as primary
# or secondary), and every acknowledged write reads back.  Needs root.
# No stall: X's traffic vanishes without a reset, so the gateway's attempt
# at X as primary goes unanswered (gateway rpc_timeout_ms 1 s): its session
# is retired and the command waits for that fence (gateway lease 3 s).
# Meanwhile X's lease runs out (LEASE_MS 2 s) and the next lookup grants to
# a member the master hears from (master/lease.h: X is silent long before
# it is marked down); the new primary's set-version round gives X at most
# 3/4 of the gateway's wait, so the gateway hears of it, not a timeout; and
# the gateway looks up every other chunk it knew X as primary of before
# sending to it (lib/client_io.c Q1, Q2).  About 4-5 s; 8 s, well below the
# 20 s gateway deadline, bounds every command of the load (before those
# three rules, 1 run in 8 here took 10.3 s: three retired sessions in a row).
STALL_MS=8000
. "$(dirname "$0")/7fail-lib.sh"

[ "$(id -u)" = 0 ] || fail "needs root (network namespace, veth, nftables)"
command -v nft >/dev/null || fail "needs nft (Debian package nftables)"
command -v python3 >/dev/null || fail "needs python3 (TCP relay)"
P=$BUILD/tests/tools/cs_probe
[ -x "$P" ] || fail "$P not built"

M=$((1024 * 1024))
SIZE_MB=16
NSLOTS=$((SIZE_MB * M / LOAD_SLOT))
NS=shoal720-$$
VH=v720h$$ VN=v720n$$
VH=${VH:0:15} VN=${VN:0:15}
HOST_IP=10.207.20.1 NS_IP=10.207.20.2
XPORT=$((PORT_BASE + 10))

cluster_up --chunkservers 3 --gateways 1
MPORT=$PORT_BASE
CSPORTS="$((PORT_BASE + 2)) $((PORT_BASE + 3)) $((PORT_BASE + 4))"

# ---- the namespace, the relays and chunkserver X ----
ip netns add "$NS" || fail "ip netns add failed"
CLEANUP_HOOKS+=("ip netns del '$NS' 2>/dev/null; ip link del '$VH' 2>/dev/null")
ip link add "$VH" type veth peer name "$VN" || fail "cannot create a veth pair"
ip link set "$VN" netns "$NS" || fail "cannot move $VN into $NS"
ip addr add "$HOST_IP/30" dev "$VH" && ip link set "$VH" up || fail "host side of the veth"
ip netns exec "$NS" sh -c "ip addr add $NS_IP/30 dev $VN && ip link set $VN up && ip link set lo up" ||
	fail "namespace side of the veth"

RELAY='
import asyncio, sys
lhost, thost, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
async def pipe(r, w):
    try:
        while True:
            d = await r.read(65536)
            if not d:
                break
            w.write(d)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(port, r, w):
    try:
        r2, w2 = await asyncio.wait_for(asyncio.open_connection(thost, port), 5)
    except Exception:
        w.close()
        return
    await asyncio.gather(pipe(r, w2), pipe(r2, w))
async def main():
    srv = [await asyncio.start_server(lambda r, w, p=p: handle(p, r, w), lhost, p) for p in ports]
    print("relay ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in srv))
asyncio.run(main())
'
# shellcheck disable=SC2086
python3 -c "$RELAY" "$HOST_IP" 127.0.0.1 $MPORT $CSPORTS >"$SCRATCH/relay-host.log" 2>&1 &
BG_PIDS+=($!)
# shellcheck disable=SC2086
ip netns exec "$NS" python3 -c "$RELAY" 127.0.0.1 "$HOST_IP" $MPORT $CSPORTS >"$SCRATCH/relay-ns.log" 2>&1 &
BG_PIDS+=($!)
_relays() { grep -q ready "$SCRATCH/relay-host.log" && grep -q ready "$SCRATCH/relay-ns.log"; }
wait_until 10 "TCP relays ready" _relays

mkdir -p "$SCRATCH/x/disk-1"
ip netns exec "$NS" "$BUILD/chunkserver/shoal-chunkserver" --config "$SHOAL_CONF" \
	--listen "$NS_IP:$XPORT" --data-dirs "$SCRATCH/x/disk-1" --masters "127.0.0.1:$MPORT" \
	--host csx >"$SCRATCH/cs-x.log" 2>&1 &
XPID=$!
BG_PIDS+=($XPID)
X=""
_x_up() { X=$(cs_json | jq -r ".[] | select(.addr == \"$NS_IP:$XPORT\") | select(.state == \"up\") | .id"); [ -n "$X" ]; }
wait_until 15 "chunkserver X registered through the namespace" _x_up
log "chunkserver X (id $X, pid $XPID) serving on $NS_IP:$XPORT in netns $NS"

vol_create v720 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v720 t 1 1
U=$(url 1 t 1)
load_start "$U" "$NSLOTS"
load_wait_acks "$NSLOTS" 120
wait_until 20 "3 replicas of every chunk" fully_replicated 3
held=$(cs_chunks "$X")
((held > 0)) || fail "chunkserver X holds no replica"

# What X holds now, at which version (to prove later it never serves it).
: >"$SCRATCH/x-held"
for ((id = 1; id <= SIZE_MB; id++)); do
	v=$("$P" "$NS_IP:$XPORT" info $id 2>/dev/null | sed -n 's/^version=\([0-9]*\).*/\1/p')
	[ -n "$v" ] && echo "$id $v" >>"$SCRATCH/x-held"
done
log "X holds $(wc -l <"$SCRATCH/x-held") replicas ($held set memberships); isolating it"

# ---- partition: drop everything in and out of the namespace's veth ----
ip netns exec "$NS" nft -f - <<EOF || fail "nft drop rules failed"
table inet iso {
	chain in { type filter hook input priority 0; policy accept; iifname "$VN" drop; }
	chain out { type filter hook output priority 0; policy accept; oifname "$VN" drop; }
}
EOF
t0=$(now_ms)
_x_down() { load_check; [ "$(cs_state "$X")" = down ]; }
wait_until 15 "X marked down" _x_down
_healed() { load_check; fully_replicated 3; }
wait_until 60 "3 replicas of every chunk without X" _healed
[ "$(cs_chunks "$X")" = 0 ] || fail "X is still in $(cs_chunks "$X") sets"
log "X cut off: marked down, its chunks back to 3 replicas elsewhere in $(($(now_ms) - t0)) ms"
load_wait_acks $((4 * LOAD_BATCH)) 60

# ---- heal ----
ip netns exec "$NS" nft delete table inet iso || fail "cannot remove the drop rules"
_x_back() { load_check; [ "$(cs_state "$X")" = up ]; }
wait_until 20 "X up again after the heal" _x_back
log "partition healed; X up again"

# Stale replicas are never served.  A client read (through the primary
# path) of each chunk X held, at the version it held, is refused with the
# one status the code gives for X's state (primary.c pop_run; exit status =
# the SL_E_* code).  X, holding no lease, asks the master for one, and the
# master grants it only to a member of the set, and only while no other
# member's lease is live (lease.c request_verdict; fsm.c apply_lease_grant):
#   X granted (the master's record then names X primary, a member at the
#     newer version, so the old version is stale)  -> SL_E_STALE_VERSION (4)
#   X refused (not a member, or another's lease)   -> SL_E_NOT_PRIMARY (6)
# The master's record is read before and after each read: the one change
# X's read may cause is its own grant (member, then primary); any other
# change meanwhile (a copy, another grant), or SL_E_BUSY (15), and the read
# is tried again.  No data may come back; a connection failure (70) or any
# other status fails.  Then each replica is deleted, or re-joined at a
# newer version.
VID=$(adm --timeout-ms 3000 --json volume info v720 | jq -r .id) || fail "volume info v720"
declare -A IDX=()	# chunk id -> its index in v720
for ((k = 0; k < SIZE_MB; k++)); do
	read -r cid _ < <("$P" "$SHOAL_MASTERS" replicas "$VID" $k) || fail "lookup of chunk #$k failed"
	IDX[$cid]=$k
done
x_member() {	# x_member CHUNK_ID: X is in the chunk's set (the master's view)
	local line rest
	[ -n "${IDX[$1]:-}" ] || fail "chunk $1 is in no index of v720"
	line=$("$P" "$SHOAL_MASTERS" replicas "$VID" "${IDX[$1]}") || fail "lookup of chunk $1 failed"
	read -r _ _ rest <<<"$line"
	[[ " $rest " == *" $NS_IP:$XPORT "* ]]
}
x_state() {	# x_state CHUNK_ID: "MEMBER PRIMARY" (1 or 0 each): X in the master's record of the chunk
	local line p reps
	line=$(master_dump | grep "^chunk [0-9]* [0-9]* id=$1 ") || { echo "no record"; return; }
	p=$(sed -n 's/.* primary=\([0-9]*\) .*/\1/p' <<<"$line")
	reps=$(sed -n 's/.* reps=\([0-9,]*\).*/\1/p' <<<"$line")
	echo "$([[ ",$reps," == *",$X,"* ]] && echo 1 || echo 0) $([ "$p" = "$X" ] && echo 1 || echo 0)"
}
nref=0 nnp=0 nmem=0
while read -r id v; do
	want=
	for try in $(seq 1 50); do
		before=$(x_state "$id")
		rc=0
		"$P" "$NS_IP:$XPORT" read "$id" "$v" 0 4096 primary >"$SCRATCH/stale.out" 2>"$SCRATCH/stale.err" || rc=$?
		after=$(x_state "$id")
		[ $rc != 0 ] || fail "X served chunk $id at its stale version $v"
		[ ! -s "$SCRATCH/stale.out" ] || fail "X returned data for chunk $id at its stale version $v (exit $rc)"
		if [ $rc != 15 ] && [ "$before" = "$after" ]; then
			[ "$after" = "1 1" ] && want=4 || want=6
			break
		elif [ $rc != 15 ] && [ "$before" = "1 0" ] && [ "$after" = "1 1" ]; then
			want=4	# X's own grant
			break
		fi
		sleep 0.2
	done
	[ -n "$want" ] || fail "chunk $id: no stable state to judge X's answer (exit $rc) in 50 tries (last: $before -> $after)"
	[ $rc = $want ] || fail "X refused the stale read of chunk $id (version $v; member, primary: $after) with exit $rc" \
		"($(tr '\n' ' ' <"$SCRATCH/stale.err")), not $want ($([ $want = 6 ] && echo 'not primary' || echo 'stale chunk version'))"
	nref=$((nref + 1))
	[ $rc = 6 ] && nnp=$((nnp + 1))
	[ "${after%% *}" = 1 ] && nmem=$((nmem + 1))
done <"$SCRATCH/x-held"
_stale_gone() {
	local id v cur
	while read -r id v; do
		cur=$("$P" "$NS_IP:$XPORT" info "$id" 2>/dev/null | sed -n 's/^version=\([0-9]*\) .*/\1/p')
		[ -z "$cur" ] && continue				# deleted
		((cur > v)) && x_member "$id" && continue		# re-joined, newer
		return 1
	done <"$SCRATCH/x-held"
	return 0
}
wait_until 20 "X's stale replicas deleted or re-joined at a newer version" _stale_gone
log "X refused all $nref stale reads ($nnp not primary, $((nref - nnp)) stale version; $nmem while a member) and holds none of its $(wc -l <"$SCRATCH/x-held") stale replicas"

# Catching up: drain chunkserver 1; X is the only place its replicas can go.
adm chunkserver drain 1 >/dev/null 2>&1 || fail "drain of chunkserver 1 failed"
_x_caught_up() { load_check; [ "$(cs_chunks 1)" = 0 ] && fully_replicated 3; }
wait_until 60 "drain of chunkserver 1 onto X" _x_caught_up
log "X caught up: it now holds $(cs_chunks "$X") replicas"
load_wait_acks $((4 * LOAD_BATCH)) 60
load_stop
load_verify "$U"
replicas_identical v720
log "replicas identical on the servers of each set (X among them): $IDENTICAL"
log "PASS: partition of X survived under load (no command over $STALL_MS ms), stale replicas never served, X caught up"
