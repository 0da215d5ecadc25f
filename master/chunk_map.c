/*
 * Chunk map: paged records plus two linear-probing hash tables.
 *
 * Invariant: every live chunk's slot is in by_id at a probe sequence
 * position reachable from hash(id) without crossing an empty cell, and the
 * same in by_pos for hash(vol, index).  Deletion keeps that by backward
 * shifting (no tombstones), so lookups never degrade over time.
 * The tables are kept at most half full.
 */
#include <stdlib.h>
#include <string.h>
#include "chunk_map.h"

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static inline uint64_t hash_id(uint64_t id)
{
	return mix64(id);
}

static inline uint64_t hash_pos(uint32_t vol, uint32_t index)
{
	return mix64((uint64_t)vol << 32 | index);
}

struct chunk *chunk_map_slot(const struct chunk_map *m, uint32_t i)
{
	struct chunk *c = &m->pages[i >> CHUNK_PAGE_SHIFT][i & (CHUNK_PAGE - 1)];
	return c->id ? c : NULL;
}

static inline struct chunk *slot_ptr(const struct chunk_map *m, uint32_t i)
{
	return &m->pages[i >> CHUNK_PAGE_SHIFT][i & (CHUNK_PAGE - 1)];
}

static uint32_t slot_of(const struct chunk_map *m, const struct chunk *c)
{
	for (uint32_t p = 0; p < m->npages; p++)
		if (c >= m->pages[p] && c < m->pages[p] + CHUNK_PAGE)
			return p << CHUNK_PAGE_SHIFT | (uint32_t)(c - m->pages[p]);
	return UINT32_MAX;
}

void chunk_map_init(struct chunk_map *m)
{
	memset(m, 0, sizeof(*m));
}

void chunk_map_free(struct chunk_map *m)
{
	for (uint32_t p = 0; p < m->npages; p++)
		free(m->pages[p]);
	free(m->pages);
	free(m->by_id);
	free(m->by_pos);
	memset(m, 0, sizeof(*m));
}

static uint64_t key_hash(const struct chunk_map *m, uint32_t slot, bool pos)
{
	const struct chunk *c = slot_ptr(m, slot);
	return pos ? hash_pos(c->vol, c->index) : hash_id(c->id);
}

static void table_insert(uint32_t *t, uint32_t mask, uint64_t h, uint32_t slot)
{
	uint32_t i = h & mask;
	while (t[i])
		i = (i + 1) & mask;
	t[i] = slot + 1;
}

static int grow_tables(struct chunk_map *m)
{
	uint32_t nsize = m->mask ? (m->mask + 1) * 2 : 1024;
	uint32_t *nid = calloc(nsize, sizeof(uint32_t));
	uint32_t *npos = calloc(nsize, sizeof(uint32_t));
	if (!nid || !npos) {
		free(nid);
		free(npos);
		return -1;
	}
	if (m->by_id)
		for (uint32_t i = 0; i <= m->mask; i++) {
			if (m->by_id[i])
				table_insert(nid, nsize - 1, key_hash(m, m->by_id[i] - 1, false), m->by_id[i] - 1);
			if (m->by_pos[i])
				table_insert(npos, nsize - 1, key_hash(m, m->by_pos[i] - 1, true), m->by_pos[i] - 1);
		}
	free(m->by_id);
	free(m->by_pos);
	m->by_id = nid;
	m->by_pos = npos;
	m->mask = nsize - 1;
	return 0;
}

static int alloc_slot(struct chunk_map *m, uint32_t *slot)
{
	if (m->free_head) {
		*slot = m->free_head - 1;
		m->free_head = slot_ptr(m, *slot)->primary;
		return 0;
	}
	if (m->used == UINT32_MAX - 1)
		return -1;
	if ((m->used >> CHUNK_PAGE_SHIFT) >= m->npages) {
		struct chunk **np = realloc(m->pages, (m->npages + 1) * sizeof(*np));
		if (!np)
			return -1;
		m->pages = np;
		np[m->npages] = calloc(CHUNK_PAGE, sizeof(struct chunk));
		if (!np[m->npages])
			return -1;
		m->npages++;
	}
	*slot = m->used++;
	return 0;
}

