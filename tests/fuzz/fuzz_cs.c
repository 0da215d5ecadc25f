/*
 * libFuzzer target for the chunkserver's request handlers.  The frames of
 * each input go over TCP (127.0.0.1) to a real chunkserver context, set up
 * as main.c sets up the daemon but without a master: one data directory
 * under the working directory (real files, O_DIRECT, libaio), the real
 * RPC server and its incremental frame decoder (lib/rpc.c), and
 * cs_on_request behind it.  Nothing is faked; the fuzzer is the peer.
 *
 * Checked: no crash or sanitizer report; every input's connection ends
 * (the server closes it after our EOF, a bad frame, or when every reply is
 * written) within a bound; and after each input the server still answers
 * CS_STATUS on a fresh connection, so a malformed stream closed that
 * connection only (invariant 7).
 *
 * CS_COPY_FROM_PEER frames are dropped before sending: their handler
 * connects to the address the request names, and this target sends
 * traffic to 127.0.0.1 only.  Without a master the primary path answers
 * SL_E_NOT_PRIMARY, so no lease or forward leaves the process either.
 *
 * Mutations go through fuzz_fixup.h (CRCs made right again).
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "chunkserver.h"
#include "fuzz_fixup.h"
#include "log.h"
#include "msg_types.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

#define CONN_BOUND_MS	5000	/* an input's connection must end within this */

static struct chunkserver *cs;
static int port;
static uint8_t *out;		/* the input, COPY_FROM_PEER frames dropped */

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_cs: %s\n", what);
		abort();
	}
}

/* The data directory: a new one under $SHOAL_FUZZ_DIR (default "."), never tmpfs (no O_DIRECT). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[4096];
	const char *base = getenv("SHOAL_FUZZ_DIR");
	char err[512], addr[32];

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	sl_log_open("fuzz_cs", SL_LOG_ERR, false);
	cs = calloc(1, sizeof(*cs));
	out = malloc(1 << 20);
	snprintf(dir, sizeof(dir), "%s/fuzz-cs-XXXXXX", base && *base ? base : ".");
	check(cs && out && mkdtemp(dir), "cannot set up (memory, data dir)");
	cs->o.data_dirs.v[0] = dir;
	cs->o.data_dirs.n = 1;
	cs->o.rpc_timeout_ms = 1000;
	cs->o.clean_ms = 300000;
	cs->o.group_flush = true;
	cs->loop = sl_loop_new();
	cs->aio = cs->loop ? cs_aio_new(128) : NULL;
	check(cs->aio != NULL, "no event loop or aio context");
	cs->env.aio = cs->aio;
	cs->env.io_error = cs_disks_io_error;
	cs->env.group_flush = true;
	cs->env.arg = &cs->disks;
	if (cs_disks_open(&cs->disks, &cs->o.data_dirs, &cs->env, err, sizeof(err))) {
		fprintf(stderr, "fuzz_cs: %s (in %s)\n", err, dir);
		abort();
	}
	check(cs_aio_attach(cs->aio, cs->loop) == 0, "cannot attach aio");
	cs->srv = sl_server_listen(cs->loop, "127.0.0.1:0", cs_on_request, cs);
	check(cs->srv != NULL, "cannot listen on 127.0.0.1");
	port = sl_server_port(cs->srv);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	cs->addr = strdup(addr);
	fprintf(stderr, "fuzz_cs: chunkserver on %s, data in %s\n", addr, dir);
	return 0;
}

/* The input without its CS_COPY_FROM_PEER frames; returns the length kept. */
static size_t drop_copies(const uint8_t *buf, size_t len)
{
	size_t off = 0, n = 0;
	uint64_t f;

	while ((f = fuzz_frame_len(buf + off, len - off)) != 0 && f <= len - off) {
		uint16_t type = (uint16_t)(buf[off + 6] | buf[off + 7] << 8);

		if (type != SL_MSG_CS_COPY_FROM_PEER) {
			memcpy(out + n, buf + off, (size_t)f);
			n += (size_t)f;
		}
		off += (size_t)f;
	}
	memcpy(out + n, buf + off, len - off);	/* a tail that is no whole frame */
	return n + len - off;
}

static int connect_local(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	check(fd >= 0, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
		check(0, "connect to the chunkserver");
	return fd;
}

/*
 * Sends len bytes on a fresh connection, then EOF, running the server's
 * loop meanwhile and reading whatever it answers; returns when the server
 * closed the connection (false if it did not within CONN_BOUND_MS).
 */
static bool exchange(const uint8_t *buf, size_t len)
{
	uint64_t end = sl_now_ms() + CONN_BOUND_MS;
	int fd = connect_local();
	size_t sent = 0;
	bool shut = false, closed = false;
	char sink[65536];
	ssize_t r;

	while (!closed && sl_now_ms() < end) {
		if (sent < len) {
			r = send(fd, buf + sent, len - sent, MSG_NOSIGNAL);
			if (r > 0)
				sent += (size_t)r;
			else if (r < 0 && errno != EAGAIN && errno != EINTR)
				sent = len;	/* reset by the server: it is done with us */
		} else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		sl_loop_run_once(cs->loop, 1);
		while ((r = recv(fd, sink, sizeof(sink), 0)) > 0)
			;
		closed = r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR);
	}
	close(fd);
	/* let the server see our close and finish what the input started */
	for (int i = 0; i < 50 && cs->load; i++)
		sl_loop_run_once(cs->loop, 2);
	sl_loop_run_once(cs->loop, 0);
	return closed;
}

/* One valid CS_STATUS request on a fresh connection: the server answers it. */
static bool still_serving(void)
{
	static uint8_t req[SL_FRAME_HDR_LEN];
	static uint64_t id;
	Shoal__Empty e = SHOAL__EMPTY__INIT;
	struct sl_frame_hdr h = { .version = SL_FRAME_VERSION, .type = SL_MSG_CS_STATUS,
				  .req_id = ++id };
	uint64_t end = sl_now_ms() + CONN_BOUND_MS;
	uint8_t hdr[SL_FRAME_HDR_LEN];
	size_t got = 0, sent = 0;
	int fd = connect_local();
	ssize_t r;

	h.msg_len = (uint32_t)protobuf_c_message_get_packed_size(&e.base);	/* 0 */
	sl_frame_encode_hdr(&h, req);
	while (got < sizeof(hdr) && sl_now_ms() < end) {
		if (sent < sizeof(req)) {
			r = send(fd, req + sent, sizeof(req) - sent, MSG_NOSIGNAL);
			if (r > 0)
				sent += (size_t)r;
		}
		sl_loop_run_once(cs->loop, 1);
		r = recv(fd, hdr + got, sizeof(hdr) - got, 0);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			break;
	}
	close(fd);
	sl_loop_run_once(cs->loop, 0);
	return got == sizeof(hdr) && fuzz_get32(hdr) == SL_FRAME_MAGIC &&
	       (hdr[5] & SL_FRAME_F_REPLY) && fuzz_get32(hdr + 28) == SL_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	size_t n;

	if (len > (1 << 20))
		return -1;
	n = drop_copies(buf, len);
	check(exchange(out, n), "the connection did not end within the bound");
	check(still_serving(), "the chunkserver no longer answers CS_STATUS");
	return 0;
}
