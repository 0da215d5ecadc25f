# Sourced by the power-loss and torture scenarios (tests/cluster/810-*.sh,
# 820-*.sh; not a scenario itself): the integrity helpers (8integ-lib.sh)
# plus a chunkserver built with --enable-crash-sim, so that kill -9 loses
# exactly what a power cut would (chunkserver/crash_sim.h), and the
# verifying writer tests/tools/iscsi_torture.
#
# The crash-sim chunkserver is built once into $BUILD/crash-sim with the
# same configure options as $BUILD (config.status --config) and reused by
# every scenario that sources this file; make keeps it current.
. "$(dirname "$0")/8integ-lib.sh"
TORTURE=$BUILD/tests/tools/iscsi_torture
CSIM=$BUILD/crash-sim

build_crash_sim() {
	local args
	[ -x "$TORTURE" ] || fail "$TORTURE not built"
	mkdir -p "$CSIM" || fail "cannot create $CSIM"
	if [ ! -f "$CSIM/Makefile" ]; then
		args=$("$BUILD/config.status" --config) || fail "cannot read $BUILD's configure options"
		log "configuring the crash-sim chunkserver in $CSIM"
		(cd "$CSIM" && eval "\"$SRC/configure\" $args --enable-crash-sim" >configure.out 2>&1) ||
			{ rm -f "$CSIM/Makefile"; fail "configure --enable-crash-sim failed (see $CSIM/configure.out)"; }
	fi
	make -C "$CSIM" -j2 chunkserver/shoal-chunkserver >"$CSIM/make.out" 2>&1 ||
		fail "building the crash-sim chunkserver failed (see $CSIM/make.out)"
	grep -q '^#define SHOAL_CRASH_SIM 1' "$CSIM/config.h" || fail "$CSIM is not a crash-sim build"
	export SHOAL_CHUNKSERVER_BIN=$CSIM/chunkserver/shoal-chunkserver
	log "crash-sim chunkserver: $SHOAL_CHUNKSERVER_BIN"
}

# The whole cluster loses power at once: kill -9 every process together.
power_cut() {
	local f p i pids=()
	for f in "$DIR"/run/*.pid; do [ -f "$f" ] && pids+=("$(cat "$f")"); done
	((${#pids[@]})) || fail "no process to cut"
	kill -9 "${pids[@]}" 2>/dev/null
	for p in "${pids[@]}"; do
		for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && fail "pid $p survived kill -9"
	done
	rm -f "$DIR"/run/*.pid
}

# restart ROLE N...: start what is not running (bounded by the launcher's waits).
# The scenario ports lie in the kernel's ephemeral range (32768-60999): once
# a daemon is killed, a client that keeps reconnecting to its port can get
# that very port as its own source port (a TCP self-connect) until it gives
# up on the odd peer, so "Address already in use" is retried (5 attempts).
restart() {
	local r=$1 n try out
	shift
	for n in "$@"; do
		for try in 1 2 3 4 5; do
			out=$("$CLUSTER" start "$DIR" "$r" "$n" 2>&1) && break
			echo "$out" >>"$SCRATCH/restart.log"
			grep -q "Address already in use" <<<"$out" && ((try < 5)) ||
				fail "restart of $r $n failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
			log "restart of $r $n: its port is taken (ephemeral range); retrying"
			sleep 1
		done
	done
}

restart_all() {
	local j p=()
	restart master 1
	for ((j = 1; j <= N_CHUNKSERVERS; j++)); do
		(restart chunkserver "$j") &
		p+=($!)
	done
	wait "${p[@]}"
	for ((j = 1; j <= N_CHUNKSERVERS; j++)); do
		[ -n "$(cs_pid "$j")" ] && kill -0 "$(cs_pid "$j")" 2>/dev/null ||
			fail "restart of chunkserver $j failed: $(tail -n 2 "$SCRATCH/restart.log" | tr '\n' ' ')"
	done
	restart gateway 1
}

# Replicas of every chunk that all chunkservers hold are byte-identical.
all_replicas_equal() {
	local c
	for c in $(common_chunks); do replicas_equal "$c" || return 1; done
}

# ---- the verifying writer (tests/tools/iscsi_torture) ----
TLOG=$SCRATCH/torture.log

# writer_start URL RUN SECONDS [QD]: a background run appending to $TLOG.
writer_start() {
	"$TORTURE" write "$1" "$TLOG" --run "$2" --seconds "$3" --qd "${4:-8}" --max-blocks 64 \
		--seed "$RANDOM" >>"$SCRATCH/writer.out" 2>&1 &
	WRITER_PID=$!
	BG_PIDS+=("$WRITER_PID")
	WRITER_SECS=$3
}

# Acknowledged writes in the log so far.
acked() { if [ -f "$TLOG" ]; then grep -c '^A ' "$TLOG"; else echo 0; fi; }

# wait_acked N SECONDS: until N more writes were acknowledged.
wait_acked() {
	local want=$(($(acked) + $1))
	_enough() { [ "$(acked)" -ge "$want" ]; }
	wait_until "$2" "$1 more acknowledged writes" _enough
}

# The writer ends by itself: its run, the 30 s drain and a login bound.
writer_wait() {
	local end=$((SECONDS + WRITER_SECS + 60))
	while kill -0 "$WRITER_PID" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
	kill -0 "$WRITER_PID" 2>/dev/null && fail "the writer did not end within $((WRITER_SECS + 60)) s"
	wait "$WRITER_PID" || fail "writer: $(tail -n 2 "$SCRATCH/writer.out" | tr '\n' ' ')"
	WRITER_LAST=$(tail -n 1 "$SCRATCH/writer.out")
}

# verify URL: every block holds its last acknowledged write or a later in-flight one.
VERIFIED=0
verify() {
	local out
	out=$(timeout -k 5 200 "$TORTURE" verify "$1" "$TLOG" --timeout 120 2>&1)
	local rc=$?
	echo "$out" >>"$SCRATCH/verify.out"
	[ $rc -eq 0 ] || fail "verify: $(grep -m 3 -E 'FINDING|failed|iscsi_torture' <<<"$out" | tr '\n' ' ')"
	VERIFIED=$(sed -n 's/.*(\([0-9]*\) acknowledged,.*/\1/p' <<<"$out" | tail -n 1)
	VERIFY_LAST=$(tail -n 1 <<<"$out")
}
