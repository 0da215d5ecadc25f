/*
 * The event loop every Shoal process runs: epoll for fds, a min-heap of
 * timers on CLOCK_MONOTONIC, and a thread-safe post queue woken through an
 * eventfd.  One loop is driven by exactly one thread; every function below
 * except sl_loop_post() and sl_loop_stop() must be called on that thread.
 *
 * A foreign loop (libuv under libraft in the master) can be embedded: its
 * backend fd joins our epoll set, before each wait its timeout bounds ours,
 * and after each wake it runs non-blocking.
 */
#ifndef SHOAL_EVLOOP_H
#define SHOAL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct sl_loop;

typedef void (*sl_fd_cb)(struct sl_loop *loop, int fd, uint32_t events, void *arg);

struct sl_timer {
	uint64_t when_ms;		/* absolute, sl_now_ms() clock */
	unsigned int heap_idx;		/* 0: not armed */
	void (*cb)(struct sl_timer *t, void *arg);
	void *arg;
};

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t sl_now_ms(void);
uint64_t sl_now_us(void);

struct sl_loop *sl_loop_new(void);
/* Frees the loop; fds are not closed, pending posts are dropped. */
void sl_loop_free(struct sl_loop *loop);

/* events: EPOLLIN / EPOLLOUT (edge or level as the caller asks). One cb per fd. */
int sl_loop_add_fd(struct sl_loop *loop, int fd, uint32_t events, sl_fd_cb cb, void *arg);
int sl_loop_mod_fd(struct sl_loop *loop, int fd, uint32_t events);
/* Safe to call from inside any callback, including for fds with events pending. */
void sl_loop_del_fd(struct sl_loop *loop, int fd);

void sl_timer_init(struct sl_timer *t, void (*cb)(struct sl_timer *t, void *arg), void *arg);
/* (Re)arms t to fire once after delay_ms. */
void sl_timer_arm(struct sl_loop *loop, struct sl_timer *t, uint64_t delay_ms);
void sl_timer_cancel(struct sl_loop *loop, struct sl_timer *t);
static inline bool sl_timer_armed(const struct sl_timer *t) { return t->heap_idx != 0; }

/* Any thread: run fn(arg) on the loop's thread soon, in posting order. 0 or -errno. */
int sl_loop_post(struct sl_loop *loop, void (*fn)(void *arg), void *arg);
/*
 * Any thread: run fn(arg) now when the caller is the loop's own thread
 * and outside an iteration (a hosted loop's host submitting work), else
 * post it.  Saves the eventfd round trip of a post on the host's thread;
 * fn must not expect to run after the caller returns.
 */
int sl_loop_call(struct sl_loop *loop, void (*fn)(void *arg), void *arg);

/*
 * Work held until the end of the current iteration, after every ready fd,
 * timer and post has run: what the iteration produced is then done once
 * (an RPC connection sends all the frames queued on it in one send).
 * Outside an iteration fn runs at once.  A queued entry is not queued
 * twice; its owner must keep it alive until fn has run.
 */
struct sl_defer {
	struct sl_defer *next;
	bool queued;
	void (*fn)(struct sl_defer *d, void *arg);
	void *arg;
};

static inline void sl_defer_init(struct sl_defer *d, void (*fn)(struct sl_defer *d, void *arg),
				 void *arg)
{
	d->next = NULL;
	d->queued = false;
	d->fn = fn;
	d->arg = arg;
}

void sl_loop_defer(struct sl_loop *loop, struct sl_defer *d);

/* Runs until sl_loop_stop(); returns 0, or -errno if epoll failed. */
int sl_loop_run(struct sl_loop *loop);
/* Any thread (and signal-safe through the eventfd): make sl_loop_run() return. */
void sl_loop_stop(struct sl_loop *loop);
/* One iteration: wait at most max_wait_ms (-1: until something happens). */
int sl_loop_run_once(struct sl_loop *loop, int max_wait_ms);
/*
 * Runs the loop inside another poller on the host's thread (tgtd's): the
 * returned descriptor is readable whenever the loop has work -- an fd
 * ready, a post, a timer due (a timerfd tracks the earliest) -- and the
 * host then calls sl_loop_run_once(loop, 0).  -1 on failure.
 */
int sl_loop_hosted(struct sl_loop *loop);

/* See the header comment.  timeout() returns ms (-1: no limit); run() must not block. */
int sl_loop_embed(struct sl_loop *loop, int poll_fd, int (*timeout)(void *arg),
		  void (*run)(void *arg), void *arg);

#endif
