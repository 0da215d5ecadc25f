/*
 * The volume client: what bs_shoal.so (and tools) use to do block I/O on a
 * Shoal volume.
 *
 * A client owns one I/O thread running an sl_loop, a master link
 * (master_client.h) and one pipelined connection per chunkserver address.
 * A volume is opened by name; its chunk map (chunk id, version, epoch,
 * primary) is cached and refreshed when a chunkserver answers
 * STALE_VERSION / NOT_PRIMARY / NOENT or is unreachable.
 *
 * An I/O is split at chunk boundaries and the pieces go to each chunk's
 * primary in parallel.  Every I/O has a deadline: retries after lease moves
 * and replica changes happen inside it and are invisible to the caller, and
 * the completion callback runs exactly once, by the deadline, on the I/O
 * thread.  Chunks never written (chunk id 0) read as zeros without a round
 * trip to a chunkserver.
 *
 * Threading: sl_client_new/free, sl_volume_open/close are blocking calls
 * for any thread but the I/O thread; sl_volume_submit may be called from
 * any thread.
 *
 * Embedded (opts.embedded): no I/O thread; the caller's thread runs the
 * loop inside its own poller (sl_client_fd readable -> sl_client_run), and
 * "the I/O thread" above means that thread.  Blocking calls then run the
 * loop themselves until done, so they must not be made from a completion
 * callback.  This saves two thread wake-ups per I/O (submission and
 * completion) where the caller has an event loop of its own, as tgtd does.
 */
#ifndef SHOAL_CLIENT_H
#define SHOAL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "config.h"

struct sl_client;
struct sl_volume;

#define SL_VOL_F_THIN		1u
#define SL_VOL_F_WRITE_BACK	2u

struct sl_client_opts {
	uint32_t deadline_ms;		/* default per I/O; 0: 30000 */
	uint32_t rpc_timeout_ms;	/* one RPC to a chunkserver; 0: 5000 */
	bool embedded;			/* no I/O thread: see above */
	/*
	 * Gateway session (doc/protocol.md "Gateway sessions"): writes go out
	 * only under a session this client renews with the master.  name says
	 * who it is in the master's log.  With fence_on_loss (embedded only),
	 * losing the session without having retired it -- this process was
	 * paused or cut off for longer than its lease -- fails every I/O in
	 * flight (after the session is fenced), refuses new ones with
	 * SL_E_STALE_EPOCH and calls on_lost(lost_arg) on the loop thread, until
	 * sl_client_resume(): the owner first drops whatever it holds that may
	 * be stale (bs_shoal: the initiators' connections).  Without it a lost
	 * session is replaced silently (tools: nothing of theirs was given up).
	 */
	const char *session_name;
	bool fence_on_loss;
	void (*on_lost)(void *arg);
	void *lost_arg;
};

struct sl_volume_info {
	uint64_t id;
	char name[256];
	uint8_t uuid[16];
	uint64_t size;
	uint32_t chunk_shift;
	uint32_t replicas;
	uint32_t min_replicas;
	uint32_t flags;			/* SL_VOL_F_* */
	uint64_t reset_gen;		/* LUN RESETs recorded when the volume was opened */
};

enum sl_io_op {
	SL_IO_READ,
	SL_IO_WRITE,
	SL_IO_WRITE_SAME,	/* buf: one block of blk_len bytes, repeated over the range */
	SL_IO_UNMAP,		/* range reads as zeros afterwards */
	SL_IO_FLUSH,		/* every acknowledged write is durable */
	SL_IO_CAW,		/* buf: compare half || write half, each `length` bytes */
	SL_IO_ORWRITE,		/* each byte becomes old | buf; atomic per chunk (client_orwrite.c) */
};

struct sl_io {
	enum sl_io_op op;
	uint64_t offset;		/* bytes into the volume */
	uint64_t length;		/* bytes */
	void *buf;
	uint32_t blk_len;		/* WRITE_SAME */
	bool fua;
	uint32_t deadline_ms;		/* 0: the client's default */
	void (*done)(struct sl_io *io);	/* runs once, on the I/O thread */
	void *arg;

