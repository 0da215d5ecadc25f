/*
 * The background scrubber: reads every replica's blocks at a bounded rate,
 * so bit rot is found in data nobody reads, and repairs what it finds.
 *
 * One pass walks the chunks in id order, each in pieces of up to 256 KiB;
 * then it waits --scrub-interval seconds and starts over.  A token bucket
 * fed at --scrub-rate bytes/s (0: off) gates every piece; while clients'
 * reads or writes arrive (any since the last tick), or anyone's requests
 * are in flight on the block device at the tick (our own piece never is:
 * no tick runs during one), it is fed at a BUSY_SHARE-th of that, so the
 * scrubber yields the disk to foreground I/O -- also another process's on
 * a shared disk -- and still makes progress on a server that is never
 * idle.  Per piece:
 *
 *   LOCK    the chunk's range lock over the piece (writes to it wait)
 *   READ    cs_chunk_read: every block checked against its CRC
 *   bad?    REPAIR: CS_READ(local_only) of the piece from a peer at our
 *           version (the peer verifies its own checksums), written over
 *           ours; the first peer that answers wins.  Peers: the
 *           secondaries while we hold a live lease, else the replica set
 *           the last CS_SET_VERSION named (CsSetVersionReq.peers).
 *   UNLOCK
 *
 * After the last piece of a chunk we hold a live lease on, the replicas are
 * compared too (cs_reconcile: per-region digests of the block checksums;
 * a different secondary gets our copy of that region).
 *
 * Counters (CsStatusRep): scrubbed_bytes, scrub_passes, checksum_errors
 * (bad blocks seen), repaired_blocks, unrepaired_blocks.  A torn write
 * never shows up here: open() recomputed the checksums of dirty regions.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "chunkserver.h"
#include "integrity.h"
#include "log.h"
#include "msg_types.h"
#include "status.h"

#define PIECE		(256u << 10)
#define TICK_MS		50
#define BUSY_SHARE	16
#define PEER_HASH	1024

struct scrub_peers {
	uint64_t chunk_id;
	unsigned int n;
	char *addr[CS_MAX_REPLICAS + 1];
	struct scrub_peers *next;
};

struct cs_scrub {
	struct chunkserver *cs;
	struct sl_timer timer;
	uint64_t chunk_id;		/* current chunk; 0: between passes */
	uint64_t off;			/* next piece in it */
	uint64_t version;
	uint64_t next_pass_ms;
	double tokens;
	uint64_t last_ms;
	uint64_t last_fg;		/* client reads + writes at the last tick */
	bool busy;
	struct cs_range rl;
	struct cs_rop rop;
	uint32_t bad;			/* bad blocks in the current piece */
	char *src[CS_MAX_REPLICAS + 1];	/* repair sources, tried in order */
	unsigned int nsrc, isrc;
	uint8_t *rbuf;
	struct cs_wop wop;
	struct scrub_peers *peers[PEER_HASH];
};

static void piece_end(struct cs_scrub *s);
static void try_source(struct cs_scrub *s);

static unsigned int phash(uint64_t id)
{
	return (unsigned int)((id * 0x9e3779b97f4a7c15ull) >> 40) & (PEER_HASH - 1);
}

void cs_scrub_note_peers(struct chunkserver *cs, uint64_t chunk_id, char **addrs, size_t n)
{
	struct cs_scrub *s = cs->scrub;
	struct scrub_peers *p;
	unsigned int i;

	if (!s || n == 0)
		return;
	if (n > CS_MAX_REPLICAS + 1)
		n = CS_MAX_REPLICAS + 1;
	for (p = s->peers[phash(chunk_id)]; p && p->chunk_id != chunk_id; p = p->next)
		;
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return;
		p->chunk_id = chunk_id;
		p->next = s->peers[phash(chunk_id)];
		s->peers[phash(chunk_id)] = p;
	}
	for (i = 0; i < p->n; i++)
		free(p->addr[i]);
	p->n = 0;
	for (i = 0; i < n; i++)
		if (addrs[i] && addrs[i][0] && strcmp(addrs[i], cs->addr) && (p->addr[p->n] = strdup(addrs[i])))
			p->n++;
}

