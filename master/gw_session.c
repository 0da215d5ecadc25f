/* Gateway sessions at the leader: the rules are in gw_session.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gw_session.h"
#include "status.h"

#define GWS_HASH	4096

static unsigned int slot(uint64_t id)
{
	return (unsigned int)((id * 0x9e3779b97f4a7c15ull) >> 52) & (GWS_HASH - 1);
}

static struct gws *find(const struct gws_table *t, uint64_t id)
{
	struct gws *s;

	for (s = t->hash[slot(id)]; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

int gws_init(struct gws_table *t, uint32_t lease_ms)
{
	memset(t, 0, sizeof(*t));
	t->lease_ms = lease_ms;
	t->hash = calloc(GWS_HASH, sizeof(*t->hash));
	return t->hash ? 0 : -1;
}

static void drop_all(struct gws_table *t)
{
	unsigned int i;

	for (i = 0; i < GWS_HASH; i++) {
		struct gws *s, *n;

		for (s = t->hash[i]; s; s = n) {
			n = s->next;
			free(s);
		}
		t->hash[i] = NULL;
	}
	t->nlive = t->ndead = 0;
}

void gws_free(struct gws_table *t)
{
	if (!t->hash)
		return;
	drop_all(t);
	free(t->hash);
	t->hash = NULL;
}

void gws_reset(struct gws_table *t, uint32_t epoch, uint64_t old_fenced_at)
{
	drop_all(t);
	t->epoch = epoch;
	t->counter = 0;
	t->old_fenced_at = old_fenced_at;
}

static void gws_kill(struct gws_table *t, struct gws *s, uint64_t when)
{
	s->expiry = 0;
	s->died_at = when;
	t->nlive--;
	t->ndead++;
}

/* Dead by the clock: the expiry passed without a renewal (G1). */
static bool expired(struct gws_table *t, struct gws *s, uint64_t now)
{
	if (s->expiry && now >= s->expiry)
		gws_kill(t, s, s->expiry);
	return !s->expiry;
}

int gws_open(struct gws_table *t, uint64_t now, const char *name, uint64_t *id)
{
	struct gws *s;
	unsigned int h;

	if (t->nlive + t->ndead >= GWS_MAX)
		return SL_E_BUSY;
	s = calloc(1, sizeof(*s));
	if (!s)
		return SL_E_INTERNAL;
	s->id = ((uint64_t)t->epoch << 32) | ++t->counter;
	s->expiry = now + t->lease_ms;
	s->opened = now;
	snprintf(s->name, sizeof(s->name), "%s", name ? name : "");
	h = slot(s->id);
	s->next = t->hash[h];
	t->hash[h] = s;
	t->nlive++;
	*id = s->id;
	return SL_OK;
}

int gws_renew(struct gws_table *t, uint64_t id, uint64_t now)
{
	struct gws *s = find(t, id);

	if (!s || expired(t, s, now))
		return SL_E_STALE_EPOCH;
	s->expiry = now + t->lease_ms;
	return SL_OK;
}

uint32_t gws_remaining(struct gws_table *t, uint64_t id, uint64_t now)
{
	struct gws *s = find(t, id);

	if (!s || expired(t, s, now))
		return 0;
	return (uint32_t)(s->expiry - now);
}

uint64_t gws_close(struct gws_table *t, uint64_t id, uint64_t now)
{
	struct gws *s = find(t, id);
	uint64_t at;

	if ((id >> 32) != t->epoch) {
		/* An earlier leader's: it spoke for it until we were ready. */
		return t->old_fenced_at > now ? t->old_fenced_at : now;
	}
	if (!s)
		return now;	/* dead for more than 2 L, or never opened */
	if (!expired(t, s, now))
		gws_kill(t, s, now);
	at = s->died_at + t->lease_ms;
	return at > now ? at : now;
}

void gws_sweep(struct gws_table *t, uint64_t now)
{
	unsigned int i;

	for (i = 0; i < GWS_HASH; i++) {
		struct gws **pp = &t->hash[i], *s;

		while ((s = *pp)) {
			expired(t, s, now);
			if (!s->expiry && now - s->died_at > 2ull * t->lease_ms) {
				*pp = s->next;
				t->ndead--;
				free(s);
				continue;
			}
			pp = &s->next;
		}
	}
}
