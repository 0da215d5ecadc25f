#!/bin/bash
# 301: three masters.  kill -9 the leader while volumes are being created;
# a new leader must serve within 2 s (measured and printed), every volume
# acknowledged before or during the kill must be in the new leader's dump,
# and the restarted old leader must rejoin as a follower and catch up.
set -uo pipefail
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /tmp/shoal-301.XXXXXX)}
PORT_BASE=${PORT_BASE:-18200}
M=$BUILD/master/shoal-master
L=$BUILD/tests/tools/master_load
addr=(127.0.0.1:$PORT_BASE 127.0.0.1:$((PORT_BASE + 2)) 127.0.0.1:$((PORT_BASE + 4)))
all="${addr[0]},${addr[1]},${addr[2]}"
declare -A mpid
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT
fail() { echo "FAIL 301: $*"; exit 1; }

start() {	# node id 1..3
	"$M" --id "$1" --masters "$all" --data-dir "$SCRATCH/m$1" --election-timeout-ms 300 \
		--lease-ms 2000 2>>"$SCRATCH/m$1.log" &
	mpid[$1]=$!
	pids+=("$!")
}
node_of() { for i in 1 2 3; do [ "${addr[$((i - 1))]}" = "$1" ] && echo "$i"; done; }

for i in 1 2 3; do start "$i"; done
"$L" --masters "$all" wait-serving --timeout-ms 10000 >/dev/null || fail "no leader after start"
"$L" --masters "$all" create --volumes 100 --prefix before --out "$SCRATCH/acked.txt" || fail "creating volumes failed"
leader=$("$L" --masters "$all" leader) || fail "no leader address"
old=$(node_of "$leader")
[ -n "$old" ] || fail "leader address '$leader' is not one of the masters"

# Keep creating while the leader dies; each acknowledged name is appended to acked.txt.
"$L" --masters "$all" create --volumes 300 --prefix during --out "$SCRATCH/acked.txt" \
	>"$SCRATCH/during.log" 2>&1 &
lpid=$!
pids+=("$lpid")
sleep 0.3
t0=$(date +%s%N)
kill -9 "${mpid[$old]}"
wait "${mpid[$old]}" 2>/dev/null
survivors=""
for i in 1 2 3; do [ "$i" != "$old" ] && survivors="$survivors${survivors:+,}${addr[$((i - 1))]}"; done
out=$("$L" --masters "$survivors" wait-serving --timeout-ms 5000) || fail "no new leader within 5 s"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
echo "failover: new leader ${out#* } serving ${ms} ms after kill -9 of node $old"
[ "$ms" -le 2000 ] || fail "failover took ${ms} ms (limit 2000)"

wait "$lpid" || fail "creator did not complete across the failover: $(tail -1 "$SCRATCH/during.log")"
"$L" --masters "$survivors" dump >"$SCRATCH/dump.txt" || fail "dump from the new leader failed"
n=$(wc -l <"$SCRATCH/acked.txt")
[ "$n" = 400 ] || fail "expected 400 acknowledged volumes, got $n"
while read -r name; do
	grep -q " name=$name " "$SCRATCH/dump.txt" || fail "acknowledged volume $name is missing after failover"
done <"$SCRATCH/acked.txt"

# The old leader comes back and must catch up as a follower.
start "$old"
target=$("$L" --masters "$survivors" status | sed -n 's/.*commit=\([0-9]*\).*/\1/p')
deadline=$(( $(date +%s) + 10 ))
while :; do
	st=$("$L" --masters "${addr[$((old - 1))]}" status 2>/dev/null || true)
	applied=$(echo "$st" | sed -n 's/.*applied=\([0-9]*\).*/\1/p')
	case $st in role=follower*) [ -n "$applied" ] && [ "$applied" -ge "$target" ] && break ;; esac
	[ "$(date +%s)" -lt "$deadline" ] || fail "old leader did not rejoin and catch up (last: $st, target $target)"
	sleep 0.1
done
echo "rejoined: node $old $st (leader commit was $target)"
# And the rejoined node is a real member: kill the current leader, the two left must serve the same data.
leader2=$("$L" --masters "$survivors" leader) || fail "no leader address"
n2=$(node_of "$leader2")
kill -9 "${mpid[$n2]}"; wait "${mpid[$n2]}" 2>/dev/null
rest=""
for i in 1 2 3; do [ "$i" != "$n2" ] && rest="$rest${rest:+,}${addr[$((i - 1))]}"; done
"$L" --masters "$rest" wait-serving --timeout-ms 5000 >/dev/null || fail "rejoined node and survivor elected no leader"
"$L" --masters "$rest" dump >"$SCRATCH/dump2.txt" || fail "dump after second failover failed"
cmp -s "$SCRATCH/dump.txt" "$SCRATCH/dump2.txt" || fail "dump differs after the second failover"
echo "PASS 301: failover ${ms} ms, $n acknowledged volumes kept, old leader rejoined"
