# Sourced by the power-loss and torture scenarios (tests/cluster/810-*.sh,
# 820-*.sh; not a scenario itself): the integrity helpers (8integ-lib.sh)
# plus the crash model, so that kill -9 loses exactly what a power cut
# would: a chunkserver built with --enable-crash-sim (chunkserver/crash_sim.h:
# every write it makes, data and metadata, names and sizes) and masters
# running under tests/tools/crash_preload.so (the Raft log and snapshots,
# chunkserver/crash_undo.h), both in subset mode (a cut keeps a random
# subset of what was not durable; SHOAL_CRASH_SIM_SUBSET=0 turns it off,
# and crash_model_check then fails).  tgtd keeps nothing that must
# survive (DESIGN.md), so a plain kill -9 is already its power cut.  And
# the verifying writer tests/tools/iscsi_torture.
#
# The crash-sim build is made once into $BUILD/crash-sim with the same
# configure options as $BUILD (config.status --config) and reused by every
# scenario that sources this file; make keeps it current.
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
	make -C "$CSIM" -j2 chunkserver/shoal-chunkserver tests/tools/crash_preload.la >"$CSIM/make.out" 2>&1 ||
		fail "building the crash-sim chunkserver failed (see $CSIM/make.out)"
	grep -q '^#define SHOAL_CRASH_SIM 1' "$CSIM/config.h" || fail "$CSIM is not a crash-sim build"
	export SHOAL_CHUNKSERVER_BIN=$CSIM/chunkserver/shoal-chunkserver
	export SHOAL_MASTER_PRELOAD=$CSIM/tests/tools/.libs/crash_preload.so
	export SHOAL_CRASH_SIM_SUBSET=${SHOAL_CRASH_SIM_SUBSET:-1}
	[ -f "$SHOAL_MASTER_PRELOAD" ] || fail "$SHOAL_MASTER_PRELOAD not built"
	log "crash-sim chunkserver: $SHOAL_CHUNKSERVER_BIN; masters under $SHOAL_MASTER_PRELOAD"
}

# ---- proof that the crash model ran (crash_sim.h, crash_undo.h: "Evidence") ----

# sum_field REGEX FILES...: the sum of the numbers sed's REGEX captures (\1) in FILES.
sum_field() {
	local re=$1
	shift
	sed -n "s/$re/\1/p" "$@" | awk '{ s += $1 } END { print s + 0 }'
}

# crash_model_check [master]: every start of every chunkserver and master
# ran under the model in subset mode and settled its last cut; over the
# run, the chunkservers' cuts lost sectors that were not durable, left
# others on disk, and the subset mode wrote some back early; with
# "master", a master's cut also found writes not durable (in flight).
# Prints the totals.
crash_model_check() {
	local f starts n lost ondisk early msect mkept mnames
	for f in "$DIR"/logs/chunkserver-*.log "$DIR"/logs/master-*.log; do
		starts=$(grep -c '^=== .* start: ' "$f")
		case $f in
		*/chunkserver-*)
			n=$(grep -c 'WARN: crash-sim I/O backend: .*(subset mode' "$f")
			[ "$n" = "$starts" ] || fail "$(basename "$f"): $starts starts, $n of them in the crash model's subset mode"
			n=$(grep -c 'WARN: crash-sim: power cut of .* settled: ' "$f") ;;
		*)
			n=$(grep -c '^crash-preload: power cut of .* settled: .* subset mode$' "$f") ;;
		esac
		((starts > 0)) && [ "$n" = "$starts" ] ||
			fail "$(basename "$f"): $starts starts, the crash model settled a power cut at $n of them"
	done
	local cs=("$DIR"/logs/chunkserver-*.log) ms=("$DIR"/logs/master-*.log)
	lost=$(sum_field '.*crash-sim: power cut of .*sectors: [0-9]* on disk, \([0-9]*\) lost.*' "${cs[@]}")
	ondisk=$(sum_field '.*crash-sim: power cut of .*sectors: \([0-9]*\) on disk, .*' "${cs[@]}")
	early=$(sum_field '.*crash-sim: power cut of .*, \([0-9]*\) sectors on disk early$' "${cs[@]}")
	msect=$(sum_field '^crash-preload: .*sectors not durable: \([0-9]*\) .*' "${ms[@]}")
	mkept=$(sum_field '^crash-preload: .*sectors not durable: [0-9]* (\([0-9]*\) kept).*' "${ms[@]}")
	mnames=$(sum_field '^crash-preload: .*names\/sizes not durable: \([0-9]*\) .*' "${ms[@]}")
	log "crash model: chunkservers' cuts lost $lost sectors and found $ondisk on disk ($early written back early); masters' cuts found $msect sectors ($mkept kept) and $mnames names or sizes not durable"
	((lost > 0)) || fail "no power cut lost a sector that was not durable: the crash model did nothing"
	((ondisk > 0 && early > 0)) || fail "no power cut left part of what was not durable on disk: subset mode is off"
	# A cut lands between libraft's write and its fsync only by chance (the
	# window is short); a segment's creation or growth not yet synced is
	# there at nearly every cut.  Either shows the preload is in the path.
	[ "${1:-}" != master ] || ((msect + mnames > 0)) ||
		fail "no master cut found a write, a name or a size that was not durable: the preload did nothing"
}

