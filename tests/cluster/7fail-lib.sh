# Sourced by the failure scenarios tests/cluster/7NN-*.sh (not a scenario
# itself).  Each scenario brings up its own cluster with scripts/shoal-cluster
# in $SCRATCH/c on its $PORT_BASE with short timeouts (lease 2 s, heartbeat
# 300 ms, chunkserver down after 2 s), drives I/O only through real
# initiators (qemu-io over iSCSI), bounds every wait, and on exit stops what
# it started by PID.
#
# The verifying load (load_start / load_stop / load_verify): a background
# loop of qemu-io sessions, each writing LOAD_BATCH slots of LOAD_SLOT bytes
# with a pattern unique to that write and reading each back in the same
# session.  A session counts only when every command in it succeeded; its
# writes are then recorded as acknowledged (slot, pattern) in $SCRATCH/ack.
# Any failed command, or a command slower than STALL_MS (the gateway
# deadline unless the scenario states a tighter bound: a scenario that
# claims "no stall" bounds every command well below the deadline, derived
# from the timeouts that govern its failover), stops the load with the
# reason in $SCRATCH/load.err.  load_verify reads every slot back and
# compares it with the last acknowledged pattern.
#
# replicas_identical VOLUME: every written chunk's replicas on the servers
# of its set (the master's view) are at one version (the master's, or the
# one before a grant not yet used) and byte-identical, read through the
# chunkservers with checksums verified.
#
# The one library (lib.sh) has the rest: identity, log/fail, clean-up by
# PID, waits, and the shoal-cluster helpers.
. "$(dirname "$0")/lib.sh"
WAIT_POLL=0.3
# tgtd control ports 330-342 (one per ten scenarios, 7NN and 8NN): tgtd takes -C up to 1023 only
CONTROL_BASE=${CONTROL_BASE:-$((330 + (10#${SCEN%%-*} - 700) / 10))}

LEASE_MS=2000
CS_CLEAN_MS=${CS_CLEAN_MS:-300000}	# chunkserver clean_ms (its default)
# CS_EXTRA: more settings of the chunkserver section (e.g. "disk_timeout_ms = 3000;")
HB_MS=300
CS_TIMEOUT_MS=${CS_TIMEOUT_MS:-2000}	# master cs_timeout_ms
REPL_PER_SERVER=${REPL_PER_SERVER:-4}
DEADLINE_MS=${DEADLINE_MS:-20000}	# every SCSI command, in the gateway
GW_RPC_TIMEOUT_MS=${GW_RPC_TIMEOUT_MS:-1000}	# the gateway's wait for one chunkserver answer
STALL_MS=${STALL_MS:-$DEADLINE_MS}	# the load's bound on any one command
LOAD_SLOT=$((128 * 1024))
LOAD_BATCH=8
# What cluster_up (lib.sh) adds to shoal.conf: the timeouts above, read
# when the cluster starts.
cluster_conf() {
	echo "master: { lease_ms = $LEASE_MS; heartbeat_ms = $HB_MS;
	cs_timeout_ms = $CS_TIMEOUT_MS; replication_max_per_server = $REPL_PER_SERVER; };
chunkserver: { rpc_timeout_ms = 1000; clean_ms = $CS_CLEAN_MS; ${CS_EXTRA:-} };
gateway: { deadline_ms = $DEADLINE_MS; rpc_timeout_ms = $GW_RPC_TIMEOUT_MS; };"
}

# ---- cluster state (JSON from shoal-admin) ----

# status_field NAME
status_field() { status_json | jq -r ".$1" 2>/dev/null; }
# Replicas held by servers in state STATE (sum of set memberships).
replicas_in_state() { cs_json | jq "[.[] | select(.state == \"$1\") | .chunks] | add // 0" 2>/dev/null; }
cs_chunks() { cs_json | jq ".[] | select(.id == $1) | .chunks" 2>/dev/null; }
cs_state() { cs_json | jq -r ".[] | select(.id == $1) | .state" 2>/dev/null; }

# Every chunk has REPLICAS members, all on up servers, and nothing is under-replicated.
fully_replicated() {
	local want=$1 s chunks under up
	s=$(status_json) || return 1
	chunks=$(jq .chunks <<<"$s") under=$(jq .under_replicated <<<"$s")
	[ "$under" = 0 ] || return 1
	up=$(replicas_in_state up)
	[ -n "$up" ] && [ "$up" = $((want * chunks)) ]
}

cs_pid() { cat "$DIR/run/chunkserver-$1.pid" 2>/dev/null; }

# page_logged SECTION N FILE: the Nth log line shoal(7) quotes (.Dl or .Ql)
# in its subsection SECTION is in FILE.  The page's numbers, "(/path)",
# "5d1f..." (a disk uuid) and ADDRESS (host:port) match any.
page_logged() {
	python3 - "$SRC/man/shoal.7" "$1" "$2" "$3" <<'PY'
import re, sys
page, sec, n, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lines, on = [], False
for l in open(page):
    l = l.rstrip("\n")
    if l == ".Ss " + sec:
        on = True
        continue
    if on and re.match(r"\.S[sh] ", l):
        break
    if on and (l.startswith(".Dl ") or l.startswith(".Ql ")):
        lines.append(l[4:])
if len(lines) < n:
    sys.exit("shoal(7) '%s' quotes %d log lines, not %d" % (sec, len(lines), n))
t = lines[n - 1]
t = re.sub(r"\(/[^)]*\)", "(@PATH@)", t).replace("5d1f...", "@UUID@").replace("ADDRESS", "@ADDR@")
p = re.sub(r"\d+", "@NUM@", re.escape(t))
p = (p.replace("@PATH@", "[^)]*").replace("@UUID@", "[0-9a-f-]+").replace("@NUM@", "[0-9]+")
     .replace("@ADDR@", "[0-9a-z.:-]+"))
if not any(re.search(p, l) for l in open(log, errors="replace")):
    sys.exit("not logged: '%s' (pattern %s)" % (lines[n - 1], p))
PY
}

# master_dump: the master's chunk table (master_load dump), one line a chunk.
master_dump() { "$BUILD/tests/tools/master_load" --masters "$SHOAL_MASTERS" dump 2>/dev/null; }
# busiest_primary DUMP: the chunkserver recorded as primary of the most chunks.
busiest_primary() {
	sed -n 's/^chunk .* primary=\([0-9]*\) .*/\1/p' "$1" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }'
}

# chunks_identical N BYTES: chunks 1..N (BYTES each) are byte-identical on
# chunkservers 1..3 of a one-master cluster, each read at its own version.
chunks_identical() {
	local n=$1 bytes=$2 id j a
	local -a sums
	for ((id = 1; id <= n; id++)); do
		sums=()
		for j in 1 2 3; do
			a=127.0.0.1:$((PORT_BASE + 2 + j - 1))
			replica_version "$a" $id
			replica_sum "$a" $id "$VER" 0 "$bytes"	# a failed read fails here, never hashes as empty
			sums+=("$SUM")
		done
		[ "${sums[0]}" = "${sums[1]}" ] && [ "${sums[0]}" = "${sums[2]}" ] ||
			fail "chunk $id differs across replicas: ${sums[*]}"
	done
	log "all $n chunks identical on the 3 chunkservers"
}

# ---- the verifying load ----

# Longest command of a qemu-io output, in ms ("... ops; 00.01 sec (..." or "0:01:02.50 sec").
max_cmd_ms() {
	awk '/ ops; / { t = $0; sub(/.* ops; /, "", t); sub(/ sec.*/, "", t);
		n = split(t, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i];
		if (s * 1000 > m) m = s * 1000 } END { printf "%d\n", m }'
}

# qio CMD...: one qemu-io session on $U (the scenario's LUN); every command
# must succeed.  Prints the failing lines and returns 1 otherwise.
qio() {
	local c out
	local -a args=()
	for c in "$@"; do args+=(-c "$c"); done
	out=$(timeout -k 5 300 qemu-io -f raw "${args[@]}" "$U" 2>&1) || { echo "$out" | tail -n 3; return 1; }
	! grep -qiE 'fail|error|mismatch' <<<"$out" || { grep -iE 'fail|error|mismatch' <<<"$out" | head -n 3; return 1; }
}

# load_loop URL NSLOTS: runs until $SCRATCH/load.stop exists (at most 20000 sessions).
load_loop() {
	local u=$1 nslots=$2 k=0 b s p out rc ms
	local -a cmds recs
	while [ ! -f "$SCRATCH/load.stop" ] && ((k < 20000)); do
		cmds=() recs=()
		for ((b = 0; b < LOAD_BATCH; b++)); do
			s=$(((k * LOAD_BATCH + b) % nslots))
			p=$(((k * LOAD_BATCH + b) % 251 + 1))
			cmds+=(-c "write -P $p $((s * LOAD_SLOT)) $LOAD_SLOT" -c "read -P $p $((s * LOAD_SLOT)) $LOAD_SLOT")
			recs+=("$s $p")
		done
		out=$(timeout -k 5 $((DEADLINE_MS / 1000 * 2 * LOAD_BATCH + 30)) qemu-io -f raw "${cmds[@]}" "$u" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || grep -qiE 'fail|error|mismatch|abort|can.t' <<<"$out"; then
			echo "session $k rc $rc: $(grep -iE 'fail|error|mismatch|abort|can.t' <<<"$out" | head -n 2 | tr '\n' ' ')" \
				>"$SCRATCH/load.err"
			return 1
		fi
		ms=$(max_cmd_ms <<<"$out")
		echo "$ms" >>"$SCRATCH/load.lat"
		if ((ms > STALL_MS)); then
			echo "session $k: a command took $ms ms (bound $STALL_MS, deadline $DEADLINE_MS)" >"$SCRATCH/load.err"
			return 1
		fi
		printf '%s\n' "${recs[@]}" >>"$SCRATCH/ack"
		k=$((k + 1))
	done
}

# load_start URL NSLOTS
load_start() {
	rm -f "$SCRATCH/load.stop" "$SCRATCH/load.err" "$SCRATCH/ack" "$SCRATCH/load.lat"
	touch "$SCRATCH/ack" "$SCRATCH/load.lat"
	load_loop "$1" "$2" &
	LOAD_PID=$!
	LOAD_T0=$(now_ms)
	log "verifying load started on $1 ($2 slots of $LOAD_SLOT bytes, pid $LOAD_PID)"
}

load_acked() { wc -l <"$SCRATCH/ack"; }
load_ok() { [ ! -s "$SCRATCH/load.err" ] && kill -0 "$LOAD_PID" 2>/dev/null; }
load_check() { [ ! -s "$SCRATCH/load.err" ] || fail "load: $(cat "$SCRATCH/load.err")"; }

# load_wait_acks N SECONDS: until N more writes were acknowledged.
load_wait_acks() {
	local want=$(($(load_acked) + $1))
	_acked_enough() { load_check; [ "$(load_acked)" -ge "$want" ]; }
	wait_until "$2" "$1 more acknowledged writes" _acked_enough
}

load_stop() {
	touch "$SCRATCH/load.stop"
	local end=$((SECONDS + DEADLINE_MS / 1000 * 2 * LOAD_BATCH + 40))
	while kill -0 "$LOAD_PID" 2>/dev/null && ((SECONDS < end)); do sleep 0.2; done
	kill -0 "$LOAD_PID" 2>/dev/null && fail "load did not stop"
	wait "$LOAD_PID" 2>/dev/null
	LOAD_PID=
	load_check
	log "load stopped: $(load_acked) writes acknowledged and read back in session, longest command $(sort -n "$SCRATCH/load.lat" | tail -n 1) ms"
}

# load_verify URL: every slot holds its last acknowledged pattern.
load_verify() {
	local u=$1 s p out n=0
	local -A last=()
	local -a cmds=()
	while read -r s p; do last[$s]=$p; done <"$SCRATCH/ack"
	for s in "${!last[@]}"; do
		cmds+=(-c "read -P ${last[$s]} $((s * LOAD_SLOT)) $LOAD_SLOT")
		n=$((n + 1))
	done
	((n > 0)) || fail "nothing was acknowledged"
	out=$(timeout -k 5 300 qemu-io -f raw "${cmds[@]}" "$u" 2>&1) || fail "verify session failed: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
	grep -qiE 'fail|error|mismatch' <<<"$out" && fail "acknowledged data lost: $(grep -iE 'fail|error|mismatch' <<<"$out" | head -n 2 | tr '\n' ' ')"
	[ "$(grep -c '^read ' <<<"$out")" -eq "$n" ] || fail "not every verify read completed"
	log "all $n slots hold their last acknowledged pattern"
}

# ---- network faults on one process's TCP flows (nftables) ----
# Every daemon shares 127.0.0.1, so a "host" is picked out by its flows: the
# established connections of its PID (ss), matched by port pair.  The rules
# live in a table of this scenario's own, deleted on exit; the table only
# drops, so lifting it lets TCP deliver what it retransmits: late.
NFT_TABLE=shoal_${SCEN%%-*}

nft_init() {
	command -v nft >/dev/null || fail "nft not installed (scripts/setup-deps installs nftables)"
	nft delete table inet "$NFT_TABLE" 2>/dev/null
	nft add table inet "$NFT_TABLE" &&
		nft add chain inet "$NFT_TABLE" out '{ type filter hook output priority 0; policy accept; }' ||
		fail "cannot create nftables table $NFT_TABLE"
	CLEANUP_HOOKS+=("nft delete table inet $NFT_TABLE 2>/dev/null")
}

. "$(dirname "${BASH_SOURCE[0]}")/nft-flows.sh"

nft_heal() { nft flush chain inet "$NFT_TABLE" out || fail "cannot flush $NFT_TABLE"; }

gw_pid() { cat "$DIR/run/gateway-$1.pid" 2>/dev/null; }

# gw_cgroup NAME: a cgroup v2 directory of this scenario ($CGDIR, removed at
# exit), and its name as nft's "socket cgroupv2 level 1" match wants it
# ($CGREL).  A gateway moved into it can be cut by its own sockets: on
# 127.0.0.1 no port rule tells two gateways' new connections apart.
gw_cgroup() {
	local cg2
	cg2=$(findmnt -t cgroup2 -no TARGET | head -n 1)
	[ -n "$cg2" ] || fail "needs a cgroup v2 hierarchy (none mounted)"
	CGDIR=$cg2/$1-$$
	CGREL=${CGDIR#/sys/fs/cgroup/}
	[ "$CGREL" != "$CGDIR" ] || fail "the cgroup v2 hierarchy is at $cg2, outside /sys/fs/cgroup (nft cannot name it)"
	mkdir "$CGDIR" || fail "cannot create $CGDIR"
	CLEANUP_HOOKS+=("rmdir $CGDIR 2>/dev/null")
}

# gw_cut_script NAME DIR PORT...: writes $SCRATCH/fault.sh, which cuts
# gateway 1 ($G1) from PORT...: its new sockets by its cgroup (gw_cgroup
# NAME), its established flows by port pair (DIR: out, or both).
gw_cut_script() {
	local name=$1 dir=$2 ports
	shift 2
	ports="$*"
	gw_cgroup "$name"
	cat >"$SCRATCH/fault.sh" <<EOS
#!/bin/bash
. "$SRC/tests/cluster/nft-flows.sh"
echo $G1 >"$CGDIR/cgroup.procs" &&
	nft add rule inet $NFT_TABLE out socket cgroupv2 level 1 '"$CGREL"' tcp dport "{ ${ports// /, } }" drop &&
	nft_drop_flows $NFT_TABLE $G1 $dir $ports
EOS
}

# two_gateway_volume NAME SIZE [nft]: three chunkservers, two gateways, a
# 3-replica volume of 1 MiB chunks exported by both as target t LUN 1
# ($(url 1 t 1), $(url 2 t 1)); G1 is gateway 1's tgtd.  nft: nft_init too.
two_gateway_volume() {
	cluster_up --chunkservers 3 --gateways 2
	[ "${3:-}" = nft ] && nft_init
	vol_create "$1" "$2" --chunk-size 1M --replicas 3
	lun_export 1 "$1" t 1 1
	lun_export 2 "$1" t 1 1
	G1=$(gw_pid 1)
	[ -n "$G1" ] || fail "no pid for gateway 1"
}

# ---- replica contents ----

PROBE_BIN=$BUILD/tests/tools/cs_probe

# replica_sum ADDR CHUNK VERSION OFF LEN: sets SUM to the SHA-1 of LEN bytes
# of that replica at OFF, read through its chunkserver (a local read at
# VERSION: checksums verified, a stale version refused).  Runs in this
# shell, never in $(...): a failed or short read fails the scenario, so it
# can never hash as the empty input and match another failed read.
replica_sum() {
	local f=$SCRATCH/replica-read n
	SUM=
	"$PROBE_BIN" "$1" read "$2" "$3" "$4" "$5" >"$f" 2>"$f.err" ||
		fail "chunk $2 on $1: read of $5 bytes at $4 (version $3) failed: $(tr '\n' ' ' <"$f.err")"
	n=$(stat -c %s "$f")
	[ "$n" = "$5" ] || fail "chunk $2 on $1: read of $5 bytes at $4 returned $n bytes"
	SUM=$(sha1sum <"$f" | cut -c1-40)
	[ ${#SUM} = 40 ] || fail "chunk $2 on $1: no checksum of the read"
}

# replica_version ADDR CHUNK: sets VER to the chunkserver's version of the chunk.
replica_version() {
	VER=$("$PROBE_BIN" "$1" info "$2" 2>/dev/null | sed -n 's/^version=\([0-9]*\) .*/\1/p')
	[ -n "$VER" ] || fail "chunk $2: no replica on $1"
}

# replicas_identical VOLUME: see the header.  Run it in this shell (it
# fails the scenario); IDENTICAL then says what it compared.
replicas_identical() {
	local js vid size csz i line cid ver rest a first v0 sig o step n=0 nrep=0
	local -a addrs
	js=$(adm --timeout-ms 3000 --json volume info "$1") || fail "volume info $1"
	vid=$(jq -r .id <<<"$js") size=$(jq -r .size <<<"$js") csz=$(jq -r .chunk_size <<<"$js")
	[[ $vid =~ ^[0-9]+$ && $size =~ ^[0-9]+$ && $csz =~ ^[0-9]+$ ]] || fail "volume info $1: $js"
	step=$((csz < 4194304 ? csz : 4194304))	# reads of at most 4 MiB
	for ((i = 0; i * csz < size; i++)); do
		line=$("$PROBE_BIN" "$SHOAL_MASTERS" replicas "$vid" "$i") ||
			fail "the master's set of chunk $i of $1: lookup failed"
		read -r cid ver rest <<<"$line"
		read -ra addrs <<<"$rest"
		[ "$cid" = 0 ] && continue	# never written: no replica anywhere
		((${#addrs[@]} > 0)) || fail "chunk $cid ($1 #$i): an empty set"
		first= v0=
		for a in "${addrs[@]}"; do
			# The master's version may be one ahead (a lease it granted,
			# the lookup's own among them, whose primary has not yet run
			# its set-version round); the members must agree among
			# themselves.
			replica_version "$a" "$cid"
			((VER <= ver)) || fail "chunk $cid on $a: version $VER, ahead of the master's $ver"
			[ -z "$v0" ] && v0=$VER
			[ "$VER" = "$v0" ] || fail "chunk $cid ($1 #$i): version $VER on $a, $v0 on ${addrs[0]}"
			sig=
			for ((o = 0; o < csz; o += step)); do
				replica_sum "$a" "$cid" "$VER" "$o" "$step"
				sig+=$SUM
			done
			[ -z "$first" ] && first=$sig
			[ "$sig" = "$first" ] || fail "chunk $cid ($1 #$i): the replica on $a differs from the one on ${addrs[0]}"
			nrep=$((nrep + 1))
		done
		n=$((n + 1))
	done
	((n > 0)) || fail "volume $1 has no written chunk to compare"
	IDENTICAL="$n chunks, $nrep replicas"
}
