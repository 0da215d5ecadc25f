/*
 * Replica placement: a pure function of the candidates and a random state.
 *
 * Rules, in order of strength:
 *  1. replicas are on distinct chunkservers (always);
 *  2. no two replicas share a rack when racks are labelled, while enough
 *     racks remain; then no two share a host (an unlabelled host counts as
 *     a domain of its own) while enough hosts remain; only then may a
 *     domain repeat (better fewer domains than fewer copies);
 *  3. among the candidates of the strongest tier that is not empty, one is
 *     drawn with probability proportional to its free space.
 * Candidates with free < need are skipped.  Fewer than min eligible
 * candidates: no placement at all.
 */
#ifndef SHOAL_MASTER_PLACEMENT_H
#define SHOAL_MASTER_PLACEMENT_H

#include <stdint.h>

struct place_cand {
	uint32_t id;
	const char *host;	/* "" = unlabelled */
	const char *rack;	/* "" = unlabelled */
	uint64_t free;		/* bytes */
};

/* splitmix64: the placement RNG (state advanced in place). */
uint64_t place_rand(uint64_t *state);

/*
 * Picks up to want (<= 32) replicas into out from all n candidates, each
 * with at least need bytes free.  Returns the
 * number picked: want, or at least min when fewer eligible servers exist,
 * or 0 when fewer than min are eligible.
 */
int placement_pick(const struct place_cand *cands, int n, int want, int min,
		   uint64_t need, uint64_t *rng, uint32_t *out);

/*
 * The same, with replicas already in place (members[0..nm), none of them
 * among cands): the rules hold against them too, so a re-replication
 * target avoids the racks, then the hosts, of the good members.
 */
int placement_pick_more(const struct place_cand *members, int nm, const struct place_cand *cands,
			int n, int want, int min, uint64_t need, uint64_t *rng, uint32_t *out);

#endif