struct chunk *chunk_map_add(struct chunk_map *m, uint64_t id, uint32_t vol, uint32_t index)
{
	uint32_t slot;

	if ((uint64_t)(m->count + 1) * 2 > (uint64_t)m->mask + 1 && grow_tables(m))
		return NULL;
	if (alloc_slot(m, &slot))
		return NULL;
	struct chunk *c = slot_ptr(m, slot);
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->vol = vol;
	c->index = index;
	table_insert(m->by_id, m->mask, hash_id(id), slot);
	table_insert(m->by_pos, m->mask, hash_pos(vol, index), slot);
	m->count++;
	return c;
}

struct chunk *chunk_map_by_id(const struct chunk_map *m, uint64_t id)
{
	if (!m->by_id || !id)
		return NULL;
	for (uint32_t i = hash_id(id) & m->mask; m->by_id[i]; i = (i + 1) & m->mask) {
		struct chunk *c = slot_ptr(m, m->by_id[i] - 1);
		if (c->id == id)
			return c;
	}
	return NULL;
}

struct chunk *chunk_map_by_pos(const struct chunk_map *m, uint32_t vol, uint32_t index)
{
	if (!m->by_pos)
		return NULL;
	for (uint32_t i = hash_pos(vol, index) & m->mask; m->by_pos[i]; i = (i + 1) & m->mask) {
		struct chunk *c = slot_ptr(m, m->by_pos[i] - 1);
		if (c->vol == vol && c->index == index)
			return c;
	}
	return NULL;
}

/* Removes slot from table t, shifting later members of the cluster back. */
static void table_remove(struct chunk_map *m, uint32_t *t, uint64_t h, uint32_t slot, bool pos)
{
	uint32_t i = h & m->mask;
	while (t[i] != slot + 1)
		i = (i + 1) & m->mask;
	uint32_t j = i;
	for (;;) {
		t[i] = 0;
		for (;;) {
			j = (j + 1) & m->mask;
			if (!t[j])
				return;
			uint32_t home = key_hash(m, t[j] - 1, pos) & m->mask;
			/* t[j] may move to i iff its home is not cyclically in (i, j]. */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		t[i] = t[j];
		i = j;
	}
}

void chunk_map_del(struct chunk_map *m, struct chunk *c)
{
	uint32_t slot = slot_of(m, c);
	if (slot == UINT32_MAX)
		return;
	table_remove(m, m->by_id, hash_id(c->id), slot, false);
	table_remove(m, m->by_pos, hash_pos(c->vol, c->index), slot, true);
	memset(c, 0, sizeof(*c));
	c->primary = m->free_head;
	m->free_head = slot + 1;
	m->count--;
}

int chunk_rep_pos(const struct chunk *c, uint32_t cs_id)
{
	for (int i = 0; i < c->nrep; i++)
		if (c->rep[i] == cs_id)
			return i;
	return -1;
}

int chunk_fall_pos(const struct chunk *c, uint32_t cs_id)
{
	for (int i = 0; i < c->nfall; i++)
		if (c->rep[c->nrep + i] == cs_id)
			return i;
	return -1;
}

void chunk_fall_del(struct chunk *c, uint32_t cs_id)
{
	int i = chunk_fall_pos(c, cs_id);
	uint32_t *f = &c->rep[c->nrep];

	if (i < 0)
		return;
	memmove(&f[i], &f[i + 1], (c->nfall - i - 1) * sizeof(f[0]));
	c->nfall--;
}

uint64_t chunk_map_bytes(const struct chunk_map *m)
{
	return (uint64_t)m->npages * (CHUNK_PAGE * sizeof(struct chunk) + sizeof(void *)) +
	       2ull * (m->mask ? m->mask + 1 : 0) * sizeof(uint32_t);
}
