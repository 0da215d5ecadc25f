/*
 * RPC over 127.0.0.1 with both endpoints in this process on one loop:
 * pipelining with shuffled replies, large data, timeouts, exactly-once
 * callbacks, reconnect after a server restart, replies to closed
 * connections, and malformed frames from raw sockets (each closes only
 * its own connection while a good client keeps being served).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include "crc32c.h"
#include "log.h"
#include "msg_types.h"
#include "rpc.h"
#include "cunit_main.h"

enum { NPIPE = 10000 };

/* The server under test answers Echo requests; text selects a behaviour. */
struct held {
	struct sl_conn *c;
	uint64_t req_id;
	uint64_t value;
};

struct srv_ctx {
	struct sl_loop *loop;
	struct held *held;		/* "hold": replied later, shuffled */
	int nheld, hold_target;
	struct held late;		/* "late": replied by late_timer */
	struct sl_timer late_timer;
	int requests;
};

static struct srv_ctx S;

static void reply_echo(struct sl_conn *c, uint64_t req_id, uint64_t value, const void *data,
		       size_t len)
{
	Shoal__Echo e = SHOAL__ECHO__INIT;

	e.value = value;
	CU_ASSERT_EQUAL(sl_rpc_reply(c, req_id, SL_MSG_ECHO, SL_OK, &e.base, data, len), SL_OK);
}

static void flush_held(void)
{
	/* Fisher-Yates: replies go back in an order unrelated to the requests. */
	for (int i = S.nheld - 1; i > 0; i--) {
		int j = rand() % (i + 1);
		struct held t = S.held[i];

		S.held[i] = S.held[j];
		S.held[j] = t;
	}
	for (int i = 0; i < S.nheld; i++) {
		reply_echo(S.held[i].c, S.held[i].req_id, S.held[i].value + 1, NULL, 0);
		sl_conn_put(S.held[i].c);
	}
	S.nheld = 0;
}

static void on_late(struct sl_timer *t, void *arg)
{
	reply_echo(S.late.c, S.late.req_id, S.late.value, NULL, 0);
	sl_conn_put(S.late.c);
	S.late.c = NULL;
}

static void on_request(struct sl_conn *c, const struct sl_msg *req, void *arg)
{
	Shoal__Echo *e = (Shoal__Echo *)sl_msg_unpack(req, false);

	S.requests++;
	if (!e) {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_PROTO, NULL, NULL, 0);
		return;
	}
	if (req->hdr.type != SL_MSG_ECHO) {
		sl_rpc_reply(c, req->hdr.req_id, req->hdr.type, SL_E_PROTO, NULL, NULL, 0);
	} else if (!strcmp(e->text, "hold")) {
		sl_conn_get(c);
		S.held[S.nheld++] = (struct held){ c, req->hdr.req_id, e->value };
		if (S.nheld == S.hold_target)
			flush_held();
	} else if (!strcmp(e->text, "drop")) {
		/* never answered */
	} else if (!strcmp(e->text, "late")) {
		sl_conn_get(c);
		S.late = (struct held){ c, req->hdr.req_id, e->value };
		sl_timer_arm(S.loop, &S.late_timer, 300);
	} else if (!strcmp(e->text, "status")) {
		sl_rpc_reply(c, req->hdr.req_id, SL_MSG_ECHO, SL_E_NOSPACE, NULL, NULL, 0);
	} else {
		reply_echo(c, req->hdr.req_id, e->value, req->data, req->data_len);
	}
	sl_msg_free(&e->base);
}

/* ---- helpers ---- */

static struct sl_loop *loop;

static bool run_until(bool (*cond)(void *), void *arg, int ms)
{
	uint64_t end = sl_now_ms() + (uint64_t)ms;

	while (!cond(arg)) {
		if (sl_now_ms() >= end)
			return false;
		sl_loop_run_once(loop, 20);
	}
	return true;
}

static void run_for(int ms)
{
	uint64_t end = sl_now_ms() + (uint64_t)ms;

	while (sl_now_ms() < end)
		sl_loop_run_once(loop, 10);
}

static bool int_reaches(void *arg)
{
	int **p = arg;

	return *p[0] >= *p[1];
}

