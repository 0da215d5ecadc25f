/*
 * The client's link to the master group (contract in master_client.h).
 *
 * One call's life:
 *
 *   sl_master_call ──> SEND (to pick_master()) ──reply──> final status ──> DONE
 *                        ^   |                     |
 *                        |   | NOT_LEADER + hint   | NOT_LEADER, no hint /
 *                        |   v                     | UNAVAIL / TIMEDOUT / BUSY
 *                        +-- SEND to the hint      v
 *                        +----------------------- WAIT (backoff timer)
 *
 * Any state ends in DONE with SL_E_TIMEDOUT (or the last transport error)
 * once the deadline has passed.  A call owns a private copy of the request
 * message, so the caller's copy may live on its stack.
 *
 * A dead master costs a call little (the gateway renews its session lease,
 * L = 3 s, through here, and a leader's death must not outlast it): an
 * attempt is never made on a connection that exists and is down (a connect
 * was refused or timed out, or it dropped: the master is gone or
 * restarting; the connection reconnects by itself, the call counts a
 * transport failure and walks on), a first connect is waited for
 * MC_CONNECT_WAIT_MS at most, and while the leader is unknown the walk
 * passes over masters whose connection is down.  Before this, a call queued on a killed leader's
 * connection for a whole attempt (3 s) and the lease ran out.
 *
 * Invariant: a call is on mc->calls from sl_master_call() until its callback
 * has run; it is either waiting for exactly one RPC reply (in_rpc) or for its
 * backoff timer, never both.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "list.h"
#include "log.h"
#include "master_client.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"

#define MC_ATTEMPT_MS		3000	/* one attempt at one master */
#define MC_CONNECT_WAIT_MS	500	/* an attempt on a connection not yet up */
#define MC_BACKOFF_MIN_MS	20
#define MC_BACKOFF_MAX_MS	1000
#define MC_MAX_MASTERS		SL_CONFIG_MAX_LIST
#define MC_ADDR_MAX		128

struct mc_master {
	char addr[MC_ADDR_MAX];
	struct sl_conn *conn;		/* lazily connected, kept */
};

struct sl_master_client {
	struct sl_loop *loop;
	int n;
	struct mc_master m[MC_MAX_MASTERS];
	int leader;			/* index believed to lead, -1 unknown */
	int next;			/* round-robin cursor when leader unknown */
	uint64_t client_id;
	uint64_t seq;
	struct list_head calls;
	bool closing;
};

struct mc_call {
	struct list_head node;
	struct sl_master_client *mc;
	uint16_t type;
	const struct sl_msg_type_info *info;
	ProtobufCMessage *req;		/* our copy */
	uint64_t deadline;		/* sl_now_ms() */
	uint32_t attempt_ms;		/* one attempt at one master, at most */
	uint32_t backoff_ms;
	int target;			/* master index of the current attempt */
	int last_status;
	bool in_rpc;
	struct sl_timer timer;
	sl_master_cb cb;
	void *arg;
};

static struct sl_conn *mc_conn(struct sl_master_client *mc, int i)
{
	if (!mc->m[i].conn) {
		struct sl_conn_opts o = {
			.connect_timeout_ms = 1000,
			.backoff_min_ms = 50,
			.backoff_max_ms = 1000,
			.user_timeout_ms = SL_MASTER_USER_TIMEOUT_MS,
		};
		mc->m[i].conn = sl_conn_connect(mc->loop, mc->m[i].addr, &o);
	}
	return mc->m[i].conn;
}

static int mc_find_or_add(struct sl_master_client *mc, const char *addr)
{
	int i;

	for (i = 0; i < mc->n; i++)
		if (!strcmp(mc->m[i].addr, addr))
			return i;
	if (mc->n >= MC_MAX_MASTERS || strlen(addr) >= MC_ADDR_MAX)
		return -1;
	snprintf(mc->m[mc->n].addr, MC_ADDR_MAX, "%s", addr);
	mc->m[mc->n].conn = NULL;
	return mc->n++;
}

struct sl_master_client *sl_master_client_new(struct sl_loop *loop, const struct sl_str_list *masters)
{
	struct sl_master_client *mc;
	int i;