/* The chunk with the smallest id above after, or NULL. */
static struct cs_chunk *next_chunk(struct chunkserver *cs, uint64_t after)
{
	struct cs_chunk *best = NULL, *ch;
	int i;

	for (i = 0; i < cs->disks.n; i++)
		list_for_each_entry(ch, &cs->disks.d[i].chunks, link)
			if (ch->id > after && !ch->failed && (!best || ch->id < best->id))
				best = ch;
	return best;
}

static void arm(struct cs_scrub *s, uint64_t ms)
{
	sl_timer_arm(s->cs->loop, &s->timer, ms);
}

static void release_sources(struct cs_scrub *s)
{
	unsigned int i;

	for (i = 0; i < s->nsrc; i++)
		free(s->src[i]);
	s->nsrc = s->isrc = 0;
}

static void unlock_piece(struct cs_scrub *s)
{
	struct cs_chunk *ch = cs_disks_find(&s->cs->disks, s->chunk_id);

	cs_rop_release(&s->rop);
	free(s->rbuf);
	s->rbuf = NULL;
	release_sources(s);
	if (ch)
		cs_range_unlock(&ch->lock, &s->rl);
	s->cs->load--;
}

static void repair_written(struct cs_wop *w, int status)
{
	struct cs_scrub *s = w->arg;

	if (status == SL_OK) {
		s->cs->st.repaired_blocks += s->bad;
		sl_warn("chunk %016" PRIx64 ": scrub repaired %u block(s) in %" PRIu64 "+%u from %s",
			s->chunk_id, s->bad, s->rop.off, s->rop.len, s->src[s->isrc]);
		return piece_end(s);
	}
	sl_err("chunk %016" PRIx64 ": scrub repair write failed: %s", s->chunk_id, sl_status_str(status));
	s->cs->st.unrepaired_blocks += s->bad;
	piece_end(s);
}

static void source_read(struct sl_conn *c, int status, const struct sl_msg *rep, void *arg)
{
	struct cs_scrub *s = arg;
	struct cs_chunk *ch = cs_disks_find(&s->cs->disks, s->chunk_id);

	if (status == SL_OK)
		status = rep->hdr.status;
	if (status == SL_OK && rep->data_len != s->rop.len)
		status = SL_E_PROTO;
	if (!ch || ch->version != s->version)
		return piece_end(s);
	if (status != SL_OK) {
		sl_warn("chunk %016" PRIx64 ": scrub repair source %s: %s", s->chunk_id, s->src[s->isrc],
			sl_status_str(status));
		s->isrc++;
		return try_source(s);
	}
	s->rbuf = malloc(rep->data_len);
	if (!s->rbuf) {
		s->cs->st.unrepaired_blocks += s->bad;
		return piece_end(s);
	}
	memcpy(s->rbuf, rep->data, rep->data_len);
	/* block-aligned: nothing of ours is read back, the bad blocks are overwritten */
	s->wop = (struct cs_wop){ .ch = ch, .kind = CS_W_WRITE, .off = s->rop.off, .len = s->rop.len,
				  .data = s->rbuf, .data_len = s->rop.len, .done = repair_written, .arg = s };
	cs_chunk_write(&s->wop);
}

