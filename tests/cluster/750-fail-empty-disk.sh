#!/bin/bash
# 750: a chunkserver comes back with an empty data directory, as an operator
# meets it: a replaced disk, a mount that failed at boot, a wiped directory.
# Three masters, four chunkservers with two data directories each, a
# 3-replica volume of 1 MiB chunks exported through iSCSI.  Each phase
# writes every MiB with a pattern of its own (never zero) through qemu-io,
# reads it back, kills the chunkserver that is recorded primary of the most
# chunks (kill -9), empties its data and starts it again at once (within
# the master's cs_timeout, as a restart by systemd would):
#
#   1 chunks/ emptied in both directories, the id files kept;
#   2 one of its two directories replaced by an empty one, and the master
#     leader killed before the chunkserver comes back (a new leader must
#     not re-derive that replicas exist);
#   3 both directories replaced (a new server identity), and every master
#     restarted before it comes back (state from the log and snapshots).
#
# Pass when, in every phase: every acknowledged MiB reads back with its
# pattern through iSCSI (never zeros); `cluster status` never says OK, nor
# 0 under-replicated, while a member of some chunk's replica set lacks its
# replica (checked against the servers themselves whenever it does); it
# reports the degradation and re-replication repairs it (then OK); the
# replicas of every chunk are
# byte-identical on the servers of its set; and the disk uuids the master
# records (chunkserver list --json) are new for every emptied or replaced
# directory and unchanged for a kept one.  PHASES="1 2 3" selects phases.
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
SIZE_MB=24
PHASES=${PHASES:-1 2 3}
P=$BUILD/tests/tools/cs_probe
L=$BUILD/tests/tools/master_load
[ -x "$P" ] && [ -x "$L" ] || fail "$P or $L not built"

cluster_up --masters 3 --chunkservers 4 --disks 2 --gateways 1
. "$DIR/cluster.env"	# N_MASTERS
vol_create v750 ${SIZE_MB}M --chunk-size 1M --replicas 3
lun_export 1 v750 t 1 1
U=$(url 1 t 1)


pattern() { echo $(((PHASE * 53 + $1) % 250 + 1)); }	# pattern of MiB $1 in this phase

write_all() {
	local i cmds=()
	for ((i = 0; i < SIZE_MB; i++)); do cmds+=("write -P $(pattern $i) $((i * M)) $M"); done
	qio "${cmds[@]}" || fail "phase $PHASE: writing the volume failed"
}

# Every MiB holds this phase's pattern; a MiB that does not is shown as read.
# A read that fails without reading wrong data (the gateway dropping its
# initiators' connections when no master answered for its lease, C3, as a
# leader failover can; qemu-io then also warns that MODE SENSE failed) is
# tried again, as an initiator would, at most 3 times.
verify_all() {
	local i try bad=0 out first rc
	for ((i = 0; i < SIZE_MB; i++)); do
		for try in 1 2 3; do
			out=$(timeout -k 5 120 qemu-io -f raw -c "read -P $(pattern $i) $((i * M)) $M" "$U" 2>&1)
			rc=$?
			grep -qiE 'pattern verification failed|mismatch' <<<"$out" && break
			grep -qiE 'read failed|error' <<<"$out" || [ $rc -ne 0 ] || break
			log "MiB $i: read attempt $try failed without wrong data ($(grep -iE 'fail|error' <<<"$out" | tail -n 1)); again in 2 s"
			sleep 2
		done
		if [ $rc -ne 0 ] || grep -qiE 'pattern verification failed|mismatch|read failed|error' <<<"$out"; then
			first=$(timeout -k 5 60 qemu-io -f raw -c "read -v $((i * M)) 16" "$U" 2>&1 | head -n 1)
			log "MiB $i (pattern $(pattern $i)) reads back wrong: $(grep -iE 'fail|error|mismatch' <<<"$out" | head -n 1); first bytes: $first"
			bad=$((bad + 1))
		fi
	done
	((bad == 0)) || fail "phase $PHASE ($1): $bad of $SIZE_MB acknowledged MiB do not read back"
	log "phase $PHASE ($1): all $SIZE_MB MiB read back through iSCSI"
}

