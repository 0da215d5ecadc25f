/* The event loop: timers, fds (deletion inside callbacks), posts, stop, embedding, deferred work. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "evloop.h"
#include "cunit_main.h"

/* ---- timers ---- */

struct fired {
	int order[16];
	int n;
};

struct tctx {
	struct fired *f;
	int id;
};

static void on_timer(struct sl_timer *t, void *arg)
{
	struct tctx *c = arg;

	c->f->order[c->f->n++] = c->id;
}

static void test_timers(void)
{
	struct sl_loop *loop = sl_loop_new();
	struct fired f = { .n = 0 };
	struct sl_timer t[6];
	struct tctx ctx[6];
	static const int delay[6] = { 50, 10, 30, 20, 40, 60 };
	uint64_t start = sl_now_ms();

	CU_ASSERT_FATAL(loop != NULL);
	for (int i = 0; i < 6; i++) {
		ctx[i] = (struct tctx){ &f, i };
		sl_timer_init(&t[i], on_timer, &ctx[i]);
		CU_ASSERT_FALSE(sl_timer_armed(&t[i]));
		sl_timer_arm(loop, &t[i], (uint64_t)delay[i]);
		CU_ASSERT_TRUE(sl_timer_armed(&t[i]));
	}
	sl_timer_cancel(loop, &t[4]);		/* the 40 ms one never fires */
	CU_ASSERT_FALSE(sl_timer_armed(&t[4]));
	sl_timer_arm(loop, &t[5], 5);		/* re-arm moves it first */
	while (f.n < 5 && sl_now_ms() - start < 2000)
		CU_ASSERT_EQUAL(sl_loop_run_once(loop, 100), 0);
	CU_ASSERT_EQUAL(f.n, 5);
	CU_ASSERT_EQUAL(f.order[0], 5);
	CU_ASSERT_EQUAL(f.order[1], 1);
	CU_ASSERT_EQUAL(f.order[2], 3);
	CU_ASSERT_EQUAL(f.order[3], 2);
	CU_ASSERT_EQUAL(f.order[4], 0);
	CU_ASSERT_TRUE(sl_now_ms() - start >= 50);
	for (int i = 0; i < 6; i++)
		CU_ASSERT_FALSE(sl_timer_armed(&t[i]));
	sl_loop_free(loop);
}

/* Many timers in random order come out sorted (the heap holds). */
static uint64_t last_when;
static int heap_bad, heap_fired;

static void on_sorted(struct sl_timer *t, void *arg)
{
	if (t->when_ms < last_when)
		heap_bad++;
	last_when = t->when_ms;
	heap_fired++;
}

static void test_timer_heap(void)
{
	struct sl_loop *loop = sl_loop_new();
	enum { N = 2000 };
	struct sl_timer *t = calloc(N, sizeof(*t));
	uint64_t start = sl_now_ms();

	CU_ASSERT_FATAL(loop && t);
	srand(3);
	for (int i = 0; i < N; i++) {
		sl_timer_init(&t[i], on_sorted, NULL);
		sl_timer_arm(loop, &t[i], (uint64_t)(rand() % 100));
	}
	for (int i = 0; i < N; i += 3)
		sl_timer_cancel(loop, &t[i]);
	while (heap_fired < N - (N + 2) / 3 && sl_now_ms() - start < 3000)
		sl_loop_run_once(loop, 50);
	CU_ASSERT_EQUAL(heap_fired, N - (N + 2) / 3);
	CU_ASSERT_EQUAL(heap_bad, 0);
	sl_loop_free(loop);
	free(t);
}

/* ---- fds ---- */

struct fdctx {
	int pipes[2][2];
	int calls[2];
	bool del_other;
};

static void on_fd(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct fdctx *c = arg;
	int i = fd == c->pipes[0][0] ? 0 : 1;
	char b[16];

	c->calls[i]++;
	if (read(fd, b, sizeof(b)) < 0)
		CU_FAIL("read");
	if (c->del_other) {
		int o = 1 - i;

		/* The other fd's event may already be in this batch: it must not run. */
		sl_loop_del_fd(loop, c->pipes[o][0]);
		close(c->pipes[o][0]);
		c->pipes[o][0] = -1;
		c->del_other = false;
	}
}

