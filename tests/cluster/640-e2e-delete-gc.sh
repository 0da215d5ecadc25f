#!/bin/bash
# Delete of a volume frees its chunks on disk.  Two volumes with 1 MiB
# chunks and three replicas are filled through the gateway: 'gone' (12
# chunks) and 'kept' (4 chunks).  Chunk data files under the chunkservers'
# data dirs are counted: 3 x 16.  After unexport and 'volume delete gone'
# the count must fall to 3 x 4 within a bounded wait (the master hands the
# deletions out on chunkserver heartbeats), the files of 'kept' are still
# there and its data reads back, the deleted name is gone from volume list,
# and the cluster's chunk count agrees.
. "$(dirname "$0")/6e2e-lib.sh"

M=$((1024 * 1024))
GC_WAIT=${GC_WAIT:-60}
cluster_up --chunkservers 3 --gateways 1
vol_create gone 12M --chunk-size 1M --replicas 3
vol_create kept 4M --chunk-size 1M --replicas 3
lun_export 1 gone g 1 1
lun_export 1 kept k 2 1
UG=$(url 1 g 1)
UK=$(url 1 k 1)

qio "$UG" "write -P 0x71 0 $((12 * M))" || fail "fill 'gone'"
qio "$UK" "write -P 0x72 0 $((4 * M))" || fail "fill 'kept'"
want_before=$((3 * 16)) want_after=$((3 * 4))
wait_until 20 "$want_before chunk files before the delete" chunk_files_are $want_before
find "$DIR"/cs-*/disk-*/ -type f -name '*.data' | sort >"$SCRATCH/files-before.txt"
log "$(chunk_files) chunk files before the delete"

gw_adm 1 lun unexport gone >"$SCRATCH/unexport.txt" 2>&1 || fail "lun unexport gone: $(cat "$SCRATCH/unexport.txt")"
adm volume delete gone >"$SCRATCH/delete.txt" 2>&1 || fail "volume delete: $(cat "$SCRATCH/delete.txt")"
adm volume info gone >/dev/null 2>&1 && fail "volume info of a deleted volume succeeded"
adm --json volume list | grep -q '"gone"' && fail "deleted volume still listed"

start=$SECONDS
wait_until "$GC_WAIT" "$want_after chunk files after the delete" chunk_files_are $want_after
log "chunk files $want_before -> $want_after in $((SECONDS - start))s"
find "$DIR"/cs-*/disk-*/ -type f -name '*.data' | sort >"$SCRATCH/files-after.txt"
# what is left is a subset of what was there: the deletions hit only 'gone'
[ -z "$(comm -13 "$SCRATCH/files-before.txt" "$SCRATCH/files-after.txt")" ] ||
	fail "new chunk files appeared: $(comm -13 "$SCRATCH/files-before.txt" "$SCRATCH/files-after.txt" | tr '\n' ' ')"
# no .meta without its .data either
metas=$(find "$DIR"/cs-*/disk-*/ -type f -name '*.meta' | wc -l)
[ "$metas" -le $want_after ] || fail "$metas .meta files left for $want_after chunks"

qio "$UK" "read -P 0x72 0 $((4 * M))" || fail "'kept' lost data in the garbage collection"
chunks=$(adm --json cluster status | sed -n 's/.*"chunks": \([0-9]*\).*/\1/p')
[ "$chunks" = 4 ] || fail "cluster status counts ${chunks:-?} chunks, wanted 4"
# the name can be used again, and starts empty
vol_create gone 4M --chunk-size 1M
lun_export 1 gone g2 3 1
qio "$(url 1 g2 1)" "read -P 0 0 $((4 * M))" || fail "re-created volume is not empty"

echo "PASS $SCEN: delete freed $((want_before - want_after)) chunk files in $((SECONDS - start))s; the other volume intact"
