/*
 * COMPARE AND WRITE outcome records (chunkserver/op_record.h): R1, an
 * attempt of an operation that is running or done is answered with its
 * outcome and never runs again; an attempt refused before the compare
 * leaves no record; a secondary's applied write half answers OK.  And the
 * primary's admission rule for client ops (chunkserver/prim_rule.h).
 */
#include "cunit_main.h"
#include "op_record.h"
#include "prim_rule.h"
#include "status.h"

struct waiter {
	struct cs_rec_wait w;
	int calls, status;
	uint64_t moff;
};

static void wake_cb(struct cs_rec_wait *w, int status, uint64_t moff)
{
	struct waiter *x = container_of(w, struct waiter, w);

	x->calls++;
	x->status = status;
	x->moff = moff;
}

static void wait_init(struct waiter *x)
{
	INIT_LIST_HEAD(&x->w.link);
	x->w.cb = wake_cb;
	x->calls = 0;
}

static void test_run_once(void)
{
	struct cs_op_records *r = cs_rec_new();
	struct waiter a, b;
	uint64_t moff = 0;
	int st = 0;

	wait_init(&a);
	wait_init(&b);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 9, 1, &a.w, &st, &moff), REC_RUN);
	/* a retry while it runs waits for its outcome */
	CU_ASSERT_EQUAL(cs_rec_begin(r, 9, 1, &b.w, &st, &moff), REC_WAIT);
	CU_ASSERT_EQUAL(b.calls, 0);
	cs_rec_end(r, 9, 1, true, SL_OK, 0);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.status, SL_OK);
	/* and once done, any later attempt gets it: never compared again */
	CU_ASSERT_EQUAL(cs_rec_begin(r, 9, 1, &a.w, &st, &moff), REC_DONE);
	CU_ASSERT_EQUAL(st, SL_OK);
	/* another client's operation with the same number is another operation */
	CU_ASSERT_EQUAL(cs_rec_begin(r, 10, 1, &a.w, &st, &moff), REC_RUN);
	cs_rec_free(r);
}

static void test_miscompare_kept(void)
{
	struct cs_op_records *r = cs_rec_new();
	struct waiter a;
	uint64_t moff = 0;
	int st = 0;

	wait_init(&a);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 1, 5, &a.w, &st, &moff), REC_RUN);
	cs_rec_end(r, 1, 5, true, SL_E_MISCOMPARE, 4100);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 1, 5, &a.w, &st, &moff), REC_DONE);
	CU_ASSERT_EQUAL(st, SL_E_MISCOMPARE);
	CU_ASSERT_EQUAL(moff, 4100);
	/* an answer after the compare (UNAVAIL: too few replicas left) is final too */
	CU_ASSERT_EQUAL(cs_rec_begin(r, 1, 6, &a.w, &st, &moff), REC_RUN);
	cs_rec_end(r, 1, 6, true, SL_E_UNAVAIL, 0);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 1, 6, &a.w, &st, &moff), REC_DONE);
	CU_ASSERT_EQUAL(st, SL_E_UNAVAIL);
	cs_rec_free(r);
}

static void test_refused_forgotten(void)
{
	struct cs_op_records *r = cs_rec_new();
	struct waiter a, b;
	uint64_t moff = 0;
	int st = 0;

	wait_init(&a);
	wait_init(&b);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 2, 1, &a.w, &st, &moff), REC_RUN);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 2, 1, &b.w, &st, &moff), REC_WAIT);
	/* refused before the compare (its lease moved): the waiter hears it, nothing is kept */
	cs_rec_end(r, 2, 1, false, SL_E_STALE_VERSION, 0);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.status, SL_E_STALE_VERSION);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 2, 1, &a.w, &st, &moff), REC_RUN);
	cs_rec_free(r);
}

static void test_secondary_applied(void)
{
	struct cs_op_records *r = cs_rec_new();
	struct waiter a;
	uint64_t moff = 7;
	int st = -1;

	wait_init(&a);
	/* the write half was forwarded here; then this server became primary */
	cs_rec_applied(r, 3, 44);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 3, 44, &a.w, &st, &moff), REC_DONE);
	CU_ASSERT_EQUAL(st, SL_OK);
	CU_ASSERT_EQUAL(moff, 0);
	cs_rec_free(r);
}

static void test_free_wakes(void)
{
	struct cs_op_records *r = cs_rec_new();
	struct waiter a, b;
	uint64_t moff = 0;
	int st = 0;

	wait_init(&a);
	wait_init(&b);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 4, 1, &a.w, &st, &moff), REC_RUN);
	CU_ASSERT_EQUAL(cs_rec_begin(r, 4, 1, &b.w, &st, &moff), REC_WAIT);
	cs_rec_free(r);
	CU_ASSERT_EQUAL(b.calls, 1);
	CU_ASSERT_EQUAL(b.status, SL_E_UNAVAIL);
}

/* prim_rule.h: serve only under a live lease at the op's version; a newer version asks once. */
static void test_prim_admit(void)
{
	CU_ASSERT_EQUAL(prim_admit(true, 5, 5, false), PRIM_SERVE);
	CU_ASSERT_EQUAL(prim_admit(false, 5, 5, false), PRIM_ACQUIRE);	/* no lease */
	CU_ASSERT_EQUAL(prim_admit(true, 5, 4, false), PRIM_STALE);	/* the client is behind */
	CU_ASSERT_EQUAL(prim_admit(true, 5, 6, false), PRIM_ACQUIRE);	/* we may be behind: ask */
	CU_ASSERT_EQUAL(prim_admit(true, 5, 6, true), PRIM_STALE);	/* asked, still behind it */
	CU_ASSERT_EQUAL(prim_admit(false, 5, 6, true), PRIM_ACQUIRE);	/* no lease: ask anyway */
	CU_ASSERT_EQUAL(prim_admit(true, 6, 6, true), PRIM_SERVE);	/* the new lease caught up */
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "one run per operation, retries get its outcome (R1)", test_run_once },
		{ "MISCOMPARE and post-compare errors are kept", test_miscompare_kept },
		{ "refused before the compare: forgotten", test_refused_forgotten },
		{ "a secondary's applied write half answers OK", test_secondary_applied },
		{ "freeing wakes the waiters", test_free_wakes },
		{ "primary admission of a client op (prim_rule.h)", test_prim_admit },
		{ NULL, NULL },
	};

	return sl_cunit_run("COMPARE AND WRITE records", tests);
}
