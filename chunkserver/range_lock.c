#include "range_lock.h"

void cs_range_lock_init(struct cs_range_lock *l)
{
	INIT_LIST_HEAD(&l->held);
	INIT_LIST_HEAD(&l->waiting);
}

bool cs_range_lock_idle(const struct cs_range_lock *l)
{
	return list_empty(&l->held) && list_empty(&l->waiting);
}

static bool overlaps(const struct cs_range *a, uint64_t start, uint64_t end)
{
	return a->start < end && start < a->end;
}

static bool conflicts(struct list_head *head, struct cs_range *stop, uint64_t start, uint64_t end)
{
	struct cs_range *o;

	list_for_each_entry(o, head, link) {
		if (o == stop)
			break;
		if (overlaps(o, start, end))
			return true;
	}
	return false;
}

void cs_range_lock(struct cs_range_lock *l, struct cs_range *r, uint64_t start, uint64_t end,
		   void (*granted_cb)(struct cs_range *r, void *arg), void *arg)
{
	r->start = start;
	r->end = end;
	r->granted_cb = granted_cb;
	r->arg = arg;
	if (!conflicts(&l->held, NULL, start, end) && !conflicts(&l->waiting, NULL, start, end)) {
		r->granted = true;
		list_add_tail(&r->link, &l->held);
		granted_cb(r, arg);
		return;
	}
	r->granted = false;
	list_add_tail(&r->link, &l->waiting);
}

void cs_range_unlock(struct cs_range_lock *l, struct cs_range *r)
{
	struct cs_range *w;
	bool again = true;

	list_del_init(&r->link);
	r->granted = false;
	/*
	 * Grant, in order, the first waiter that now overlaps neither a holder
	 * nor an earlier waiter, and rescan from the start after each callback:
	 * a callback may lock or unlock again, so the lists may have changed.
	 */
	while (again) {
		again = false;
		list_for_each_entry(w, &l->waiting, link) {
			if (conflicts(&l->held, NULL, w->start, w->end) ||
			    conflicts(&l->waiting, w, w->start, w->end))
				continue;
			list_del_init(&w->link);
			w->granted = true;
			list_add_tail(&w->link, &l->held);
			w->granted_cb(w, w->arg);
			again = true;
			break;
		}
	}
}
