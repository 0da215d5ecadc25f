#!/bin/bash
# The launcher and LUN provisioning end to end: shoal-cluster up/env/status/
# kill/start/down with real masters, chunkservers and a tgtd gateway;
# shoal-admin lun export/list/unexport/restore and their error paths; data
# written through the LUN is read back after the gateway is killed (-9) and
# started again (the saved export is restored); down leaves no process.
set -uo pipefail
: "${BUILD:?}" "${SCRATCH:?}" "${PORT_BASE:?}"
SRC=${SHOAL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLUSTER=$SRC/scripts/shoal-cluster
DIR=$SCRATCH/cluster
ADMIN=$BUILD/admin/shoal-admin
T=iqn.2024-01.org.shoal.test:t510
fails=0

pids() { cat "$DIR"/run/*.pid 2>/dev/null; }
cleanup() {
	[ -f "$DIR/cluster.env" ] && "$CLUSTER" down "$DIR" >/dev/null 2>&1
	for p in $(pids); do kill -9 "$p" 2>/dev/null; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() {
	local want=$1 rc
	shift
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
	rc=$?
	[ "$rc" = "$want" ] || { fail "exit $rc, wanted $want: $* :: $(head -c 300 "$SCRATCH/err")"; return 1; }
	if [ "$want" != 0 ] && { [ "$(wc -l <"$SCRATCH/err")" != 1 ] || ! grep -q '^shoal-admin: ' "$SCRATCH/err"; }; then
		fail "error is not one 'shoal-admin:' line: $* :: $(cat "$SCRATCH/err")"
		return 1
	fi
}
expect_err() { local w=$1 p=$2; shift 2; expect "$w" "$@" && { grep -q -- "$p" "$SCRATCH/err" || fail "stderr lacks '$p': $(cat "$SCRATCH/err")"; }; }

# launcher argument errors
"$CLUSTER" up "$DIR" --masters 0 2>/dev/null; [ $? = 2 ] || fail "up --masters 0 not a usage error"
"$CLUSTER" up "$DIR" --frob 1 2>/dev/null; [ $? = 2 ] || fail "up --frob not a usage error"
"$CLUSTER" status "$SCRATCH/nothing" 2>/dev/null && fail "status of a non-cluster dir succeeded"

"$CLUSTER" up "$DIR" --build "$BUILD" --port-base "$PORT_BASE" --masters 1 --chunkservers 3 --gateways 1 ||
	{ echo "FAIL: shoal-cluster up"; exit 1; }
"$CLUSTER" up "$DIR" --build "$BUILD" --port-base "$PORT_BASE" 2>/dev/null && fail "second up on a running dir succeeded"
"$CLUSTER" env "$DIR" >"$SCRATCH/env" || fail "env"
# shellcheck disable=SC1091
. "$SCRATCH/env"
for v in SHOAL_CONF SHOAL_MASTERS SHOAL_GW1_PORTAL SHOAL_GW1_CONTROL_PORT SHOAL_GW1_CONF_DIR; do
	[ -n "${!v:-}" ] || fail "env lacks $v"
done
[ "$SHOAL_MASTERS" = "127.0.0.1:$PORT_BASE" ] || fail "SHOAL_MASTERS=$SHOAL_MASTERS"
"$CLUSTER" status "$DIR" >"$SCRATCH/status" || fail "status of a healthy cluster: exit $?"
[ "$(grep -c ' running ' "$SCRATCH/status")" = 5 ] || fail "status: $(cat "$SCRATCH/status")"
# everything listens on 127.0.0.1 only
if ss -Hltnp 2>/dev/null | grep -E "shoal-|tgtd" | awk '{print $4}' | grep -v '^127\.0\.0\.1:' | grep -q .; then
	fail "a daemon listens beyond 127.0.0.1: $(ss -Hltnp | grep -E 'shoal-|tgtd')"
fi

A=("$ADMIN" --config "$SHOAL_CONF" --control-port "$SHOAL_GW1_CONTROL_PORT" --conf-dir "$SHOAL_GW1_CONF_DIR")
URL=iscsi://$SHOAL_GW1_PORTAL/$T/1
expect 0 "${A[@]}" volume create v510 256M
expect 0 "${A[@]}" volume create w510 64M

# export: errors first
expect_err 4 "volume 'nope' not found" "${A[@]}" lun export nope --target "$T"
expect_err 3 "tgtd is not running" "$ADMIN" --config "$SHOAL_CONF" --control-port $((PORT_BASE + 19)) lun list
expect 0 "${A[@]}" --json lun export v510 --target "$T" --tid 7 --lun 1 --initiator-address 127.0.0.1
python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["tid"]==7 and d["lun"]==1' <"$SCRATCH/out" ||
	fail "lun export --json: $(cat "$SCRATCH/out")"
expect_err 5 "already exported" "${A[@]}" lun export v510 --target "$T"
expect_err 5 "lun 1 of target $T is already in use" "${A[@]}" lun export w510 --target "$T" --lun 1
expect_err 5 "already has tid 7" "${A[@]}" lun export w510 --target "$T" --tid 8
expect 0 "${A[@]}" lun export w510 --target "$T"
grep -q 'as lun 2 ' "$SCRATCH/out" || fail "second export not lun 2: $(cat "$SCRATCH/out")"
f=$SHOAL_GW1_CONF_DIR/shoal-$T.conf
grep -q 'controller_tid 7' "$f" && grep -q 'initiator-address 127.0.0.1' "$f" || fail "fragment: $(cat "$f")"
[ "$(stat -c %a "$f")" = 600 ] || fail "fragment mode $(stat -c %a "$f")"
expect 0 "${A[@]}" --json lun list
python3 -c 'import json,sys; d=json.load(sys.stdin); assert sorted((r["lun"],r["volume"],r["state"]) for r in d)==[(1,"v510","exported"),(2,"w510","exported")], d' \
	<"$SCRATCH/out" || fail "lun list: $(cat "$SCRATCH/out")"

# data through the LUN
qemu-io -f raw -c 'write -P 0x5a 1M 2M' "$URL" >"$SCRATCH/qemu" 2>&1 || fail "write through the LUN: $(tail -2 "$SCRATCH/qemu")"

# kill -9 the gateway, start it again: the saved exports come back
"$CLUSTER" kill "$DIR" gateway 1 || fail "kill gateway"
"$CLUSTER" status "$DIR" >/dev/null; [ $? = 3 ] || fail "status with a stopped daemon is not 3"
expect_err 3 "tgtd is not running" "${A[@]}" lun list
"$CLUSTER" start "$DIR" gateway 1 || fail "start gateway"
expect 0 "${A[@]}" --json lun list
python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==2 and all(r["state"]=="exported" and r["tid"]==7 for r in d), d' \
	<"$SCRATCH/out" || fail "lun list after gateway restart: $(cat "$SCRATCH/out")"
qemu-io -f raw -c 'read -P 0x5a 1M 2M' "$URL" >"$SCRATCH/qemu" 2>&1 || fail "read back after gateway restart: $(tail -2 "$SCRATCH/qemu")"

# chunkserver and master: kill -9 and start, data still there
"$CLUSTER" kill "$DIR" chunkserver 2 || fail "kill chunkserver"
"$CLUSTER" start "$DIR" chunkserver 2 || fail "start chunkserver"
"$CLUSTER" kill "$DIR" master 1 || fail "kill master"
"$CLUSTER" start "$DIR" master 1 || fail "start master"
"$CLUSTER" start "$DIR" master 1 2>/dev/null && fail "start of a running master succeeded"
"$CLUSTER" kill "$DIR" master 9 2>/dev/null; [ $? = 2 ] || fail "kill master 9 not a usage error"
qemu-io -f raw -c 'read -P 0x5a 1M 2M' "$URL" >"$SCRATCH/qemu" 2>&1 || fail "read back after master restart: $(tail -2 "$SCRATCH/qemu")"

# restore is idempotent; unexport by lun, by volume, errors
expect 0 "${A[@]}" lun restore
expect 0 "${A[@]}" lun unexport --target "$T" --lun 2
expect_err 4 "lun 2 of target $T not found" "${A[@]}" lun unexport --target "$T" --lun 2
expect_err 4 "volume 'w510' is not exported" "${A[@]}" lun unexport w510
expect 0 "${A[@]}" lun unexport v510
[ -e "$f" ] && fail "fragment left after the last unexport"
expect 0 "${A[@]}" --json lun list
python3 -c 'import json,sys; assert json.load(sys.stdin) == []' <"$SCRATCH/out" ||
	fail "lun list not empty: $(cat "$SCRATCH/out")"
tgtadm -C "$SHOAL_GW1_CONTROL_PORT" --op show --mode target | grep -q "$T" && fail "target left in tgtd"
expect_err 4 "target $T not found" "${A[@]}" lun unexport --target "$T"

# down stops every process it started
all=$(pids)
"$CLUSTER" down "$DIR" || fail "down"
for p in $all; do kill -0 "$p" 2>/dev/null && fail "pid $p still running after down"; done

((fails == 0)) || { echo "FAIL: $fails check(s) failed"; exit 1; }
echo "PASS: launcher and LUN provisioning"
