/*
 * The listening side of the RPC layer (rpc.h): accepts connections and
 * hands them to the connection code in rpc.c, which dispatches their
 * requests to the server's handler.  The server holds one reference on
 * each accepted connection until that connection closes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "list.h"
#include "log.h"
#include "rpc.h"
#include "rpc_internal.h"

#define ACCEPTS_PER_WAKE 64

static void server_accept(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_server *srv = arg;

	for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		struct sl_conn *c;
		int cfd = accept4(fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sl_warn("rpc: accept on port %d: %s", srv->port, strerror(errno));
			return;
		}
		sl_rpc_set_nodelay(cfd);
		c = sl_rpc_conn_alloc(loop);
		if (!c) {
			sl_warn("rpc: out of memory accepting a connection");
			close(cfd);
			continue;
		}
		sl_rpc_format_addr(&sa, c->peer, sizeof(c->peer));
		c->fd = cfd;
		c->state = CONN_UP;
		c->srv = srv;
		if (sl_loop_add_fd(loop, cfd, EPOLLIN, sl_rpc_conn_io, c) < 0) {
			close(cfd);
			sl_conn_put(c);
			continue;
		}
		list_add_tail(&c->srv_node, &srv->conns);
		srv->stats.conns_accepted++;
	}
}

struct sl_server *sl_server_listen(struct sl_loop *loop, const char *addr,
				   sl_request_cb on_request, void *arg)
{
	struct sl_server *srv;
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int one = 1;

	if (!on_request || sl_parse_addr(addr, &sa, true) < 0) {
		sl_err("rpc: bad listen address '%s' (want host:port)", addr ? addr : "");
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->loop = loop;
	srv->on_request = on_request;
	srv->arg = arg;
	INIT_LIST_HEAD(&srv->conns);
	srv->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->fd < 0)
		goto fail;
	setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(srv->fd, 128) < 0 ||
	    getsockname(srv->fd, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	srv->port = ntohs(sa.sin_port);
	if (sl_loop_add_fd(loop, srv->fd, EPOLLIN, server_accept, srv) < 0)
		goto fail;
	return srv;
fail:
	sl_err("rpc: cannot listen on %s: %s", addr, strerror(errno));
	if (srv->fd >= 0)
		close(srv->fd);
	free(srv);
	return NULL;
}

int sl_server_port(const struct sl_server *srv)
{
	return srv->port;
}

void sl_server_close(struct sl_server *srv)
{
	if (!srv)
		return;
	sl_loop_del_fd(srv->loop, srv->fd);
	close(srv->fd);
	while (!list_empty(&srv->conns)) {
		struct sl_conn *c = list_first_entry(&srv->conns, struct sl_conn, srv_node);

		sl_conn_close(c);
	}
	free(srv);
}

void sl_server_stats(const struct sl_server *srv, struct sl_rpc_stats *st)
{
	*st = srv->stats;
}
