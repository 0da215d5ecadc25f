#!/bin/bash
# Online resize as shoal-admin(8) describes it: `shoal-admin volume resize`
# and nothing else.  Two gateways export the volume; each polls the master
# (about every second), gives its LU the new size and raises CAPACITY DATA
# HAS CHANGED (2A/09) on every session: both sessions, held open across the
# resize, must see the unit attention and READ CAPACITY(16) the new size,
# with no tgtadm by hand.  Data written before is intact, the new range
# reads as zeros and takes writes up to the new last sector; a gateway
# restarted afterwards comes back with the new size, and a shrink without
# --force is refused.
. "$(dirname "$0")/6e2e-lib.sh"

M=$((1024 * 1024))
cluster_up --chunkservers 3 --gateways 2
vol_create v630 8M --chunk-size 1M
lun_export 1 v630 vol 1 1
lun_export 2 v630 vol 1 1
U1=$(url 1 vol 1)
U2=$(url 2 vol 1)

[ "$(capacity "$U1")" = $((8 * M)) ] || fail "initial capacity $(capacity "$U1"), wanted $((8 * M))"
qio "$U1" "write -P 0x61 0 $M" "write -P 0x62 $((8 * M - 4096)) 4096" || fail "write before the resize"

CAP=$BUILD/tests/tools/iscsi_capacity
[ -x "$CAP" ] || fail "$CAP not built"
hook=$(printf '%q --config %q volume resize v630 24M >%q 2>&1' "$SHOAL_ADMIN" "$SHOAL_CONF" "$SCRATCH/resize.txt")
out=$("$CAP" --size $((24 * M)) --timeout-ms 10000 --hook "$hook" "$U1" "$U2" 2>&1)
rc=$?
echo "$out" | sed 's/^/    /'
[ $rc = 0 ] || fail "online resize through both gateways: $(grep -m1 -E 'FINDING|failed' <<<"$out")"
adm --json volume info v630 | grep -q '"size": 25165824' || fail "volume info after resize: $(adm --json volume info v630)"
capacity_is "$U1" $((24 * M)) && capacity_is "$U2" $((24 * M)) || fail "a new session does not see 24M"

qio "$U1" "read -P 0x61 0 $M" "read -P 0x62 $((8 * M - 4096)) 4096" "read -P 0 $((8 * M)) $((16 * M))" ||
	fail "after the resize: old data or zeros in the new range"
qio "$U1" "write -P 0x63 $((8 * M - 512)) $((M + 1024))" "write -P 0x64 $((24 * M - 512)) 512" \
	"read -P 0x63 $((8 * M - 512)) $((M + 1024))" "read -P 0x64 $((24 * M - 512)) 512" ||
	fail "writes across the old end and at the new last sector"

# gateway 2: a restart reopens the LU with the new size; the data is the same
"$CLUSTER" kill "$DIR" gateway 2 >>"$SCRATCH/launcher.log" 2>&1 || fail "kill gateway 2"
"$CLUSTER" start "$DIR" gateway 2 >>"$SCRATCH/launcher.log" 2>&1 || fail "start gateway 2: $(tail -n 2 "$SCRATCH/launcher.log")"
[ "$(capacity "$U2")" = $((24 * M)) ] || fail "gateway 2 after restart: capacity $(capacity "$U2")"
qio "$U2" "read -P 0x61 0 $M" "read -P 0x63 $((8 * M - 512)) $((M + 1024))" "read -P 0x64 $((24 * M - 512)) 512" ||
	fail "gateway 2 after restart: data"

# shrink needs --force
adm volume resize v630 16M >"$SCRATCH/shrink.txt" 2>&1 && fail "shrink without --force accepted"
adm --json volume info v630 | grep -q '"size": 25165824' || fail "size changed by a refused shrink"

echo "PASS $SCEN: 8M -> 24M seen through both gateways (2A/09, READ CAPACITY(16)) with shoal-admin volume resize alone; data intact, new range usable"