# count_torn J...: the torn regions chunkservers J... recovered at their
# start (chunk_file.c recover_dirty; the counter lives as long as the
# process), added to TORN_TOTAL.  Call it once after every restart.
TORN_TOTAL=0
count_torn() {
	local j v
	for j in "$@"; do
		_cs_answers() { v=$(cs_stat "$j" torn_regions) && [ -n "$v" ]; }
		wait_until 20 "chunkserver $j answering CS_STATUS" _cs_answers
		TORN_TOTAL=$((TORN_TOTAL + v))
	done
}

# take_leases VOLUME: one read of each written chunk through its primary.
# A member left one version behind (a resync moved the others on while no
# lease was live) is brought along by the set-version round of the next
# lease, taken lazily by the first I/O; with the writer stopped, these reads
# are that I/O.  Failures are left to replicas_identical.
take_leases() {
	local js vid size csz i cid ver epoch prim
	js=$(adm --timeout-ms 3000 --json volume info "$1") || return 0
	vid=$(jq -r .id <<<"$js") size=$(jq -r .size <<<"$js") csz=$(jq -r .chunk_size <<<"$js")
	[[ $vid =~ ^[0-9]+$ && $size =~ ^[0-9]+$ && $csz =~ ^[0-9]+$ ]] || return 0
	for ((i = 0; i * csz < size; i++)); do
		read -r cid ver epoch prim < <("$PROBE_BIN" "$SHOAL_MASTERS" lookup "$vid" "$i" 2>/dev/null)
		[ -n "$prim" ] && [ "$cid" != 0 ] || continue
		"$PROBE_BIN" "$prim" read "$cid" "$ver" 0 512 primary >/dev/null 2>&1
	done
	return 0
}

# wait_sets_equal VOLUME SECONDS: until replicas_identical (7fail-lib.sh:
# every written chunk's replicas, on every server of its set, at one
# version and byte-identical, read through their chunkservers) holds;
# reconciliation may still be running.  SETS_CHECKED says what it compared.
SETS_CHECKED=
wait_sets_equal() {
	local end=$((SECONDS + $2)) out
	while ((SECONDS < end)); do
		take_leases "$1"
		# in a subshell: a difference or a failed read fails only that try
		out=$(replicas_identical "$1" && echo "$IDENTICAL") && { SETS_CHECKED=$out; return 0; }
		sleep 0.5
	done
	fail "replica sets of $1 not identical within $2 s: ${out#FAIL "$SCEN": }"
}

# power_cut [PID...]: the whole cluster loses power at once, and the
# processes PID... with it (an initiator): kill -9 every one together.
power_cut() {
	local f p i pids=("$@")
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

# After a power_cut that took the writer too: a log line cut by the kill
# says nothing (the write it would announce may or may not have been
# issued, as for any write in flight): it is dropped.
writer_killed() {
	wait "$WRITER_PID" 2>/dev/null
	if [ -s "$TLOG" ] && [ -n "$(tail -c 1 "$TLOG")" ]; then
		sed -i '$ d' "$TLOG"
	fi
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
