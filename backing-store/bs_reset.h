/*
 * Cluster-wide unit attentions for LOGICAL UNIT RESET (bs_reset.c).
 *
 * tgt core handles LUN RESET itself and raises its unit attention only on
 * the nexuses of its own tgtd.  The gateway that sees the reset records it
 * in the master (the volume's reset generation) before the initiator gets
 * the TMF response; every gateway exporting the volume raises UA 29/00 on
 * its nexuses when it finds the generation above the one it has seen: at
 * once on TEST UNIT READY, and within about a second by polling.
 *
 * All of these run on tgtd's main thread.
 */
#ifndef SHOAL_BS_RESET_H
#define SHOAL_BS_RESET_H

#include <stdint.h>

struct backingstore_template;
struct gw_lu;
struct scsi_cmd;

/* bs_init: empty state (nothing to undo before gw_reset_open). */
void gw_reset_init(struct gw_lu *g);
/* bs_init: wrap the iSCSI driver's TMF response, once per tgtd; bst identifies our LUs. */
void gw_reset_hook(struct backingstore_template *bst);
/* bs_open, volume open: the generation it had then; starts the poll. */
void gw_reset_open(struct gw_lu *g, uint64_t gen);
/* bs_close / bs_exit, before the volume is closed: stops the poll. */
void gw_reset_close(struct gw_lu *g);
/* The LU's TEST UNIT READY (its ops[] entry). */
int gw_reset_tur(int host_no, struct scsi_cmd *cmd);
/* From gw_answer_done: answer the TURs and raise the UAs the client's callbacks queued. */
void gw_reset_drain(struct gw_lu *g);

#endif
