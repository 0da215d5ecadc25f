# Sourced by the gateway scenarios tests/cluster/4NN-*.sh (not a scenario
# itself: the runner only picks NNN-*.sh).  Starts a real shoal-master,
# three shoal-chunkservers and stock tgtd gateways loading bs_shoal.so from
# the build tree, each tgtd in a private mount namespace where the build's
# module directory is bind-mounted over /usr/lib/tgt/backing-store.
#
# Environment: BUILD (build dir, required), SCRATCH (work dir), PORT_BASE
# (20 ports from here; defaults inside 19000-19999 when run by hand).
# Everything started is recorded by PID and killed by PID on exit.
set -euo pipefail

: "${BUILD:?set BUILD to the build directory}"
SCEN=$(basename "$0" .sh)
NUM=${SCEN%%-*}
SCRATCH=${SCRATCH:-$(mktemp -d "/tmp/shoal-$SCEN.XXXXXX")}
PORT_BASE=${PORT_BASE:-$((19000 + (10#$NUM - 400) * 20))}
# tgtd control ports (tgtadm -C): two per scenario from 190.
CTL_BASE=$((190 + (10#$NUM - 400) * 2))
ADMIN=$BUILD/admin/shoal-admin
TOOLS=$BUILD/tests/tools
MASTER=127.0.0.1:$PORT_BASE		# Raft on PORT_BASE+1
CS_PORT0=$((PORT_BASE + 2))		# chunkservers: +2, +3, +4
PORTAL0=$((PORT_BASE + 10))		# gateways: +10, +11

mkdir -p "$SCRATCH"
. "$(dirname "$0")/lib.sh"	# log, fail, clean-up on exit (gw4_cleanup below)
IQN_BASE=iqn.2024-01.org.shoal.test
# No /etc/shoal/shoal.conf of the host leaks in: every process gets this one.
CONF=$SCRATCH/empty.conf
echo "# shoal test: all options on the command line" >"$CONF"
declare -a GW_PIDS=() GW_CTLS=() DAEMON_PIDS=()

gw4_cleanup() {
	local i pid
	set +e
	for i in "${!GW_PIDS[@]}"; do
		pid=${GW_PIDS[$i]}
		kill -0 "$pid" 2>/dev/null || continue
		tgtadm -C "${GW_CTLS[$i]}" --op delete --mode system >/dev/null 2>&1
		for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for pid in "${DAEMON_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
}
CLEANUP_HOOKS+=(gw4_cleanup)

need() {
	local f
	for f in "$@"; do
		[ -x "$f" ] || fail "missing $f (build first: make -j2 in $BUILD)"
	done
}

module_dir() {
	# Only the .so: tgtd dlopen()s every entry of the directory.
	local so=$BUILD/backing-store/.libs/bs_shoal.so
	[ -f "$so" ] || fail "missing $so"
	mkdir -p "$SCRATCH/modules"
	# Copy and rename, never overwrite in place: a running tgtd maps the file.
	if [ ! -f "$SCRATCH/modules/bs_shoal.so" ]; then
		cp "$so" "$SCRATCH/modules/.bs_shoal.so.tmp"
		mv -f "$SCRATCH/modules/.bs_shoal.so.tmp" "$SCRATCH/modules/bs_shoal.so"
	fi
	echo "$SCRATCH/modules"
}

# start_cluster [LEASE_MS]: one master, three chunkservers, wait until all three are up.
start_cluster() {
	local lease=${1:-3000} i n
	need "$BUILD/master/shoal-master" "$BUILD/chunkserver/shoal-chunkserver" "$ADMIN"
	rm -rf "$SCRATCH/master" "$SCRATCH"/cs[0-9]
	mkdir -p "$SCRATCH/master"
	"$BUILD/master/shoal-master" --config "$CONF" --id 1 --listen "$MASTER" --masters "$MASTER" \
		--data-dir "$SCRATCH/master" --lease-ms "$lease" --heartbeat-ms 200 \
		--cs-timeout-ms 2000 >"$SCRATCH/master.log" 2>&1 &
	DAEMON_PIDS+=($!)
	for i in 0 1 2; do
		mkdir -p "$SCRATCH/cs$i"
		"$BUILD/chunkserver/shoal-chunkserver" --config "$CONF" --listen "127.0.0.1:$((CS_PORT0 + i))" \
			--data-dirs "$SCRATCH/cs$i" --masters "$MASTER" --host "h$i" \
			>"$SCRATCH/cs$i.log" 2>&1 &
		DAEMON_PIDS+=($!)
	done
	for i in $(seq 1 150); do
		n=$("$ADMIN" --config "$CONF" --masters "$MASTER" --timeout-ms 1000 --json chunkserver list 2>/dev/null |
			grep -o '"state": *"up"' | wc -l) || n=0
		[ "$n" -ge 3 ] && { log "cluster up: master $MASTER, 3 chunkservers"; return 0; }
		sleep 0.2
	done
	tail -5 "$SCRATCH/master.log" "$SCRATCH"/cs*.log >&2
	fail "chunkservers did not come up within 30 s"
}

# create_volume NAME SIZE [shoal-admin volume create options...]
create_volume() {
	local name=$1 size=$2
	shift 2
	"$ADMIN" --config "$CONF" --masters "$MASTER" volume create "$name" "$size" "$@" ||
		fail "volume create $name $size $* failed"
}

# start_gateway IDX: tgtd number IDX (0 or 1) on portal PORTAL0+IDX, control port CTL_BASE+IDX.
start_gateway() {
	local idx=$1 ctl=$((CTL_BASE + $1)) port=$((PORTAL0 + $1)) mods pid i
	mods=$(module_dir)
	mkdir -p /usr/lib/tgt/backing-store /var/run/tgtd
	# unshare and sh exec, so $! is tgtd itself; the bind mount is private to it.
	# env: a sanitizer build of the module needs its runtimes preloaded.
	local tenv=()
	mapfile -t tenv < <("${SHOAL_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/scripts/tgtd-env" "$mods/bs_shoal.so")
	env "${tenv[@]}" unshare --mount --propagation private sh -c \
		"mount --bind '$mods' /usr/lib/tgt/backing-store && exec ${TGTD_WRAP:-} /usr/sbin/tgtd -f -C $ctl --iscsi portal=127.0.0.1:$port" \
		>"$SCRATCH/tgtd$idx.log" 2>&1 &
	pid=$!
	GW_PIDS+=("$pid")
	GW_CTLS+=("$ctl")
	for i in $(seq 1 100); do
		if tgtadm -C "$ctl" --op show --mode system 2>/dev/null | grep -q shoal; then
			log "gateway $idx: tgtd pid $pid, portal 127.0.0.1:$port, control port $ctl"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$SCRATCH/tgtd$idx.log" >&2
	fail "tgtd $idx did not start or did not load bs_shoal.so"
}

# export_lun IDX TID LUN VOLUME [BSOPTS]: prints the iscsi:// URL.
export_lun() {
	local idx=$1 tid=$2 lun=$3 vol=$4 ctl=$((CTL_BASE + $1)) port=$((PORTAL0 + $1))
	local opts=${5:-"masters=$MASTER;deadline_ms=20000"}
	local iqn=$IQN_BASE:gw$idx-$vol
	tgtadm -C "$ctl" --lld iscsi --op new --mode target --tid "$tid" -T "$iqn" >&2 ||
		fail "gateway $idx: new target $tid"
	tgtadm -C "$ctl" --lld iscsi --op new --mode logicalunit --tid "$tid" --lun "$lun" \
		--bstype shoal --backing-store "$vol" --bsopts "$opts" >&2 ||
		{ tail -20 "$SCRATCH/tgtd$idx.log" >&2; fail "gateway $idx: new LUN $lun ($vol)"; }
	tgtadm -C "$ctl" --lld iscsi --op bind --mode target --tid "$tid" -I ALL >&2 ||
		fail "gateway $idx: bind"
	echo "iscsi://127.0.0.1:$port/$iqn/$lun"
}
