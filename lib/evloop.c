/*
 * The event loop (see evloop.h).
 *
 * Fds live in a table indexed by fd.  Each registration gets a generation
 * number that rides in the epoll event's data next to the fd, so an event
 * that epoll_wait() returned for an fd which a callback earlier in the same
 * batch deleted (or deleted and re-added) is recognised as stale and
 * dropped.  That is what makes sl_loop_del_fd() safe inside callbacks
 * without deferring frees: the table entry itself is never freed while
 * the loop lives.
 *
 * Timers are a binary min-heap of struct sl_timer pointers, 1-based so
 * that heap_idx == 0 means "not armed".
 *
 * Posts from other threads go on a mutex-protected FIFO and the eventfd is
 * bumped; the loop thread drains the whole FIFO at once.  sl_loop_stop()
 * only sets an atomic flag and writes the eventfd, so it is signal-safe.
 *
 * An iteration is: wait, fd callbacks, timers, the embedded loop, then
 * the deferred list (sl_loop_defer) until it is empty.  `running` is true
 * from the end of the wait to the end of the deferred list, so work
 * deferred from any callback of the iteration runs in that iteration.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include "evloop.h"
#include "list.h"

#define TAG_EVENTFD	UINT64_MAX
#define TAG_FOREIGN	(UINT64_MAX - 1)
#define TAG_TIMERFD	(UINT64_MAX - 2)
#define MAX_EVENTS	64

struct fd_entry {
	sl_fd_cb cb;
	void *arg;
	uint32_t gen;
	bool used;
};

struct post {
	struct list_head node;
	void (*fn)(void *arg);
	void *arg;
};

struct sl_loop {
	int epfd;
	int evfd;
	atomic_bool stop;

	struct fd_entry *fds;
	int nfds;

	struct sl_timer **heap;		/* heap[1..nheap] */
	unsigned int nheap, heap_cap;

	pthread_mutex_t post_lock;
	struct list_head posts;

	struct sl_defer *defer_head, *defer_tail;	/* run at the end of this iteration */
	pthread_t thread;		/* the thread that runs the iterations */
	bool thread_known;

	int tfd;			/* sl_loop_hosted: timerfd of the next timer, else -1 */
	uint64_t tfd_when;		/* when_ms it is armed for (0: disarmed) */
	bool running;			/* inside sl_loop_run_once */

	int foreign_fd;			/* -1: nothing embedded */
	int (*foreign_timeout)(void *arg);
	void (*foreign_run)(void *arg);
	void *foreign_arg;
};

uint64_t sl_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t sl_now_ms(void)
{
	return sl_now_us() / 1000u;
}

struct sl_loop *sl_loop_new(void)
{
	struct sl_loop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_EVENTFD };

	if (!loop)
		return NULL;
	loop->epfd = -1;
	loop->evfd = -1;
	loop->tfd = -1;
	loop->foreign_fd = -1;
	INIT_LIST_HEAD(&loop->posts);
	pthread_mutex_init(&loop->post_lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		goto fail;
	loop->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->evfd < 0)
		goto fail;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->evfd, &ev) < 0)
		goto fail;
	return loop;
fail:
	sl_loop_free(loop);
	return NULL;
}

