#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include "aio.h"
#include "evloop.h"
#include "log.h"

#ifdef SHOAL_CRASH_SIM
#include "crash_sim.h"
#endif

#define REAP_BATCH 64

struct cs_aio {
	io_context_t ctx;
	int efd;
	unsigned int depth;
	unsigned int in_kernel;		/* submitted, not yet reaped */
	struct list_head fifo;		/* waiting for a kernel slot */
	struct list_head busy;		/* submitted to the kernel, oldest first */
	unsigned int queued;
	struct sl_loop *loop;
	struct cs_aio_stats st;
	/* cs_aio_punch: one helper thread, started at first use */
	pthread_mutex_t pmu;
	pthread_cond_t pcv;
	pthread_t pthread;
	bool pstarted, pstop;
	struct list_head ptodo, pdone;	/* cs_aio_req.wait */
	unsigned int punches;		/* submitted, not yet reaped */
#ifdef SHOAL_CRASH_SIM
	struct cs_csim *csim;		/* test builds: every request goes here */
#endif
};

struct cs_aio *cs_aio_new(unsigned int depth)
{
	struct cs_aio *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return NULL;
	a->depth = depth ? depth : 256;
	INIT_LIST_HEAD(&a->fifo);
	INIT_LIST_HEAD(&a->busy);
	INIT_LIST_HEAD(&a->ptodo);
	INIT_LIST_HEAD(&a->pdone);
	pthread_mutex_init(&a->pmu, NULL);
	pthread_cond_init(&a->pcv, NULL);
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0)
		goto fail_free;
	r = io_setup(a->depth, &a->ctx);
	if (r < 0) {
		errno = -r;
		goto fail_efd;
	}
#ifdef SHOAL_CRASH_SIM
	a->csim = cs_csim_get();
	if (!a->csim) {
		io_destroy(a->ctx);
		goto fail_efd;
	}
#endif
	return a;

fail_efd:
	close(a->efd);
fail_free:
	free(a);
	return NULL;
}

/* Moves FIFO requests into the kernel while it has room. */
static void submit_queued(struct cs_aio *a)
{
	while (!list_empty(&a->fifo) && a->in_kernel < a->depth) {
		struct cs_aio_req *r = list_first_entry(&a->fifo, struct cs_aio_req, wait);
		struct iocb *cb = &r->iocb;
		int n;

		n = io_submit(a->ctx, 1, &cb);
		if (n == -EAGAIN && a->in_kernel > 0)
			return;		/* retried on the next completion */
		list_del_init(&r->wait);
		a->queued--;
		if (n != 1) {
			/* Refused outright: complete it with the error, never drop it. */
			a->st.errors++;
			a->st.completed++;
			r->done(r, n < 0 ? n : -EIO);
			continue;
		}
		a->in_kernel++;
		a->st.submitted++;
		r->submitted_ms = sl_now_ms();
		list_add_tail(&r->busy, &a->busy);
	}
}

static void enqueue(struct cs_aio *a, struct cs_aio_req *r)
{
	io_set_eventfd(&r->iocb, a->efd);
	r->iocb.data = r;
	INIT_LIST_HEAD(&r->wait);
#ifdef SHOAL_CRASH_SIM
	a->st.submitted++;
	cs_csim_submit(a->csim, r);
	return;
#endif
	list_add_tail(&r->wait, &a->fifo);
	a->queued++;
	if (a->in_kernel >= a->depth)
		a->st.queued_full++;
	submit_queued(a);
}

void cs_aio_pread(struct cs_aio *a, struct cs_aio_req *r, int fd, void *buf, size_t len, off_t off)
{
	io_prep_pread(&r->iocb, fd, buf, len, off);
	enqueue(a, r);
}

void cs_aio_pwrite(struct cs_aio *a, struct cs_aio_req *r, int fd, const void *buf, size_t len,
		   off_t off, int rw_flags)
{
	io_prep_pwrite(&r->iocb, fd, (void *)buf, len, off);
	r->iocb.aio_rw_flags = rw_flags;
	enqueue(a, r);
}