static int wait_count(int *counter, int target, int ms)
{
	int *p[2] = { counter, &target };

	run_until(int_reaches, p, ms);
	return *counter;
}

static char addr_of(struct sl_server *srv, char *buf, size_t len)
{
	snprintf(buf, len, "127.0.0.1:%d", sl_server_port(srv));
	return 0;
}

static struct sl_server *start_server(const char *addr)
{
	S.loop = loop;
	sl_timer_init(&S.late_timer, on_late, NULL);
	return sl_server_listen(loop, addr ? addr : "127.0.0.1:0", on_request, NULL);
}

static int echo_sync(struct sl_conn *c, uint64_t value, const char *text, uint32_t tmo,
		     int *reply_status, uint64_t *reply_value)
{
	Shoal__Echo e = SHOAL__ECHO__INIT;
	ProtobufCMessage *rep = NULL;
	int r;

	e.value = value;
	e.text = (char *)text;
	r = sl_rpc_call_sync(loop, c, SL_MSG_ECHO, &e.base, NULL, 0, tmo, &rep, NULL, NULL,
			     reply_status);
	if (rep && reply_value)
		*reply_value = ((Shoal__Echo *)rep)->value;
	sl_msg_free(rep);
	return r;
}

/* ---- pipelining ---- */

struct pipe_ctx {
	uint8_t *seen;
	int done, bad, dup;
};

struct pipe_arg {
	struct pipe_ctx *p;
	uint64_t value;
};

static void on_pipe_reply(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg)
{
	struct pipe_arg *a = arg;
	Shoal__Echo *e;

	a->p->done++;
	if (status != SL_OK || reply->hdr.status != SL_OK) {
		a->p->bad++;
		return;
	}
	e = (Shoal__Echo *)sl_msg_unpack(reply, true);
	if (!e || e->value != a->value + 1)
		a->p->bad++;
	if (a->p->seen[a->value]++)
		a->p->dup++;
	sl_msg_free(e ? &e->base : NULL);
}

static void test_pipelined_shuffled(void)
{
	struct sl_server *srv = start_server(NULL);
	struct pipe_ctx p = { .seen = calloc(NPIPE, 1) };
	struct pipe_arg *args = calloc(NPIPE, sizeof(*args));
	struct sl_rpc_stats st;
	struct sl_conn *c;
	char addr[64];
	uint64_t t0;

	CU_ASSERT_FATAL(srv && p.seen && args);
	S.held = calloc(NPIPE, sizeof(*S.held));
	S.hold_target = NPIPE;
	addr_of(srv, addr, sizeof(addr));
	c = sl_conn_connect(loop, addr, NULL);
	CU_ASSERT_FATAL(c != NULL);
	t0 = sl_now_ms();
	/* Issued before the connection is up: they wait and go out on connect. */
	for (int i = 0; i < NPIPE; i++) {
		Shoal__Echo e = SHOAL__ECHO__INIT;

		e.value = (uint64_t)i;
		e.text = "hold";
		args[i] = (struct pipe_arg){ &p, (uint64_t)i };
		CU_ASSERT_EQUAL(sl_rpc_call(c, SL_MSG_ECHO, &e.base, NULL, 0, 20000,
					    on_pipe_reply, &args[i]), SL_OK);
	}
	CU_ASSERT_EQUAL(wait_count(&p.done, NPIPE, 20000), NPIPE);
	CU_ASSERT_EQUAL(p.bad, 0);
	CU_ASSERT_EQUAL(p.dup, 0);
	for (int i = 0; i < NPIPE; i++)
		CU_ASSERT_EQUAL(p.seen[i], 1);
	sl_server_stats(srv, &st);
	CU_ASSERT_EQUAL(st.calls, NPIPE);
	CU_ASSERT_EQUAL(st.replies, NPIPE);
	CU_ASSERT_EQUAL(st.conns_accepted, 1);
	CU_ASSERT_EQUAL(st.bad_frames, 0);
	fprintf(stderr, "[%d pipelined calls, shuffled replies, %llu ms] ", NPIPE,
		(unsigned long long)(sl_now_ms() - t0));
	sl_conn_close(c);
	sl_server_close(srv);
	free(S.held);
	S.held = NULL;
	free(p.seen);
	free(args);
}

