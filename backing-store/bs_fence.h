/*
 * A gateway that lost its session (it was paused or cut off for longer
 * than the session's lease: lib/client_session.h C3) may hold commands its
 * initiators have given up on and retried through another gateway -- in
 * flight, or still unread in its sockets.  Nothing at a target can tell
 * how long a command sat there, so none of them may run:
 *
 *   LIVE --the client reports the loss (gw_fence_lost)--> DROP_PENDING:
 *        every command submitted is failed (NOT READY, retryable)
 *   DROP_PENDING --on tgtd's main loop, outside any connection's handler
 *        (gw_fence_drop)--> every iSCSI connection of every session with a
 *        nexus to the LU's target is closed: what sits unread in their
 *        sockets is discarded with them --> LIVE (the client resumes and
 *        opens a new session; initiators log in again and resend only
 *        what they still want)
 *
 * The commands the client held are failed by the client itself, each once
 * its old session is fenced.  Closing happens from the LU's eventfd
 * handler (gw_complete), never inside tgtd's handler of a connection.
 */
#ifndef SHOAL_BS_FENCE_H
#define SHOAL_BS_FENCE_H

#include <stdbool.h>

struct gw_lu;

/* The client's on_lost callback (any point of the main thread). */
void gw_fence_lost(void *arg);
/* Whether commands must be failed now (a drop is pending or the session is lost). */
bool gw_fence_refuse(struct gw_lu *g);
/* From the LU's eventfd handler: do a pending drop. */
void gw_fence_drop(struct gw_lu *g);

#endif