static void test_fd_del_in_callback(void)
{
	struct sl_loop *loop = sl_loop_new();
	struct fdctx c = { .del_other = true };

	CU_ASSERT_FATAL(loop != NULL);
	for (int i = 0; i < 2; i++) {
		CU_ASSERT_FATAL(pipe(c.pipes[i]) == 0);
		CU_ASSERT_EQUAL(sl_loop_add_fd(loop, c.pipes[i][0], EPOLLIN, on_fd, &c), 0);
	}
	CU_ASSERT_NOT_EQUAL(sl_loop_add_fd(loop, c.pipes[0][0], EPOLLIN, on_fd, &c), 0);
	/* Both readable before the wait: one epoll batch holds both events. */
	CU_ASSERT_EQUAL(write(c.pipes[0][1], "a", 1), 1);
	CU_ASSERT_EQUAL(write(c.pipes[1][1], "b", 1), 1);
	for (int i = 0; i < 5; i++)
		sl_loop_run_once(loop, 20);
	CU_ASSERT_EQUAL(c.calls[0] + c.calls[1], 1);

	/* mod_fd: switch the survivor off and on. */
	int s = c.pipes[0][0] >= 0 ? 0 : 1;
	int before = c.calls[s];

	CU_ASSERT_EQUAL(sl_loop_mod_fd(loop, c.pipes[s][0], 0), 0);
	CU_ASSERT_EQUAL(write(c.pipes[s][1], "c", 1), 1);
	sl_loop_run_once(loop, 20);
	CU_ASSERT_EQUAL(c.calls[s], before);
	CU_ASSERT_EQUAL(sl_loop_mod_fd(loop, c.pipes[s][0], EPOLLIN), 0);
	sl_loop_run_once(loop, 200);
	CU_ASSERT_EQUAL(c.calls[s], before + 1);
	CU_ASSERT_NOT_EQUAL(sl_loop_mod_fd(loop, c.pipes[1 - s][1], EPOLLIN), 0);

	sl_loop_del_fd(loop, c.pipes[s][0]);
	for (int i = 0; i < 2; i++) {
		if (c.pipes[i][0] >= 0)
			close(c.pipes[i][0]);
		close(c.pipes[i][1]);
	}
	sl_loop_free(loop);
}

/* ---- posts and stop from other threads ---- */

enum { NPOST = 2000 };

struct postctx {
	struct sl_loop *loop;
	int seen[2];
	int bad_order;
};

struct postarg {
	struct postctx *c;
	int thread, seq;
};

static void on_post(void *arg)
{
	struct postarg *a = arg;

	if (a->seq != a->c->seen[a->thread])
		a->c->bad_order++;
	a->c->seen[a->thread]++;
	if (a->c->seen[0] == NPOST && a->c->seen[1] == NPOST)
		sl_loop_stop(a->c->loop);
}

struct thread_arg {
	struct postctx *c;
	int thread;
	struct postarg *args;
};

static void *poster(void *p)
{
	struct thread_arg *t = p;

	for (int i = 0; i < NPOST; i++) {
		t->args[i] = (struct postarg){ t->c, t->thread, i };
		if (sl_loop_post(t->c->loop, on_post, &t->args[i]) != 0)
			return (void *)1;
	}
	return NULL;
}

static void on_watchdog(struct sl_timer *t, void *arg)
{
	sl_loop_stop(arg);
}

static void test_posts(void)
{
	struct postctx c = { .loop = sl_loop_new() };
	struct thread_arg ta[2];
	pthread_t th[2];
	struct sl_timer wd;
	void *ret;

	CU_ASSERT_FATAL(c.loop != NULL);
	sl_timer_init(&wd, on_watchdog, c.loop);
	sl_timer_arm(c.loop, &wd, 5000);
	for (int i = 0; i < 2; i++) {
		ta[i] = (struct thread_arg){ &c, i, calloc(NPOST, sizeof(struct postarg)) };
		CU_ASSERT_FATAL(pthread_create(&th[i], NULL, poster, &ta[i]) == 0);
	}
	CU_ASSERT_EQUAL(sl_loop_run(c.loop), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], &ret);
		CU_ASSERT_PTR_NULL(ret);
	}
	CU_ASSERT_EQUAL(c.seen[0], NPOST);
	CU_ASSERT_EQUAL(c.seen[1], NPOST);
	CU_ASSERT_EQUAL(c.bad_order, 0);
	CU_ASSERT_TRUE(sl_timer_armed(&wd));	/* stopped by the posts, not the watchdog */
	sl_timer_cancel(c.loop, &wd);
	for (int i = 0; i < 2; i++)
		free(ta[i].args);
	sl_loop_free(c.loop);
}