/* ---- data payloads, statuses, bad calls ---- */

static void test_data_and_status(void)
{
	struct sl_server *srv = start_server(NULL);
	size_t big = SL_FRAME_MAX_DATA;
	uint8_t *data = malloc(big);
	Shoal__Echo e = SHOAL__ECHO__INIT;
	ProtobufCMessage *rep = NULL;
	void *rdata = NULL;
	size_t rlen = 0;
	int rs = -1;
	struct sl_conn *c;
	char addr[64];
	uint64_t v = 0;

	CU_ASSERT_FATAL(srv && data);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	addr_of(srv, addr, sizeof(addr));
	c = sl_conn_connect(loop, addr, NULL);
	CU_ASSERT_FATAL(c != NULL);

	/* The largest data part allowed, and a few sizes around the input buffer. */
	size_t sizes[] = { big, 1, 65536 - 36 - 4, 65536, 65537, 1 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		e.value = i;
		e.text = "data";
		CU_ASSERT_EQUAL(sl_rpc_call_sync(loop, c, SL_MSG_ECHO, &e.base, data, sizes[i], 10000,
						 &rep, &rdata, &rlen, &rs), SL_OK);
		CU_ASSERT_EQUAL(rs, SL_OK);
		CU_ASSERT_EQUAL(rlen, sizes[i]);
		CU_ASSERT(rdata && memcmp(rdata, data, sizes[i]) == 0);
		CU_ASSERT(rep && ((Shoal__Echo *)rep)->value == i);
		sl_msg_free(rep);
		free(rdata);
	}
	/* One over the limit is refused locally. */
	CU_ASSERT_EQUAL(sl_rpc_call_sync(loop, c, SL_MSG_ECHO, &e.base, data, big + 1, 1000,
					 NULL, NULL, NULL, &rs), SL_E_INVAL);
	/* Unknown type is refused locally. */
	CU_ASSERT_EQUAL(sl_rpc_call_sync(loop, c, 9999, &e.base, NULL, 0, 1000,
					 NULL, NULL, NULL, &rs), SL_E_INVAL);
	/* An error status travels in the header. */
	CU_ASSERT_EQUAL(echo_sync(c, 5, "status", 2000, &rs, NULL), SL_OK);
	CU_ASSERT_EQUAL(rs, SL_E_NOSPACE);
	/* A known type the server does not serve: SL_E_PROTO from the handler. */
	CU_ASSERT_EQUAL(sl_rpc_call_sync(loop, c, SL_MSG_CS_FLUSH, NULL, NULL, 0, 2000,
					 NULL, NULL, NULL, &rs), SL_OK);
	CU_ASSERT_EQUAL(rs, SL_E_PROTO);
	CU_ASSERT_EQUAL(echo_sync(c, 77, "plain", 2000, &rs, &v), SL_OK);
	CU_ASSERT_EQUAL(v, 77);
	sl_conn_close(c);
	sl_server_close(srv);
	free(data);
}

/* ---- timeouts and exactly-once ---- */

struct once {
	int calls;
	int status;
};

static void on_once(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg)
{
	struct once *o = arg;

	o->calls++;
	o->status = status;
}