static void try_source(struct cs_scrub *s)
{
	Shoal__CsReadReq rq = SHOAL__CS_READ_REQ__INIT;
	Shoal__ChunkRef ref = SHOAL__CHUNK_REF__INIT;

	for (; s->isrc < s->nsrc; s->isrc++) {
		struct sl_conn *c = cs_peer_conn(s->cs, s->src[s->isrc]);

		ref.chunk_id = s->chunk_id;
		ref.version = s->version;
		rq.ref = &ref;
		rq.offset = s->rop.off;
		rq.length = s->rop.len;
		rq.local_only = true;
		if (c && sl_rpc_call(c, SL_MSG_CS_READ, &rq.base, NULL, 0, (uint32_t)s->cs->o.rpc_timeout_ms,
				     source_read, s) == 0)
			return;
	}
	sl_err("chunk %016" PRIx64 ": scrub found %u bad block(s) in %" PRIu64 "+%u and no good copy (yet)",
	       s->chunk_id, s->bad, s->rop.off, s->rop.len);
	s->cs->st.unrepaired_blocks += s->bad;
	piece_end(s);
}

static void collect_sources(struct cs_scrub *s, struct cs_chunk *ch)
{
	struct scrub_peers *p;
	unsigned int i;

	s->nsrc = (unsigned int)cs_primary_secondaries(s->cs, ch, s->src, CS_MAX_REPLICAS);
	if (s->nsrc)
		return;
	for (p = s->peers[phash(ch->id)]; p && p->chunk_id != ch->id; p = p->next)
		;
	for (i = 0; p && i < p->n; i++)
		if ((s->src[s->nsrc] = strdup(p->addr[i])))
			s->nsrc++;
}

static void piece_read(struct cs_rop *op, int status)
{
	struct cs_scrub *s = op->arg;
	struct cs_chunk *ch = op->ch;
	uint64_t b;

	if (status == SL_OK) {
		s->cs->st.scrubbed_bytes += op->len;
		return piece_end(s);
	}
	if (status != SL_E_CHECKSUM || !op->buf) {
		sl_warn("chunk %016" PRIx64 ": scrub read at %" PRIu64 ": %s", ch->id, op->off,
			sl_status_str(status));
		return piece_end(s);
	}
	s->bad = 0;
	for (b = op->a; b < op->e; b += CS_BLOCK)
		if (cs_crc_entry(op->buf + (b - op->a)) != ch->crc[b >> CS_BLOCK_SHIFT])
			s->bad++;
	s->cs->st.checksum_errors += s->bad;
	s->cs->st.scrubbed_bytes += op->len;
	sl_err("chunk %016" PRIx64 ": scrub: %u block(s) in %" PRIu64 "+%u fail their checksum (bit rot)",
	       ch->id, s->bad, op->off, op->len);
	collect_sources(s, ch);
	try_source(s);
}

static void piece_locked(struct cs_range *rl, void *arg)
{
	struct cs_scrub *s = arg;

	cs_chunk_read(&s->rop);
}

static void recon_done(void *arg, uint64_t failed)
{
	struct cs_scrub *s = arg;

	s->busy = false;
	arm(s, TICK_MS);
}

/* A chunk fully scrubbed: as its live primary, compare the replicas too. */
static bool chunk_end(struct cs_scrub *s, struct cs_chunk *ch)
{
	char *sec[CS_MAX_REPLICAS];
	size_t n, i;

	n = cs_primary_secondaries(s->cs, ch, sec, CS_MAX_REPLICAS);
	if (!n)
		return false;
	s->busy = true;
	cs_reconcile(s->cs, ch, (unsigned int)n, sec, recon_done, s);
	for (i = 0; i < n; i++)
		free(sec[i]);
	return true;
}

static void piece_end(struct cs_scrub *s)
{
	s->off = s->rop.off + s->rop.len;
	unlock_piece(s);
	s->busy = false;
	arm(s, TICK_MS);
}

