/* What fsm.c shares with fsm_snapshot.c (internal to the FSM). */
#ifndef SHOAL_MASTER_FSM_INT_H
#define SHOAL_MASTER_FSM_INT_H

#include <stddef.h>
#include "fsm.h"

/* calloc that aborts: the FSM cannot refuse a committed entry without diverging. */
void *fsm_xcalloc(size_t n, size_t sz);
/* Empties every table (a restore replaces the whole state). */
void fsm_clear(struct fsm *f);

#endif