void sl_loop_free(struct sl_loop *loop)
{
	struct post *p, *n;

	if (!loop)
		return;
	list_for_each_entry_safe(p, n, &loop->posts, node)
		free(p);
	pthread_mutex_destroy(&loop->post_lock);
	if (loop->evfd >= 0)
		close(loop->evfd);
	if (loop->tfd >= 0)
		close(loop->tfd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	/* Timers belong to their owners; just forget them. */
	for (unsigned int i = 1; i <= loop->nheap; i++)
		loop->heap[i]->heap_idx = 0;
	free(loop->heap);
	free(loop->fds);
	free(loop);
}

/* ---- fds ---- */

static int fd_table_grow(struct sl_loop *loop, int fd)
{
	int n = loop->nfds ? loop->nfds : 64;
	struct fd_entry *t;

	while (n <= fd)
		n *= 2;
	if (n == loop->nfds)
		return 0;
	t = realloc(loop->fds, (size_t)n * sizeof(*t));
	if (!t)
		return -ENOMEM;
	memset(t + loop->nfds, 0, (size_t)(n - loop->nfds) * sizeof(*t));
	loop->fds = t;
	loop->nfds = n;
	return 0;
}

static uint64_t fd_tag(int fd, uint32_t gen)
{
	return ((uint64_t)gen << 32) | (uint32_t)fd;
}

int sl_loop_add_fd(struct sl_loop *loop, int fd, uint32_t events, sl_fd_cb cb, void *arg)
{
	struct epoll_event ev = { .events = events };
	struct fd_entry *e;
	int r;

	if (fd < 0 || !cb)
		return -EINVAL;
	r = fd_table_grow(loop, fd);
	if (r)
		return r;
	e = &loop->fds[fd];
	if (e->used)
		return -EEXIST;
	e->gen++;
	ev.data.u64 = fd_tag(fd, e->gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	e->cb = cb;
	e->arg = arg;
	e->used = true;
	return 0;
}

int sl_loop_mod_fd(struct sl_loop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || fd >= loop->nfds || !loop->fds[fd].used)
		return -ENOENT;
	ev.data.u64 = fd_tag(fd, loop->fds[fd].gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void sl_loop_del_fd(struct sl_loop *loop, int fd)
{
	struct fd_entry *e;

	if (fd < 0 || fd >= loop->nfds || !loop->fds[fd].used)
		return;
	e = &loop->fds[fd];
	/* May fail with EBADF if the owner closed first; epoll forgot it then. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	e->used = false;
	e->gen++;	/* events already fetched for the old registration go stale */
	e->cb = NULL;
	e->arg = NULL;
}

/* ---- timers ---- */

static bool heap_less(struct sl_loop *loop, unsigned int a, unsigned int b)
{
	return loop->heap[a]->when_ms < loop->heap[b]->when_ms;
}

static void heap_swap(struct sl_loop *loop, unsigned int a, unsigned int b)
{
	struct sl_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_idx = a;
	loop->heap[b]->heap_idx = b;
}

static void heap_up(struct sl_loop *loop, unsigned int i)
{
	while (i > 1 && heap_less(loop, i, i / 2)) {
		heap_swap(loop, i, i / 2);
		i /= 2;
	}
}

static void heap_down(struct sl_loop *loop, unsigned int i)
{
	for (;;) {
		unsigned int l = 2 * i, r = l + 1, m = i;

		if (l <= loop->nheap && heap_less(loop, l, m))
			m = l;
		if (r <= loop->nheap && heap_less(loop, r, m))
			m = r;
		if (m == i)
			return;
		heap_swap(loop, i, m);
		i = m;
	}
}

void sl_timer_init(struct sl_timer *t, void (*cb)(struct sl_timer *t, void *arg), void *arg)
{
	t->when_ms = 0;
	t->heap_idx = 0;
	t->cb = cb;
	t->arg = arg;
}

void sl_timer_cancel(struct sl_loop *loop, struct sl_timer *t)
{
	unsigned int i = t->heap_idx;

	if (!i)
		return;
	if (i != loop->nheap) {
		heap_swap(loop, i, loop->nheap);
		loop->nheap--;
		heap_down(loop, i);
		heap_up(loop, i);
	} else {
		loop->nheap--;
	}
	t->heap_idx = 0;
}

/*
 * Embedded loops: the timerfd fires at the earliest timer, so the epoll fd
 * the host polls turns readable when a timer is due.  Re-armed only when
 * the earliest deadline changed (at the end of every run and on an arm
 * made outside one); see sl_loop_hosted.
 */
static void tfd_arm(struct sl_loop *loop)
{
	struct itimerspec its = { 0 };
	uint64_t when = loop->nheap ? loop->heap[1]->when_ms : 0;

	/*
	 * A timerfd armed for a deadline that has gone (its timer cancelled
	 * or moved later) is left to fire early: one spurious wake-up costs
	 * less than a timerfd_settime() for every RPC call's timer.
	 */
	if (when == loop->tfd_when || (loop->tfd_when && (!when || when > loop->tfd_when)))
		return;
	loop->tfd_when = when;
	if (when) {
		/* absolute CLOCK_MONOTONIC, as sl_now_ms(); 0 would disarm */
		its.it_value.tv_sec = (time_t)(when / 1000);
		its.it_value.tv_nsec = (long)(when % 1000) * 1000000L + 1;
	}
	timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

int sl_loop_hosted(struct sl_loop *loop)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_TIMERFD };

	if (loop->tfd < 0) {
		loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (loop->tfd < 0)
			return -1;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->tfd, &ev) < 0) {
			close(loop->tfd);
			loop->tfd = -1;
			return -1;
		}
		loop->tfd_when = 0;
		tfd_arm(loop);
	}
	return loop->epfd;
}