	if (!masters || masters->n <= 0)
		return NULL;
	mc = calloc(1, sizeof(*mc));
	if (!mc)
		return NULL;
	mc->loop = loop;
	mc->leader = -1;
	INIT_LIST_HEAD(&mc->calls);
	for (i = 0; i < masters->n && i < MC_MAX_MASTERS; i++) {
		if (!masters->v[i] || !*masters->v[i] || strlen(masters->v[i]) >= MC_ADDR_MAX) {
			sl_err("master client: bad master address '%s'", masters->v[i] ? masters->v[i] : "");
			free(mc);
			return NULL;
		}
		mc_find_or_add(mc, masters->v[i]);
	}
	if (getrandom(&mc->client_id, sizeof(mc->client_id), 0) != sizeof(mc->client_id))
		mc->client_id = ((uint64_t)getpid() << 32) ^ sl_now_us() ^ (uint64_t)time(NULL);
	if (!mc->client_id)
		mc->client_id = 1;
	return mc;
}

void sl_master_dedup(struct sl_master_client *mc, Shoal__DedupId *d)
{
	shoal__dedup_id__init(d);
	d->client_id = mc->client_id;
	d->seq = ++mc->seq;
}

uint64_t sl_master_client_id(const struct sl_master_client *mc)
{
	return mc->client_id;
}

const char *sl_master_leader(const struct sl_master_client *mc)
{
	return mc->leader >= 0 ? mc->m[mc->leader].addr : "";
}

static void mc_finish(struct mc_call *call, int status, const ProtobufCMessage *reply)
{
	sl_timer_cancel(call->mc->loop, &call->timer);
	list_del_init(&call->node);
	call->cb(status, reply, call->arg);
	protobuf_c_message_free_unpacked(call->req, NULL);
	free(call);
}

static void mc_send(struct mc_call *call);

/* Whether master i has a connection that is not up (see the top). */
static bool mc_down(const struct sl_master_client *mc, int i)
{
	return mc->m[i].conn && !sl_conn_is_up(mc->m[i].conn);
}

/* The leader, or the next master round the list, passing over down ones. */
static int pick_master(struct sl_master_client *mc)
{
	if (mc->leader >= 0)
		return mc->leader;
	for (int k = 0; k < mc->n; k++) {
		mc->next = (mc->next + 1) % mc->n;
		if (!mc_down(mc, mc->next))
			return mc->next;
	}
	/* All down: try the next anyway (it may just have come back). */
	mc->next = (mc->next + 1) % mc->n;
	return mc->next;
}

/* Wait, then try again (the next master unless the leader is known). */
static void mc_retry_later(struct mc_call *call)
{
	struct sl_master_client *mc = call->mc;
	uint64_t now = sl_now_ms();
	uint64_t wait;

	if (now >= call->deadline) {
		mc_finish(call, call->last_status == SL_E_UNAVAIL ? SL_E_UNAVAIL : SL_E_TIMEDOUT, NULL);
		return;
	}
	wait = call->backoff_ms;
	if (now + wait > call->deadline)
		wait = call->deadline - now;
	call->backoff_ms = call->backoff_ms * 2 > MC_BACKOFF_MAX_MS ? MC_BACKOFF_MAX_MS : call->backoff_ms * 2;
	sl_timer_arm(mc->loop, &call->timer, wait);
}

static void mc_timer_cb(struct sl_timer *t, void *arg)
{
	struct mc_call *call = arg;

	(void)t;
	call->target = pick_master(call->mc);
	mc_send(call);
}

