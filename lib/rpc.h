/*
 * Pipelined RPC over TCP on an sl_loop.
 *
 * A connection carries many requests at once, each matched to its reply by
 * request id; replies may come in any order.  Every call has a timeout: its
 * callback runs exactly once, with the reply, or with SL_E_TIMEDOUT, or with
 * SL_E_UNAVAIL when the connection failed.  An outgoing connection
 * (sl_conn_connect) outlives TCP: it reconnects with exponential backoff,
 * and calls made while it is down wait for the next connection within their
 * timeout.
 *
 * A malformed frame (lib/frame.h) closes that connection only, with one log
 * line naming the peer and the reason; the listener keeps serving others.
 *
 * Threading: everything runs on the loop's thread.  Payloads are copied
 * into the connection's output buffer, so callers may free them on return.
 */
#ifndef SHOAL_RPC_H
#define SHOAL_RPC_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <protobuf-c/protobuf-c.h>
#include "addr.h"
#include "evloop.h"
#include "frame.h"
#include "status.h"

struct sl_conn;
struct sl_server;

/* One received frame.  msg/data point into a buffer valid during the callback. */
struct sl_msg {
	struct sl_frame_hdr hdr;
	const uint8_t *msg;
	size_t msg_len;
	const uint8_t *data;
	size_t data_len;
};

/*
 * status: SL_OK and the reply's header status in reply->hdr.status, or
 * SL_E_TIMEDOUT / SL_E_UNAVAIL with reply == NULL.
 */
typedef void (*sl_reply_cb)(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg);

/*
 * Server side: called for every request frame.  The handler answers now or
 * later with sl_rpc_reply(c, req->hdr.req_id, ...); to answer later it must
 * hold a reference (sl_conn_get) across the wait.
 */
typedef void (*sl_request_cb)(struct sl_conn *c, const struct sl_msg *req, void *arg);

struct sl_server *sl_server_listen(struct sl_loop *loop, const char *addr,
				   sl_request_cb on_request, void *arg);
/* Closes the listener and every connection it accepted. */
void sl_server_close(struct sl_server *srv);
/* The bound port (useful when addr asked for port 0). */
int sl_server_port(const struct sl_server *srv);

struct sl_conn_opts {
	uint32_t connect_timeout_ms;	/* one TCP connect attempt; default 2000 */
	uint32_t backoff_min_ms;	/* default 50 */
	uint32_t backoff_max_ms;	/* default 2000 */
	/*
	 * TCP_USER_TIMEOUT (0: the kernel's): data unacknowledged this long
	 * drops the connection and everything queued on it, so nothing sent
	 * on it reaches the peer later than this (master_client.h).
	 */
	uint32_t user_timeout_ms;
};

/* Client side: a connection to "host:port"; never NULL except on bad addr/ENOMEM. */
struct sl_conn *sl_conn_connect(struct sl_loop *loop, const char *addr,
				const struct sl_conn_opts *opts);
/* Closes the socket, fails every pending call with SL_E_UNAVAIL, drops a reference. */
void sl_conn_close(struct sl_conn *c);
void sl_conn_get(struct sl_conn *c);
void sl_conn_put(struct sl_conn *c);
/* Whether the TCP connection is established right now. */
bool sl_conn_is_up(const struct sl_conn *c);
/* Monotonic ms when c last received any byte (0: never). */
uint64_t sl_conn_last_rx(const struct sl_conn *c);
/*
 * Outgoing and up: drop the TCP connection now -- every call sent on it
 * fails SL_E_UNAVAIL, as on any drop -- and connect again (a new flow):
 * for a connection that swallows what is sent on it (a black-holed flow,
 * a half-open connection).  Otherwise nothing.
 */
void sl_conn_reset(struct sl_conn *c, const char *why);
/*
 * Sends the frames queued on c now instead of at the end of the loop's
 * iteration: for a request that should be on the wire before the caller
 * starts slow local work (a primary's forward before its own disk write).
 */
void sl_conn_send_now(struct sl_conn *c);
/* "host:port" of the peer. */
const char *sl_conn_peer(const struct sl_conn *c);
/* A handler may attach one pointer of its own per connection. */
void sl_conn_set_user(struct sl_conn *c, void *user, void (*on_close)(struct sl_conn *c, void *user));
void *sl_conn_user(const struct sl_conn *c);

/* Sends a request; 0 if queued (cb will run exactly once), or an SL_E_* code (cb will not run). */
int sl_rpc_call(struct sl_conn *c, uint16_t type, const ProtobufCMessage *msg,
		const void *data, size_t data_len, uint32_t timeout_ms,
		sl_reply_cb cb, void *arg);

/* Answers request req_id; msg may be NULL for an empty reply. 0 or SL_E_*. */
int sl_rpc_reply(struct sl_conn *c, uint64_t req_id, uint16_t type, int status,
		 const ProtobufCMessage *msg, const void *data, size_t data_len);

/* Unpacks m->msg as the request (is_reply false) or reply message of its type; NULL if it does not decode. */
ProtobufCMessage *sl_msg_unpack(const struct sl_msg *m, bool is_reply);
void sl_msg_free(ProtobufCMessage *pm);

/* Per-connection and per-server counters for status pages and tests. */
struct sl_rpc_stats {
	uint64_t calls, replies, timeouts, bad_frames, conns_accepted, conns_closed;
};
void sl_server_stats(const struct sl_server *srv, struct sl_rpc_stats *st);

/* ---- additions (libshoal core) ---- */

/*
 * Notes on the calls above, as implemented:
 * - The RPC layer validates frames, not messages: a handler unpacks with
 *   sl_msg_unpack() and answers SL_E_PROTO itself when that returns NULL.
 * - sl_conn_close() on an accepted connection closes it and drops the
 *   server's reference; a handler's own sl_conn_get() still needs its put.
 * - on_close (sl_conn_set_user) runs once: for an accepted connection when
 *   its TCP connection ends, for an outgoing one in sl_conn_close().
 * - Client-side stats count successful connects in conns_accepted and
 *   dropped established connections in conns_closed.
 * - Reply frames of unknown or expired req_id are dropped (debug log).
 */

/* Counters of one connection (either side). */
void sl_conn_stats(const struct sl_conn *c, struct sl_rpc_stats *st);

/*
 * Blocking helper for tools and tests: sends one request on c and runs
 * loop until its reply or its timeout (the loop's other fds, timers and
 * servers keep running meanwhile).  Returns the transport status: SL_OK
 * when a reply arrived, SL_E_TIMEDOUT / SL_E_UNAVAIL / SL_E_INVAL as
 * sl_rpc_call, or SL_E_PROTO when the reply's header status is SL_OK but
 * its message did not decode.  On SL_OK: *reply_status is the reply
 * header's status; *reply (if reply != NULL) is the decoded reply message
 * of the type's reply descriptor (NULL if it did not decode, which can
 * happen for error replies, e.g. a MasterRedirect with SL_E_NOT_LEADER),
 * freed with sl_msg_free(); *reply_data / *reply_data_len (if non-NULL)
 * are a malloc'd copy of the data part (NULL, 0 when empty), freed with
 * free().  It may be called from inside a callback of the loop (it nests),
 * but callbacks then run re-entrantly; tools call it from main().
 */
int sl_rpc_call_sync(struct sl_loop *loop, struct sl_conn *c, uint16_t type,
		     const ProtobufCMessage *msg, const void *data, size_t len,
		     uint32_t timeout_ms, ProtobufCMessage **reply, void **reply_data,
		     size_t *reply_data_len, int *reply_status);

#endif
