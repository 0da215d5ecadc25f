# Helpers shared by the chunkserver scenarios (tests/cluster/2NN-*.sh); sourced.
# Needs: BUILD, SCRATCH, PORT_BASE.  On top of the one library (lib.sh):
# daemons started by hand, recorded in pids and killed by PID on exit.
. "$(dirname "$0")/lib.sh"
CS=$BUILD/chunkserver/shoal-chunkserver
M=$BUILD/master/shoal-master
P=$BUILD/tests/tools/cs_probe
pids=()
CLEANUP_HOOKS+=('for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null')
[ -x "$CS" ] || fail "no $CS (build first)"
[ -x "$P" ] || fail "no $P (build first)"

MADDR=127.0.0.1:$PORT_BASE		# master service; Raft on PORT_BASE+1
export CS_PROBE_MASTERS=$MADDR	# cs_probe opens a gateway session there for client writes
csaddr() { echo "127.0.0.1:$((PORT_BASE + 10 + $1))"; }

# start_master: one master with short leases and heartbeats.
start_master() {
	[ -x "$M" ] || fail "no $M (build first)"
	"$M" --listen "$MADDR" --data-dir "$SCRATCH/m" --lease-ms 3000 --heartbeat-ms 200 \
		--cs-timeout-ms 3000 2>>"$SCRATCH/m.log" &
	MPID=$!
	pids+=("$MPID")
}

# start_cs I [extra options]: chunkserver I (1..) on its own data dir
# ($DATA_DIRS instead, when set).
start_cs() {
	local i=$1; shift
	local mopt=() dd=${DATA_DIRS:-$SCRATCH/cs$i}
	[ "${WITH_MASTER:-yes}" = yes ] && mopt=(--masters "$MADDR")
	"$CS" --listen "$(csaddr "$i")" --data-dirs "$dd" --host "h$i" "${mopt[@]}" "$@" \
		2>>"$SCRATCH/cs$i.log" &
	eval "CSPID$i=$!"
	pids+=("$!")
}

# wait_serving I: the chunkserver answers CS_STATUS (and, with a master, has its id).
wait_serving() {
	local i=$1 n out pid
	eval "pid=\$CSPID$i"
	for n in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || fail "chunkserver $i exited: $(tail -n 1 "$SCRATCH/cs$i.log")"
		out=$(timeout 5 "$P" "$(csaddr "$i")" status 2>/dev/null | head -1)
		if [ -n "$out" ]; then
			[ "${WITH_MASTER:-yes}" = yes ] || return 0
			case $out in cs_id=0\ *) ;; *) return 0 ;; esac
		fi
		sleep 0.1
	done
	fail "chunkserver $i did not come up (see $SCRATCH/cs$i.log)"
}

# stop_cs I: SIGTERM and wait (bounded).
stop_cs() {
	local pid; eval "pid=\$CSPID$1"
	kill -TERM "$pid" 2>/dev/null
	for n in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$pid" 2>/dev/null && fail "chunkserver $1 did not stop on SIGTERM"
	wait "$pid" 2>/dev/null
}

# kill9_cs I: kill -9 and reap it (its port is free afterwards).
kill9_cs() {
	local pid; eval "pid=\$CSPID$1"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# info_field I CHUNK FIELD
info_field() {
	"$P" "$(csaddr "$1")" info "$2" | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# status_field I FIELD
status_field() {
	"$P" "$(csaddr "$1")" status | head -1 | tr ' ' '\n' | sed -n "s/^$2=//p"
}
