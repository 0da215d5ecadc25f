#!/bin/bash
# Data round trip across chunk boundaries on several volumes and LUNs at
# once.  Four volumes with 1 MiB (and one 2 MiB) chunks -- thin and thick,
# three and two replicas -- are exported as two LUNs on each of two targets
# of one gateway.  Four qemu-io sessions run in parallel, each writing its
# own patterns at chunk-straddling, sector-unaligned-to-chunk offsets (a
# whole chunk, 8K across a boundary, 3 MiB+1K across four chunks, the last
# sector) and reading every byte back: patterns where written, zeros
# between.  Then every LUN is verified again in fresh sessions (no LUN saw
# another's writes), iscsi-ls lists the four LUNs, and random data written
# with qemu-img convert compares equal through a new connection.
. "$(dirname "$0")/6e2e-lib.sh"

M=$((1024 * 1024))
SIZE=$((24 * M))

cluster_up --chunkservers 3 --gateways 1
vol_create a600 24M --chunk-size 1M --thin
vol_create b600 24M --chunk-size 1M --thick
vol_create c600 24M --chunk-size 2M --replicas 2
vol_create d600 24M --chunk-size 1M --replicas 2 --thin
lun_export 1 a600 one 1 1
lun_export 1 b600 one 1 2
lun_export 1 c600 two 2 1
lun_export 1 d600 two 2 2
URLS=("$(url 1 one 1)" "$(url 1 one 2)" "$(url 1 two 1)" "$(url 1 two 2)")

# The layout each LUN gets, with pattern bytes 0xN1..0xN4 for LUN N:
#   [0, 1M) P1, then [1M-4K, 1M+4K) P2 over it, [3M-512, 6M+512) P3,
#   last sector P4; everything else zeros.
writes() {
	local b=$1
	echo "write -P $((b + 1)) 0 $M"
	echo "write -P $((b + 2)) $((M - 4096)) 8192"
	echo "write -P $((b + 3)) $((3 * M - 512)) $((3 * M + 1024))"
	echo "write -P $((b + 4)) $((SIZE - 512)) 512"
}
reads() {
	local b=$1
	echo "read -P $((b + 1)) 0 $((M - 4096))"
	echo "read -P $((b + 2)) $((M - 4096)) 8192"
	echo "read -P 0 $((M + 4096)) $((2 * M - 4096 - 512))"
	echo "read -P $((b + 3)) $((3 * M - 512)) $((3 * M + 1024))"
	echo "read -P 0 $((6 * M + 512)) $((SIZE - 6 * M - 1024))"
	echo "read -P $((b + 4)) $((SIZE - 512)) 512"
}
session() {
	local i=$1 what=$2
	local -a cmds
	mapfile -t cmds < <(if [ "$what" = both ]; then writes $((16 * (i + 1))); fi; reads $((16 * (i + 1))))
	qio "${URLS[$i]}" "${cmds[@]}"
}

log "parallel patterned writes and reads on ${#URLS[@]} LUNs"
pids=()
for i in "${!URLS[@]}"; do
	session "$i" both &
	pids+=($!)
	BG_PIDS+=($!)
done
for i in "${!pids[@]}"; do bg_wait "${pids[$i]}" "write/verify on ${URLS[$i]}"; done

log "verify again in fresh sessions"
for i in "${!URLS[@]}"; do
	session "$i" read || fail "second verification of ${URLS[$i]}"
done

# iscsi-ls: both targets, two disk LUNs each; READ CAPACITY(16): the full size
ls_out=$(timeout -k 5 30 iscsi-ls -s "iscsi://$SHOAL_GW1_PORTAL" 2>&1) || fail "iscsi-ls: $ls_out"
echo "$ls_out" >"$SCRATCH/iscsi-ls.txt"
n=$(grep -cE "Lun:[12] +Type:DIRECT_ACCESS" <<<"$ls_out")
[ "$n" = 4 ] || fail "iscsi-ls shows $n of 4 disk LUNs: $(tr '\n' ' ' <<<"$ls_out")"
for u in "${URLS[@]}"; do
	[ "$(capacity "$u")" = "$SIZE" ] || fail "READ CAPACITY(16) of $u: $(capacity "$u"), wanted $SIZE"
done

log "qemu-img convert of random data, compare through a new connection"
head -c "$SIZE" /dev/urandom >"$SCRATCH/random.img"
for i in 0 2; do
	timeout -k 5 "$QEMU_TIMEOUT" qemu-img convert -n -f raw -O raw "$SCRATCH/random.img" "${URLS[$i]}" \
		>"$SCRATCH/convert.txt" 2>&1 || fail "qemu-img convert to ${URLS[$i]}: $(tail -n 1 "$SCRATCH/convert.txt")"
	out=$(timeout -k 5 "$QEMU_TIMEOUT" qemu-img compare -f raw -F raw "$SCRATCH/random.img" "${URLS[$i]}" 2>&1) ||
		fail "qemu-img compare ${URLS[$i]}: $out"
done
# the LUNs not rewritten still hold their patterns
session 1 read || fail "${URLS[1]} changed by writes to other LUNs"
session 3 read || fail "${URLS[3]} changed by writes to other LUNs"

echo "PASS $SCEN: ${#URLS[@]} LUNs, patterns across 1M/2M chunk boundaries, parallel sessions, qemu-img round trip"
