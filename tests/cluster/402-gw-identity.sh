#!/bin/bash
# 402-gw-identity: two tgtd gateways export one volume under different
# target ids and LUN numbers; VPD pages 0x80 (serial) and 0x83 (device
# identification: T10, NAA-3 and NAA-6 designators) and the standard
# INQUIRY must be byte-identical, so multipath groups the two paths as one
# device.  A second volume must present a different identity.  The caching
# mode page's WCE follows the volume: 0 for a write-through volume (every
# acknowledged write is durable), 1 for a write-back one, on every gateway.
. "$(dirname "$0")/4gw-lib.sh"
need "$TOOLS/iscsi_vpd"

start_cluster
create_volume vol402 256M --replicas 3 --chunk-size 1M
create_volume other402 256M --replicas 3 --chunk-size 1M --write-back
start_gateway 0
start_gateway 1
A=$(export_lun 0 1 1 vol402)
B=$(export_lun 1 7 3 vol402)
O=$(export_lun 1 8 5 other402)

for page in 0x80 0x83 0x00 0xb0; do
	a=$("$TOOLS/iscsi_vpd" "$A" $page) || fail "VPD $page through gateway 0"
	b=$("$TOOLS/iscsi_vpd" "$B" $page) || fail "VPD $page through gateway 1"
	echo "page $page gw0 (tid 1 lun 1): $a"
	echo "page $page gw1 (tid 7 lun 3): $b"
	[ "$a" = "$b" ] || fail "VPD page $page differs between the gateways"
done

p83=$("$TOOLS/iscsi_vpd" "$A" 0x83)
# Designator 2: NAA-3 (header 01 03 00 08, first nibble 3); designator 3: NAA-6.
echo "$p83" | grep -q "01 03 00 08 3" || fail "no NAA-3 designator in VPD 0x83"
echo "$p83" | grep -q "01 03 00 10 6" || fail "no NAA-6 designator in VPD 0x83"
o83=$("$TOOLS/iscsi_vpd" "$O" 0x83)
[ "$p83" != "$o83" ] || fail "two volumes present the same VPD 0x83"

for u in "$A" "$B"; do
	w=$("$TOOLS/iscsi_vpd" "$u" wce) || fail "MODE SENSE caching page of vol402 ($u)"
	[ "$w" = "wce 0" ] || fail "write-through vol402 reports $w through $u: initiators would think acknowledged writes volatile"
done
w=$("$TOOLS/iscsi_vpd" "$O" wce) || fail "MODE SENSE caching page of other402"
[ "$w" = "wce 1" ] || fail "write-back other402 reports $w"
log "WCE 0 for the write-through volume on both gateways, 1 for the write-back one"

ia=$(iscsi-inq "$A") || fail "iscsi-inq through gateway 0"
ib=$(iscsi-inq "$B") || fail "iscsi-inq through gateway 1"
echo "$ia" | head -12
[ "$ia" = "$ib" ] || fail "standard INQUIRY differs between the gateways"
echo "$ia" | grep -q "SHOAL" || fail "vendor is not SHOAL"
log "VPD 0x80/0x83 and INQUIRY byte-identical across tid1/lun1 and tid7/lun3"
log "PASS"
