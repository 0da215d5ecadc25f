/*
 * Pipelined RPC over TCP (contract in rpc.h).
 *
 * Connection states (outgoing connections; accepted ones start UP and end
 * at the first drop):
 *
 *   DOWN --timer--> CONNECTING --SO_ERROR 0--> UP
 *     ^                 |  (refused / connect timeout)  |  (EOF, error, bad frame)
 *     +-----backoff-----+<------------------------------+
 *
 * sl_conn_close() leaves any state for good (c->closed).
 *
 * Calls: every call not yet completed is in the request table (hash by
 * req_id) and has its timer armed.  A call made while the connection is not
 * UP keeps its encoded frame and sits on c->pending; on UP the pending
 * frames are moved into the output buffer in call order and the calls
 * become "sent".  When a connection drops, sent calls fail with
 * SL_E_UNAVAIL (their request may or may not have reached the peer);
 * pending ones keep waiting for the next connection within their timeout.
 * Each call's callback runs exactly once: whoever removes the call from
 * the table (reply, timer, drop, close) runs it.
 *
 * Input state machine, per connection:
 *
 *   IN_HDR:  gather SL_FRAME_HDR_LEN bytes; sl_frame_decode_hdr() bounds
 *            every field or the connection is closed.
 *   IN_BODY: gather msg_len + data_len bytes, in the 64 KiB input buffer
 *            when the frame fits there, else in a buffer of its own
 *            (c->big); check data_crc; dispatch; back to IN_HDR.
 *
 * Lifetime: a connection is freed when its reference count drops to zero.
 * The owner holds one reference (the caller of sl_conn_connect, or the
 * server for accepted ones) and drops it in sl_conn_close(); every
 * callback into user code runs with an extra reference held, so user code
 * may close the connection from inside a callback.  c->gen changes on each
 * drop so code that called out can tell the socket it was working on went
 * away.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "crc32c.h"
#include "list.h"
#include "log.h"
#include "msg_types.h"
#include "rpc.h"
#include "rpc_internal.h"

static void conn_drop(struct sl_conn *c, const char *why, bool bad_frame);
static void conn_start_connect(struct sl_conn *c);

/* ---- addresses ---- */

void sl_rpc_format_addr(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(sa->sin_port));
}

void sl_rpc_set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- the request table ---- */

static size_t bucket_of(const struct sl_conn *c, uint64_t id)
{
	id ^= id >> 29;
	id *= 0xbf58476d1ce4e5b9ull;
	id ^= id >> 32;
	return (size_t)id & (c->nbuckets - 1);
}

static int table_grow(struct sl_conn *c)
{
	size_t nb = c->nbuckets ? c->nbuckets * 2 : 256, old = c->nbuckets;
	struct sl_call **t = calloc(nb, sizeof(*t)), **ot = c->table;

	if (!t)
		return -1;
	c->table = t;
	c->nbuckets = nb;
	for (size_t i = 0; i < old; i++) {
		struct sl_call *k = ot[i], *next;

		for (; k; k = next) {
			size_t b = bucket_of(c, k->req_id);

			next = k->hnext;
			k->hnext = t[b];
			t[b] = k;
		}
	}
	free(ot);
	return 0;
}

static int table_add(struct sl_conn *c, struct sl_call *k)
{
	size_t b;

	if (c->ncalls >= c->nbuckets && table_grow(c) < 0 && !c->nbuckets)
		return -1;
	b = bucket_of(c, k->req_id);
	k->hnext = c->table[b];
	c->table[b] = k;
	c->ncalls++;
	return 0;
}

/* Removes and returns the call, or NULL if it is not (any more) there. */
static struct sl_call *table_take(struct sl_conn *c, uint64_t id)
{
	struct sl_call **pp;

	if (!c->nbuckets)
		return NULL;
	for (pp = &c->table[bucket_of(c, id)]; *pp; pp = &(*pp)->hnext) {
		struct sl_call *k = *pp;

		if (k->req_id == id) {
			*pp = k->hnext;
			c->ncalls--;
			return k;
		}
	}
	return NULL;
}

/* Completes a call already taken out of the table: runs its cb once. */
static void call_finish(struct sl_call *k, int status, const struct sl_msg *reply)
{
	struct sl_conn *c = k->conn;

	sl_timer_cancel(c->loop, &k->timer);
	if (!list_empty(&k->pending))
		list_del_init(&k->pending);
	free(k->frame);
	k->frame = NULL;
	k->cb(c, status, reply, k->arg);
	free(k);
}

