#!/bin/bash
# shoal-admin against a real master and chunkservers: every volume,
# chunkserver, cluster and master command, their error paths and exit codes
# (0 ok, 1 refused, 2 usage, 3 unreachable, 4 not found, 5 exists), one-line
# errors, and --json output that parses.
set -uo pipefail
: "${BUILD:?}" "${SCRATCH:?}" "${PORT_BASE:?}"
SRC=${SHOAL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLUSTER=$SRC/scripts/shoal-cluster
DIR=$SCRATCH/cluster
ADMIN=$BUILD/admin/shoal-admin
fails=0

cleanup() { [ -f "$DIR/cluster.env" ] && "$CLUSTER" down "$DIR" >/dev/null 2>&1; }
trap cleanup EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect RC CMD...: exit status RC; on failure exactly one stderr line "shoal-admin: ..."
expect() {
	local want=$1 rc nl
	shift
	"$@" >"$SCRATCH/out" 2>"$SCRATCH/err"
	rc=$?
	if [ "$rc" != "$want" ]; then
		fail "exit $rc, wanted $want: $* :: $(head -c 300 "$SCRATCH/err")"
		return 1
	fi
	if [ "$want" != 0 ]; then
		nl=$(wc -l <"$SCRATCH/err")
		if [ "$nl" != 1 ] || ! grep -q '^shoal-admin: ' "$SCRATCH/err"; then
			fail "error is not one 'shoal-admin:' line ($nl lines): $* :: $(cat "$SCRATCH/err")"
			return 1
		fi
	fi
	return 0
}
# expect_err RC PATTERN CMD...: as expect, and stderr matches PATTERN
expect_err() {
	local want=$1 pat=$2
	shift 2
	expect "$want" "$@" || return 1
	grep -q -- "$pat" "$SCRATCH/err" || fail "stderr lacks '$pat': $* :: $(cat "$SCRATCH/err")"
}
json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)' <"$SCRATCH/out" || fail "not JSON: $*"; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" <"$SCRATCH/out"; }

# ---- no daemon needed ----
expect 0 "$ADMIN" --help
grep -q 'volume create' "$SCRATCH/out" || fail "--help lacks commands"
expect 0 "$ADMIN" --version
expect_err 2 'no command' "$ADMIN"
expect_err 2 "unknown command 'frob'" "$ADMIN" frob
expect_err 2 "needs a subcommand" "$ADMIN" volume
expect_err 2 "unknown subcommand 'volume frob'" "$ADMIN" volume frob
expect_err 2 "needs NAME and SIZE" "$ADMIN" volume create v
expect_err 2 "bad size '12Q' for SIZE" "$ADMIN" volume create v 12Q
expect_err 2 "bad size '-1' for SIZE" "$ADMIN" volume create v -- -1
expect_err 2 "multiple of 512" "$ADMIN" volume create v 1000
expect_err 2 "bad volume name" "$ADMIN" volume create 'a b' 1G
expect_err 2 "bad volume name" "$ADMIN" volume info "$(printf 'x%.0s' {1..64})"
expect_err 2 "for --replicas" "$ADMIN" volume create v 1G --replicas 0
expect_err 2 "for --replicas" "$ADMIN" volume create v 1G --replicas 6
expect_err 2 "for --min-replicas" "$ADMIN" volume create v 1G --min-replicas x
expect_err 2 "more than --replicas" "$ADMIN" volume create v 1G --replicas 2 --min-replicas 3
expect_err 2 "for --chunk-size" "$ADMIN" volume create v 1G --chunk-size 3M
expect_err 2 "for --chunk-size" "$ADMIN" volume create v 1G --chunk-size 64K
expect_err 2 "unknown option '--bogus'" "$ADMIN" volume list --bogus
expect_err 2 "needs a value" "$ADMIN" volume create v 1G --replicas
expect_err 2 "unexpected argument" "$ADMIN" volume list extra
expect_err 2 "unexpected argument" "$ADMIN" volume resize v 1G 2G
expect_err 2 "timeout-ms" "$ADMIN" --timeout-ms abc volume list
expect_err 2 "for ID" "$ADMIN" chunkserver drain x
expect_err 2 "unknown option '--force'" "$ADMIN" chunkserver drain 1 --force
expect_err 2 "either --for DURATION or --off" "$ADMIN" chunkserver maintenance 1
expect_err 2 "either --for DURATION or --off" "$ADMIN" chunkserver maintenance 1 --for 5m --off
expect_err 2 "bad duration '10x'" "$ADMIN" chunkserver maintenance 1 --for 10x
expect_err 2 "bad duration '8d'" "$ADMIN" chunkserver maintenance 1 --for 8d
expect_err 2 "bad duration '0'" "$ADMIN" chunkserver maintenance 1 --for 0
expect_err 2 "for ID" "$ADMIN" chunkserver maintenance x --off
expect_err 2 "needs --target" "$ADMIN" lun export v
expect_err 2 "bad iSCSI name" "$ADMIN" lun export v --target IQN.Upper
expect_err 2 "go together" "$ADMIN" lun export v --target iqn.2024-01.x:y --chap-user u
expect_err 2 "for --lun" "$ADMIN" lun export v --target iqn.2024-01.x:y --lun 0
expect_err 2 "--lun needs --target" "$ADMIN" lun unexport v --lun 1
expect_err 2 "" "$ADMIN" --config "$SCRATCH/no-such.conf" volume list