static void mc_reply(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg)
{
	struct mc_call *call = arg;
	struct sl_master_client *mc = call->mc;
	ProtobufCMessage *rep = NULL;
	int st;

	(void)c;
	call->in_rpc = false;
	if (!mc) {
		/* Orphaned by sl_master_client_free(); the callback already ran. */
		protobuf_c_message_free_unpacked(call->req, NULL);
		free(call);
		return;
	}
	if (mc->closing) {
		mc_finish(call, SL_E_UNAVAIL, NULL);
		return;
	}
	if (status != SL_OK) {
		/* Transport failure: this master may be gone; forget it as leader. */
		if (mc->leader == call->target)
			mc->leader = -1;
		call->last_status = status;
		mc_retry_later(call);
		return;
	}
	st = (int)reply->hdr.status;
	if (st == SL_E_NOT_LEADER) {
		Shoal__MasterRedirect *r = (Shoal__MasterRedirect *)protobuf_c_message_unpack(
			&shoal__master_redirect__descriptor, NULL, reply->msg_len, reply->msg);
		int hint = -1;

		if (r && r->leader_addr && *r->leader_addr)
			hint = mc_find_or_add(mc, r->leader_addr);
		if (r)
			protobuf_c_message_free_unpacked(&r->base, NULL);
		call->last_status = st;
		if (hint >= 0 && hint != call->target) {
			mc->leader = hint;
			if (sl_now_ms() >= call->deadline) {
				mc_finish(call, SL_E_TIMEDOUT, NULL);
				return;
			}
			call->target = hint;
			mc_send(call);
			return;
		}
		/* Election under way (or a stale hint pointing back): wait and walk. */
		mc->leader = -1;
		mc_retry_later(call);
		return;
	}
	if (st == SL_E_UNAVAIL || st == SL_E_TIMEDOUT || st == SL_E_BUSY) {
		call->last_status = st;
		if (st != SL_E_BUSY && mc->leader == call->target)
			mc->leader = -1;
		mc_retry_later(call);
		return;
	}
	/* A real answer from a master: it leads (followers only redirect). */
	mc->leader = call->target;
	if (reply->msg_len || st == SL_OK) {
		rep = protobuf_c_message_unpack(call->info->rep, NULL, reply->msg_len, reply->msg);
		if (!rep && st == SL_OK) {
			sl_warn("master client: %s reply from %s does not decode",
				call->info->name, mc->m[call->target].addr);
			mc_finish(call, SL_E_PROTO, NULL);
			return;
		}
	}
	mc_finish(call, st, rep);
	if (rep)
		protobuf_c_message_free_unpacked(rep, NULL);
}

static void mc_send(struct mc_call *call)
{
	struct sl_master_client *mc = call->mc;
	uint64_t now = sl_now_ms();
	uint32_t tmo;
	struct sl_conn *conn;
	int rc;

	if (now >= call->deadline) {
		mc_finish(call, call->last_status == SL_E_UNAVAIL ? SL_E_UNAVAIL : SL_E_TIMEDOUT, NULL);
		return;
	}
	tmo = call->deadline - now > call->attempt_ms ? call->attempt_ms : (uint32_t)(call->deadline - now);
	if (mc_down(mc, call->target)) {
		if (mc->leader == call->target)
			mc->leader = -1;
		call->last_status = SL_E_UNAVAIL;
		mc_retry_later(call);
		return;
	}
	conn = mc_conn(mc, call->target);
	if (!conn) {
		call->last_status = SL_E_UNAVAIL;
		mc_retry_later(call);
		return;
	}
	if (!sl_conn_is_up(conn) && tmo > MC_CONNECT_WAIT_MS)
		tmo = MC_CONNECT_WAIT_MS;
	rc = sl_rpc_call(conn, call->type, call->req, NULL, 0, tmo, mc_reply, call);
	if (rc != 0) {
		call->last_status = rc;
		mc_retry_later(call);
		return;
	}
	call->in_rpc = true;
}

int sl_master_call(struct sl_master_client *mc, uint16_t type, const ProtobufCMessage *msg,
		   uint32_t deadline_ms, sl_master_cb cb, void *arg)
{
	return sl_master_call_attempts(mc, type, msg, deadline_ms, MC_ATTEMPT_MS, cb, arg);
}

