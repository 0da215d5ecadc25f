/*
 * Gateway sessions at the leader (master/gw_session.h): G1 a dead session
 * is never renewed, G2 no statement says it lives past its expiry, G3 a
 * closed session is fenced only when every statement ran out; other
 * epochs' sessions are dead and fenced at the new leader's old_fenced_at.
 * The clock is a number we move by hand.
 */
#include <string.h>
#include "cunit_main.h"
#include "gw_session.h"
#include "status.h"

#define L 3000

static void test_open_renew_expire(void)
{
	struct gws_table t;
	uint64_t id, id2;

	CU_ASSERT_EQUAL_FATAL(gws_init(&t, L), 0);
	gws_reset(&t, 7, 0);
	CU_ASSERT_EQUAL(gws_open(&t, 1000, "gw-a", &id), SL_OK);
	CU_ASSERT_EQUAL(id >> 32, 7);		/* unique across leaders: the epoch is in it */
	CU_ASSERT_EQUAL(gws_open(&t, 1000, "gw-b", &id2), SL_OK);
	CU_ASSERT_NOT_EQUAL(id, id2);
	/* G2: alive for at most the time left */
	CU_ASSERT_EQUAL(gws_remaining(&t, id, 1000), L);
	CU_ASSERT_EQUAL(gws_remaining(&t, id, 2500), L - 1500);
	CU_ASSERT_EQUAL(gws_renew(&t, id, 3900), SL_OK);
	CU_ASSERT_EQUAL(gws_remaining(&t, id, 4000), L - 100);
	/* not renewed in time: dead, and G1: never again */
	CU_ASSERT_EQUAL(gws_remaining(&t, id2, 4000), 0);
	CU_ASSERT_EQUAL(gws_renew(&t, id2, 4000), SL_E_STALE_EPOCH);
	CU_ASSERT_EQUAL(gws_renew(&t, id2, 4001), SL_E_STALE_EPOCH);
	/* unknown ids are dead */
	CU_ASSERT_EQUAL(gws_remaining(&t, id + 1000, 4000), 0);
	CU_ASSERT_EQUAL(gws_renew(&t, id + 1000, 4000), SL_E_STALE_EPOCH);
	gws_free(&t);
}

static void test_close_fence_time(void)
{
	struct gws_table t;
	uint64_t id, id2;

	CU_ASSERT_EQUAL_FATAL(gws_init(&t, L), 0);
	gws_reset(&t, 3, 0);
	CU_ASSERT_EQUAL(gws_open(&t, 0, "gw", &id), SL_OK);
	CU_ASSERT_EQUAL(gws_renew(&t, id, 2000), SL_OK);
	/* G3: closed at 2500, a statement at 2499 said "1 ms short of 5000": fenced at 5500 */
	CU_ASSERT_EQUAL(gws_close(&t, id, 2500), 2500 + L);
	CU_ASSERT_EQUAL(gws_remaining(&t, id, 2501), 0);
	CU_ASSERT_EQUAL(gws_renew(&t, id, 2501), SL_E_STALE_EPOCH);
	/* closing again does not move the fence, and later asks get max(now, fence) */
	CU_ASSERT_EQUAL(gws_close(&t, id, 3000), 2500 + L);
	CU_ASSERT_EQUAL(gws_close(&t, id, 9000), 9000);
	/* expired by the clock: fenced L after its expiry */
	CU_ASSERT_EQUAL(gws_open(&t, 10000, "gw2", &id2), SL_OK);
	CU_ASSERT_EQUAL(gws_close(&t, id2, 20000), 20000);	/* died at 13000, fenced at 16000 */
	CU_ASSERT_EQUAL(gws_open(&t, 30000, "gw3", &id2), SL_OK);
	CU_ASSERT_EQUAL(gws_close(&t, id2, 33500), 33500 + L - 500);	/* died at 33000 */
	gws_free(&t);
}

static void test_new_leader(void)
{
	struct gws_table t;
	uint64_t id, id_new;

	CU_ASSERT_EQUAL_FATAL(gws_init(&t, L), 0);
	gws_reset(&t, 4, 0);
	CU_ASSERT_EQUAL(gws_open(&t, 0, "gw", &id), SL_OK);
	/* leadership moves: epoch 5 ready at 1000, old statements ran out by 1000 + L + margin */
	gws_reset(&t, 5, 1000 + L + 1000);
	CU_ASSERT_EQUAL(gws_remaining(&t, id, 1000), 0);
	CU_ASSERT_EQUAL(gws_renew(&t, id, 1000), SL_E_STALE_EPOCH);
	CU_ASSERT_EQUAL(gws_close(&t, id, 1500), 1000 + L + 1000);
	CU_ASSERT_EQUAL(gws_close(&t, id, 9000), 9000);
	CU_ASSERT_EQUAL(gws_open(&t, 1000, "gw", &id_new), SL_OK);
	CU_ASSERT_EQUAL(id_new >> 32, 5);
	/* an unknown id of this epoch: never opened, or dead for more than 2 L */
	CU_ASSERT_EQUAL(gws_close(&t, id_new + 7, 2000), 2000);
	gws_free(&t);
}

static void test_sweep(void)
{
	struct gws_table t;
	uint64_t id;

	CU_ASSERT_EQUAL_FATAL(gws_init(&t, L), 0);
	gws_reset(&t, 1, 0);
	CU_ASSERT_EQUAL(gws_open(&t, 0, "gw", &id), SL_OK);
	gws_sweep(&t, 2000);
	CU_ASSERT_EQUAL(t.nlive, 1);
	gws_sweep(&t, 3000);			/* expired: a tombstone */
	CU_ASSERT_EQUAL(t.nlive, 0);
	CU_ASSERT_EQUAL(t.ndead, 1);
	CU_ASSERT_EQUAL(gws_close(&t, id, 4000), 3000 + L);	/* the tombstone knows when it died */
	gws_sweep(&t, 3000 + 2 * L + 1);	/* forgotten after 2 L */
	CU_ASSERT_EQUAL(t.ndead, 0);
	CU_ASSERT_EQUAL(gws_renew(&t, id, 9999), SL_E_STALE_EPOCH);
	gws_free(&t);
}

static void test_full(void)
{
	struct gws_table t;
	uint64_t id;
	unsigned int i;

	CU_ASSERT_EQUAL_FATAL(gws_init(&t, L), 0);
	gws_reset(&t, 1, 0);
	for (i = 0; i < GWS_MAX; i++)
		if (gws_open(&t, 0, "gw", &id) != SL_OK)
			break;
	CU_ASSERT_EQUAL(i, GWS_MAX);
	CU_ASSERT_EQUAL(gws_open(&t, 0, "gw", &id), SL_E_BUSY);
	gws_free(&t);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "open, renew, expire (G1, G2)", test_open_renew_expire },
		{ "close: the fence time (G3)", test_close_fence_time },
		{ "a new leader: other epochs' sessions", test_new_leader },
		{ "sweep: tombstones, then forgotten", test_sweep },
		{ "a full table refuses", test_full },
		{ NULL, NULL },
	};

	return sl_cunit_run("master gateway sessions", tests);
}