static void call_timeout(struct sl_timer *t, void *arg)
{
	struct sl_call *k = arg;
	struct sl_conn *c = k->conn;

	if (table_take(c, k->req_id) != k)
		return;
	c->stats.timeouts++;
	sl_conn_get(c);
	call_finish(k, SL_E_TIMEDOUT, NULL);
	sl_conn_put(c);
}

/* Fails every call for which sent is true (or every call if all). */
static void fail_calls(struct sl_conn *c, bool all)
{
	SL_LIST_HEAD(victims);
	struct sl_call *k;

	/* Collect first: callbacks may issue new calls on c. */
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct sl_call **pp = &c->table[i];

		while (*pp) {
			k = *pp;
			if (k->sent || all) {
				*pp = k->hnext;
				c->ncalls--;
				if (!list_empty(&k->pending))
					list_del_init(&k->pending);
				list_add_tail(&k->pending, &victims);
			} else {
				pp = &k->hnext;
			}
		}
	}
	while (!list_empty(&victims)) {
		k = list_first_entry(&victims, struct sl_call, pending);
		list_del_init(&k->pending);
		call_finish(k, SL_E_UNAVAIL, NULL);
	}
}

/* ---- output ---- */

static int out_reserve(struct sl_conn *c, size_t n)
{
	size_t cap;
	uint8_t *b;

	if (c->out_off == c->out_len) {
		c->out_off = 0;
		c->out_len = 0;
	}
	if (c->out_cap - c->out_len >= n)
		return 0;
	if (c->out_off) {
		memmove(c->out_buf, c->out_buf + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_cap - c->out_len >= n)
			return 0;
	}
	cap = c->out_cap ? c->out_cap : 16384;
	while (cap - c->out_len < n)
		cap *= 2;
	b = realloc(c->out_buf, cap);
	if (!b)
		return -1;
	c->out_buf = b;
	c->out_cap = cap;
	return 0;
}

static void want_output(struct sl_conn *c, bool want)
{
	if (c->want_out == want || c->fd < 0)
		return;
	c->want_out = want;
	sl_loop_mod_fd(c->loop, c->fd, EPOLLIN | (want ? EPOLLOUT : 0));
}

/*
 * Output path.  A call or reply appends its frame to out_buf and asks for
 * a flush (conn_request_flush), which the loop runs once at the end of the
 * iteration (sl_loop_defer): every frame of the iteration leaves in one
 * send(), with no epoll_ctl() when the socket takes it all -- the common
 * case.  Only a full socket arms EPOLLOUT (want_out), and conn_flush then
 * finishes from the fd callback.  The deferred flush never drops the
 * connection or runs a callback (an error is left for the fd callback to
 * find), so a caller outside the loop -- a hosted loop's host -- may flush.
 */
