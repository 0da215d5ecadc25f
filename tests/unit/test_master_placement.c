/*
 * Placement rules: distinct servers, failure domains, free-space weighting;
 * and which chunkserver addresses may register at all (cs_registry.c).
 */
#include <stdlib.h>
#include <string.h>
#include <CUnit/Basic.h>
#include "cs_registry.h"
#include "placement.h"
#include "repl_plan.h"
#include "cunit_main.h"

static int distinct(const uint32_t *ids, int n)
{
	for (int i = 0; i < n; i++)
		for (int k = i + 1; k < n; k++)
			if (ids[i] == ids[k])
				return 0;
	return 1;
}

static void test_distinct_servers(void)
{
	struct place_cand c[5];
	uint64_t rng = 1;
	uint32_t out[3];
	for (int i = 0; i < 5; i++)
		c[i] = (struct place_cand){ .id = i + 1, .host = "", .rack = "", .free = 1ull << 40 };
	for (int draw = 0; draw < 10000; draw++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick(c, 5, 3, 2, 1 << 26, &rng, out), 3);
		CU_ASSERT_FATAL(distinct(out, 3));
	}
}

static void test_too_few(void)
{
	struct place_cand c[2] = {
		{ 1, "", "", 1ull << 30 }, { 2, "", "", 1ull << 30 },
	};
	uint64_t rng = 7;
	uint32_t out[3];
	/* 3 wanted, 3 minimum, 2 servers: nothing. */
	CU_ASSERT_EQUAL(placement_pick(c, 2, 3, 3, 4096, &rng, out), 0);
	/* Minimum 2: both, distinct. */
	CU_ASSERT_EQUAL(placement_pick(c, 2, 3, 2, 4096, &rng, out), 2);
	CU_ASSERT(distinct(out, 2));
	/* A server without room for the chunk does not count. */
	c[1].free = 100;
	CU_ASSERT_EQUAL(placement_pick(c, 2, 3, 2, 4096, &rng, out), 0);
	CU_ASSERT_EQUAL(placement_pick(c, 0, 3, 1, 4096, &rng, out), 0);
}

static const struct place_cand *find(const struct place_cand *c, int n, uint32_t id)
{
	for (int i = 0; i < n; i++)
		if (c[i].id == id)
			return &c[i];
	return NULL;
}

static void test_distinct_hosts(void)
{
	/* 6 servers on 3 hosts: 3 replicas must land on 3 different hosts. */
	static const char *hosts[] = { "h1", "h1", "h2", "h2", "h3", "h3" };
	struct place_cand c[6];
	uint64_t rng = 42;
	uint32_t out[3];
	for (int i = 0; i < 6; i++)
		c[i] = (struct place_cand){ i + 1, hosts[i], "", 1ull << 40 };
	for (int draw = 0; draw < 5000; draw++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick(c, 6, 3, 2, 1, &rng, out), 3);
		const char *h0 = find(c, 6, out[0])->host, *h1 = find(c, 6, out[1])->host,
			   *h2 = find(c, 6, out[2])->host;
		CU_ASSERT_FATAL(strcmp(h0, h1) && strcmp(h0, h2) && strcmp(h1, h2));
	}
}

static void test_distinct_racks(void)
{
	/* 3 racks x 2 hosts; 3 replicas on 3 racks; with 2 replicas on a
	 * 2-rack subset, 2 racks.  Racks beat hosts. */
	static const char *racks[] = { "r1", "r1", "r2", "r2", "r3", "r3" };
	static const char *hosts[] = { "a", "b", "c", "d", "e", "f" };
	struct place_cand c[6];
	uint64_t rng = 3;
	uint32_t out[3];
	for (int i = 0; i < 6; i++)
		c[i] = (struct place_cand){ i + 1, hosts[i], racks[i], 1ull << 40 };
	for (int draw = 0; draw < 5000; draw++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick(c, 6, 3, 2, 1, &rng, out), 3);
		const char *r0 = find(c, 6, out[0])->rack, *r1 = find(c, 6, out[1])->rack,
			   *r2 = find(c, 6, out[2])->rack;
		CU_ASSERT_FATAL(strcmp(r0, r1) && strcmp(r0, r2) && strcmp(r1, r2));
	}
	/* Only two racks: the third replica repeats a rack but not a host. */
	for (int draw = 0; draw < 2000; draw++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick(c, 4, 3, 2, 1, &rng, out), 3);
		CU_ASSERT_FATAL(distinct(out, 3));
	}
}

/*
 * Re-replication (replication.c pick_target): the target avoids the racks,
 * then the hosts, of the good members in place, and needs the room.
 */