void sl_timer_arm(struct sl_loop *loop, struct sl_timer *t, uint64_t delay_ms)
{
	sl_timer_cancel(loop, t);
	if (loop->nheap + 1 >= loop->heap_cap) {
		unsigned int cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct sl_timer **h = realloc(loop->heap, cap * sizeof(*h));

		/*
		 * Out of memory: the arm cannot be reported (void API), so
		 * abort rather than lose a deadline silently.
		 */
		if (!h)
			abort();
		loop->heap = h;
		loop->heap_cap = cap;
	}
	t->when_ms = sl_now_ms() + delay_ms;
	loop->heap[++loop->nheap] = t;
	t->heap_idx = loop->nheap;
	heap_up(loop, loop->nheap);
	if (loop->tfd >= 0 && !loop->running)
		tfd_arm(loop);
}

/*
 * Fires the timers due at `now`.  A callback that re-arms its own timer
 * with delay 0 would be due again at once; the count bound makes such a
 * timer wait for the next iteration instead of spinning here.
 */
static void run_timers(struct sl_loop *loop)
{
	uint64_t now = sl_now_ms();
	unsigned int budget = loop->nheap;

	while (budget-- > 0 && loop->nheap > 0 && loop->heap[1]->when_ms <= now) {
		struct sl_timer *t = loop->heap[1];

		sl_timer_cancel(loop, t);
		t->cb(t, t->arg);
	}
}

/* ms until the next timer, or -1 if none. */
static int next_timer_ms(struct sl_loop *loop)
{
	uint64_t now, when;

	if (!loop->nheap)
		return -1;
	now = sl_now_ms();
	when = loop->heap[1]->when_ms;
	if (when <= now)
		return 0;
	if (when - now > INT32_MAX)
		return INT32_MAX;
	return (int)(when - now);
}

/* ---- posts ---- */

