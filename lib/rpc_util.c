/*
 * Small helpers around the RPC layer: message unpacking and the blocking
 * call used by tools and tests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "msg_types.h"
#include "rpc.h"

ProtobufCMessage *sl_msg_unpack(const struct sl_msg *m, bool is_reply)
{
	const struct sl_msg_type_info *ti = sl_msg_type_lookup(m->hdr.type);

	if (!ti)
		return NULL;
	return protobuf_c_message_unpack(is_reply ? ti->rep : ti->req, NULL, m->msg_len, m->msg);
}

void sl_msg_free(ProtobufCMessage *pm)
{
	if (pm)
		protobuf_c_message_free_unpacked(pm, NULL);
}

struct sync_call {
	bool done;
	int status;		/* transport */
	int reply_status;	/* header */
	bool want_msg;
	ProtobufCMessage *msg;
	bool want_data;
	void *data;
	size_t data_len;
	bool bad_msg;
};

static void sync_done(struct sl_conn *c, int status, const struct sl_msg *reply, void *arg)
{
	struct sync_call *s = arg;

	s->done = true;
	s->status = status;
	if (status != SL_OK || !reply)
		return;
	s->reply_status = (int)reply->hdr.status;
	if (s->want_msg) {
		s->msg = sl_msg_unpack(reply, true);
		if (!s->msg && reply->hdr.status == SL_OK)
			s->bad_msg = true;
	}
	if (s->want_data && reply->data_len) {
		s->data = malloc(reply->data_len);
		if (s->data) {
			memcpy(s->data, reply->data, reply->data_len);
			s->data_len = reply->data_len;
		} else {
			s->bad_msg = true;
		}
	}
}

int sl_rpc_call_sync(struct sl_loop *loop, struct sl_conn *c, uint16_t type,
		     const ProtobufCMessage *msg, const void *data, size_t len,
		     uint32_t timeout_ms, ProtobufCMessage **reply, void **reply_data,
		     size_t *reply_data_len, int *reply_status)
{
	struct sync_call s = { .want_msg = reply != NULL, .want_data = reply_data != NULL };
	int r;

	if (reply)
		*reply = NULL;
	if (reply_data)
		*reply_data = NULL;
	if (reply_data_len)
		*reply_data_len = 0;
	if (reply_status)
		*reply_status = SL_E_UNAVAIL;
	r = sl_rpc_call(c, type, msg, data, len, timeout_ms, sync_done, &s);
	if (r != SL_OK)
		return r;
	/* The call's own timer guarantees done within timeout_ms. */
	while (!s.done) {
		r = sl_loop_run_once(loop, 100);
		/*
		 * epoll_wait() on our own epoll fd only fails on a bug; the
		 * callback still points at s, so returning would be worse.
		 */
		if (r < 0)
			abort();
	}
	if (s.status != SL_OK)
		return s.status;
	if (s.bad_msg) {
		sl_msg_free(s.msg);
		free(s.data);
		return SL_E_PROTO;
	}
	if (reply_status)
		*reply_status = s.reply_status;
	if (reply)
		*reply = s.msg;
	if (reply_data) {
		*reply_data = s.data;
		if (reply_data_len)
			*reply_data_len = s.data_len;
	}
	return SL_OK;
}