# ---- master unreachable: a closed port, short timeout, bounded time ----
closed=127.0.0.1:$((PORT_BASE + 19))
start=$(date +%s%N)
expect_err 3 "no master answered within 300 ms ($closed)" "$ADMIN" --masters "$closed" --timeout-ms 300 volume list
ms=$((($(date +%s%N) - start) / 1000000))
((ms < 3000)) || fail "unreachable master took ${ms} ms with --timeout-ms 300"
expect 3 "$ADMIN" --masters "$closed,127.0.0.1:$((PORT_BASE + 18))" --timeout-ms 200 cluster status
expect 3 "$ADMIN" --masters "$closed" --timeout-ms 200 --json volume create v 1G

# ---- a real cluster: 1 master, 3 chunkservers ----
"$CLUSTER" up "$DIR" --build "$BUILD" --port-base "$PORT_BASE" --masters 1 --chunkservers 3 --gateways 0 ||
	{ echo "FAIL: shoal-cluster up"; exit 1; }
A=("$ADMIN" --config "$DIR/shoal.conf")

expect 0 "${A[@]}" --json cluster status && json_ok cluster status
[ "$(json_get 'd["servers_up"]')" = 3 ] || fail "cluster status: servers_up != 3: $(cat "$SCRATCH/out")"
[ "$(json_get 'd["health"]')" = OK ] || fail "cluster status: health not OK"
expect 0 "${A[@]}" cluster status && grep -q '3 up, 0 down' "$SCRATCH/out" || fail "cluster status text"
expect 0 "${A[@]}" --json master status && json_ok master status
[ "$(json_get 'd["nodes"][0]["role"]')" = leader ] || fail "master status: node 1 not leader"
expect 0 "${A[@]}" master status
expect 0 "${A[@]}" --json chunkserver list && json_ok chunkserver list
[ "$(json_get 'len(d)')" = 3 ] || fail "chunkserver list: not 3 servers"
expect 0 "${A[@]}" chunkserver list
[ "$(grep -c ' up ' "$SCRATCH/out")" = 3 ] || fail "chunkserver list text: $(cat "$SCRATCH/out")"

# volumes
expect 0 "${A[@]}" volume create v1 1G
grep -q '^size: *1G' "$SCRATCH/out" || fail "volume create output: $(cat "$SCRATCH/out")"
expect_err 5 "volume 'v1' already exists" "${A[@]}" volume create v1 2G
expect 0 "${A[@]}" --json volume create v2 100M --replicas 2 --min-replicas 1 --chunk-size 1M --thick --write-back
json_ok volume create
[ "$(json_get '(d["size"], d["replicas"], d["min_replicas"], d["chunk_size"], d["thin"], d["write_back"])')" = \
  "(104857600, 2, 1, 1048576, False, True)" ] || fail "volume create --json fields: $(cat "$SCRATCH/out")"
