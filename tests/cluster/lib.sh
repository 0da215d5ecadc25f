# The one library of the cluster scenarios (tests/cluster/NNN-*.sh; not a
# scenario itself: the runner only picks NNN-*.sh).  Each family's file
# sources it and adds what only that family needs:
#
#   2cs-lib.sh     2NN  a master and chunkservers started by hand; cs_probe
#   4gw-lib.sh     4NN  one master, three chunkservers and stock tgtd, by hand
#   6e2e-lib.sh    6NN  scripts/shoal-cluster; real initiators only
#   7fail-lib.sh   7NN  shoal-cluster with short timeouts, the verifying
#                       load, network faults, replica comparison
#   8integ-lib.sh  800  7fail plus scrubbing and replica-file helpers
#   81crash-lib.sh 810, 820: 8integ plus the crash model
#
# Here: who the scenario is (SCEN, SRC, DIR, IQN_BASE), log and fail,
# clocks and bounded waits, clean-up by PID on exit (BG_PIDS, LOAD_PID,
# the shoal-cluster in $DIR, then CLEANUP_HOOKS in order), and the
# shoal-cluster helpers (cluster_up, adm, gw_adm, vol_create, lun_export,
# url, status_json, cs_json).  Which scenarios belong to which group
# (quick, fault, slow, asan) is in tests/cluster/group; `run BUILD @quick`
# runs a group.
#
# Environment (set by tests/cluster/run): BUILD, SCRATCH, PORT_BASE, SHOAL_SRC.
set -uo pipefail

: "${BUILD:?set BUILD to the build directory}" "${SCRATCH:?}" "${PORT_BASE:?}"
SRC=${SHOAL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
CLUSTER=$SRC/scripts/shoal-cluster
DIR=$SCRATCH/c
SCEN=$(basename "$0" .sh)
IQN_BASE=iqn.2024-01.org.shoal.test:s${SCEN%%-*}
WAIT_POLL=${WAIT_POLL:-0.2}	# wait_until's interval, seconds
declare -a BG_PIDS=()
declare -a CLEANUP_HOOKS=()

log() { echo "[$SCEN $(date +%T)] $*"; }
fail() { echo "FAIL $SCEN: $*"; exit 1; }

cleanup() {
	local f p h
	set +e
	[ -n "${LOAD_PID:-}" ] && kill -9 "$LOAD_PID" 2>/dev/null
	for p in "${BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -f "$DIR/cluster.env" ] && "$CLUSTER" down "$DIR" >/dev/null 2>&1
	for f in "$DIR"/run/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	for h in "${CLEANUP_HOOKS[@]}"; do eval "$h"; done
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# wait_until SECONDS WHAT CMD...: poll CMD every WAIT_POLL s until it
# succeeds, else fail.  CMD is run anew each time: give a function, not an
# expanded $(...).
wait_until() {
	local secs=$1 what=$2 end
	shift 2
	end=$((SECONDS + secs))
	while ((SECONDS < end)); do
		"$@" && return 0
		sleep "$WAIT_POLL"
	done
	fail "$what: not within ${secs}s"
}

# ---- clusters made by scripts/shoal-cluster in $DIR ----

# cluster_up [shoal-cluster up options...]: starts the scenario's cluster
# with what the family's cluster_conf prints (if it has one) added to its
# shoal.conf (CONTROL_BASE: the first tgtd control port, when set), and
# imports its environment.  Ports 33000+ lie
# in the kernel's ephemeral range (32768-60999): a client socket may hold
# one for a moment, so an "Address already in use" start is retried (at
# most 3 attempts).
cluster_up() {
	local try conf=
	local -a cp=()
	[ -n "${CONTROL_BASE:-}" ] && cp=(--control-port-base "$CONTROL_BASE")
	declare -F cluster_conf >/dev/null && conf=$(cluster_conf)
	for try in 1 2 3; do
		SHOAL_CLUSTER_CONF_EXTRA=$conf "$CLUSTER" up "$DIR" --port-base "$PORT_BASE" \
			"${cp[@]}" --build "$BUILD" "$@" >"$SCRATCH/up.log" 2>&1 && break
		grep -q "Address already in use" "$SCRATCH/up.log" && ((try < 3)) ||
			{ tail -n 8 "$SCRATCH/up.log"; fail "shoal-cluster up $*"; }
		log "a port was taken (ephemeral range); retrying the start"
		"$CLUSTER" down "$DIR" >/dev/null 2>&1
		sleep 2
	done
	eval "$("$CLUSTER" env "$DIR")"
	. "$DIR/cluster.env"
	log "cluster up ($*) in $DIR"
}

adm() { "$SHOAL_ADMIN" --config "$SHOAL_CONF" "$@"; }

# gw_adm K ARGS...: shoal-admin for gateway K's tgtd and saved exports.
gw_adm() {
	local cp=SHOAL_GW$1_CONTROL_PORT cd=SHOAL_GW$1_CONF_DIR
	shift
	adm --control-port "${!cp}" --conf-dir "${!cd}" "$@"
}

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

status_json() { adm --timeout-ms 3000 --json cluster status 2>/dev/null; }
cs_json() { adm --timeout-ms 3000 --json chunkserver list 2>/dev/null; }
