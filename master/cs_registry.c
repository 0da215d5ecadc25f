#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "cs_registry.h"
#include "rpc.h"

void cs_registry_init(struct cs_registry *r)
{
	INIT_LIST_HEAD(&r->list);
	r->count = 0;
}

void cs_registry_free(struct cs_registry *r)
{
	struct cs *cs, *n;
	list_for_each_entry_safe(cs, n, &r->list, node) {
		list_del_init(&cs->node);
		free(cs->del);
		free(cs->disk_ids);
		cs_set_disks(cs, NULL, 0);
		free(cs);
	}
	r->count = 0;
}

bool cs_set_disks(struct cs *cs, const struct cs_disk_info *d, uint32_t n)
{
	struct cs_disk_info *nd = n ? calloc(n, sizeof(*nd)) : NULL;
	if (n && !nd)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		nd[i] = d[i];
		nd[i].path = strdup(d[i].path ? d[i].path : "");
		if (!nd[i].path) {
			while (i--)
				free(nd[i].path);
			free(nd);
			return false;
		}
	}
	for (uint32_t i = 0; i < cs->ndisks; i++)
		free(cs->disks[i].path);
	free(cs->disks);
	cs->disks = nd;
	cs->ndisks = n;
	return true;
}

bool cs_set_disk_ids(struct cs *cs, const struct cs_disk_id *d, uint32_t n)
{
	struct cs_disk_id *nd = n ? calloc(n, sizeof(*nd)) : NULL;
	if (n && !nd)
		return false;
	if (n)
		memcpy(nd, d, n * sizeof(*nd));
	free(cs->disk_ids);
	cs->disk_ids = nd;
	cs->ndisk_ids = n;
	return true;
}

const struct cs_disk_id *cs_disk_id(const struct cs *cs, uint32_t index)
{
	for (uint32_t i = 0; i < cs->ndisk_ids; i++)
		if (cs->disk_ids[i].index == index)
			return &cs->disk_ids[i];
	return NULL;
}

struct cs *cs_by_id(const struct cs_registry *r, uint32_t id)
{
	struct cs *cs;
	list_for_each_entry(cs, &r->list, node)
		if (cs->id == id)
			return cs;
	return NULL;
}

struct cs *cs_by_uuid(const struct cs_registry *r, const char *uuid)
{
	struct cs *cs;
	if (!uuid[0])
		return NULL;
	list_for_each_entry(cs, &r->list, node)
		if (!strcmp(cs->uuid, uuid))
			return cs;
	return NULL;
}

struct cs *cs_add(struct cs_registry *r, uint32_t id)
{
	struct cs *cs = calloc(1, sizeof(*cs)), *p;
	if (!cs)
		return NULL;
	cs->id = id;
	cs->up = false;
	list_for_each_entry(p, &r->list, node)
		if (p->id > id) {
			__list_add(&cs->node, p->node.prev, &p->node);
			r->count++;
			return cs;
		}
	list_add_tail(&cs->node, &r->list);
	r->count++;
	return cs;
}

void cs_queue_delete(struct cs *cs, uint64_t chunk_id)
{
	if (cs->ndel == cs->del_cap) {
		if (cs->del_cap >= CS_MAX_PENDING_DEL)
			return;	/* the next chunk report catches the rest */
		uint32_t ncap = cs->del_cap ? cs->del_cap * 2 : 64;
		uint64_t *nd = realloc(cs->del, ncap * sizeof(*nd));
		if (!nd)
			return;
		cs->del = nd;
		cs->del_cap = ncap;
	}
	cs->del[cs->ndel++] = chunk_id;
}

int cs_registry_check(struct cs_registry *r, uint64_t now, uint64_t timeout_ms)
{
	struct cs *cs;
	int n = 0;
	list_for_each_entry(cs, &r->list, node)
		if (cs->up && now - cs->last_hb_ms > timeout_ms) {
			cs->up = false;
			cs->need_report = true;
			sl_warn("chunkserver %u (%s) down: no heartbeat for %llu ms", cs->id, cs->addr,
				(unsigned long long)(now - cs->last_hb_ms));
			n++;
		}
	return n;
}

void cs_registry_reset_soft(struct cs_registry *r, uint64_t now)
{
	struct cs *cs;
	list_for_each_entry(cs, &r->list, node) {
		cs->up = cs->admin != CS_REMOVED;
		cs->heard = false;
		cs->last_hb_ms = now;
	}
}

const char *cs_state_name(const struct cs *cs)
{
	if (cs->admin == CS_REMOVED)
		return "removed";
	if (!cs->up)
		return "down";
	return cs->admin == CS_DRAINING ? "draining" : "up";
}

bool cs_addr_acceptable(const char *addr, const char (*masters)[CS_ADDR_MAX + 1], int n)
{
	if (!sl_addr_is_loopback(addr))
		return true;
	for (int i = 0; i < n; i++)
		if (!sl_addr_is_loopback(masters[i]))
			return false;
	return true;
}
