#include <stdlib.h>
#include <string.h>
#include "status.h"
#include "chunk_map.h"
#include "volume.h"

void volume_table_init(struct volume_table *t)
{
	INIT_LIST_HEAD(&t->list);
	t->count = 0;
}

void volume_table_free(struct volume_table *t)
{
	struct volume *v, *n;
	list_for_each_entry_safe(v, n, &t->list, node) {
		list_del_init(&v->node);
		free(v);
	}
	t->count = 0;
}

struct volume *volume_by_name(const struct volume_table *t, const char *name)
{
	struct volume *v;
	list_for_each_entry(v, &t->list, node)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

struct volume *volume_by_id(const struct volume_table *t, uint32_t id)
{
	struct volume *v;
	list_for_each_entry(v, &t->list, node)
		if (v->id == id)
			return v;
	return NULL;
}

void volume_insert(struct volume_table *t, struct volume *v)
{
	struct volume *p;
	/* Keep the list sorted by id: dumps and listings are deterministic. */
	list_for_each_entry(p, &t->list, node)
		if (p->id > v->id) {
			__list_add(&v->node, p->node.prev, &p->node);
			t->count++;
			return;
		}
	list_add_tail(&v->node, &t->list);
	t->count++;
}

void volume_remove(struct volume_table *t, struct volume *v)
{
	list_del_init(&v->node);
	t->count--;
}

uint64_t volume_nchunks(const struct volume *v)
{
	uint64_t cs = 1ull << v->chunk_shift;
	return (v->size + cs - 1) >> v->chunk_shift;
}

int volume_check_params(const char *name, uint64_t size, uint32_t *chunk_shift,
			uint32_t *replicas, uint32_t *min_replicas)
{
	size_t n = strlen(name);
	if (n == 0 || n > VOL_NAME_MAX)
		return SL_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return SL_E_INVAL;
	}
	if (!*chunk_shift)
		*chunk_shift = VOL_DEF_CHUNK_SHIFT;
	if (*chunk_shift < VOL_MIN_CHUNK_SHIFT || *chunk_shift > VOL_MAX_CHUNK_SHIFT)
		return SL_E_INVAL;
	if (!*replicas)
		*replicas = VOL_DEF_REPLICAS;
	if (*replicas > SL_MAX_REPLICAS)
		return SL_E_INVAL;
	if (!*min_replicas)
		*min_replicas = *replicas < VOL_DEF_MIN_REPLICAS ? *replicas : VOL_DEF_MIN_REPLICAS;
	if (*min_replicas > *replicas)
		return SL_E_INVAL;
	if (size == 0 || size % 512)
		return SL_E_INVAL;
	if (((size - 1) >> *chunk_shift) >= UINT32_MAX)
		return SL_E_INVAL;
	return SL_OK;
}
