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
 *        (gw_fence_drop), no command held--> every iSCSI connection of
 *        every session with a nexus to the LU's target is closed: what
 *        sits unread in their sockets is discarded with them --> LIVE (the
 *        client resumes and opens a new session; initiators log in again
 *        and resend only what they still want)
 *   DROP_PENDING --the same, commands held--> DRAINING: the client resumes;
 *        those sessions stay connected, and every command that arrives on
 *        them from now on -- what sat unread in their sockets included --
 *        is refused (NOT READY) and never runs; new sessions are served
 *   DRAINING --the last command held at the drop is answered, on its own
 *        connection; a second later (tgtd's work timer: its answer is
 *        sent by then)--> those sessions' connections are closed --> LIVE
 *
 * The commands the client held are failed by the client itself, each once
 * its old session is fenced (lib/client_io.c F1), within the answer bound
 * D + U + 2L from its start.  They are answered on their connections, not
 * dropped with them: tgtd's conn_close stops reading and writing a socket
 * at once but closes it only when the connection's last task is freed,
 * so an initiator whose connection was closed with commands still held
 * heard nothing -- no answer, no NOP-In, no FIN -- until the last of them
 * was answered, past the bound of the first (nemesis seed 3136; scenario
 * 765).  Closing happens from the LU's eventfd handler (gw_complete) or
 * tgtd's work timer, never inside tgtd's handler of a connection.
 */
#ifndef SHOAL_BS_FENCE_H
#define SHOAL_BS_FENCE_H

#include <stdbool.h>

struct gw_lu;

/* The client's on_lost callback (any point of the main thread). */
void gw_fence_lost(void *arg);
/* Whether a command of nexus ITN must be failed now (a drop is pending, the session is lost, or ITN drains). */
bool gw_fence_refuse(struct gw_lu *g, uint64_t itn);
/* From the LU's eventfd handler: do a pending drop. */
void gw_fence_drop(struct gw_lu *g);
/* A command submitted under fence epoch EPOCH was answered (DRAINING). */
void gw_fence_answered(struct gw_lu *g, uint64_t epoch);
/* The LU closes: no drain outlives it. */
void gw_fence_stop(struct gw_lu *g);

#endif