void cs_aio_fdsync(struct cs_aio *a, struct cs_aio_req *r, int fd)
{
	io_prep_fdsync(&r->iocb, fd);
	enqueue(a, r);
}

/* The eventfd the loop watches: cannot overflow at one write per punch. */
static void wake_reaper(struct cs_aio *a)
{
	uint64_t one = 1;
	ssize_t n = write(a->efd, &one, sizeof(one));

	(void)n;
}

static void *punch_thread(void *arg)
{
	struct cs_aio *a = arg;

	pthread_mutex_lock(&a->pmu);
	for (;;) {
		struct cs_aio_req *r;

		while (list_empty(&a->ptodo) && !a->pstop)
			pthread_cond_wait(&a->pcv, &a->pmu);
		if (list_empty(&a->ptodo))
			break;
		r = list_first_entry(&a->ptodo, struct cs_aio_req, wait);
		list_del_init(&r->wait);
		pthread_mutex_unlock(&a->pmu);
		r->punch_res = fallocate(r->iocb.aio_fildes, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					 r->punch_off, r->punch_len) ? -errno : 0;
		pthread_mutex_lock(&a->pmu);
		list_add_tail(&r->wait, &a->pdone);
		wake_reaper(a);
	}
	pthread_mutex_unlock(&a->pmu);
	return NULL;
}

void cs_aio_punch(struct cs_aio *a, struct cs_aio_req *r, int fd, off_t off, off_t len)
{
	int rc = 0;

	memset(&r->iocb, 0, sizeof(r->iocb));
	r->iocb.aio_fildes = fd;
	r->punch_off = off;
	r->punch_len = len;
#ifdef SHOAL_CRASH_SIM
	/* a write of zeros to the simulated disk, ordered with the writes around it */
	INIT_LIST_HEAD(&r->wait);
	a->st.submitted++;
	cs_csim_submit_punch(a->csim, r, fd, off, len);
	return;
#endif
	pthread_mutex_lock(&a->pmu);
	if (!a->pstarted) {
		sigset_t all, old;

		/* the helper takes no signal: the daemon handles them through a signalfd */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&a->pthread, NULL, punch_thread, a);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		a->pstarted = rc == 0;
	}
	if (rc) {
		/* no helper: complete it as refused, from the next reap */
		r->punch_res = -rc;
		list_add_tail(&r->wait, &a->pdone);
	} else {
		list_add_tail(&r->wait, &a->ptodo);
		pthread_cond_signal(&a->pcv);
	}
	a->punches++;
	a->st.submitted++;
	pthread_mutex_unlock(&a->pmu);
	if (rc)
		wake_reaper(a);
}

/* Completes the punches the helper finished; returns how many. */
static int reap_punches(struct cs_aio *a)
{
	SL_LIST_HEAD(done);
	struct cs_aio_req *r, *n;
	int count = 0;

	pthread_mutex_lock(&a->pmu);
	list_splice_tail_init(&a->pdone, &done);
	pthread_mutex_unlock(&a->pmu);
	list_for_each_entry_safe(r, n, &done, wait) {
		list_del_init(&r->wait);
		a->punches--;
		a->st.completed++;
		if (r->punch_res < 0)
			a->st.errors++;
		count++;
		r->done(r, r->punch_res);
	}
	return count;
}

