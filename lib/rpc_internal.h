/*
 * Private to lib/rpc*.c: the connection, call and server structures.
 * See rpc.c for the state machines and the lifetime rules.
 */
#ifndef SHOAL_RPC_INTERNAL_H
#define SHOAL_RPC_INTERNAL_H

#include <netinet/in.h>
#include "list.h"
#include "rpc.h"

#define IN_BUF_SIZE	(64u * 1024)
#define READS_PER_WAKE	16

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_UP };
enum in_state { IN_HDR, IN_BODY };

struct sl_call {
	struct sl_call *hnext;		/* request table chain */
	struct list_head pending;	/* on c->pending until sent */
	struct sl_conn *conn;
	uint64_t req_id;
	sl_reply_cb cb;
	void *arg;
	struct sl_timer timer;
	uint8_t *frame;			/* encoded, while pending */
	size_t frame_len;
	bool sent;
};

struct sl_conn {
	struct sl_loop *loop;
	int refs;
	int fd;
	unsigned int gen;
	enum conn_state state;
	bool outgoing;
	bool closed;
	char peer[64];

	/* outgoing */
	struct sockaddr_in addr;
	struct sl_conn_opts opts;
	uint32_t backoff_ms;
	struct sl_timer timer;		/* reconnect wait or connect timeout */

	/* accepted */
	struct sl_server *srv;
	struct list_head srv_node;

	/* input */
	enum in_state in_state;
	uint8_t *in_buf;
	size_t in_start, in_end;
	struct sl_frame_hdr in_hdr;
	uint8_t *big;
	size_t big_len, big_got;
	uint64_t last_rx_ms;		/* anything received then (sl_conn_last_rx) */

	/* output: bytes out_off..out_len of out_buf are unsent */
	uint8_t *out_buf;
	size_t out_off, out_len, out_cap;
	bool want_out;			/* EPOLLOUT armed: the socket was full */
	struct sl_defer flush;		/* queued frames go out at the end of the iteration */

	/* calls */
	struct sl_call **table;
	size_t nbuckets, ncalls;
	struct list_head pending;
	uint64_t next_req_id;

	void *user;
	void (*on_close)(struct sl_conn *c, void *user);
	struct sl_rpc_stats stats;
};

struct sl_server {
	struct sl_loop *loop;
	int fd;
	int port;
	sl_request_cb on_request;
	void *arg;
	struct list_head conns;
	struct sl_rpc_stats stats;
};

struct sl_conn *sl_rpc_conn_alloc(struct sl_loop *loop);
void sl_rpc_conn_io(struct sl_loop *loop, int fd, uint32_t events, void *arg);
void sl_rpc_format_addr(const struct sockaddr_in *sa, char *buf, size_t len);
void sl_rpc_set_nodelay(int fd);

#endif
