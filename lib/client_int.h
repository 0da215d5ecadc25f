/*
 * Internals shared by client.c (thread, volumes, connections) and
 * client_io.c (the per-I/O state machine).  Everything here is touched
 * only on the client's I/O thread, except the fields marked "lock".
 */
#ifndef SHOAL_CLIENT_INT_H
#define SHOAL_CLIENT_INT_H

#include <pthread.h>
#include "client.h"
#include "client_session.h"
#include "evloop.h"
#include "list.h"
#include "master_client.h"
#include "rpc.h"

#define SL_CLIENT_ADDR_MAX	128

/* One pipelined connection per chunkserver address, kept for the client's life. */
struct sl_cs_link {
	struct list_head node;
	char addr[SL_CLIENT_ADDR_MAX];
	struct sl_conn *conn;
	uint64_t silent_since;		/* an attempt went unanswered then; 0: answered since */
	struct sl_defer reset;		/* Q3: drop and reconnect a connection that swallows requests */
};

struct sl_client {
	struct sl_loop *loop;
	pthread_t thread;
	bool thread_started;
	int embed_fd;			/* embedded: the loop's descriptor; else -1 */
	struct sl_master_client *mc;
	struct list_head links;
	uint32_t deadline_ms;
	uint32_t rpc_timeout_ms;
	struct sl_session sess;		/* client_session.h */
	struct list_head ops;		/* client_io.c: every I/O begun and not yet freed */
	uint64_t next_op_id;		/* CsWriteReq.op_id */
};

/*
 * Waits until *done (set under lock, with cond signalled): on a condition
 * variable while the I/O thread runs the loop, or, embedded, by running
 * the loop on this thread.  Every caller's operation ends by a deadline.
 */
void sl_client_wait(struct sl_client *c, pthread_mutex_t *lock, pthread_cond_t *cond,
		    const bool *done);

/*
 * Cached location of one chunk.  valid means chunk_id != 0 and a primary
 * is known: zero answers are not cached, because another gateway may
 * allocate the chunk at any time and a read must then see its data.
 * While a lookup for the chunk is in flight, pieces that need it wait on
 * `waiters` instead of sending their own.
 */
struct sl_chunk_ent {
	uint64_t chunk_id;
	uint64_t version;
	uint64_t epoch;
	struct sl_cs_link *primary;
	uint64_t confirmed;		/* the lookup that named primary was sent then */
	uint64_t lease_until;		/* its lease may run at the master until then (0: unknown) */
	uint64_t suspect_version;	/* Q2: the lease a silent primary held when it went silent */
	bool valid;
	bool lookup;
	struct list_head waiters;
};

struct sl_volume {
	struct sl_client *c;
	struct sl_volume_info info;
	uint64_t nchunks;
	struct sl_chunk_ent *map;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int ops;		/* lock: ops allocated and not yet freed */
};

/* client_link.c: the connection to a chunkserver; NULL on a bad address or ENOMEM. */
struct sl_cs_link *sl_client_link(struct sl_client *c, const char *addr);
/* client.c: adopt the master's new size for the volume (I/O thread). */
void sl_volume_set_size(struct sl_volume *v, uint64_t size);
/* client_io.c: runs on the I/O thread (posted by sl_volume_submit). */
void sl_client_io_begin(void *arg);
/* An op's memory is gone (client_io.c, client_orwrite.c, client_reset.c). */
static inline void sl_volume_op_put(struct sl_volume *v)
{
	pthread_mutex_lock(&v->lock);
	if (--v->ops == 0)
		pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}
/* client_io.c: hand a checked io to the I/O thread (any thread); 0 or SL_E_*. */
int sl_client_submit(struct sl_volume *v, struct sl_io *io);
/* client_io.c: allocate an op for io (any thread); NULL on ENOMEM. */
void *sl_client_op_new(struct sl_volume *v, struct sl_io *io);
/* client_io.c: ends every I/O in flight with status (each after its fence, F1). */
void sl_client_io_fail_all(struct sl_client *c, int status);
/* client_orwrite.c: start a validated SL_IO_ORWRITE (any thread); 0 or SL_E_*. */
int sl_client_orwrite_start(struct sl_volume *v, struct sl_io *io);

#endif