static void test_timeouts(void)
{
	struct sl_server *srv = start_server(NULL);
	Shoal__Echo e = SHOAL__ECHO__INIT;
	struct once a = { 0 }, b = { 0 };
	struct sl_rpc_stats st;
	struct sl_conn *c;
	char addr[64];
	uint64_t t0, dt;
	int rs;

	CU_ASSERT_FATAL(srv != NULL);
	addr_of(srv, addr, sizeof(addr));
	c = sl_conn_connect(loop, addr, NULL);
	CU_ASSERT_FATAL(c != NULL);

	t0 = sl_now_ms();
	CU_ASSERT_EQUAL(echo_sync(c, 1, "drop", 150, &rs, NULL), SL_E_TIMEDOUT);
	dt = sl_now_ms() - t0;
	CU_ASSERT(dt >= 150 && dt < 1000);

	/* A reply after the deadline is dropped: the callback ran once, with TIMEDOUT. */
	e.text = "late";
	CU_ASSERT_EQUAL(sl_rpc_call(c, SL_MSG_ECHO, &e.base, NULL, 0, 100, on_once, &a), SL_OK);
	e.text = "plain";
	CU_ASSERT_EQUAL(sl_rpc_call(c, SL_MSG_ECHO, &e.base, NULL, 0, 2000, on_once, &b), SL_OK);
	run_for(600);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.status, SL_E_TIMEDOUT);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.status, SL_OK);
	CU_ASSERT_PTR_NULL(S.late.c);		/* the late reply was sent */
	sl_conn_stats(c, &st);
	CU_ASSERT_EQUAL(st.timeouts, 2);
	CU_ASSERT_EQUAL(st.bad_frames, 0);
	CU_ASSERT_TRUE(sl_conn_is_up(c));

	/* Closing fails what is in flight, once. */
	a = (struct once){ 0 };
	e.text = "drop";
	CU_ASSERT_EQUAL(sl_rpc_call(c, SL_MSG_ECHO, &e.base, NULL, 0, 5000, on_once, &a), SL_OK);
	run_for(50);
	sl_conn_close(c);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.status, SL_E_UNAVAIL);
	run_for(50);
	CU_ASSERT_EQUAL(a.calls, 1);
	sl_server_close(srv);
}

/* ---- reconnect ---- */

static bool conn_up(void *arg)
{
	return sl_conn_is_up(arg);
}

static void test_reconnect(void)
{
	struct sl_conn_opts opts = { .backoff_min_ms = 20, .backoff_max_ms = 200 };
	struct sl_server *srv = start_server(NULL);
	Shoal__Echo e = SHOAL__ECHO__INIT;
	struct once inflight = { 0 }, waiting = { 0 };
	struct sl_conn *c;
	char addr[64];
	uint64_t v = 0;
	int rs;

	CU_ASSERT_FATAL(srv != NULL);
	addr_of(srv, addr, sizeof(addr));
	c = sl_conn_connect(loop, addr, &opts);
	CU_ASSERT_FATAL(c != NULL);
	CU_ASSERT_EQUAL(echo_sync(c, 1, "plain", 2000, &rs, &v), SL_OK);
	CU_ASSERT_EQUAL(v, 1);

	/* The server goes away with a call in flight: that call fails UNAVAIL. */
	e.text = "drop";
	CU_ASSERT_EQUAL(sl_rpc_call(c, SL_MSG_ECHO, &e.base, NULL, 0, 5000, on_once, &inflight), SL_OK);
	run_for(50);
	sl_server_close(srv);
	CU_ASSERT_EQUAL(wait_count(&inflight.calls, 1, 2000), 1);
	CU_ASSERT_EQUAL(inflight.status, SL_E_UNAVAIL);
	CU_ASSERT_FALSE(sl_conn_is_up(c));

	/* A call made while down waits for the restarted server. */
	e.text = "plain";
	e.value = 42;
	CU_ASSERT_EQUAL(sl_rpc_call(c, SL_MSG_ECHO, &e.base, NULL, 0, 5000, on_once, &waiting), SL_OK);
	run_for(300);				/* a few refused attempts */
	CU_ASSERT_EQUAL(waiting.calls, 0);
	srv = start_server(addr);
	CU_ASSERT_FATAL(srv != NULL);
	CU_ASSERT_EQUAL(wait_count(&waiting.calls, 1, 3000), 1);
	CU_ASSERT_EQUAL(waiting.status, SL_OK);
	CU_ASSERT_TRUE(run_until(conn_up, c, 1000));
	CU_ASSERT_EQUAL(echo_sync(c, 2, "plain", 2000, &rs, &v), SL_OK);
	CU_ASSERT_EQUAL(v, 2);

	/* A call that cannot be sent in time times out instead. */
	sl_server_close(srv);
	run_for(50);
	CU_ASSERT_EQUAL(echo_sync(c, 3, "plain", 200, &rs, NULL), SL_E_TIMEDOUT);
	sl_conn_close(c);

	/* Nothing listening at all, and a bad address. */
	CU_ASSERT_PTR_NULL(sl_conn_connect(loop, "nohost:1", NULL));
	CU_ASSERT_PTR_NULL(sl_conn_connect(loop, "127.0.0.1:0", NULL));
	CU_ASSERT_PTR_NULL(sl_server_listen(loop, "127.0.0.1:99999", on_request, NULL));
}

