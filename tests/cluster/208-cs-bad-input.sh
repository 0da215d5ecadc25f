#!/bin/bash
# 208: bad input never crashes the chunkserver and never corrupts data.
# Out-of-range offsets and lengths, wrong data sizes, bad chunk sizes and
# ids get clear status codes; garbage on the socket closes that connection
# only; bad command-line options (a failure-domain label that is not one
# among them) exit non-zero with one line.  Afterwards
# the data written before is intact and the server still serves.
set -uo pipefail
T=208
BUILD=${BUILD:?set BUILD to the build directory}
SCRATCH=${SCRATCH:-$(mktemp -d /var/tmp/shoal-208.XXXXXX)}
PORT_BASE=${PORT_BASE:-17800}
WITH_MASTER=no
. "$(dirname "$0")/2cs-lib.sh"
unset CS_PROBE_MASTERS	# no master: client writes carry no session

# command line
for bad in "--bogus" "--aio-depth 3" "--log-level loud" "--listen nowhere --data-dirs $SCRATCH/x" "" ; do
	out=$("$CS" $bad 2>&1 </dev/null); rc=$?
	[ $rc != 0 ] || fail "'$bad' was accepted"
	[ "$(echo "$out" | grep -c .)" -le 2 ] || fail "'$bad' gave more than a line: $out"
done
"$CS" --help >/dev/null || fail "--help failed"
# a failure-domain label that is not one (it would reach listings and JSON as is)
for bad in "--host a,b" "--rack $(printf 'r%.0s' {1..64})"; do
	out=$(timeout 10 "$CS" $bad --listen 127.0.0.1:0 --data-dirs "$SCRATCH/x" 2>&1 </dev/null); rc=$?
	[ $rc = 2 ] && [ "$(echo "$out" | grep -c .)" = 1 ] && grep -q "is not a label" <<<"$out" ||
		fail "'$bad' gave exit $rc, not 2 with one line saying it is not a label: $out"
done

start_cs 1
wait_serving 1
A=$(csaddr 1)
CH=$((4 << 20))
"$P" "$A" create 1 1 $CH || fail "create failed"
head -c 65536 /dev/urandom >"$SCRATCH/d"
"$P" "$A" write 1 1 0 "$SCRATCH/d" || fail "write failed"

expect() {	# expect EXIT CMD...: run a probe and check its exit status
	local want=$1; shift
	"$P" "$A" "$@" >/dev/null 2>&1; local rc=$?
	[ $rc = "$want" ] || fail "'$*' gave exit $rc, want $want"
}
expect 14 read 1 1 $CH 4096				# offset at the end
expect 14 read 1 1 $((CH - 100)) 4096			# straddles the end
expect 1 read 1 1 0 0					# zero length
expect 1 read 1 1 0 $((9 << 20))			# longer than a frame carries
expect 14 write 1 1 $((CH - 10)) "$SCRATCH/d"		# past the end
expect 14 write 1 1 18446744073709551000 "$SCRATCH/d"	# offset overflow
expect 1 write 1 1 0 "$SCRATCH/d" same 1000		# pattern does not divide
expect 1 write 1 1 0 "$SCRATCH/d" same 131072		# pattern larger than a block
expect 2 read 999 1 0 4096				# no such chunk
expect 4 read 1 9 0 4096				# wrong version
expect 1 create 2 1 3000				# chunk size not a power of two
expect 1 create 3 1 $((4 << 30))			# chunk size too large
expect 1 create 0 1 $CH					# chunk id 0
expect 6 write 1 1 0 "$SCRATCH/d" primary		# no master: never primary

# garbage frames: the connection is closed, the server keeps serving
for k in 1 2 3 4 5; do
	exec 3<>/dev/tcp/127.0.0.1/$((PORT_BASE + 11)) || fail "connect failed"
	head -c $((k * 1000)) /dev/urandom >&3
	exec 3>&-
done
exec 3<>/dev/tcp/127.0.0.1/$((PORT_BASE + 11)) || fail "connect failed"
printf 'SHOL\001\000\145\000' >&3	# a header cut short
exec 3>&-
kill -0 "$CSPID1" 2>/dev/null || fail "the chunkserver died on garbage input"
"$P" "$A" read 1 1 0 65536 >"$SCRATCH/r" || fail "read after bad input failed"
cmp -s "$SCRATCH/r" "$SCRATCH/d" || fail "data changed by bad input"
stop_cs 1
grep -q "stopped" "$SCRATCH/cs1.log" || fail "no clean stop"
echo "PASS $T: bad options, bad requests and garbage frames refused; data intact"
