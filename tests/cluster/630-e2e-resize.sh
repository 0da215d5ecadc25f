#!/bin/bash
# Volume resize seen by the initiator after a rescan.  shoal-admin volume
# resize grows the volume at the master; tgt caches the LU size from
# bs_open, so the gateway reopens the LU in place:
#   tgtadm --op update --mode logicalunit --tid T --lun L --params online=0,path=VOLUME
# (tgt_device_path_update: bs_close, bs_open with the new size, online).
# READ CAPACITY(16) then shows the new size, data written before is intact,
# the new range reads as zeros and takes writes up to the new last sector.
# A gateway restarted afterwards comes back with the new size, and a shrink
# without --force is refused.
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

adm volume resize v630 24M >"$SCRATCH/resize.txt" 2>&1 || fail "volume resize: $(tail -n 1 "$SCRATCH/resize.txt")"
adm --json volume info v630 | grep -q '"size": 25165824' || fail "volume info after resize: $(adm --json volume info v630)"

# rescan on gateway 1: reopen the LU in place
tgtadm -C "$(gw_control_port 1)" --op update --mode logicalunit --tid 1 --lun 1 \
	--params online=0,path=v630 >"$SCRATCH/update.txt" 2>&1 || fail "tgtadm update on gateway 1: $(cat "$SCRATCH/update.txt")"
wait_until 10 "READ CAPACITY(16) through gateway 1 shows 24M" capacity_is "$U1" $((24 * M))
tgtadm -C "$(gw_control_port 1)" --op show --mode target | grep -q 'Online: Yes' || fail "LU not online after the update"

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

echo "PASS $SCEN: 8M -> 24M seen by READ CAPACITY(16) after tgtadm update online=0,path=; data intact, new range usable"