int cs_aio_reap(struct cs_aio *a, int timeout_ms)
{
	struct io_event ev[REAP_BATCH];
	struct timespec ts = { 0, 0 };
	uint64_t cnt;
	int n, i, total = 0;

	if (read(a->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return -errno;
	total = reap_punches(a);
	if (timeout_ms > 0 && !total && a->punches && !a->in_kernel && !a->queued) {
		/* only punches in flight: wait for the helper's wake-up */
		struct pollfd p = { a->efd, POLLIN, 0 };

		if (poll(&p, 1, timeout_ms) > 0 && read(a->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			return -errno;
		return reap_punches(a);
	}
#ifdef SHOAL_CRASH_SIM
	{
		uint64_t deadline = sl_now_us() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000;

		(void)ev;
		(void)ts;
		(void)i;
		for (;;) {
			n = cs_csim_pump(a->csim, &a->st.errors);
			a->st.completed += n;
			total += n;
			if (total || !cs_csim_pending(a->csim) || sl_now_us() >= deadline)
				return total;
			usleep((useconds_t)(cs_csim_wait_us(a->csim) ? cs_csim_wait_us(a->csim) : 100));
		}
	}
#endif
	if (timeout_ms > 0 && a->in_kernel > 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
	}
	for (;;) {
		n = io_getevents(a->ctx, total == 0 && timeout_ms > 0 && a->in_kernel ? 1 : 0,
				 REAP_BATCH, ev, &ts);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return n;
		for (i = 0; i < n; i++) {
			struct cs_aio_req *r = ev[i].data;
			long res = (long)ev[i].res;

			a->in_kernel--;
			list_del_init(&r->busy);
			a->st.completed++;
			if (res < 0)
				a->st.errors++;
			r->done(r, res);
		}
		total += n;
		submit_queued(a);
		if (n < REAP_BATCH)
			break;
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	return total;
}

static void on_eventfd(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	int r = cs_aio_reap(arg, 0);

	if (r < 0)
		sl_err("aio: io_getevents: %s", strerror(-r));
}

#ifdef SHOAL_CRASH_SIM
static void csim_kick(void *arg)
{
	on_eventfd(NULL, -1, 0, arg);
}
#endif

int cs_aio_attach(struct cs_aio *a, struct sl_loop *loop)
{
	int r = sl_loop_add_fd(loop, a->efd, EPOLLIN, on_eventfd, a);

	if (r == 0)
		a->loop = loop;
#ifdef SHOAL_CRASH_SIM
	if (r == 0)
		cs_csim_attach(a->csim, loop, csim_kick, a);
#endif
	return r;
}

void cs_aio_detach(struct cs_aio *a)
{
#ifdef SHOAL_CRASH_SIM
	cs_csim_attach(a->csim, NULL, NULL, NULL);
#endif
	if (a->loop)
		sl_loop_del_fd(a->loop, a->efd);
	a->loop = NULL;
}

unsigned int cs_aio_in_flight(const struct cs_aio *a)
{
#ifdef SHOAL_CRASH_SIM
	return cs_csim_pending(a->csim) + a->punches;
#endif
	return a->in_kernel + a->queued + a->punches;
}

void cs_aio_for_each_stuck(const struct cs_aio *a, uint64_t older_than_ms, unsigned int max,
			   void (*fn)(int fd, uint64_t age_ms, void *arg), void *arg)
{
	uint64_t now = sl_now_ms();
	struct cs_aio_req *r, *n;

	list_for_each_entry_safe(r, n, &a->busy, busy) {
		if (now - r->submitted_ms <= older_than_ms || !max--)
			break;
		fn(r->iocb.aio_fildes, now - r->submitted_ms, arg);
	}
}

void cs_aio_get_stats(const struct cs_aio *a, struct cs_aio_stats *st)
{
	*st = a->st;
	st->in_flight = cs_aio_in_flight(a);
}

void cs_aio_free(struct cs_aio *a)
{
	uint64_t deadline = sl_now_ms() + 30000;

	if (!a)
		return;
	cs_aio_detach(a);
	while (cs_aio_in_flight(a) && sl_now_ms() < deadline)
		cs_aio_reap(a, 100);
	if (a->pstarted) {
		pthread_mutex_lock(&a->pmu);
		a->pstop = true;
		pthread_cond_signal(&a->pcv);
		pthread_mutex_unlock(&a->pmu);
		pthread_join(a->pthread, NULL);
	}
	io_destroy(a->ctx);
	close(a->efd);
	free(a);
}
