#!/bin/bash
# 515: a chunkserver that advertises a loopback address is refused by a
# master that is not on loopback (shoal(7), "Adding a chunkserver";
# shoal-chunkserver(8) --advertise): it would show up and take replicas no
# other host could reach.  The master runs in a network namespace of the
# test's own, behind a veth pair (10.207.15.2; the host side 10.207.15.1):
# a chunkserver left at 127.0.0.1 is refused with the documented log line
# and never listed, and one at 10.207.15.1 registers.
set -uo pipefail
: "${BUILD:?}" "${SCRATCH:?}" "${PORT_BASE:?}"
SCEN=515-cs-loopback-refused
PIDS=()
NS=shoal515-$$
VH=v515h$$ VN=v515n$$
VH=${VH:0:15} VN=${VN:0:15}
IP=10.207.15.1 PEER=10.207.15.2
MPORT=$PORT_BASE
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	ip link del "$VH" 2>/dev/null
}
trap cleanup EXIT
fail() { echo "FAIL $SCEN: $*"; exit 1; }
log() { echo "[$SCEN $(date +%T)] $*"; }
# wait_for SECONDS WHAT CMD...
wait_for() {
	local secs=$1 what=$2 end=$((SECONDS + $1))
	shift 2
	while ((SECONDS < end)); do "$@" && return 0; sleep 0.2; done
	fail "$what: not within ${secs}s"
}

[ "$(id -u)" = 0 ] || fail "needs root (network namespace, veth)"
ip netns add "$NS" || fail "ip netns add failed"
ip link add "$VH" type veth peer name "$VN" || fail "cannot create a veth pair"
ip link set "$VN" netns "$NS" || fail "cannot move $VN into $NS"
ip addr add "$IP/30" dev "$VH" && ip link set "$VH" up || fail "host side of the veth"
ip netns exec "$NS" sh -c "ip addr add $PEER/30 dev $VN && ip link set $VN up && ip link set lo up" ||
	fail "namespace side of the veth"

cat >"$SCRATCH/shoal.conf" <<EOF
cluster: { masters = [ "$PEER:$MPORT" ]; };
master: { heartbeat_ms = 200; };
chunkserver: { rpc_timeout_ms = 1000; };
EOF
mkdir -p "$SCRATCH/m" "$SCRATCH/lo" "$SCRATCH/net"
ip netns exec "$NS" "$BUILD/master/shoal-master" --config "$SCRATCH/shoal.conf" --id 1 \
	--listen "$PEER:$MPORT" --data-dir "$SCRATCH/m" >"$SCRATCH/master.log" 2>&1 &
PIDS+=($!)
ADMIN=("$BUILD/admin/shoal-admin" --config "$SCRATCH/shoal.conf" --timeout-ms 3000)
_serving() { "${ADMIN[@]}" --json chunkserver list >/dev/null 2>&1; }
wait_for 20 "the master at $PEER:$MPORT serving" _serving

"$BUILD/chunkserver/shoal-chunkserver" --config "$SCRATCH/shoal.conf" --listen "127.0.0.1:$((PORT_BASE + 2))" \
	--data-dirs "$SCRATCH/lo" >"$SCRATCH/cs-lo.log" 2>&1 &
PIDS+=($!)
_refused() { grep -q "registration refused: 127.0.0.1:$((PORT_BASE + 2)) is a loopback address" "$SCRATCH/cs-lo.log"; }
wait_for 20 "the loopback chunkserver told it was refused" _refused
grep -q "chunkserver at 127.0.0.1:$((PORT_BASE + 2)) refused: a loopback address" "$SCRATCH/master.log" ||
	fail "the master did not log the refusal: $(tail -n 3 "$SCRATCH/master.log" | tr '\n' ' ')"
log "a chunkserver at 127.0.0.1 was refused: $(grep -m1 'registration refused' "$SCRATCH/cs-lo.log" | cut -c1-160)"

"$BUILD/chunkserver/shoal-chunkserver" --config "$SCRATCH/shoal.conf" --listen "$IP:$((PORT_BASE + 3))" \
	--data-dirs "$SCRATCH/net" >"$SCRATCH/cs-net.log" 2>&1 &
PIDS+=($!)
_listed() { "${ADMIN[@]}" --json chunkserver list 2>/dev/null | jq -e ".[] | select(.addr == \"$IP:$((PORT_BASE + 3))\" and .state == \"up\")" >/dev/null; }
wait_for 20 "the chunkserver at $IP registered and up" _listed
list=$("${ADMIN[@]}" --json chunkserver list) || fail "chunkserver list"
n=$(jq length <<<"$list")
[ "$n" = 1 ] || fail "$n chunkservers listed, want only the one at $IP: $list"
jq -e '.[] | select(.addr | startswith("127."))' <<<"$list" >/dev/null && fail "a loopback chunkserver is listed: $list"
log "the chunkserver at $IP:$((PORT_BASE + 3)) registered; the loopback one is not listed"
echo "PASS $SCEN: a loopback chunkserver is refused by a master that is not on loopback; a reachable one registers"
