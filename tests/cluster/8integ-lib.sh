# Sourced by the integrity scenarios tests/cluster/8NN-*.sh (not a scenario
# itself): the failure scenarios' helpers (7fail-lib.sh: cluster, load,
# waits) plus chunkserver options for scrubbing and replica-file helpers.
#
# CS_EXTRA: extra settings of the chunkserver section (e.g. scrub_rate).
. "$(dirname "$0")/7fail-lib.sh"
CONTROL_BASE=$((340 + (10#${SCEN%%-*} - 800) / 10))
CS_EXTRA=${CS_EXTRA:-}
PROBE=$BUILD/tests/tools/cs_probe

cluster_up() {
	local try
	for try in 1 2 3; do
		SHOAL_CLUSTER_CONF_EXTRA="master: { lease_ms = $LEASE_MS; heartbeat_ms = $HB_MS;
	cs_timeout_ms = $CS_TIMEOUT_MS; replication_max_per_server = $REPL_PER_SERVER; };
chunkserver: { rpc_timeout_ms = 1000; $CS_EXTRA };
gateway: { deadline_ms = $DEADLINE_MS; rpc_timeout_ms = 1000; };" \
			"$CLUSTER" up "$DIR" --port-base "$PORT_BASE" --control-port-base "$CONTROL_BASE" \
			--build "$BUILD" "$@" >"$SCRATCH/up.log" 2>&1 && break
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

cs_addr() { echo "127.0.0.1:$((PORT_BASE + 2 * N_MASTERS + $1 - 1))"; }
# cs_stat J FIELD: a CsStatusRep counter of chunkserver J.
cs_stat() { "$PROBE" "$(cs_addr "$1")" status 2>/dev/null | head -n 1 | tr ' ' '\n' | sed -n "s/^$2=//p"; }
# Sum of a counter over chunkservers 1..N.
cs_stat_sum() {
	local j s=0 v
	for ((j = 1; j <= N_CHUNKSERVERS; j++)); do v=$(cs_stat "$j" "$1"); s=$((s + ${v:-0})); done
	echo "$s"
}
# replica_file J CHUNK_HEX: chunkserver J's data file of a chunk.
replica_file() { ls "$DIR"/cs-"$1"/disk-*/chunks/"$2".data 2>/dev/null | head -n 1; }
# Chunk ids (hex file names) held by every chunkserver.
common_chunks() {
	local j
	for ((j = 1; j <= N_CHUNKSERVERS; j++)); do
		ls "$DIR"/cs-"$j"/disk-*/chunks/ 2>/dev/null | sed -n 's/\.data$//p' | sort -u
	done | sort | uniq -c | awk -v n="$N_CHUNKSERVERS" '$1 == n { print $2 }'
}
# The replicas of CHUNK_HEX are byte-identical on every chunkserver.
replicas_equal() {
	local j f sums=
	for ((j = 1; j <= N_CHUNKSERVERS; j++)); do
		f=$(replica_file "$j" "$1") && [ -n "$f" ] || return 1
		sums+="$(md5sum <"$f" | cut -c1-32) "
	done
	[ "$(tr ' ' '\n' <<<"$sums" | sed '/^$/d' | sort -u | wc -l)" = 1 ]
}
# flip_bytes FILE OFFSET: overwrite 16 bytes with their complement-ish (random) content.
flip_bytes() {
	local f=$1 off=$2
	head -c 16 /dev/urandom | dd of="$f" bs=1 seek="$off" conv=notrunc status=none || fail "cannot corrupt $f"
	sync
}