/* Sends out_buf until it is empty (0) or send() fails (-errno; -EAGAIN: full). */
static int send_out(struct sl_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out_buf + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

static void conn_send_queued(struct sl_conn *c)
{
	if (c->fd < 0 || c->state != CONN_UP || c->want_out)
		return;
	if (send_out(c))
		want_output(c, true);	/* full, or an error the fd callback reports */
}

static void conn_deferred_flush(struct sl_defer *d, void *arg)
{
	struct sl_conn *c = arg;

	conn_send_queued(c);
	sl_conn_put(c);
}

void sl_conn_send_now(struct sl_conn *c)
{
	if (c)
		conn_send_queued(c);
}

static void conn_request_flush(struct sl_conn *c)
{
	if (c->flush.queued || c->want_out)
		return;
	sl_conn_get(c);
	sl_loop_defer(c->loop, &c->flush);
}

static void conn_flush(struct sl_conn *c)
{
	int r = send_out(c);

	if (r == -EAGAIN)
		want_output(c, true);
	else if (r)
		conn_drop(c, strerror(-r), false);
	else
		want_output(c, false);
}

/*
 * Encodes a frame into dst (which has room for its full length).
 * Returns the length.
 */
static size_t encode_frame(uint8_t *dst, struct sl_frame_hdr *h, const ProtobufCMessage *msg,
			   const void *data, size_t data_len)
{
	size_t ml = h->msg_len;

	if (ml)
		protobuf_c_message_pack(msg, dst + SL_FRAME_HDR_LEN);
	if (data_len)
		memcpy(dst + SL_FRAME_HDR_LEN + ml, data, data_len);
	h->data_crc = data_len ? sl_crc32c(data, data_len) : 0;
	sl_frame_encode_hdr(h, dst);
	return SL_FRAME_HDR_LEN + ml + data_len;
}

/* Validates sizes and fills h's lengths; 0 or SL_E_INVAL. */
static int frame_prepare(struct sl_frame_hdr *h, uint16_t type, const ProtobufCMessage *msg,
			 size_t data_len)
{
	size_t ml = msg ? protobuf_c_message_get_packed_size(msg) : 0;

	if (!sl_msg_type_lookup(type) || ml > SL_FRAME_MAX_MSG || data_len > SL_FRAME_MAX_DATA)
		return SL_E_INVAL;
	memset(h, 0, sizeof(*h));
	h->version = SL_FRAME_VERSION;
	h->type = type;
	h->msg_len = (uint32_t)ml;
	h->data_len = (uint32_t)data_len;
	return SL_OK;
}

/* ---- connections ---- */

struct sl_conn *sl_rpc_conn_alloc(struct sl_loop *loop)
{
	struct sl_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->in_buf = malloc(IN_BUF_SIZE);
	if (!c->in_buf) {
		free(c);
		return NULL;
	}
	c->loop = loop;
	c->refs = 1;
	c->fd = -1;
	c->next_req_id = 1;
	INIT_LIST_HEAD(&c->pending);
	INIT_LIST_HEAD(&c->srv_node);
	sl_timer_init(&c->timer, NULL, c);
	sl_defer_init(&c->flush, conn_deferred_flush, c);
	return c;
}

void sl_conn_get(struct sl_conn *c)
{
	c->refs++;
}

void sl_conn_put(struct sl_conn *c)
{
	if (!c || --c->refs > 0)
		return;
	/* Only a closed connection can reach zero: the owner's ref goes last. */
	sl_timer_cancel(c->loop, &c->timer);
	free(c->big);
	free(c->in_buf);
	free(c->out_buf);
	free(c->table);
	free(c);
}

bool sl_conn_is_up(const struct sl_conn *c)
{
	return c->state == CONN_UP;
}

uint64_t sl_conn_last_rx(const struct sl_conn *c)
{
	return c->last_rx_ms;
}

void sl_conn_reset(struct sl_conn *c, const char *why)
{
	if (c->outgoing && !c->closed && c->state == CONN_UP)
		conn_drop(c, why, false);
}

const char *sl_conn_peer(const struct sl_conn *c)
{
	return c->peer;
}

void sl_conn_set_user(struct sl_conn *c, void *user, void (*on_close)(struct sl_conn *c, void *user))
{
	c->user = user;
	c->on_close = on_close;
}

void *sl_conn_user(const struct sl_conn *c)
{
	return c->user;
}

static struct sl_rpc_stats *srv_stats(struct sl_conn *c)
{
	return c->srv ? &c->srv->stats : NULL;
}

static void reconnect_timer(struct sl_timer *t, void *arg)
{
	struct sl_conn *c = arg;

	if (c->state == CONN_CONNECTING) {
		conn_drop(c, "connect timed out", false);
		return;
	}
	conn_start_connect(c);
}

static void schedule_reconnect(struct sl_conn *c)
{
	uint32_t d = c->backoff_ms;

	c->state = CONN_DOWN;
	c->timer.cb = reconnect_timer;
	sl_timer_arm(c->loop, &c->timer, d);
	d *= 2;
	c->backoff_ms = d > c->opts.backoff_max_ms ? c->opts.backoff_max_ms : d;
}

static void conn_final_close(struct sl_conn *c);

/*
 * The TCP connection is gone (or never came up).  Outgoing connections
 * schedule a reconnect; accepted ones are finished.
 */
static void conn_drop(struct sl_conn *c, const char *why, bool bad_frame)
{
	struct sl_rpc_stats *ss = srv_stats(c);

	if (c->fd < 0)
		return;
	if (bad_frame) {
		sl_warn("rpc: closing %s: %s", c->peer, why);
		c->stats.bad_frames++;
		if (ss)
			ss->bad_frames++;
	} else if (c->state == CONN_UP && c->outgoing && !c->closed) {
		sl_info("rpc: connection to %s lost: %s", c->peer, why);
	} else if (c->state == CONN_UP) {
		sl_debug("rpc: connection %s closed: %s", c->peer, why);
	}
	if (c->state == CONN_UP) {
		c->stats.conns_closed++;
		if (ss)
			ss->conns_closed++;
	}
	sl_conn_get(c);
	sl_timer_cancel(c->loop, &c->timer);
	sl_loop_del_fd(c->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->gen++;
	c->want_out = false;
	c->in_state = IN_HDR;
	c->in_start = c->in_end = 0;
	free(c->big);
	c->big = NULL;
	c->out_off = c->out_len = 0;

	if (c->outgoing && !c->closed)
		schedule_reconnect(c);
	else
		c->state = CONN_DOWN;
	fail_calls(c, false);
	if (!c->outgoing && !c->closed)
		conn_final_close(c);
	sl_conn_put(c);
}

/* Moves the calls made while down into the output buffer, in call order. */
static void send_pending(struct sl_conn *c)
{
	while (!list_empty(&c->pending)) {
		struct sl_call *k = list_first_entry(&c->pending, struct sl_call, pending);

		if (out_reserve(c, k->frame_len) < 0)
			break;	/* retried at the next connect; the timer bounds it */
		memcpy(c->out_buf + c->out_len, k->frame, k->frame_len);
		c->out_len += k->frame_len;
		free(k->frame);
		k->frame = NULL;
		k->sent = true;
		list_del_init(&k->pending);
	}
}

static void conn_up(struct sl_conn *c)
{
	sl_timer_cancel(c->loop, &c->timer);
	c->state = CONN_UP;
	c->backoff_ms = c->opts.backoff_min_ms;
	c->stats.conns_accepted++;
	sl_debug("rpc: connected to %s", c->peer);
	c->want_out = true;	/* CONNECTING registered EPOLLOUT */
	send_pending(c);
	conn_flush(c);
}

static void connect_io(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_conn *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->state != CONN_CONNECTING) {
		sl_rpc_conn_io(loop, fd, events, arg);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_drop(c, strerror(err), false);
		return;
	}
	conn_up(c);
}

static void conn_start_connect(struct sl_conn *c)
{
	int fd, r;

	if (c->closed || c->fd >= 0)
		return;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sl_warn("rpc: socket for %s: %s", c->peer, strerror(errno));
		schedule_reconnect(c);
		return;
	}
	sl_rpc_set_nodelay(fd);
	if (c->opts.user_timeout_ms) {
		unsigned int ut = c->opts.user_timeout_ms;

		setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, sizeof(ut));
	}
	if (sl_loop_add_fd(c->loop, fd, EPOLLIN | EPOLLOUT, connect_io, c) < 0) {
		close(fd);
		schedule_reconnect(c);
		return;
	}
	c->fd = fd;
	c->state = CONN_CONNECTING;
	r = connect(fd, (struct sockaddr *)&c->addr, sizeof(c->addr));
	if (r < 0 && errno != EINPROGRESS) {
		conn_drop(c, strerror(errno), false);
		return;
	}
	c->timer.cb = reconnect_timer;
	sl_timer_arm(c->loop, &c->timer, c->opts.connect_timeout_ms);
	/* Even an immediate success is reported through EPOLLOUT. */
}