static void *stopper(void *p)
{
	usleep(50 * 1000);
	sl_loop_stop(p);
	return NULL;
}

static void test_stop_from_thread(void)
{
	struct sl_loop *loop = sl_loop_new();
	uint64_t start = sl_now_ms();
	pthread_t th;

	CU_ASSERT_FATAL(loop != NULL);
	CU_ASSERT_FATAL(pthread_create(&th, NULL, stopper, loop) == 0);
	CU_ASSERT_EQUAL(sl_loop_run(loop), 0);	/* nothing registered: waits for stop */
	pthread_join(th, NULL);
	CU_ASSERT_TRUE(sl_now_ms() - start >= 40);
	CU_ASSERT_TRUE(sl_now_ms() - start < 2000);
	sl_loop_free(loop);
}

/* ---- embedding a foreign loop ---- */

struct foreign {
	int pipe[2];
	int timeout_ms;
	int runs, timeouts_asked;
	int bytes;
};

static int foreign_timeout(void *arg)
{
	struct foreign *f = arg;

	f->timeouts_asked++;
	return f->timeout_ms;
}

static void foreign_run(void *arg)
{
	struct foreign *f = arg;
	char b[64];
	ssize_t n;

	f->runs++;
	/* Must not block: the pipe is non-blocking in the test. */
	while ((n = read(f->pipe[0], b, sizeof(b))) > 0)
		f->bytes += (int)n;
}

static void test_embed(void)
{
	struct sl_loop *loop = sl_loop_new();
	struct foreign f = { .timeout_ms = 30 };
	uint64_t start;

	CU_ASSERT_FATAL(loop != NULL);
	CU_ASSERT_FATAL(pipe2(f.pipe, O_NONBLOCK) == 0);
	CU_ASSERT_EQUAL(sl_loop_embed(loop, f.pipe[0], foreign_timeout, foreign_run, &f), 0);
	CU_ASSERT_NOT_EQUAL(sl_loop_embed(loop, f.pipe[0], foreign_timeout, foreign_run, &f), 0);

	/* Its timeout bounds our wait even with no timers and max_wait -1. */
	start = sl_now_ms();
	CU_ASSERT_EQUAL(sl_loop_run_once(loop, -1), 0);
	CU_ASSERT_TRUE(sl_now_ms() - start >= 20);
	CU_ASSERT_TRUE(sl_now_ms() - start < 1000);
	CU_ASSERT_EQUAL(f.runs, 1);
	CU_ASSERT_EQUAL(f.timeouts_asked, 1);

	/* Its fd wakes us and run() drains it. */
	f.timeout_ms = -1;
	CU_ASSERT_EQUAL(write(f.pipe[1], "xyz", 3), 3);
	start = sl_now_ms();
	CU_ASSERT_EQUAL(sl_loop_run_once(loop, 5000), 0);
	CU_ASSERT_TRUE(sl_now_ms() - start < 1000);
	CU_ASSERT_EQUAL(f.bytes, 3);
	CU_ASSERT_EQUAL(f.runs, 2);
	close(f.pipe[0]);
	close(f.pipe[1]);
	sl_loop_free(loop);
}

/*
 * Hosted: the loop runs inside a host poller (poll(2) here, tgtd's epoll in
 * the gateway).  Its descriptor turns readable for a due timer, a post and
 * an fd, and not before the timer is due.
 */
static bool host_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

static void on_post_flag(void *arg)
{
	(*(int *)arg)++;
}