/* ---- replies after the requester left ---- */

static void test_reply_to_closed(void)
{
	struct sl_server *srv = start_server(NULL);
	Shoal__Echo e = SHOAL__ECHO__INIT;
	struct once a = { 0 };
	struct sl_conn *c;
	char addr[64];

	CU_ASSERT_FATAL(srv != NULL);
	S.held = calloc(4, sizeof(*S.held));
	S.hold_target = 4;	/* not reached: we reply by hand */
	addr_of(srv, addr, sizeof(addr));
	c = sl_conn_connect(loop, addr, NULL);
	e.text = "hold";
	CU_ASSERT_EQUAL(sl_rpc_call(c, SL_MSG_ECHO, &e.base, NULL, 0, 5000, on_once, &a), SL_OK);
	CU_ASSERT_EQUAL(wait_count(&S.nheld, 1, 2000), 1);
	sl_conn_close(c);
	CU_ASSERT_EQUAL(a.calls, 1);
	CU_ASSERT_EQUAL(a.status, SL_E_UNAVAIL);
	run_for(100);		/* the server notices EOF */
	CU_ASSERT_EQUAL(sl_rpc_reply(S.held[0].c, S.held[0].req_id, SL_MSG_ECHO, SL_OK, NULL, NULL, 0),
			SL_E_UNAVAIL);
	CU_ASSERT_FALSE(sl_conn_is_up(S.held[0].c));
	sl_conn_put(S.held[0].c);	/* last reference: freed here (ASan checks) */
	S.nheld = 0;
	free(S.held);
	S.held = NULL;
	sl_server_close(srv);
}

/* ---- when frames leave ---- */

struct out_ctx {
	struct sl_conn *c;
	int raw;
	struct once a[3];
	bool sent_early;
};

static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/* Frames (whole, well-formed) in what the peer can read right now. */
static int raw_frames(int fd)
{
	static uint8_t buf[65536];
	struct sl_frame_hdr h;
	const uint8_t *m, *d;
	size_t used, off = 0;
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	int frames = 0;

	if (n <= 0)
		return 0;
	while (off < (size_t)n && sl_frame_parse(buf + off, (size_t)n - off, &h, &m, &d, &used) == SL_FRAME_OK) {
		off += used;
		frames++;
	}
	return off == (size_t)n ? frames : -1;
}

static void three_calls(void *arg)
{
	struct out_ctx *o = arg;
	Shoal__Echo e = SHOAL__ECHO__INIT;

	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(sl_rpc_call(o->c, SL_MSG_ECHO, &e.base, NULL, 0, 5000, on_once, &o->a[i]),
				SL_OK);
	/* still inside the iteration: held back, to leave together at its end */
	o->sent_early = fd_readable(o->raw);
}

static void test_output_batching(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	Shoal__Echo e = SHOAL__ECHO__INIT;
	struct out_ctx o = { 0 };
	struct once first = { 0 };
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	char addr[64];

	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CU_ASSERT_FATAL(listen(lfd, 4) == 0);
	CU_ASSERT_FATAL(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	o.c = sl_conn_connect(loop, addr, NULL);
	CU_ASSERT_FATAL(o.c != NULL);
	CU_ASSERT_FATAL(run_until(conn_up, o.c, 2000));
	o.raw = accept(lfd, NULL, NULL);
	CU_ASSERT_FATAL(o.raw >= 0);

	/* A call made outside the loop's iteration (a hosted loop's host) is on the wire at once. */
	CU_ASSERT_EQUAL(sl_rpc_call(o.c, SL_MSG_ECHO, &e.base, NULL, 0, 5000, on_once, &first), SL_OK);
	CU_ASSERT_TRUE(fd_readable(o.raw));
	CU_ASSERT_EQUAL(raw_frames(o.raw), 1);

	/* Calls made inside one iteration leave together when it ends. */
	CU_ASSERT_EQUAL(sl_loop_post(loop, three_calls, &o), 0);
	CU_ASSERT_EQUAL(sl_loop_run_once(loop, 1000), 0);
	CU_ASSERT_FALSE(o.sent_early);
	CU_ASSERT_TRUE(fd_readable(o.raw));
	CU_ASSERT_EQUAL(raw_frames(o.raw), 3);

	/* Never answered: closing fails each call exactly once. */
	sl_conn_close(o.c);
	CU_ASSERT_EQUAL(first.calls, 1);
	CU_ASSERT_EQUAL(first.status, SL_E_UNAVAIL);
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(o.a[i].calls, 1);
		CU_ASSERT_EQUAL(o.a[i].status, SL_E_UNAVAIL);
	}
	run_for(50);
	close(o.raw);
	close(lfd);
}

