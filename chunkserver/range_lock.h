/*
 * Per-chunk range locks: the order of overlapping writes.
 *
 * Invariant: two holders never cover overlapping ranges, and waiters are
 * granted in arrival order per conflict: a request is granted only when it
 * overlaps neither a holder nor an earlier waiter.  So overlapping writes
 * apply in the order the primary received them, while disjoint ones run in
 * parallel.  Ranges are widened to whole 4 KiB blocks by the caller (two
 * sub-block writes into one block must not read-modify-write at once).
 *
 * Single-threaded (the loop thread); granted() may run inside
 * cs_range_lock() (immediately free) or inside cs_range_unlock().
 */
#ifndef SHOAL_CS_RANGE_LOCK_H
#define SHOAL_CS_RANGE_LOCK_H

#include <stdbool.h>
#include <stdint.h>
#include "list.h"

struct cs_range_lock {
	struct list_head held;
	struct list_head waiting;
};

struct cs_range {
	struct list_head link;
	uint64_t start, end;		/* [start, end) */
	bool granted;
	void (*granted_cb)(struct cs_range *r, void *arg);
	void *arg;
};

void cs_range_lock_init(struct cs_range_lock *l);
bool cs_range_lock_idle(const struct cs_range_lock *l);
/* Granted now (cb runs before return) or queued. */
void cs_range_lock(struct cs_range_lock *l, struct cs_range *r, uint64_t start, uint64_t end,
		   void (*granted_cb)(struct cs_range *r, void *arg), void *arg);
void cs_range_unlock(struct cs_range_lock *l, struct cs_range *r);

#endif