int sl_master_call_attempts(struct sl_master_client *mc, uint16_t type, const ProtobufCMessage *msg,
			    uint32_t deadline_ms, uint32_t attempt_ms, sl_master_cb cb, void *arg)
{
	const struct sl_msg_type_info *info = sl_msg_type_lookup(type);
	struct mc_call *call;
	uint8_t *buf;
	size_t len;

	if (!info || !msg || msg->descriptor != info->req || !cb)
		return SL_E_INVAL;
	if (mc->closing)
		return SL_E_UNAVAIL;
	call = calloc(1, sizeof(*call));
	if (!call)
		return SL_E_INTERNAL;
	/* Deep copy by a pack/unpack round trip: the caller's message may be on its stack. */
	len = protobuf_c_message_get_packed_size(msg);
	buf = malloc(len ? len : 1);
	if (!buf) {
		free(call);
		return SL_E_INTERNAL;
	}
	protobuf_c_message_pack(msg, buf);
	call->req = protobuf_c_message_unpack(info->req, NULL, len, buf);
	free(buf);
	if (!call->req) {
		free(call);
		return SL_E_INTERNAL;
	}
	call->mc = mc;
	call->type = type;
	call->info = info;
	call->deadline = sl_now_ms() + deadline_ms;
	call->attempt_ms = attempt_ms ? attempt_ms : MC_ATTEMPT_MS;
	call->backoff_ms = MC_BACKOFF_MIN_MS;
	call->last_status = SL_E_TIMEDOUT;
	call->cb = cb;
	call->arg = arg;
	sl_timer_init(&call->timer, mc_timer_cb, call);
	list_add_tail(&call->node, &mc->calls);
	call->target = pick_master(mc);
	mc_send(call);
	return 0;
}

struct mc_sync {
	bool done;
	int status;
	ProtobufCMessage *reply;
};

static void mc_sync_cb(int status, const ProtobufCMessage *reply, void *arg)
{
	struct mc_sync *s = arg;

	s->done = true;
	s->status = status;
	if (reply) {
		/* Keep a copy: the call frees its reply after we return. */
		size_t len = protobuf_c_message_get_packed_size(reply);
		uint8_t *buf = malloc(len ? len : 1);

		if (buf) {
			protobuf_c_message_pack(reply, buf);
			s->reply = protobuf_c_message_unpack(reply->descriptor, NULL, len, buf);
			free(buf);
		}
	}
}

int sl_master_call_sync(struct sl_master_client *mc, uint16_t type, const ProtobufCMessage *msg,
			uint32_t deadline_ms, ProtobufCMessage **reply)
{
	struct mc_sync s = { false, 0, NULL };
	uint64_t hard = sl_now_ms() + deadline_ms + 5000;	/* backstop; the call ends by its deadline */
	int rc;

	if (reply)
		*reply = NULL;
	rc = sl_master_call(mc, type, msg, deadline_ms, mc_sync_cb, &s);
	if (rc)
		return rc;
	while (!s.done && sl_now_ms() < hard)
		sl_loop_run_once(mc->loop, 100);
	if (!s.done) {
		/* Cannot happen unless the loop is broken; the call still owns &s. */
		sl_err("master client: synchronous call did not finish");
		abort();
	}
	if (s.status == SL_OK && reply && s.reply)
		*reply = s.reply;
	else if (s.reply)
		protobuf_c_message_free_unpacked(s.reply, NULL);
	if (s.status == SL_OK && reply && !*reply)
		return SL_E_PROTO;
	return s.status;
}

void sl_master_client_free(struct sl_master_client *mc)
{
	struct mc_call *call, *tmp;
	int i;

	if (!mc)
		return;
	mc->closing = true;
	/* Calls waiting on a reply finish with UNAVAIL when their connection closes. */
	for (i = 0; i < mc->n; i++) {
		if (mc->m[i].conn)
			sl_conn_close(mc->m[i].conn);
		mc->m[i].conn = NULL;
	}
	list_for_each_entry_safe(call, tmp, &mc->calls, node) {
		if (!call->in_rpc) {
			mc_finish(call, SL_E_UNAVAIL, NULL);
			continue;
		}
		/* Its reply callback is still due: answer now, free the call then. */
		list_del_init(&call->node);
		call->cb(SL_E_UNAVAIL, NULL, call->arg);
		call->mc = NULL;
	}
	free(mc);
}