struct sl_conn *sl_conn_connect(struct sl_loop *loop, const char *addr,
				const struct sl_conn_opts *opts)
{
	struct sl_conn *c;
	struct sockaddr_in sa;

	if (sl_parse_addr(addr, &sa, false) < 0)
		return NULL;
	c = sl_rpc_conn_alloc(loop);
	if (!c)
		return NULL;
	c->outgoing = true;
	c->addr = sa;
	snprintf(c->peer, sizeof(c->peer), "%s", addr);
	if (opts)
		c->opts = *opts;
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = 2000;
	if (!c->opts.backoff_min_ms)
		c->opts.backoff_min_ms = 50;
	if (!c->opts.backoff_max_ms)
		c->opts.backoff_max_ms = 2000;
	if (c->opts.backoff_max_ms < c->opts.backoff_min_ms)
		c->opts.backoff_max_ms = c->opts.backoff_min_ms;
	c->backoff_ms = c->opts.backoff_min_ms;
	conn_start_connect(c);
	return c;
}

/* Detaches an accepted connection from its server and drops the server's ref. */
static void conn_final_close(struct sl_conn *c)
{
	c->closed = true;
	if (!list_empty(&c->srv_node))
		list_del_init(&c->srv_node);
	c->srv = NULL;
	if (c->on_close)
		c->on_close(c, c->user);
	sl_conn_put(c);
}

