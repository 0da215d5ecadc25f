#!/bin/bash
# 401-gw-io: a volume exported by stock tgtd through bs_shoal.so serves real
# initiators.  A 1 GiB volume with 1 MiB chunks reports its size in
# READ CAPACITY(16); qemu-io's patterned writes that straddle chunk
# boundaries read back identical (also through a second gateway); WRITE
# SAME of zeros with UNMAP and UNMAP over written patterns read back as
# zeros with their neighbours intact, and punch holes on every replica;
# unwritten ranges read as zeros; the gateway answers past every chunk.
. "$(dirname "$0")/4gw-lib.sh"
need "$TOOLS/iscsi_vpd" "$TOOLS/cs_probe"

start_cluster
create_volume vol401 1G --replicas 3 --chunk-size 1M --thin
start_gateway 0
start_gateway 1
URL=$(export_lun 0 1 1 vol401)
URL2=$(export_lun 1 4 2 vol401)
log "exported as $URL and $URL2"

out=$(iscsi-readcapacity16 "$URL") || fail "iscsi-readcapacity16 failed"
echo "$out"
echo "$out" | grep -q "RETURNED LOGICAL BLOCK ADDRESS:2097151" || fail "1 GiB volume does not report 2097152 blocks"
echo "$out" | grep -q "LOGICAL BLOCK LENGTH IN BYTES:512" || fail "block length is not 512"
echo "$out" | grep -q "Total size:1073741824" || fail "total size is not 1 GiB"

# Patterns across chunk boundaries (1 MiB chunks): each range crosses at least one.
qio() { qemu-io -f raw "$@" 2>&1; }
cmds=(
	-c 'write -P 0xa1 1040384 65536'		# 1M-16K .. 1M+48K
	-c 'write -P 0xb2 3141120 3145728'		# 3 MiB from an odd 4K-aligned place
	-c 'write -P 0xc3 1073676288 65536'		# the last 64 KiB
	-c 'write -P 0xd4 8388096 1024'			# 512 bytes each side of 8 MiB
)
out=$(qio "${cmds[@]}" "$URL") || { echo "$out"; fail "qemu-io writes failed"; }
echo "$out" | grep -E "wrote|error|fail" || true
echo "$out" | grep -qi "error\|fail" && fail "qemu-io write reported an error"
for url in "$URL" "$URL2"; do
	out=$(qio -c 'read -P 0xa1 1040384 65536' -c 'read -P 0xb2 3141120 3145728' \
		-c 'read -P 0xc3 1073676288 65536' -c 'read -P 0xd4 8388096 1024' \
		-c 'read -P 0x00 1024000 16384' -c 'read -P 0x00 536870912 2097152' "$url")
	echo "$out" | grep -E "read|Pattern|error" | head -8
	echo "$out" | grep -qi "pattern verification failed\|error\|fail" && fail "read-back through $url differs"
	[ "$(echo "$out" | grep -c '^read ')" -eq 6 ] || fail "not every read completed through $url"
done
log "patterned writes across chunk boundaries read back identical through both gateways"

# Overwrite through gateway 1, read through gateway 0 (no stale data).
out=$(qio -c 'write -P 0x5e 1044480 8192' "$URL2")
out=$(qio -c 'read -P 0x5e 1044480 8192' -c 'read -P 0xa1 1040384 4096' "$URL")
echo "$out" | grep -qi "pattern verification failed\|error" && fail "write through gateway 1 not seen through gateway 0"

# WRITE SAME (zeros, UNMAP bit) and UNMAP over written data, each across a
# chunk boundary: the range first holds a pattern, so zeros there can only
# come from the command; 32 KiB of the pattern stay on each side of it.
# The unmapping WRITE SAME (qemu sends WRITE SAME(16) with the UNMAP bit,
# as VPD B2 sets LBPWS) punches holes: the allocation of the chunk before
# the boundary shrinks on every replica, which a fallback to writing zero
# blocks would not do.  UNMAP goes over the 0xb2 pattern written above.
WS=$((2 << 20))
out=$(qio -c "write -P 0x6b $((WS - 65536)) 131072" -c "read -P 0x6b $((WS - 65536)) 131072" "$URL") ||
	{ echo "$out"; fail "writing the pattern under the WRITE SAME range failed"; }
b2=$($TOOLS/iscsi_vpd "$URL" 0xb2) || fail "VPD 0xB2"
lbp=$(awk '{ print $6 }' <<<"$b2")	# byte 5: LBPU LBPWS LBPWS10 ...
[ -n "$lbp" ] && (( (0x$lbp & 0x40) != 0 )) || fail "VPD B2 does not set LBPWS (qemu would not send WRITE SAME with UNMAP): $b2"
VOLID=$("$ADMIN" --config "$CONF" --masters "$MASTER" --json volume info vol401 | jq -r .id) || fail "volume info"
read -r wcid _ < <("$TOOLS/cs_probe" "$MASTER" lookup "$VOLID" 1) || fail "lookup of chunk 1"
alloc() { "$TOOLS/cs_probe" "127.0.0.1:$((CS_PORT0 + $1))" info "$wcid" | sed -n 's/.* allocated=\([0-9]*\) .*/\1/p'; }
declare -a before=()
for i in 0 1 2; do before[i]=$(alloc $i); [ -n "${before[i]}" ] || fail "no replica of chunk $wcid on chunkserver $i"; done
out=$(qio -c "write -z -u $((WS - 32768)) 65536" -c 'discard 3141120 1048576' "$URL") ||
	{ echo "$out"; fail "WRITE SAME (zeros, UNMAP) or UNMAP failed"; }
echo "$out" | grep -E "wrote|discard"
[ "$(echo "$out" | grep -c '^wrote 65536/65536 bytes\|^discard 1048576/1048576 bytes')" -eq 2 ] ||
	{ echo "$out"; fail "WRITE SAME or UNMAP did not complete"; }
for i in 0 1 2; do
	a=$(alloc $i)
	((a <= before[i] - 32768)) ||
		fail "chunk $wcid on chunkserver $i: allocation ${before[i]} -> $a after WRITE SAME with UNMAP over 32 KiB of it"
done
out=$(qio -c "read -P 0x6b $((WS - 65536)) 32768" -c "read -P 0x00 $((WS - 32768)) 65536" \
	-c "read -P 0x6b $((WS + 32768)) 32768" -c 'read -P 0x00 3141120 1048576' \
	-c 'read -P 0xb2 4189696 2097152' "$URL2") ||
	{ echo "$out"; fail "zeroed/discarded ranges and their neighbours do not read back as expected"; }
[ "$(echo "$out" | grep -c '^read ')" -eq 5 ] || { echo "$out"; fail "not every read completed"; }
log "WRITE SAME (zeros, UNMAP) and UNMAP: pattern replaced by zeros, neighbours intact, holes punched on 3 replicas"

# The LU's identity comes from the volume.
$TOOLS/iscsi_vpd "$URL" 0x80 || fail "VPD 0x80"
grep -q "layout check OK" "$SCRATCH/tgtd0.log" || fail "no layout check line in the tgtd log"
log "PASS"
