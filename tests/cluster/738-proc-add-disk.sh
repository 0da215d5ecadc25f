#!/bin/bash
# 738: adding a disk to a chunkserver, as shoal(7) "Adding a disk" says
# (issue "procedures as tests").  Under maintenance (the page's advice), the
# server is stopped, a directory is appended to the end of its data_dirs
# (scripts/shoal-cluster's cs-J/data_dirs plays the edited shoal.conf) and
# it is started again.  Checked against the page: the two log lines it
# quotes appear (read from the page, its example numbers, path and uuid
# turned into patterns), `chunkserver list` shows the second disk, nothing
# the server held is lost (every replica set full and byte-identical, the
# data reads back), and no chunk was copied while the server was down.
. "$(dirname "$0")/7fail-lib.sh"

M=$((1024 * 1024))
PAGE=$SRC/man/shoal.7
ID=2

cluster_up --chunkservers 3 --gateways 1
vol_create v738 16M --chunk-size 4M --replicas 3
lun_export 1 v738 t 1 1
U=$(url 1 t 1)
cmds=()
for ((i = 0; i < 16; i++)); do cmds+=("write -P $((i + 0x31)) $((i * M)) $M"); done
qio "${cmds[@]}" || fail "writing the volume failed"
wait_until 20 "3 replicas of every chunk" fully_replicated 3
held=$(cs_chunks $ID)
ndisks() { cs_json | jq ".[] | select(.id == $ID) | .disks | length"; }
[ "$(ndisks)" = 1 ] || fail "chunkserver $ID has $(ndisks) disks before the change"
r0=$(status_field replicated_bytes)

log "shoal(7) Adding a disk, on chunkserver $ID ($held replicas): maintenance, stop, append, start"
adm chunkserver maintenance $ID --for 30m >/dev/null || fail "maintenance --for 30m refused"
"$CLUSTER" stop "$DIR" chunkserver $ID >/dev/null || fail "shoal-cluster stop chunkserver $ID failed"
mkdir -p "$SCRATCH/newdisk"
echo "$DIR/cs-$ID/disk-1,$SCRATCH/newdisk/shoal" >"$DIR/cs-$ID/data_dirs"	# appended: not its parent
"$CLUSTER" start "$DIR" chunkserver $ID >/dev/null || fail "chunkserver $ID does not start with the added disk"
_two() { [ "$(ndisks)" = 2 ]; }
wait_until 20 "chunkserver list showing chunkserver $ID with 2 disks" _two
page_logged "Adding a disk" 1 "$DIR/logs/chunkserver-$ID.log" || fail "shoal(7)'s chunkserver log line for an added disk"
page_logged "Adding a disk" 2 "$DIR/logs/master-1.log" || fail "shoal(7)'s master log line for an added disk"
[ -f "$SCRATCH/newdisk/shoal/shoal-cs.id" ] || fail "the added directory has no shoal-cs.id"
wait_until 30 "3 replicas of every chunk after the restart" fully_replicated 3
[ "$(cs_chunks $ID)" = "$held" ] || fail "chunkserver $ID holds $(cs_chunks $ID) replicas, had $held"
[ "$(status_field replicated_bytes)" = "$r0" ] || fail "chunks were copied: $r0 -> $(status_field replicated_bytes) bytes"
adm chunkserver maintenance $ID --off >/dev/null || fail "maintenance --off refused"
cmds=()
for ((i = 0; i < 16; i++)); do cmds+=("read -P $((i + 0x31)) $((i * M)) $M"); done
qio "${cmds[@]}" || fail "the volume does not read back"
replicas_identical v738
log "$IDENTICAL"
echo "PASS 738: a disk appended as shoal(7) says: 2 disks listed, the page's log lines, $held replicas kept, nothing copied"