void sl_conn_close(struct sl_conn *c)
{
	if (!c || c->closed)
		return;
	sl_conn_get(c);
	if (c->outgoing) {
		c->closed = true;
		sl_timer_cancel(c->loop, &c->timer);
		if (c->fd >= 0)
			conn_drop(c, "closed", false);
		fail_calls(c, true);
		if (c->on_close)
			c->on_close(c, c->user);
		sl_conn_put(c);		/* the owner's */
	} else {
		fail_calls(c, true);
		if (c->fd >= 0)
			conn_drop(c, "closed", false);	/* ends in conn_final_close */
		else
			conn_final_close(c);
	}
	sl_conn_put(c);
}

/* ---- input ---- */

static void dispatch(struct sl_conn *c, const struct sl_frame_hdr *h, const uint8_t *body)
{
	struct sl_msg m = {
		.hdr = *h,
		.msg = body,
		.msg_len = h->msg_len,
		.data = body + h->msg_len,
		.data_len = h->data_len,
	};
	struct sl_rpc_stats *ss = srv_stats(c);

	if (h->flags & SL_FRAME_F_REPLY) {
		struct sl_call *k = table_take(c, h->req_id);

		c->stats.replies++;
		if (!k) {
			sl_debug("rpc: %s: reply to unknown or expired request %llu",
				 c->peer, (unsigned long long)h->req_id);
			return;
		}
		call_finish(k, SL_OK, &m);
		return;
	}
	c->stats.calls++;
	if (ss)
		ss->calls++;
	if (c->srv) {
		c->srv->on_request(c, &m, c->srv->arg);
		return;
	}
	/* A request on a connection nobody serves. */
	sl_rpc_reply(c, h->req_id, h->type, SL_E_PROTO, NULL, NULL, 0);
}

/*
 * Consumes whole frames from the input buffer.  Returns false if the
 * connection went away meanwhile (stop touching it).
 */
static bool parse_input(struct sl_conn *c, unsigned int gen)
{
	for (;;) {
		size_t avail = c->in_end - c->in_start;
		const uint8_t *p = c->in_buf + c->in_start;

		if (c->in_state == IN_HDR) {
			enum sl_frame_err e;

			if (avail < SL_FRAME_HDR_LEN)
				return true;
			e = sl_frame_decode_hdr(p, &c->in_hdr);
			if (e != SL_FRAME_OK) {
				conn_drop(c, sl_frame_strerror(e), true);
				return false;
			}
			c->in_start += SL_FRAME_HDR_LEN;
			avail -= SL_FRAME_HDR_LEN;
			c->in_state = IN_BODY;
			c->big_len = (size_t)c->in_hdr.msg_len + c->in_hdr.data_len;
			if (c->big_len > IN_BUF_SIZE) {
				/* Bounded by decode_hdr (at most 9 MiB). */
				c->big = malloc(c->big_len);
				if (!c->big) {
					conn_drop(c, "out of memory for frame", false);
					return false;
				}
				c->big_got = avail < c->big_len ? avail : c->big_len;
				memcpy(c->big, c->in_buf + c->in_start, c->big_got);
				c->in_start += c->big_got;
			}
			continue;
		}

		/* IN_BODY */
		{
			struct sl_frame_hdr h = c->in_hdr;
			size_t need = (size_t)h.msg_len + h.data_len;
			uint8_t *body, *own = NULL;

			if (c->big) {
				if (c->big_got < need)
					return true;
				own = body = c->big;
				c->big = NULL;	/* ours now; a drop must not free it */
			} else {
				if (avail < need)
					return true;
				body = c->in_buf + c->in_start;
				c->in_start += need;
			}
			c->in_state = IN_HDR;
			if (sl_crc32c(body + h.msg_len, h.data_len) != h.data_crc) {
				free(own);
				conn_drop(c, sl_frame_strerror(SL_FRAME_BAD_DATA_CRC), true);
				return false;
			}
			/*
			 * body may point into in_buf: the connection could be
			 * dropped inside dispatch, but in_buf is only freed
			 * with the connection, which our reference keeps.
			 */
			dispatch(c, &h, body);
			free(own);
			if (c->gen != gen || c->fd < 0)
				return false;
		}
	}
}

