# Sourced by the end-to-end scenarios tests/cluster/6NN-*.sh (not a scenario
# itself: the runner only picks NNN-*.sh).  Each scenario brings up its own
# cluster with scripts/shoal-cluster in $SCRATCH/c on its $PORT_BASE, talks
# iSCSI only through real initiators (qemu-io, qemu-img, libiscsi's tools),
# bounds every wait, and on exit stops the cluster by the PIDs the launcher
# recorded.
#
# Environment (set by tests/cluster/run): BUILD, SCRATCH, PORT_BASE, SHOAL_SRC.
set -uo pipefail

: "${BUILD:?set BUILD to the build directory}" "${SCRATCH:?}" "${PORT_BASE:?}"
SRC=${SHOAL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLUSTER=$SRC/scripts/shoal-cluster
DIR=$SCRATCH/c
SCEN=$(basename "$0" .sh)
IQN_BASE=iqn.2024-01.org.shoal.test:s${SCEN%%-*}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}	# one initiator run, seconds
declare -a BG_PIDS=()

log() { echo "[$SCEN $(date +%T)] $*"; }
fail() { echo "FAIL $SCEN: $*"; exit 1; }

cleanup() {
	local f p
	set +e
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -f "$DIR/cluster.env" ] && "$CLUSTER" down "$DIR" >/dev/null 2>&1
	for f in "$DIR"/run/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
}
trap cleanup EXIT

# cluster_up [shoal-cluster up options...]: start the cluster, import its env.
cluster_up() {
	"$CLUSTER" up "$DIR" --port-base "$PORT_BASE" --build "$BUILD" "$@" >"$SCRATCH/up.log" 2>&1 ||
		{ tail -n 8 "$SCRATCH/up.log"; fail "shoal-cluster up $*"; }
	eval "$("$CLUSTER" env "$DIR")"
	log "cluster up ($*) in $DIR"
}

adm() { "$SHOAL_ADMIN" --config "$SHOAL_CONF" "$@"; }

# gw_adm K ARGS...: shoal-admin for gateway K's tgtd and saved exports.
gw_adm() {
	local cp=SHOAL_GW$1_CONTROL_PORT cd=SHOAL_GW$1_CONF_DIR
	shift
	adm --control-port "${!cp}" --conf-dir "${!cd}" "$@"
}

gw_control_port() { local v=SHOAL_GW$1_CONTROL_PORT; echo "${!v}"; }

# vol_create NAME SIZE [volume create options...]
vol_create() {
	adm volume create "$@" >"$SCRATCH/vol-$1.txt" 2>&1 || fail "volume create $*: $(tail -n 1 "$SCRATCH/vol-$1.txt")"
}

# lun_export K VOLUME TARGET TID LUN: export on gateway K as $IQN_BASE-TARGET.
lun_export() {
	gw_adm "$1" lun export "$2" --target "$IQN_BASE-$3" --tid "$4" --lun "$5" >"$SCRATCH/export.txt" 2>&1 ||
		fail "lun export $2 on gateway $1: $(tail -n 1 "$SCRATCH/export.txt")"
}

# url K TARGET LUN: the iscsi:// URL of that LUN through gateway K.
url() { local p=SHOAL_GW$1_PORTAL; echo "iscsi://${!p}/$IQN_BASE-$2/$3"; }

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

# wait_until SECONDS WHAT CMD...: poll CMD every 0.2 s until it succeeds.
# CMD is run anew each time: give a function, not an expanded $(...).
wait_until() {
	local secs=$1 what=$2 end
	shift 2
	end=$((SECONDS + secs))
	while ((SECONDS < end)); do
		"$@" && return 0
		sleep 0.2
	done
	fail "$what: not within ${secs}s"
}

# Chunk data files on every chunkserver's disks.
chunk_files() { find "$DIR"/cs-*/disk-*/ -type f -name '*.data' 2>/dev/null | wc -l; }
chunk_files_are() { [ "$(chunk_files)" = "$1" ]; }
capacity_is() { [ "$(capacity "$1")" = "$2" ]; }

# bg_wait PID WHAT: wait for a background job started by a scenario.
bg_wait() {
	wait "$1" || fail "$2 (exit $?; see $SCRATCH/qemu-io.log)"
}