	/* results, valid in done() */
	int status;			/* SL_OK or SL_E_* */
	uint64_t miscompare_offset;	/* CAW / MISCOMPARE: byte offset of the first difference */
};

/* NULL on failure (logged). */
struct sl_client *sl_client_new(const struct sl_str_list *masters, const struct sl_client_opts *opts);
/* Every volume must be closed first. */
void sl_client_free(struct sl_client *c);
/* fence_on_loss: the owner dropped what it held; I/O may start again (under a new session). */
void sl_client_resume(struct sl_client *c);
/*
 * fence_on_loss, embedded: whether the session is lost and I/O refused
 * (checking the session's lease against the clock now: a process that was
 * paused learns it here, before it acts on anything it read meanwhile).
 */
bool sl_client_blocked(struct sl_client *c);
/* Embedded: the descriptor to poll for reading, and what to call when it is readable. */
int sl_client_fd(struct sl_client *c);
void sl_client_run(struct sl_client *c);

/* SL_OK and *out, or SL_E_NOENT (no such volume), SL_E_TIMEDOUT, ... */
int sl_volume_open(struct sl_client *c, const char *name, uint32_t deadline_ms, struct sl_volume **out);
const struct sl_volume_info *sl_volume_get_info(const struct sl_volume *v);
/*
 * The volume's size now (any thread): info.size at open, then the master's
 * as learnt by sl_volume_reset_gen (an online resize).
 */
uint64_t sl_volume_size(const struct sl_volume *v);
/* Waits for the volume's I/Os in flight (each ends by its deadline). */
void sl_volume_close(struct sl_volume *v);

/*
 * Starts io; 0 when under way (io->done will run), or SL_E_INVAL / SL_E_RANGE
 * for an I/O that is malformed or outside the volume (done will not run).
 * io and its buffer must stay valid until done() runs.
 */
int sl_volume_submit(struct sl_volume *v, struct sl_io *io);

/* Synchronous form for tools and tests; never call on the I/O thread. */
int sl_volume_io_sync(struct sl_volume *v, struct sl_io *io);

/*
 * LUN RESET generation (client_reset.c): the number of resets the master has
 * recorded for the volume, which only grows.  bump records one more reset
 * first (VOLUME_RESET, applied once however often it is retried); else the
 * current value is read (VOLUME_INFO).  cb runs exactly once, on the I/O
 * thread, by deadline_ms (0: the client's default), with SL_OK and the
 * generation or the failure.  Returns 0 when under way, else SL_E_* and cb
 * will not run.  sl_volume_close() waits for calls in flight.  The answer
 * also carries the volume's size: a new one is adopted (sl_volume_size)
 * before cb runs.
 */
typedef void (*sl_volume_gen_cb)(int status, uint64_t gen, void *arg);
int sl_volume_reset_gen(struct sl_volume *v, bool bump, uint32_t deadline_ms,
			sl_volume_gen_cb cb, void *arg);
/* Blocking form; never call on the I/O thread.  *gen is set on SL_OK. */
int sl_volume_reset_gen_sync(struct sl_volume *v, bool bump, uint32_t deadline_ms, uint64_t *gen);

/*
 * Splitting (exposed for the unit tests): the piece of [offset, offset+len)
 * that starts at `pos` ends at the next multiple of 1 << unit_shift or at
 * the end of the range, whichever comes first.
 */
static inline uint64_t sl_split_piece_len(uint64_t pos, uint64_t end, unsigned int unit_shift)
{
	uint64_t next = ((pos >> unit_shift) + 1) << unit_shift;

	return (next < end ? next : end) - pos;
}
/* How many pieces [offset, offset+len) splits into. */
uint64_t sl_split_count(uint64_t offset, uint64_t len, unsigned int unit_shift);
/* The unit the client splits op at for a volume with chunk_shift. */
unsigned int sl_split_unit_shift(enum sl_io_op op, unsigned int chunk_shift);

#endif