static void test_target_against_members(void)
{
	struct place_cand members[2] = {
		{ 1, "h1", "r1", 1ull << 40 },
		{ 2, "h2", "r2", 1ull << 40 },
	};
	struct place_cand c[4] = {
		{ 10, "h1", "r1", 1ull << 40 },	/* a member's host: tier 2 */
		{ 11, "h9", "r2", 1ull << 40 },	/* a member's rack, new host: tier 1 */
		{ 12, "h8", "r3", 1ull << 20 },	/* new rack and host, little room: tier 0 */
		{ 13, "", "", 1ull << 40 },	/* unlabelled: a domain of its own, tier 0 */
	};
	uint64_t rng = 7;
	uint32_t out;
	int seen12 = 0, seen13 = 0;

	for (int draw = 0; draw < 2000; draw++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick_more(members, 2, c, 4, 1, 1, 4096, &rng, &out), 1);
		CU_ASSERT_FATAL(out == 12 || out == 13);
		seen12 += out == 12;
		seen13 += out == 13;
	}
	CU_ASSERT(seen13 > seen12);	/* weighted by room within the tier */
	/* 12 has no room for 1 GiB: 13 alone */
	CU_ASSERT_EQUAL(placement_pick_more(members, 2, c, 4, 1, 1, 1ull << 30, &rng, &out), 1);
	CU_ASSERT_EQUAL(out, 13);
	/* without the tier-0 servers: the new host on a member's rack, never the member's host */
	for (int draw = 0; draw < 500; draw++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick_more(members, 2, c, 2, 1, 1, 4096, &rng, &out), 1);
		CU_ASSERT_EQUAL_FATAL(out, 11);
	}
	/* only a member's host left: better a copy there than none */
	CU_ASSERT_EQUAL(placement_pick_more(members, 2, c, 1, 1, 1, 4096, &rng, &out), 1);
	CU_ASSERT_EQUAL(out, 10);
	/* no room anywhere: no target */
	CU_ASSERT_EQUAL(placement_pick_more(members, 2, c, 4, 1, 1, 1ull << 50, &rng, &out), 0);
}

/* Re-replication order (repl_plan.h): fewest good members, then in use, then slot. */
static void test_repl_order(void)
{
	struct repl_need n[5] = {
		{ repl_need_key(2, true), 1 },
		{ repl_need_key(1, false), 2 },
		{ repl_need_key(1, true), 9 },
		{ repl_need_key(0, false), 7 },
		{ repl_need_key(1, true), 3 },
	};
	static const uint32_t want[5] = { 7, 3, 9, 2, 1 };

	repl_order(n, 5);
	for (int i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(n[i].slot, want[i]);
	/* a chunk with one good copy left goes before any with two, in use or not */
	CU_ASSERT(repl_need_key(1, false) < repl_need_key(2, true));
	repl_order(NULL, 0);
}

static void test_weighting(void)
{
	/* Free space 1:2:3:4 (units); single replica draws over 100,000 runs
	 * (fixed seed) must be within 2 % of the expected share. */
	struct place_cand c[4];
	uint64_t rng = 12345;
	unsigned hits[5] = { 0 };
	const int draws = 100000;
	uint32_t out[1];
	for (int i = 0; i < 4; i++)
		c[i] = (struct place_cand){ i + 1, "", "", (uint64_t)(i + 1) << 30 };
	for (int d = 0; d < draws; d++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick(c, 4, 1, 1, 1, &rng, out), 1);
		hits[out[0]]++;
	}
	for (int i = 1; i <= 4; i++) {
		double share = (double)hits[i] / draws, expect = i / 10.0;
		CU_ASSERT(share > expect - 0.02 && share < expect + 0.02);
	}
	/* With 3 replicas of 4 the emptiest server is still picked least. */
	memset(hits, 0, sizeof(hits));
	uint32_t out3[3];
	for (int d = 0; d < 20000; d++) {
		CU_ASSERT_EQUAL_FATAL(placement_pick(c, 4, 3, 3, 1, &rng, out3), 3);
		for (int k = 0; k < 3; k++)
			hits[out3[k]]++;
	}
	CU_ASSERT(hits[1] < hits[2] && hits[2] < hits[3] && hits[3] < hits[4]);
}

/*
 * A loopback chunkserver address registers only in a one-host cluster
 * (every master on loopback); elsewhere no peer could reach it (issue 26:
 * it showed "up" and took replicas).
 */
static void test_loopback_registration(void)
{
	static const char lo[3][CS_ADDR_MAX + 1] = { "127.0.0.1:7300", "127.0.0.1:7310", "localhost:7320" };
	static const char net[3][CS_ADDR_MAX + 1] = { "10.0.0.1:7300", "10.0.0.2:7300", "10.0.0.3:7300" };
	static const char mixed[2][CS_ADDR_MAX + 1] = { "127.0.0.1:7300", "192.168.1.5:7300" };

	CU_ASSERT(cs_addr_acceptable("127.0.0.1:7400", lo, 3));
	CU_ASSERT(cs_addr_acceptable("127.3.2.1:7400", lo, 3));
	CU_ASSERT(cs_addr_acceptable("10.0.0.9:7400", lo, 3));
	CU_ASSERT(cs_addr_acceptable("10.0.0.9:7400", net, 3));
	CU_ASSERT_FALSE(cs_addr_acceptable("127.0.0.1:7400", net, 3));
	CU_ASSERT_FALSE(cs_addr_acceptable("localhost:7400", net, 3));
	CU_ASSERT_FALSE(cs_addr_acceptable("127.0.1.1:7400", net, 1));
	CU_ASSERT_FALSE(cs_addr_acceptable("127.0.0.1:7400", mixed, 2));
	/* what does not parse is left to the other checks */
	CU_ASSERT(cs_addr_acceptable("cs1.example:7400", net, 3));
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "distinct servers", test_distinct_servers },
		{ "too few servers", test_too_few },
		{ "distinct hosts", test_distinct_hosts },
		{ "distinct racks", test_distinct_racks },
		{ "free-space weighting", test_weighting },
		{ "re-replication target against the members", test_target_against_members },
		{ "re-replication order", test_repl_order },
		{ "loopback registration", test_loopback_registration },
		{ NULL, NULL },
	};

	return sl_cunit_run("master_placement", tests);
}