expect 0 "${A[@]}" --json volume list && json_ok volume list
[ "$(json_get 'sorted(v["name"] for v in d)')" = "['v1', 'v2']" ] || fail "volume list: $(cat "$SCRATCH/out")"
expect 0 "${A[@]}" volume list
[ "$(grep -c '^v[12] ' "$SCRATCH/out")" = 2 ] || fail "volume list text"
expect 0 "${A[@]}" --json volume info v2 && json_ok volume info
expect_err 4 "volume 'nope' not found" "${A[@]}" volume info nope
expect_err 4 "volume 'nope' not found" "${A[@]}" volume resize nope 1G
expect_err 4 "volume 'nope' not found" "${A[@]}" volume delete nope
expect 0 "${A[@]}" --json volume resize v1 2G && [ "$(json_get 'd["size"]')" = 2147483648 ] || fail "resize grow"
expect_err 1 "add --force" "${A[@]}" volume resize v1 1G
expect 0 "${A[@]}" --json volume resize v1 1G --force && [ "$(json_get 'd["size"]')" = 1073741824 ] ||
	fail "resize shrink --force"
expect 0 "${A[@]}" volume delete v2
expect_err 4 "not found" "${A[@]}" volume info v2
expect 0 "${A[@]}" --json volume delete v1 && json_ok volume delete
expect 0 "${A[@]}" --json volume list && [ "$(json_get 'len(d)')" = 0 ] || fail "volumes left after delete"
# --masters on the command line overrides the file
expect 3 "${A[@]}" --masters "$closed" --timeout-ms 200 volume list

# chunkservers: unknown id, drain, remove
expect_err 4 "chunkserver 99 not found" "${A[@]}" chunkserver drain 99
expect_err 4 "chunkserver 99 not found" "${A[@]}" chunkserver remove 99
expect_err 4 "chunkserver 99 not found" "${A[@]}" chunkserver maintenance 99 --for 1h
# maintenance: shown in list and status, ended by --off, ended by a drain, refused while draining
expect 0 "${A[@]}" chunkserver maintenance 3 --for 2h
expect 0 "${A[@]}" --json chunkserver list && json_ok
left=$(json_get '[s["maintenance_left_ms"] for s in d if s["id"] == 3][0]')
((left > 7100000 && left <= 7200000)) || fail "maintenance --for 2h: $left ms left"
expect 0 "${A[@]}" --json cluster status && json_ok
[ "$(json_get 'd["servers_maintenance"]')" = 1 ] || fail "cluster status: $(cat "$SCRATCH/out")"
expect 0 "${A[@]}" chunkserver list && grep -q "up,maint" "$SCRATCH/out" || fail "list: $(cat "$SCRATCH/out")"
expect 0 "${A[@]}" chunkserver maintenance 3 --off
expect 0 "${A[@]}" --json chunkserver list && json_ok
[ "$(json_get '[s["maintenance_left_ms"] for s in d if s["id"] == 3][0]')" = 0 ] || fail "--off: $(cat "$SCRATCH/out")"
expect 0 "${A[@]}" chunkserver maintenance 3 --for 90
expect 0 "${A[@]}" chunkserver drain 3
expect 0 "${A[@]}" --json chunkserver list && json_ok
[ "$(json_get '[s["maintenance_left_ms"] for s in d if s["id"] == 3][0]')" = 0 ] || fail "a drain did not end maintenance"
expect_err 1 "is draining: it cannot enter maintenance" "${A[@]}" chunkserver maintenance 3 --for 1h
expect 0 "${A[@]}" --json chunkserver list && json_ok
[ "$(json_get '[s["state"] for s in d if s["id"] == 3][0]')" = draining ] || fail "drain: $(cat "$SCRATCH/out")"
expect 0 "${A[@]}" --json chunkserver remove 3 && json_ok chunkserver remove
# removed is final: a drain must not bring it back (it could register again)
expect_err 4 "chunkserver 3 not found" "${A[@]}" chunkserver drain 3
expect 0 "${A[@]}" --json chunkserver list && json_ok
[ "$(json_get '[s["state"] for s in d if s["id"] == 3][0]')" = removed ] || fail "drain after remove: $(cat "$SCRATCH/out")"

((fails == 0)) || { echo "FAIL: $fails check(s) failed"; exit 1; }
echo "PASS: shoal-admin commands and error paths"