static void conn_read(struct sl_conn *c)
{
	unsigned int gen = c->gen;

	for (int i = 0; i < READS_PER_WAKE; i++) {
		uint8_t *dst;
		size_t room;
		ssize_t n;

		if (c->big) {
			dst = c->big + c->big_got;
			room = c->big_len - c->big_got;
		} else {
			/*
			 * Keep the unparsed tail (less than one frame that fits
			 * in_buf) at the front, so there is always room.
			 */
			if (c->in_start == c->in_end) {
				c->in_start = c->in_end = 0;
			} else if (c->in_start > 0) {
				memmove(c->in_buf, c->in_buf + c->in_start, c->in_end - c->in_start);
				c->in_end -= c->in_start;
				c->in_start = 0;
			}
			dst = c->in_buf + c->in_end;
			room = IN_BUF_SIZE - c->in_end;
		}
		n = recv(c->fd, dst, room, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_drop(c, strerror(errno), false);
			return;
		}
		if (n == 0) {
			bool mid = c->big || c->in_state == IN_BODY || c->in_end > c->in_start;

			if (mid)
				conn_drop(c, sl_frame_strerror(SL_FRAME_TRUNCATED), true);
			else
				conn_drop(c, "closed by peer", false);
			return;
		}
		c->last_rx_ms = sl_now_ms();
		if (c->big)
			c->big_got += (size_t)n;
		else
			c->in_end += (size_t)n;
		if (!parse_input(c, gen))
			return;
		if ((size_t)n < room)
			return;	/* drained the socket */
	}
}

void sl_rpc_conn_io(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_conn *c = arg;
	unsigned int gen = c->gen;

	sl_conn_get(c);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(c);
	if ((events & EPOLLOUT) && c->gen == gen && c->fd >= 0)
		conn_flush(c);
	sl_conn_put(c);
}

/* ---- calls and replies ---- */

int sl_rpc_call(struct sl_conn *c, uint16_t type, const ProtobufCMessage *msg,
		const void *data, size_t data_len, uint32_t timeout_ms,
		sl_reply_cb cb, void *arg)
{
	struct sl_frame_hdr h;
	struct sl_call *k;
	size_t flen;
	int r;

	if (!c || !cb)
		return SL_E_INVAL;
	if (c->closed || (!c->outgoing && c->fd < 0))
		return SL_E_UNAVAIL;
	r = frame_prepare(&h, type, msg, data_len);
	if (r)
		return r;
	k = calloc(1, sizeof(*k));
	if (!k)
		return SL_E_INTERNAL;
	INIT_LIST_HEAD(&k->pending);
	k->conn = c;
	k->req_id = c->next_req_id++;
	k->cb = cb;
	k->arg = arg;
	h.req_id = k->req_id;
	flen = SL_FRAME_HDR_LEN + (size_t)h.msg_len + data_len;

	if (c->state == CONN_UP) {
		if (out_reserve(c, flen) < 0)
			goto nomem;
		c->out_len += encode_frame(c->out_buf + c->out_len, &h, msg, data, data_len);
		k->sent = true;
	} else {
		k->frame = malloc(flen);
		if (!k->frame)
			goto nomem;
		k->frame_len = encode_frame(k->frame, &h, msg, data, data_len);
		list_add_tail(&k->pending, &c->pending);
	}
	if (table_add(c, k) < 0) {
		/* Unreachable in practice: table_add only fails before the first grow. */
		if (!list_empty(&k->pending))
			list_del_init(&k->pending);
		free(k->frame);
		free(k);
		return SL_E_INTERNAL;
	}
	sl_timer_init(&k->timer, call_timeout, k);
	sl_timer_arm(c->loop, &k->timer, timeout_ms);
	if (c->state == CONN_UP)
		conn_request_flush(c);
	return SL_OK;
nomem:
	free(k);
	return SL_E_INTERNAL;
}

int sl_rpc_reply(struct sl_conn *c, uint64_t req_id, uint16_t type, int status,
		 const ProtobufCMessage *msg, const void *data, size_t data_len)
{
	struct sl_rpc_stats *ss;
	struct sl_frame_hdr h;
	int r;

	if (!c)
		return SL_E_INVAL;
	if (c->closed || c->state != CONN_UP)
		return SL_E_UNAVAIL;	/* the requester is gone: drop silently */
	r = frame_prepare(&h, type, msg, data_len);
	if (r)
		return r;
	h.flags = SL_FRAME_F_REPLY;
	h.req_id = req_id;
	h.status = (uint32_t)status;
	if (out_reserve(c, SL_FRAME_HDR_LEN + (size_t)h.msg_len + data_len) < 0)
		return SL_E_INTERNAL;
	c->out_len += encode_frame(c->out_buf + c->out_len, &h, msg, data, data_len);
	ss = srv_stats(c);
	if (ss)
		ss->replies++;
	conn_request_flush(c);
	return SL_OK;
}

void sl_conn_stats(const struct sl_conn *c, struct sl_rpc_stats *st)
{
	*st = c->stats;
}

