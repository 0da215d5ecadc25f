/*
 * Re-replication planning: which chunk is copied first.  Pure, so the unit
 * tests check the order the master uses (replication.c start_jobs).
 *
 * The order: the chunk closest to losing its data first (fewest good
 * members); among those, one in use (its lease ran out within
 * REPL_ACTIVE_LEASES lease periods: a VM is reading or writing it) before
 * an idle one; then by chunk map slot, so that the order is stable from
 * one tick to the next.
 */
#ifndef SHOAL_MASTER_REPL_PLAN_H
#define SHOAL_MASTER_REPL_PLAN_H

#include <stdbool.h>
#include <stdint.h>

struct repl_need {
	uint32_t key;		/* repl_need_key */
	uint32_t slot;		/* chunk map slot */
};

uint32_t repl_need_key(int good, bool active);
/* Sorts needs[0..n) into the order above. */
void repl_order(struct repl_need *needs, uint32_t n);

#endif