int sl_loop_post(struct sl_loop *loop, void (*fn)(void *arg), void *arg)
{
	struct post *p = malloc(sizeof(*p));
	uint64_t one = 1;

	if (!p)
		return -ENOMEM;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&loop->post_lock);
	list_add_tail(&p->node, &loop->posts);
	pthread_mutex_unlock(&loop->post_lock);
	/* EAGAIN means the counter is already non-zero: the loop will wake. */
	if (write(loop->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int sl_loop_call(struct sl_loop *loop, void (*fn)(void *arg), void *arg)
{
	if (loop->thread_known && !loop->running && pthread_equal(loop->thread, pthread_self())) {
		fn(arg);
		return 0;
	}
	return sl_loop_post(loop, fn, arg);
}

void sl_loop_defer(struct sl_loop *loop, struct sl_defer *d)
{
	if (d->queued)
		return;
	if (!loop->running) {
		d->fn(d, d->arg);
		return;
	}
	d->queued = true;
	d->next = NULL;
	if (loop->defer_tail)
		loop->defer_tail->next = d;
	else
		loop->defer_head = d;
	loop->defer_tail = d;
}

/* Entries deferred by an entry's fn run too, in this same pass. */
static void run_deferred(struct sl_loop *loop)
{
	struct sl_defer *d;

	while ((d = loop->defer_head) != NULL) {
		loop->defer_head = d->next;
		if (!loop->defer_head)
			loop->defer_tail = NULL;
		d->queued = false;
		d->next = NULL;
		d->fn(d, d->arg);
	}
}

static void run_posts(struct sl_loop *loop)
{
	SL_LIST_HEAD(batch);
	struct post *p, *n;
	uint64_t cnt;

	if (read(loop->evfd, &cnt, sizeof(cnt)) < 0) {
		/* EAGAIN: a stop or a post already drained it. */
	}
	pthread_mutex_lock(&loop->post_lock);
	list_splice_tail_init(&loop->posts, &batch);
	pthread_mutex_unlock(&loop->post_lock);
	list_for_each_entry_safe(p, n, &batch, node) {
		p->fn(p->arg);
		free(p);
	}
}

void sl_loop_stop(struct sl_loop *loop)
{
	uint64_t one = 1;

	atomic_store(&loop->stop, true);
	if (write(loop->evfd, &one, sizeof(one)) < 0) {
		/* EAGAIN: already signalled. */
	}
}

/* ---- the loop ---- */

int sl_loop_embed(struct sl_loop *loop, int poll_fd, int (*timeout)(void *arg),
		  void (*run)(void *arg), void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_FOREIGN };

	if (loop->foreign_fd >= 0)
		return -EEXIST;
	if (poll_fd < 0 || !timeout || !run)
		return -EINVAL;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, poll_fd, &ev) < 0)
		return -errno;
	loop->foreign_fd = poll_fd;
	loop->foreign_timeout = timeout;
	loop->foreign_run = run;
	loop->foreign_arg = arg;
	return 0;
}

static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

int sl_loop_run_once(struct sl_loop *loop, int max_wait_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	int timeout, n;

	timeout = min_timeout(max_wait_ms, next_timer_ms(loop));
	if (loop->foreign_fd >= 0)
		timeout = min_timeout(timeout, loop->foreign_timeout(loop->foreign_arg));

	if (!loop->thread_known) {
		loop->thread = pthread_self();
		loop->thread_known = true;
	}
	n = epoll_wait(loop->epfd, evs, MAX_EVENTS, timeout);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	loop->running = true;
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;
		int fd = (int)(uint32_t)tag;
		struct fd_entry *e;

		if (tag == TAG_EVENTFD) {
			run_posts(loop);
			continue;
		}
		if (tag == TAG_FOREIGN)
			continue;	/* run() below, once per wake */
		if (tag == TAG_TIMERFD) {
			uint64_t ticks;

			if (read(loop->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
				continue;
			loop->tfd_when = 0;	/* expired: arm again below */
			continue;
		}
		if (fd >= loop->nfds)
			continue;
		e = &loop->fds[fd];
		if (!e->used || e->gen != (uint32_t)(tag >> 32))
			continue;	/* deleted earlier in this batch */
		e->cb(loop, fd, evs[i].events, e->arg);
	}
	run_timers(loop);
	if (loop->foreign_fd >= 0)
		loop->foreign_run(loop->foreign_arg);
	run_deferred(loop);
	loop->running = false;
	if (loop->tfd >= 0)
		tfd_arm(loop);
	return 0;
}

int sl_loop_run(struct sl_loop *loop)
{
	int r = 0;

	while (!atomic_load(&loop->stop)) {
		r = sl_loop_run_once(loop, -1);
		if (r < 0)
			break;
	}
	atomic_store(&loop->stop, false);
	return r;
}
