# Sourced by the integrity scenarios tests/cluster/8NN-*.sh (not a scenario
# itself): the failure scenarios' helpers (7fail-lib.sh: cluster, load,
# waits; CS_EXTRA, its extra chunkserver settings, carries the scrubbing
# options) plus chunkserver counters and replica-file helpers.
. "$(dirname "$0")/7fail-lib.sh"
PROBE=$BUILD/tests/tools/cs_probe

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
