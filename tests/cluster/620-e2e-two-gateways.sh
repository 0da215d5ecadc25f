#!/bin/bash
# Two gateways exporting one volume (same tid and LUN on both): a write
# through one is read through the other, in both directions; the same
# blocks overwritten alternately through each gateway always read back the
# last write through either (no gateway serves stale data); both gateways
# write disjoint ranges at the same time and each reads the other's; and
# both present the same device identity (VPD 0x80 serial, INQUIRY product).
. "$(dirname "$0")/6e2e-lib.sh"

M=$((1024 * 1024))
cluster_up --chunkservers 3 --gateways 2
vol_create v620 16M --chunk-size 1M
lun_export 1 v620 vol 1 1
lun_export 2 v620 vol 1 1
U1=$(url 1 vol 1)
U2=$(url 2 vol 1)

log "write through gateway 1, read through gateway 2, and back"
qio "$U1" "write -P 0x11 $((M - 4096)) $((2 * M))" || fail "write through gateway 1"
qio "$U2" "read -P 0x11 $((M - 4096)) $((2 * M))" "read -P 0 0 $((M - 4096))" ||
	fail "gateway 2 does not read what gateway 1 wrote"
qio "$U2" "write -P 0x22 $((5 * M + 512)) $((M + 1024))" || fail "write through gateway 2"
qio "$U1" "read -P 0x22 $((5 * M + 512)) $((M + 1024))" "read -P 0x11 $((M - 4096)) $((2 * M))" ||
	fail "gateway 1 does not read what gateway 2 wrote"

log "alternate overwrites of the same blocks through each gateway"
for i in 1 2 3 4 5 6; do
	p=$((0x30 + i))
	if ((i % 2)); then w=$U1 r=$U2; else w=$U2 r=$U1; fi
	qio "$w" "write -P $p $((8 * M - 2048)) 8192" || fail "overwrite $i"
	qio "$r" "read -P $p $((8 * M - 2048)) 8192" || fail "overwrite $i: the other gateway reads stale data"
done

log "both gateways write at once, each reads the other's"
qio "$U1" "write -P 0x41 $((10 * M)) $((M + 4096))" "write -P 0x43 $((13 * M - 512)) 4096" &
g1=$!
qio "$U2" "write -P 0x42 $((11 * M + 4096)) $((M - 4096))" "write -P 0x44 $((14 * M)) $((2 * M))" &
g2=$!
BG_PIDS+=($g1 $g2)
bg_wait $g1 "concurrent writes through gateway 1"
bg_wait $g2 "concurrent writes through gateway 2"
qio "$U1" "read -P 0x42 $((11 * M + 4096)) $((M - 4096))" "read -P 0x44 $((14 * M)) $((2 * M))" ||
	fail "gateway 1 does not see gateway 2's concurrent writes"
qio "$U2" "read -P 0x41 $((10 * M)) $((M + 4096))" "read -P 0x43 $((13 * M - 512)) 4096" ||
	fail "gateway 2 does not see gateway 1's concurrent writes"

# random data through one, compared through the other
head -c $((16 * M)) /dev/urandom >"$SCRATCH/random.img"
timeout -k 5 "$QEMU_TIMEOUT" qemu-img convert -n -f raw -O raw "$SCRATCH/random.img" "$U2" \
	>"$SCRATCH/convert.txt" 2>&1 || fail "qemu-img convert through gateway 2: $(tail -n 1 "$SCRATCH/convert.txt")"
out=$(timeout -k 5 "$QEMU_TIMEOUT" qemu-img compare -f raw -F raw "$SCRATCH/random.img" "$U1" 2>&1) ||
	fail "qemu-img compare through gateway 1: $out"

# the same device behind both portals
for k in 1 2; do
	u=$(url "$k" vol 1)
	timeout -k 5 30 iscsi-inq -e 1 -c 128 "$u" >"$SCRATCH/vpd80-$k.txt" 2>&1 || fail "iscsi-inq VPD 0x80 via gateway $k"
	timeout -k 5 30 iscsi-inq "$u" 2>&1 | grep -iE 'product|vendor' >"$SCRATCH/inq-$k.txt" || fail "iscsi-inq via gateway $k"
done
grep -q 'SL[0-9a-f]' "$SCRATCH/vpd80-1.txt" || fail "gateway 1 serial: $(cat "$SCRATCH/vpd80-1.txt")"
cmp -s "$SCRATCH/vpd80-1.txt" "$SCRATCH/vpd80-2.txt" || fail "serials differ: $(cat "$SCRATCH"/vpd80-[12].txt | tr '\n' ' ')"
cmp -s "$SCRATCH/inq-1.txt" "$SCRATCH/inq-2.txt" || fail "INQUIRY differs: $(cat "$SCRATCH"/inq-[12].txt | tr '\n' ' ')"

echo "PASS $SCEN: writes through either gateway read back through the other (alternating, concurrent, 16M random)"
