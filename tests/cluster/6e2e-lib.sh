# Sourced by the end-to-end scenarios tests/cluster/6NN-*.sh (not a scenario
# itself): the one library (lib.sh) plus what end-to-end runs need.  Each
# scenario brings up its own cluster with scripts/shoal-cluster in
# $SCRATCH/c on its $PORT_BASE, talks iSCSI only through real initiators
# (qemu-io, qemu-img, libiscsi's tools), bounds every wait, and on exit
# stops the cluster by the PIDs the launcher recorded.
. "$(dirname "$0")/lib.sh"
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}	# one initiator run, seconds

gw_control_port() { local v=SHOAL_GW$1_CONTROL_PORT; echo "${!v}"; }

# qio URL CMD...: one qemu-io session running the commands in order; fails
# (printing the offending lines) on a non-zero exit, a timeout or any failed
# command, including "Pattern verification failed".  Logs to qemu-io.log.
qio() {
	local u=$1 c out rc
	local -a args=()
	shift
	for c in "$@"; do args+=(-c "$c"); done
	out=$(timeout -k 5 "$QEMU_TIMEOUT" qemu-io -f raw "${args[@]}" "$u" 2>&1)
	rc=$?
	{ echo "=== $(date +%T.%N) qemu-io $u $*"; echo "$out"; echo "=== rc $rc"; } >>"$SCRATCH/qemu-io.log"
	if [ $rc -ne 0 ] || grep -qiE 'fail|error|mismatch|abort' <<<"$out"; then
		echo "qemu-io ($u) rc $rc: $(grep -iE 'fail|error|mismatch|abort|can.t' <<<"$out" | head -n 3 | tr '\n' ' ')" >&2
		return 1
	fi
}

# Size in bytes of the LUN at URL, from READ CAPACITY(16).
capacity() {
	timeout -k 5 30 iscsi-readcapacity16 "$1" 2>/dev/null | sed -n 's/^Total size:\([0-9]*\)$/\1/p'
}

# Chunk data files on every chunkserver's disks.
chunk_files() { find "$DIR"/cs-*/disk-*/ -type f -name '*.data' 2>/dev/null | wc -l; }
chunk_files_are() { [ "$(chunk_files)" = "$1" ]; }
capacity_is() { [ "$(capacity "$1")" = "$2" ]; }

# bg_wait PID WHAT: wait for a background job started by a scenario.
bg_wait() {
	wait "$1" || fail "$2 (exit $?; see $SCRATCH/qemu-io.log)"
}
