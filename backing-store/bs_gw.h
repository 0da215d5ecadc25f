/*
 * bs_shoal.so's per-LU state, shared by bs_shoal.c (the data path) and
 * bs_reset.c (cluster-wide LUN RESET unit attentions).  It lives in the
 * private area tgtd allocates after struct scsi_lu (bs_datasize).
 *
 * One thread: the client is embedded (its event loop is one of tgtd's
 * descriptors), so every field is touched only on tgtd's main thread.
 * Fields marked "cb" are set by the client's callbacks, which run inside
 * the client's loop; they only queue work there, which gw_answer_done()
 * does outside it (after the run, or when g->efd wakes tgtd).
 */
#ifndef SHOAL_BS_GW_H
#define SHOAL_BS_GW_H

#include <stdbool.h>
#include <stdint.h>

#include "list.h"	/* tgt's (backing-store is built with -I$(TGT_SRC)/usr first) */
#include "work.h"	/* tgt's */
#include "bs_conf.h"

struct scsi_lu;
struct sl_client;
struct sl_volume;

/* bs_reset.c's part of an LU. */
struct gw_reset {
	uint64_t seen;			/* generation whose unit attention this LU has raised */
	int tfd;			/* poll timerfd, -1 when the LU is not open */
	bool poll_busy;			/* cb: a poll is in flight */
	uint64_t polled;		/* cb: highest generation a poll returned */
	struct list_head turs;		/* cb: TEST UNIT READYs the master answered */
	uint64_t size_polled;		/* cb: the volume's size at the last poll's kick */
};

#define GW_DRAIN_MAX	1024

struct gw_lu {
	struct scsi_lu *lu;
	struct bs_conf conf;
	struct sl_client *client;
	struct sl_volume *vol;
	int efd;
	struct list_head done;		/* cb: gw_cmd completed, to answer outside the client's loop */
	bool in_run;			/* inside gw_client_event's run of the client loop */
	bool done_waiting;		/* done filled during that run */
	uint64_t submitted, completed, errors;
	struct gw_reset reset;
	char session_name[64];
	bool drop_pending;		/* bs_fence.h: the session was lost, initiators not yet dropped */
	/* bs_fence.h DRAINING */
	uint16_t drain[GW_DRAIN_MAX];	/* nexuses (tsih) refused, closed once held commands are answered */
	unsigned int ndrain;
	uint64_t fence_epoch;		/* drops so far; a command keeps the value it was submitted under */
	uint64_t held_at_drop;		/* commands of earlier epochs not yet answered */
	struct tgt_work close_work;	/* closes the draining nexuses, a second after the last answer */
	bool close_armed;
};

static inline struct gw_lu *GW(struct scsi_lu *lu)
{
	return (struct gw_lu *)((char *)lu + sizeof(*lu));
}

/* From a client callback (or anywhere): have gw_complete() run soon, outside the client's loop. */
void gw_kick(struct gw_lu *g);

#endif