static void test_hosted(void)
{
	struct sl_loop *loop = sl_loop_new();
	struct fired f = { .n = 0 };
	struct tctx ctx[2] = { { &f, 0 }, { &f, 1 } };
	struct sl_timer t[2];
	uint64_t start;
	int fd, posted = 0;

	CU_ASSERT_FATAL(loop != NULL);
	fd = sl_loop_hosted(loop);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(sl_loop_hosted(loop), fd);	/* idempotent */
	CU_ASSERT_FALSE(host_wait(fd, 20));		/* nothing to do */

	/* a timer armed outside a run: readable once due, not before */
	sl_timer_init(&t[0], on_timer, &ctx[0]);
	sl_timer_init(&t[1], on_timer, &ctx[1]);
	start = sl_now_ms();
	sl_timer_arm(loop, &t[0], 60);
	CU_ASSERT_FALSE(host_wait(fd, 20));
	CU_ASSERT_TRUE(host_wait(fd, 2000));
	CU_ASSERT_TRUE(sl_now_ms() - start >= 59);
	CU_ASSERT_EQUAL(sl_loop_run_once(loop, 0), 0);
	CU_ASSERT_EQUAL(f.n, 1);
	CU_ASSERT_FALSE(host_wait(fd, 10));		/* drained, nothing armed */

	/* an earlier timer armed after a later one still wakes the host first */
	sl_timer_arm(loop, &t[0], 5000);
	sl_timer_arm(loop, &t[1], 30);
	start = sl_now_ms();
	CU_ASSERT_TRUE(host_wait(fd, 2000));
	CU_ASSERT_TRUE(sl_now_ms() - start < 1000);
	CU_ASSERT_EQUAL(sl_loop_run_once(loop, 0), 0);
	CU_ASSERT_EQUAL(f.n, 2);
	CU_ASSERT_EQUAL(f.order[1], 1);
	CU_ASSERT_TRUE(sl_timer_armed(&t[0]));
	sl_timer_cancel(loop, &t[0]);

	/* a post from this thread */
	CU_ASSERT_EQUAL(sl_loop_post(loop, on_post_flag, &posted), 0);
	CU_ASSERT_TRUE(host_wait(fd, 1000));
	CU_ASSERT_EQUAL(sl_loop_run_once(loop, 0), 0);
	CU_ASSERT_EQUAL(posted, 1);
	sl_loop_free(loop);
}

/* ---- deferred work and direct calls ---- */

struct dctx {
	struct sl_loop *loop;
	struct sl_defer d[3];
	int order[8];
	int n;
	int fd_cb_seen;		/* fd callbacks run when the first deferred entry ran */
	int fd_cbs;
	int pfd[2];
};

static void on_defer(struct sl_defer *d, void *arg)
{
	struct dctx *c = arg;
	int id = (int)(d - c->d);

	if (c->n == 0)
		c->fd_cb_seen = c->fd_cbs;
	c->order[c->n++] = id;
	if (id == 0)
		sl_loop_defer(c->loop, &c->d[2]);	/* deferred by deferred work: same pass */
}

static void on_pipe(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct dctx *c = arg;
	char b;

	if (read(fd, &b, 1) != 1)
		return;
	c->fd_cbs++;
	sl_loop_defer(loop, &c->d[1]);
	sl_loop_defer(loop, &c->d[0]);
	sl_loop_defer(loop, &c->d[1]);		/* already queued: once */
}

static void test_defer(void)
{
	struct dctx c = { .loop = sl_loop_new() };

	CU_ASSERT_FATAL(c.loop != NULL);
	CU_ASSERT_FATAL(pipe(c.pfd) == 0);
	for (int i = 0; i < 3; i++)
		sl_defer_init(&c.d[i], on_defer, &c);

	/* outside an iteration: at once */
	sl_loop_defer(c.loop, &c.d[1]);
	CU_ASSERT_EQUAL(c.n, 1);
	CU_ASSERT_EQUAL(c.order[0], 1);
	c.n = 0;

	/* inside: after every callback of the iteration, in order, each once */
	CU_ASSERT_EQUAL(sl_loop_add_fd(c.loop, c.pfd[0], EPOLLIN, on_pipe, &c), 0);
	CU_ASSERT_EQUAL(write(c.pfd[1], "x", 1), 1);
	CU_ASSERT_EQUAL(sl_loop_run_once(c.loop, 1000), 0);
	CU_ASSERT_EQUAL(c.n, 3);
	CU_ASSERT_EQUAL(c.order[0], 1);
	CU_ASSERT_EQUAL(c.order[1], 0);
	CU_ASSERT_EQUAL(c.order[2], 2);
	CU_ASSERT_EQUAL(c.fd_cb_seen, 1);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_FALSE(c.d[i].queued);
	sl_loop_del_fd(c.loop, c.pfd[0]);
	close(c.pfd[0]);
	close(c.pfd[1]);
	sl_loop_free(c.loop);
}

struct callctx {
	struct sl_loop *loop;
	int ran;
	int ran_inside;		/* sl_loop_call made from a callback ran before it returned */
};

static void on_called(void *arg)
{
	((struct callctx *)arg)->ran++;
}

