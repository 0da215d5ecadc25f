/*
 * Integrity work of the chunkserver: the background scrubber (scrub.c) and
 * replica reconciliation (reconcile.c).  Loop thread only.
 */
#ifndef SHOAL_CS_INTEGRITY_H
#define SHOAL_CS_INTEGRITY_H

#include <stddef.h>
#include <stdint.h>
#include "chunkserver.h"

/* reconcile.c */
/* crc32c of region r's block-checksum entries (never 0): equal = equal content. */
uint32_t cs_region_digest(const struct cs_chunk *ch, unsigned int r);
/*
 * As ch's primary: makes the n secondaries at addrs equal to ch, region by
 * region.  done(arg, failed) runs once; bit i of failed: addrs[i] failed.
 */
void cs_reconcile(struct chunkserver *cs, struct cs_chunk *ch, unsigned int n, char *const *addrs,
		  void (*done)(void *arg, uint64_t failed), void *arg);
void cs_handle_digest(struct chunkserver *cs, struct sl_conn *c, const struct sl_msg *m,
		      const Shoal__CsDigestReq *req);

/* primary.c: strdup'd addresses of ch's secondaries while we hold a live lease on it. */
size_t cs_primary_secondaries(struct chunkserver *cs, struct cs_chunk *ch, char **addrs, size_t max);

/* scrub.c */
int cs_scrub_start(struct chunkserver *cs);
void cs_scrub_stop(struct chunkserver *cs);
/* The replica set named by a CS_SET_VERSION (our own address is skipped). */
void cs_scrub_note_peers(struct chunkserver *cs, uint64_t chunk_id, char **addrs, size_t n);

#endif