/* ---- malformed frames ---- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static size_t good_frame(uint8_t *buf, uint16_t type, const void *data, uint32_t dlen)
{
	Shoal__Echo e = SHOAL__ECHO__INIT;
	struct sl_frame_hdr h = { .version = SL_FRAME_VERSION, .type = type, .req_id = 9 };

	e.value = 9;
	h.msg_len = (uint32_t)shoal__echo__pack(&e, buf + SL_FRAME_HDR_LEN);
	h.data_len = dlen;
	memcpy(buf + SL_FRAME_HDR_LEN + h.msg_len, data, dlen);
	h.data_crc = sl_crc32c(data, dlen);
	sl_frame_encode_hdr(&h, buf);
	return SL_FRAME_HDR_LEN + h.msg_len + dlen;
}

static int raw_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Whether the server closed fd (EOF), polling the loop meanwhile. */
static bool raw_sees_eof(int fd, int ms)
{
	uint64_t end = sl_now_ms() + (uint64_t)ms;
	char b[256];

	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (sl_now_ms() < end) {
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		sl_loop_run_once(loop, 10);
	}
	return false;
}

static char *read_file(const char *path)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

static int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_malformed(void)
{
	struct sl_server *srv = start_server(NULL);
	struct sl_rpc_stats st, cst;
	char addr[64], logpath[] = "/tmp/sl-test-rpc-log-XXXXXX";
	uint8_t f[1024];
	size_t len;
	int port, rs, logfd, saved, raw;
	uint64_t v;
	char *log;

	CU_ASSERT_FATAL(srv != NULL);
	port = sl_server_port(srv);
	addr_of(srv, addr, sizeof(addr));
	struct sl_conn *good = sl_conn_connect(loop, addr, NULL);
	CU_ASSERT_EQUAL_FATAL(echo_sync(good, 1, "plain", 2000, &rs, &v), SL_OK);

	/* Capture the log lines of this test. */
	logfd = mkstemp(logpath);
	CU_ASSERT_FATAL(logfd >= 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(logfd, STDERR_FILENO);

	struct {
		const char *why;
		int kind;
	} cases[] = {
		{ "bad magic", 0 },
		{ "message length over limit", 1 },
		{ "truncated frame", 2 },
		{ "unknown message type", 3 },
		{ "bad data checksum", 4 },
		{ "data length over limit", 5 },
		{ "bad header checksum", 6 },
	};
	int ncases = (int)(sizeof(cases) / sizeof(cases[0]));

	for (int i = 0; i < ncases; i++) {
		raw = raw_connect(port);
		CU_ASSERT_FATAL(raw >= 0);
		len = good_frame(f, SL_MSG_ECHO, "abcdef", 6);
		switch (cases[i].kind) {
		case 0: memcpy(f, "GET / HTTP/1.1\r\n", 16); break;
		case 1: put32(f + 16, SL_FRAME_MAX_MSG + 1); put32(f + 32, sl_crc32c(f, 32)); break;
		case 2: len = SL_FRAME_HDR_LEN + 3; break;	/* then close mid-frame */
		case 3: f[6] = 0x39; f[7] = 0x05; put32(f + 32, sl_crc32c(f, 32)); break;
		case 4: f[len - 1] ^= 0xff; break;
		case 5: put32(f + 20, 0xfffffff0u); put32(f + 32, sl_crc32c(f, 32)); break;
		case 6: f[9] ^= 1; break;
		}
		/* A good frame first: the connection works until the bad one. */
		uint8_t ok[256];
		size_t oklen = good_frame(ok, SL_MSG_ECHO, "x", 1);

		CU_ASSERT_EQUAL(write(raw, ok, oklen), (ssize_t)oklen);
		CU_ASSERT_EQUAL(write(raw, f, len), (ssize_t)len);
		if (cases[i].kind == 2)
			shutdown(raw, SHUT_WR);
		CU_ASSERT_TRUE(raw_sees_eof(raw, 3000));
		close(raw);
		/* The good client is untouched and still answered. */
		v = 0;
		CU_ASSERT_EQUAL(echo_sync(good, 100 + (uint64_t)i, "plain", 2000, &rs, &v), SL_OK);
		CU_ASSERT_EQUAL(v, 100 + (uint64_t)i);
		sl_server_stats(srv, &st);
		CU_ASSERT_EQUAL(st.bad_frames, (uint64_t)i + 1);
	}

	/* A peer closing cleanly between frames is not a bad frame. */
	raw = raw_connect(port);
	CU_ASSERT_FATAL(raw >= 0);
	close(raw);
	run_for(100);

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(logfd);
	log = read_file(logpath);
	unlink(logpath);

	sl_server_stats(srv, &st);
	CU_ASSERT_EQUAL(st.bad_frames, (uint64_t)ncases);
	CU_ASSERT_EQUAL(st.conns_accepted, (uint64_t)ncases + 2);
	CU_ASSERT_EQUAL(count_lines(log, "rpc: closing 127.0.0.1:"), ncases);
	for (int i = 0; i < ncases; i++) {
		char line[128];

		snprintf(line, sizeof(line), ": %s\n", cases[i].why);
		CU_ASSERT_EQUAL(count_lines(log, line), 1);
		if (count_lines(log, line) != 1)
			fprintf(stderr, "\n  missing log line for '%s' in:\n%s", cases[i].why, log);
	}
	/* The good client never reconnected. */
	sl_conn_stats(good, &cst);
	CU_ASSERT_EQUAL(cst.conns_accepted, 1);
	CU_ASSERT_EQUAL(cst.conns_closed, 0);
	CU_ASSERT_TRUE(sl_conn_is_up(good));
	sl_conn_close(good);
	sl_server_close(srv);
}

static void test_parse_addr(void)
{
	struct sockaddr_in sa;

	CU_ASSERT_EQUAL(sl_parse_addr("127.0.0.1:7300", &sa, false), 0);
	CU_ASSERT_EQUAL(ntohs(sa.sin_port), 7300);
	CU_ASSERT_EQUAL(ntohl(sa.sin_addr.s_addr), INADDR_LOOPBACK);
	CU_ASSERT_EQUAL(sl_parse_addr("localhost:1", &sa, false), 0);
	CU_ASSERT_EQUAL(ntohl(sa.sin_addr.s_addr), INADDR_LOOPBACK);
	CU_ASSERT_EQUAL(sl_parse_addr("0.0.0.0:0", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("0.0.0.0:0", &sa, false), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("127.0.0.1", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr(":80", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("127.0.0.1:", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("127.0.0.1:65536", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("127.0.0.1:-1", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("127.0.0.1:80x", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("300.0.0.1:80", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr("example.com:80", &sa, true), 0);
	CU_ASSERT_NOT_EQUAL(sl_parse_addr(NULL, &sa, true), 0);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "address parsing", test_parse_addr },
		{ "10000 pipelined calls, shuffled replies", test_pipelined_shuffled },
		{ "data payloads up to the limit, statuses", test_data_and_status },
		{ "timeouts, late replies, exactly-once", test_timeouts },
		{ "reconnect after server restart", test_reconnect },
		{ "reply after the requester closed", test_reply_to_closed },
		{ "frames leave at once outside the loop, together at its end inside", test_output_batching },
		{ "malformed frames close only their connection", test_malformed },
		{ NULL, NULL },
	};
	int r;

	sl_log_open("test_rpc", SL_LOG_INFO, false);
	srand(12345);
	loop = sl_loop_new();
	if (!loop)
		return 2;
	r = sl_cunit_run("rpc", tests);
	sl_loop_free(loop);
	return r;
}