static void call_from_callback(void *arg)
{
	struct callctx *c = arg;
	int before = c->ran;

	CU_ASSERT_EQUAL(sl_loop_call(c->loop, on_called, c), 0);
	c->ran_inside = c->ran - before;
}

static void *call_from_thread(void *arg)
{
	struct callctx *c = arg;

	return (void *)(intptr_t)sl_loop_call(c->loop, on_called, c);
}

static void test_call(void)
{
	struct callctx c = { .loop = sl_loop_new() };
	pthread_t th;
	void *ret;

	CU_ASSERT_FATAL(c.loop != NULL);
	/* before the loop ever ran, its thread is unknown: posted */
	CU_ASSERT_EQUAL(sl_loop_call(c.loop, on_called, &c), 0);
	CU_ASSERT_EQUAL(c.ran, 0);
	CU_ASSERT_EQUAL(sl_loop_run_once(c.loop, 1000), 0);
	CU_ASSERT_EQUAL(c.ran, 1);

	/* the loop's thread, outside an iteration: at once */
	CU_ASSERT_EQUAL(sl_loop_call(c.loop, on_called, &c), 0);
	CU_ASSERT_EQUAL(c.ran, 2);

	/* from inside an iteration: posted, never nested */
	CU_ASSERT_EQUAL(sl_loop_post(c.loop, call_from_callback, &c), 0);
	CU_ASSERT_EQUAL(sl_loop_run_once(c.loop, 1000), 0);
	CU_ASSERT_EQUAL(c.ran_inside, 0);
	CU_ASSERT_EQUAL(sl_loop_run_once(c.loop, 1000), 0);
	CU_ASSERT_EQUAL(c.ran, 3);

	/* another thread: posted */
	CU_ASSERT_FATAL(pthread_create(&th, NULL, call_from_thread, &c) == 0);
	pthread_join(th, &ret);
	CU_ASSERT_PTR_NULL(ret);
	CU_ASSERT_EQUAL(c.ran, 3);
	CU_ASSERT_EQUAL(sl_loop_run_once(c.loop, 1000), 0);
	CU_ASSERT_EQUAL(c.ran, 4);
	sl_loop_free(c.loop);
}

/* A hosted loop's timerfd is not re-armed later when a timer goes: one early wake, then right. */
static void test_hosted_cancel(void)
{
	struct sl_loop *loop = sl_loop_new();
	struct fired f = { .n = 0 };
	struct tctx ctx[2] = { { &f, 0 }, { &f, 1 } };
	struct sl_timer t[2];
	uint64_t start;
	int fd;

	CU_ASSERT_FATAL(loop != NULL);
	fd = sl_loop_hosted(loop);
	CU_ASSERT_FATAL(fd >= 0);
	sl_timer_init(&t[0], on_timer, &ctx[0]);
	sl_timer_init(&t[1], on_timer, &ctx[1]);
	sl_timer_arm(loop, &t[0], 150);
	sl_timer_arm(loop, &t[1], 30);
	sl_timer_cancel(loop, &t[1]);
	start = sl_now_ms();
	/* at most two wakes (the early one may come late on a slow machine), never t[0] early */
	for (int wakes = 0; wakes < 2 && f.n == 0; wakes++) {
		CU_ASSERT_TRUE(host_wait(fd, 2000));
		CU_ASSERT_EQUAL(sl_loop_run_once(loop, 0), 0);
	}
	CU_ASSERT_EQUAL(f.n, 1);
	CU_ASSERT_TRUE(sl_now_ms() - start >= 145);
	CU_ASSERT_EQUAL(f.order[0], 0);
	sl_loop_free(loop);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "timers fire in order, cancel and re-arm", test_timers },
		{ "2000 random timers stay sorted", test_timer_heap },
		{ "del_fd inside a callback drops pending events", test_fd_del_in_callback },
		{ "posts from two threads keep order", test_posts },
		{ "stop from another thread", test_stop_from_thread },
		{ "embedded foreign loop", test_embed },
		{ "hosted in another poller: timers, posts", test_hosted },
		{ "hosted: a cancelled timer costs one early wake", test_hosted_cancel },
		{ "deferred work runs at the end of the iteration", test_defer },
		{ "sl_loop_call: at once on the idle loop thread, else posted", test_call },
		{ NULL, NULL },
	};

	return sl_cunit_run("evloop", tests);
}
