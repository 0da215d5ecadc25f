#include "lease.h"

bool lease_live(const struct lease_clock *lc, const struct chunk *c)
{
	return c->primary && c->lease_expiry > lc->now;
}

static bool in_wait(const struct lease_clock *lc)
{
	return lc->now < lc->wait_until;
}

enum lease_verdict lease_for_lookup(const struct lease_clock *lc, const struct chunk *c,
				    lease_up_fn up, void *arg, uint32_t *primary)
{
	if (c->flags & (CHUNK_F_GRANTING | CHUNK_F_COPYING))
		return LEASE_BUSY;
	if (lease_live(lc, c)) {
		*primary = c->primary;
		return LEASE_LIVE;
	}
	if (in_wait(lc)) {
		/* Only the recorded primary can be primary now; it renews on contact. */
		if (c->primary && chunk_rep_pos(c, c->primary) >= 0 && up(c->primary, arg) != LEASE_CS_DOWN) {
			*primary = c->primary;
			return LEASE_LIVE;
		}
		return LEASE_BUSY;
	}
	/* The recorded primary first, then the members in order; heard before silent. */
	for (enum lease_cs_state want = LEASE_CS_HEARD; want > LEASE_CS_DOWN; want--) {
		if (c->primary && chunk_rep_pos(c, c->primary) >= 0 && up(c->primary, arg) == want) {
			*primary = c->primary;
			return LEASE_GRANT;
		}
		for (int i = 0; i < c->nrep; i++)
			if (up(c->rep[i], arg) == want) {
				*primary = c->rep[i];
				return LEASE_GRANT;
			}
	}
	return LEASE_UNAVAIL;
}

static enum lease_verdict request_verdict(const struct lease_clock *lc, const struct chunk *c,
					  uint32_t who, bool who_up)
{
	if (c->flags & CHUNK_F_GRANTING)
		return LEASE_BUSY;
	if (lease_live(lc, c))
		return c->primary == who ? LEASE_LIVE : LEASE_REFUSE;
	if (in_wait(lc)) {
		if (c->primary == who && chunk_rep_pos(c, who) >= 0)
			return LEASE_LIVE;
		return LEASE_BUSY;
	}
	if (chunk_rep_pos(c, who) < 0 || !who_up)
		return LEASE_REFUSE;
	return LEASE_GRANT;
}

enum lease_verdict lease_for_request(const struct lease_clock *lc, const struct chunk *c,
				     uint32_t who, bool who_up)
{
	/* A chunk being copied lets its lease run out: no grant, no renewal. */
	if (c->flags & CHUNK_F_COPYING)
		return LEASE_BUSY;
	return request_verdict(lc, c, who, who_up);
}

enum lease_verdict lease_for_acquire(const struct lease_clock *lc, const struct chunk *c,
				     uint32_t who, bool who_up, uint64_t held)
{
	enum lease_verdict v = lease_for_request(lc, c, who, who_up);

	if (v == LEASE_LIVE && held == 0 && !chunk_unwritten(c) && !(c->flags & CHUNK_F_UNTAKEN))
		return LEASE_GRANT;
	return v;
}

bool lease_held(const struct lease_clock *lc, const struct chunk *c, uint32_t who)
{
	return request_verdict(lc, c, who, true) == LEASE_LIVE;
}

void lease_start(const struct lease_clock *lc, struct chunk *c)
{
	c->lease_expiry = lc->now + lc->lease_ms;
}

void lease_drop(struct chunk *c)
{
	c->lease_expiry = 0;
}

void lease_clock_ready(struct lease_clock *lc, uint64_t now, uint32_t window_ms)
{
	/*
	 * The old leader granted only while confirmed, i.e. before its
	 * confirmation + window; its confirmation came before our election:
	 * its last grant ran out by now + lease_ms + window.
	 */
	lc->now = now;
	lc->wait_until = now + lc->lease_ms + window_ms;
}
