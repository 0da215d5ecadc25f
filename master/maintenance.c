/* Maintenance of a chunkserver: rules M1-M3 in maintenance.h. */
#include <time.h>
#include "cs_registry.h"
#include "maintenance.h"
#include "volume.h"

uint64_t maint_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool maint_active(const struct cs *cs, uint64_t now)
{
	return cs->admin == CS_ACTIVE && cs->maint_until > now;
}

uint32_t maint_pending(const struct cs_registry *r, uint64_t wall, uint64_t now, uint64_t silent_ms)
{
	const struct cs *cs;
	uint32_t n = 0;

	list_for_each_entry(cs, &r->list, node)
		n += maint_active(cs, wall) &&
		     (!cs->up || !cs->heard || cs_silent(cs, now, silent_ms));
	return n;
}

bool maint_holds(const struct volume *v, int good, uint32_t pending)
{
	return pending && good >= (int)v->min_replicas && (int)v->replicas - good <= (int)pending;
}
