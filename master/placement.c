#include <stdbool.h>
#include <string.h>
#include "placement.h"

uint64_t place_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static bool same_label(const char *a, const char *b)
{
	return a && b && a[0] && b[0] && !strcmp(a, b);
}

/* 0 = new rack and new host, 1 = new host (rack repeats), 2 = host repeats. */
static int tier_against(const struct place_cand *o, const struct place_cand *c, int t)
{
	if (same_label(o->host, c->host))
		return 2;
	return same_label(o->rack, c->rack) ? 1 : t;
}

/* Tier of candidate c given the replicas in place and the ones chosen. */
static int tier_of(const struct place_cand *members, int nm, const struct place_cand *cands,
		   const int *chosen, int nchosen, int c)
{
	int t = 0;
	for (int i = 0; i < nm && t < 2; i++)
		t = tier_against(&members[i], &cands[c], t);
	for (int i = 0; i < nchosen && t < 2; i++)
		t = tier_against(&cands[chosen[i]], &cands[c], t);
	return t;
}

int placement_pick(const struct place_cand *cands, int n, int want, int min,
		   uint64_t need, uint64_t *rng, uint32_t *out)
{
	return placement_pick_more(NULL, 0, cands, n, want, min, need, rng, out);
}

int placement_pick_more(const struct place_cand *members, int nm, const struct place_cand *cands,
			int n, int want, int min, uint64_t need, uint64_t *rng, uint32_t *out)
{
	int chosen[32];
	int nchosen = 0, eligible = 0;

	if (want <= 0 || want > 32 || min > want)
		return 0;
	for (int i = 0; i < n; i++)
		if (cands[i].free >= need && cands[i].free > 0)
			eligible++;
	if (eligible < min || eligible == 0)
		return 0;

	while (nchosen < want) {
		/* Find the best tier present, and the total weight in it. */
		int best = 3;
		unsigned __int128 total = 0;
		for (int i = 0; i < n; i++) {
			bool taken = false;
			if (cands[i].free < need || cands[i].free == 0)
				continue;
			for (int k = 0; k < nchosen; k++)
				taken |= chosen[k] == i;
			if (taken)
				continue;
			int t = tier_of(members, nm, cands, chosen, nchosen, i);
			if (t < best) {
				best = t;
				total = 0;
			}
			if (t == best)
				total += cands[i].free;
		}
		if (best == 3)
			break;
		/* Weighted draw over that tier. */
		unsigned __int128 r = ((unsigned __int128)place_rand(rng) << 64 | place_rand(rng)) % total;
		int pick = -1;
		for (int i = 0; i < n && pick < 0; i++) {
			bool taken = false;
			if (cands[i].free < need || cands[i].free == 0)
				continue;
			for (int k = 0; k < nchosen; k++)
				taken |= chosen[k] == i;
			if (taken || tier_of(members, nm, cands, chosen, nchosen, i) != best)
				continue;
			if (r < cands[i].free)
				pick = i;
			else
				r -= cands[i].free;
		}
		chosen[nchosen++] = pick;
	}
	if (nchosen < min)
		return 0;
	for (int i = 0; i < nchosen; i++)
		out[i] = cands[chosen[i]].id;
	return nchosen;
}
