#!/bin/bash
# 203: silent corruption.  A byte flipped in a replica's data file (behind
# the chunkserver's back) is detected by its CRC32C on read and never
# returned: a local read fails with CHECKSUM (exit 9) and no data; a client
# read through the primary is served from a secondary, the primary's copy
# is repaired, and the events are counted.  Corruption on every replica is
# CHECKSUM for the client, never data.
set -uo pipefail
T=203
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-203.XXXXXX)}
PORT_BASE=${PORT_BASE:-17300}
. "$(dirname "$0")/2cs-lib.sh"

start_master
for i in 1 2 3; do start_cs $i; done
for i in 1 2 3; do wait_serving $i; done
vol=$("$P" "$MADDR" vcreate v203 $((64 << 20)) 22) || fail "volume create failed"
read -r cid ver epoch prim < <("$P" "$MADDR" lookup "$vol" 0 write) || fail "lookup failed"
[ "$prim" != - ] || fail "no primary"
pi=0
for i in 1 2 3; do [ "$(csaddr $i)" = "$prim" ] && pi=$i; done
[ $pi != 0 ] || fail "primary $prim is none of ours"
si=$(( pi % 3 + 1 ))		# one secondary
head -c 65536 /dev/urandom >"$SCRATCH/data"
"$P" "$prim" write "$cid" "$ver" 0 "$SCRATCH/data" primary || fail "write failed"

flip() {	# flip I OFFSET: xor one byte of replica I's data file
	local f
	f=$(printf '%s/cs%d/chunks/%016x.data' "$SCRATCH" "$1" "$cid")
	[ -f "$f" ] || fail "no data file $f"
	local b
	b=$(dd if="$f" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
	printf "\\$(printf '%03o' $(( (b ^ 0x5a) & 255 )))" |
		dd of="$f" bs=1 seek="$2" count=1 conv=notrunc,fsync status=none
}

# 1. corrupt the primary's copy at 10000 (block 2)
flip $pi 10000
"$P" "$prim" read "$cid" "$ver" 8192 4096 >"$SCRATCH/out" 2>/dev/null; rc=$?
[ $rc = 9 ] || fail "local read of a corrupt block gave exit $rc, want 9 (checksum)"
[ -s "$SCRATCH/out" ] && fail "corrupt data left the server"
e1=$(status_field $pi checksum_errors)
[ "${e1:-0}" -ge 1 ] || fail "checksum error not counted on cs$pi (got '$e1')"

# 2. a client read through the primary gets good data from a secondary and repairs
"$P" "$prim" read "$cid" "$ver" 0 65536 primary >"$SCRATCH/out" || fail "primary read failed"
cmp -s "$SCRATCH/out" "$SCRATCH/data" || fail "primary read returned wrong data"
rep=$(status_field $pi repaired_blocks)
[ "${rep:-0}" -ge 1 ] || fail "no repaired blocks counted on the primary"
"$P" "$prim" read "$cid" "$ver" 0 65536 >"$SCRATCH/out" || fail "primary's copy still bad after repair"
cmp -s "$SCRATCH/out" "$SCRATCH/data" || fail "primary's repaired copy differs"
grep -q "checksum mismatch" "$SCRATCH/cs$pi.log" || fail "no log line for the mismatch"

# 3. a secondary's corruption is caught by its own local read
flip $si 40000
"$P" "$(csaddr $si)" read "$cid" "$ver" 32768 16384 >"$SCRATCH/out" 2>/dev/null; rc=$?
[ $rc = 9 ] || fail "secondary served a corrupt block (exit $rc)"
[ -s "$SCRATCH/out" ] && fail "corrupt data left the secondary"
n=$(info_field $si "$cid" checksum_errors)
[ "${n:-0}" -ge 1 ] || fail "secondary's chunk info shows no checksum error"

# 4. the same block bad everywhere: the client gets CHECKSUM, never data
for i in 1 2 3; do flip $i 50000; done
"$P" "$prim" read "$cid" "$ver" 49152 4096 primary >"$SCRATCH/out" 2>/dev/null; rc=$?
[ $rc = 9 ] || fail "block corrupt on every replica gave exit $rc, want 9"
[ -s "$SCRATCH/out" ] && fail "corrupt data returned to the client"
echo "PASS $T: errors counted on cs$pi=$(status_field $pi checksum_errors), repaired_blocks=$(status_field $pi repaired_blocks)"