static void tick(struct sl_timer *t, void *arg)
{
	struct cs_scrub *s = arg;
	struct chunkserver *cs = s->cs;
	uint64_t now = sl_now_ms(), piece, fg = cs->st.reads + cs->st.writes;
	double rate = (double)cs->o.scrub_rate;
	struct cs_chunk *ch;

	if (s->busy || cs->o.scrub_rate <= 0)
		return arm(s, 1000);
	if (fg != s->last_fg || cs_disks_device_busy(&cs->disks))
		rate /= BUSY_SHARE;
	s->last_fg = fg;
	s->tokens += rate * (double)(now - s->last_ms) / 1000.0;
	s->last_ms = now;
	piece = (uint64_t)cs->o.scrub_rate / 4;
	piece = piece > PIECE ? PIECE : piece < CS_BLOCK ? CS_BLOCK : cs_block_down(piece);
	if (s->tokens > 2.0 * (double)piece)
		s->tokens = 2.0 * (double)piece;
	if (s->chunk_id == 0) {
		if (now < s->next_pass_ms)
			return arm(s, s->next_pass_ms - now < 1000 ? s->next_pass_ms - now : 1000);
		ch = next_chunk(cs, 0);
		if (!ch) {
			s->next_pass_ms = now + 1000;
			return arm(s, 1000);
		}
		s->chunk_id = ch->id;
		s->off = 0;
	}
	ch = cs_disks_find(&cs->disks, s->chunk_id);
	if (!ch || ch->failed || s->off >= ch->chunk_size) {
		bool waiting = ch && !ch->failed && chunk_end(s, ch);

		ch = next_chunk(cs, s->chunk_id);
		s->off = 0;
		if (!ch) {
			s->chunk_id = 0;
			cs->st.scrub_passes++;
			s->next_pass_ms = now + (uint64_t)cs->o.scrub_interval_s * 1000;
			sl_info("scrub pass %" PRIu64 " done: %" PRIu64 " bytes scrubbed in all, %" PRIu64
				" bad block(s), %" PRIu64 " repaired", cs->st.scrub_passes, cs->st.scrubbed_bytes,
				cs->st.checksum_errors, cs->st.repaired_blocks);
		} else {
			s->chunk_id = ch->id;
		}
		if (!waiting)
			arm(s, TICK_MS);
		return;
	}
	if (s->tokens < (double)piece)
		return arm(s, TICK_MS);
	if (piece > ch->chunk_size - s->off)
		piece = ch->chunk_size - s->off;
	s->tokens -= (double)piece;
	s->busy = true;
	s->version = ch->version;
	s->bad = 0;
	s->rop = (struct cs_rop){ .ch = ch, .off = s->off, .len = (uint32_t)piece, .done = piece_read,
				  .arg = s };
	cs->load++;
	cs_range_lock(&ch->lock, &s->rl, s->off, s->off + piece, piece_locked, s);
}

int cs_scrub_start(struct chunkserver *cs)
{
	struct cs_scrub *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->cs = cs;
	s->last_ms = sl_now_ms();
	/* the first pass starts a little after start-up, not all servers at once */
	s->next_pass_ms = s->last_ms + 2000 + (uint64_t)(rand() % 1000);
	sl_timer_init(&s->timer, tick, s);
	cs->scrub = s;
	arm(s, TICK_MS);
	if (cs->o.scrub_rate > 0)
		sl_info("scrubbing at %" PRId64 " bytes/s, a pass every %" PRId64 " s", cs->o.scrub_rate,
			cs->o.scrub_interval_s);
	return 0;
}

/* After the loop stopped: nothing is in flight any more. */
void cs_scrub_stop(struct chunkserver *cs)
{
	struct cs_scrub *s = cs->scrub;
	unsigned int i, k;

	if (!s)
		return;
	sl_timer_cancel(cs->loop, &s->timer);
	for (i = 0; i < PEER_HASH; i++) {
		while (s->peers[i]) {
			struct scrub_peers *p = s->peers[i];

			s->peers[i] = p->next;
			for (k = 0; k < p->n; k++)
				free(p->addr[k]);
			free(p);
		}
	}
	release_sources(s);
	free(s->rbuf);
	free(s);
	cs->scrub = NULL;
}
