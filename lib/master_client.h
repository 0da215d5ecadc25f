/*
 * A client's link to the master group, shared by the gateway module,
 * shoal-admin and test tools.
 *
 * It knows every configured master, sends each call to the one it believes
 * leads, follows SL_E_NOT_LEADER redirects (MasterRedirect.leader_addr), and
 * on SL_E_UNAVAIL / SL_E_TIMEDOUT / SL_E_BUSY retries with backoff across
 * the masters until the call's deadline.  A call ends exactly once: with the
 * master's answer (any status other than those above), or SL_E_TIMEDOUT /
 * SL_E_UNAVAIL when the deadline passed.
 *
 * Mutating requests carry a DedupId; sl_master_dedup() fills one with this
 * client's random id and the next sequence number, and a retry of the same
 * call reuses it, so the master applies it once.
 *
 * Runs on one sl_loop; every function must be called on its thread, except
 * that sl_master_call_sync() drives the loop itself (tools, tests).
 */
#ifndef SHOAL_MASTER_CLIENT_H
#define SHOAL_MASTER_CLIENT_H

#include <stdint.h>
#include <protobuf-c/protobuf-c.h>
#include "config.h"
#include "evloop.h"
#include "shoal.pb-c.h"

struct sl_master_client;

/* masters: service addresses ("host:port"); the list is copied. */
struct sl_master_client *sl_master_client_new(struct sl_loop *loop, const struct sl_str_list *masters);
void sl_master_client_free(struct sl_master_client *mc);

/* Fill d with this client's id and a fresh sequence number. */
void sl_master_dedup(struct sl_master_client *mc, Shoal__DedupId *d);

/*
 * status is the final status; reply is the unpacked reply message of type's
 * reply descriptor when status is SL_OK (or another master answer that
 * carries one), else NULL.  The reply is freed after the callback returns.
 */
typedef void (*sl_master_cb)(int status, const ProtobufCMessage *reply, void *arg);

/* 0 when the call is under way (cb runs exactly once), or SL_E_* (cb will not run). */
int sl_master_call(struct sl_master_client *mc, uint16_t type, const ProtobufCMessage *msg,
		   uint32_t deadline_ms, sl_master_cb cb, void *arg);

/*
 * The same with one attempt at one master bounded by attempt_ms (0: the
 * default, 3 s) rather than the default: for a call whose deadline is
 * short and whose master answers at once (a gateway session renewal,
 * deadline = its lease), so that a master gone silent -- cut off, its
 * connection still up until TCP gives up -- costs one short attempt and the
 * walk finds the new leader within the deadline.
 */
int sl_master_call_attempts(struct sl_master_client *mc, uint16_t type, const ProtobufCMessage *msg,
			    uint32_t deadline_ms, uint32_t attempt_ms, sl_master_cb cb, void *arg);

/*
 * Blocking form: returns the final status; on SL_OK *reply (if non-NULL)
 * receives the reply message, to be freed with sl_msg_free().
 */
int sl_master_call_sync(struct sl_master_client *mc, uint16_t type, const ProtobufCMessage *msg,
			uint32_t deadline_ms, ProtobufCMessage **reply);

/*
 * Every connection to a master drops what it could not deliver within this
 * (TCP_USER_TIMEOUT): a request reaches a master within this long of being
 * sent, or never.  The gateway session's self-fence counts on it (client.h).
 */
#define SL_MASTER_USER_TIMEOUT_MS	5000

/* This client's random id (also DedupId.client_id). */
uint64_t sl_master_client_id(const struct sl_master_client *mc);

/* Service address of the master last known to lead ("" if none yet). */
const char *sl_master_leader(const struct sl_master_client *mc);

#endif