leader_node() {	# node index of the master leader
	local a
	a=$("$L" --masters "$SHOAL_MASTERS" leader 2>/dev/null) || return 1
	echo $(((${a##*:} - PORT_BASE) / 2 + 1))
}

dump() { "$L" --masters "$SHOAL_MASTERS" dump 2>/dev/null; }
cs_addr_of() { cs_json | jq -r ".[] | select(.id == $1) | .addr"; }

# The chunkserver id recorded as primary of the most chunks.
busiest_primary() {
	dump | sed -n 's/^chunk .* primary=\([0-9]*\) .*/\1/p' | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }'
}

# Chunkserver process number (cs-J directory) of a chunkserver id.
cs_index_of() {
	local a
	a=$(cs_addr_of "$1")
	echo $((${a##*:} - PORT_BASE - 2 * N_MASTERS + 1))
}

# Every member of every chunk's set holds a replica of it (asked of the
# server itself); prints the first that does not.
members_hold() {
	local line id reps r a
	declare -A addr=()
	while read -r r a; do addr[$r]=$a; done < <(cs_json | jq -r '.[] | "\(.id) \(.addr)"')
	while read -r line; do
		id=$(sed -n 's/.* id=\([0-9]*\) .*/\1/p' <<<"$line")
		reps=$(sed -n 's/.* reps=\([0-9,]*\).*/\1/p' <<<"$line")
		for r in ${reps//,/ }; do
			"$P" "${addr[$r]}" info "$id" >/dev/null 2>&1 || { echo "chunk $id on cs $r"; return 1; }
		done
	done < <(dump | grep '^chunk ')
}

# cluster status says OK, or 0 under-replicated, only when it is true.  A
# lie is recorded (once a phase) and the phase goes on, so that its reads
# show what it hides; the phase fails at its end.
STATUS_LIE=
status_truthful() {
	local s h u missing
	s=$(status_json) || return 0
	h=$(jq -r .health <<<"$s") u=$(jq -r .under_replicated <<<"$s")
	[ "$h" = OK ] || [ "$u" = 0 ] || return 0
	missing=$(members_hold) && return 0
	[ -n "$STATUS_LIE" ] && return 0
	STATUS_LIE="cluster status says health $h, $u under-replicated, while $missing has no replica"
	log "phase $PHASE: $STATUS_LIE"
}

# Every chunk's replicas are byte-identical on the servers of its set.
replicas_identical() {
	local line id reps r v s first
	declare -A addr=()
	while read -r r a; do addr[$r]=$a; done < <(cs_json | jq -r '.[] | "\(.id) \(.addr)"')
	while read -r line; do
		id=$(sed -n 's/.* id=\([0-9]*\) .*/\1/p' <<<"$line")
		reps=$(sed -n 's/.* reps=\([0-9,]*\).*/\1/p' <<<"$line")
		first=
		for r in ${reps//,/ }; do
			v=$("$P" "${addr[$r]}" info "$id" | sed -n 's/^version=\([0-9]*\).*/\1/p')
			[ -n "$v" ] || fail "phase $PHASE: chunk $id: no replica on cs $r of its set"
			s=$("$P" "${addr[$r]}" read "$id" "$v" 0 $M | sha1sum | cut -c1-40)
			[ -z "$first" ] && first=$s
			[ "$s" = "$first" ] || fail "phase $PHASE: chunk $id differs between the servers of its set ($reps)"
		done
	done < <(dump | grep '^chunk ')
	log "phase $PHASE: every chunk's replicas are identical on the servers of its set"
}

# Disk uuids (by index) the master records for a chunkserver id, comma-separated.
disk_uuids() { cs_json | jq -r ".[] | select(.id == $1) | [.disks | sort_by(.index)[].uuid] | join(\",\")"; }

EMPTIED_INDEX=
empty_data() {	# empty_data J MODE
	local j=$1 d
	case $2 in
	chunks) for d in "$DIR"/cs-"$j"/disk-*; do rm -rf "$d/chunks"; mkdir "$d/chunks"; done ;;
	one-dir)	# the directory holding the most replicas (new ones go to the emptiest disk)
		d=$(for d in "$DIR"/cs-"$j"/disk-*; do echo "$(ls "$d/chunks" | grep -c '\.data$') $d"; done |
			sort -rn | awk 'NR == 1 { print $2 }')
		log "phase $PHASE: replacing $d ($(ls "$d/chunks" | grep -c '\.data$') replicas) by an empty directory"
		EMPTIED_INDEX=$((${d##*disk-} - 1))
		rm -rf "$d" && mkdir "$d" ;;
	all-dirs) for d in "$DIR"/cs-"$j"/disk-*; do rm -rf "$d" && mkdir "$d"; done ;;
	esac
}

# An emptied or replaced directory is a new disk to the master, a kept one the same.
check_disk_identity() {	# check_disk_identity ID MODE UUIDS_BEFORE J
	local id=$1 mode=$2 u0=$3 u1 a new i
	local -a b c
	case $mode in
	all-dirs)
		a=$(cs_addr_of "$id")
		new=$(cs_json | jq -r ".[] | select(.addr == \"$a\" and .id != $id and .state == \"up\") | .id")
		[ -n "$new" ] || fail "phase $PHASE: no new chunkserver id at $a"
		u1=$(disk_uuids "$new")
		log "phase $PHASE: chunkserver $id came back as new chunkserver $new (disks $u0 -> $u1)"
		;;
	*) u1=$(disk_uuids "$id") ;;
	esac
	IFS=, read -ra b <<<"$u0"
	IFS=, read -ra c <<<"$u1"
	((${#b[@]} == 2 && ${#c[@]} == 2)) || fail "phase $PHASE: disk uuids '$u0' -> '$u1': two expected"
	for i in 0 1; do
		if [ "$mode" = all-dirs ] || { [ "$mode" = one-dir ] && [ "$i" = "$EMPTIED_INDEX" ]; }; then
			[ "${b[$i]}" != "${c[$i]}" ] || fail "phase $PHASE: disk $i was replaced but keeps its uuid ${b[$i]}"
		else
			[ "${b[$i]}" = "${c[$i]}" ] || fail "phase $PHASE: disk $i was kept but its uuid changed: ${b[$i]} -> ${c[$i]}"
		fi
	done
	log "phase $PHASE: disk uuids recorded by the master: $u0 -> $u1"
}

phase() {	# phase N MODE MASTER_EVENT
	PHASE=$1
	local mode=$2 event=$3 victim j id0 held t0 ln
	write_all
	verify_all "written"
	wait_until 30 "3 replicas of every chunk before phase $PHASE" fully_replicated 3
	victim=$(busiest_primary)
	[ -n "$victim" ] || fail "phase $PHASE: no recorded primary in the dump"
	j=$(cs_index_of "$victim")
	held=$(cs_chunks "$victim")
	u0=$(disk_uuids "$victim")
	log "phase $PHASE: chunkserver $victim (cs-$j) is primary of $(dump | grep -c " primary=$victim ") chunks and a member of $held sets: kill -9, empty ($mode)"
	"$CLUSTER" kill "$DIR" chunkserver "$j" >/dev/null || fail "kill chunkserver $j failed"
	empty_data "$j" "$mode"
	case $event in
	failover)
		ln=$(leader_node) || fail "no master leader"
		"$CLUSTER" kill "$DIR" master "$ln" >/dev/null || fail "kill master $ln failed"
		log "phase $PHASE: master leader (node $ln) killed"
		;;
	restart)
		for ((ln = 1; ln <= N_MASTERS; ln++)); do "$CLUSTER" kill "$DIR" master "$ln" >/dev/null; done
		# in parallel: one master alone has no quorum to answer the start's wait
		local -a mp=()
		for ((ln = 1; ln <= N_MASTERS; ln++)); do
			"$CLUSTER" start "$DIR" master "$ln" >"$SCRATCH/master-start-$ln.txt" 2>&1 &
			mp+=($!)
		done
		for ln in "${mp[@]}"; do wait "$ln" || fail "starting the masters failed: $(cat "$SCRATCH"/master-start-*.txt)"; done
		ln=
		log "phase $PHASE: every master killed and restarted"
		;;
	esac
	"$CLUSTER" start "$DIR" chunkserver "$j" >/dev/null || fail "start chunkserver $j failed"
	t0=$(now_ms)
	log "phase $PHASE: chunkserver cs-$j started again with its data emptied ($mode)"
	STATUS_LIE=
	status_truthful
	check_disk_identity "$victim" "$mode" "$u0" "$j"
	verify_all "after the empty restart"
	status_truthful
	[ "$event" = failover ] && { "$CLUSTER" start "$DIR" master "$ln" >/dev/null || fail "start master $ln failed"; }
	_healed() { status_truthful; fully_replicated 3; }
	wait_until 120 "phase $PHASE: 3 replicas of every chunk again" _healed
	log "phase $PHASE: re-replicated in $(($(now_ms) - t0)) ms ($(status_field replicated_bytes) bytes copied by this leader)"
	if [ "$mode" = all-dirs ]; then
		# The emptied server came back as a new chunkserver; the old id stays
		# down (health DEGRADED) until the operator removes it.
		[ "$(cs_state "$victim")" = down ] || fail "phase $PHASE: chunkserver $victim is $(cs_state "$victim"), not down"
		[ "$(status_field health)" = DEGRADED ] || fail "phase $PHASE: health is not DEGRADED with chunkserver $victim down"
		adm chunkserver remove "$victim" >"$SCRATCH/remove.txt" 2>&1 || fail "remove $victim: $(cat "$SCRATCH/remove.txt")"
		log "phase $PHASE: old chunkserver $victim removed"
	fi
	wait_until 20 "phase $PHASE: health OK" eval '[ "$(status_field health)" = OK ]'
	status_truthful
	verify_all "after re-replication"
	replicas_identical
	[ -z "$STATUS_LIE" ] || fail "phase $PHASE: $STATUS_LIE"
}

for ph in $PHASES; do
	case $ph in
	1) phase 1 chunks none ;;
	2) phase 2 one-dir failover ;;
	3) phase 3 all-dirs restart ;;
	*) fail "unknown phase $ph" ;;
	esac
done
log "PASS: phases $PHASES"
