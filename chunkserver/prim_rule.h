/*
 * The primary's admission rule for a client read or write (primary.c
 * pop_run), pure so that the unit tests check the rule the daemon runs.
 *
 * The version is the fencing token (doc/protocol.md).  A primary serves an
 * op only under a live lease at exactly the op's version.  Without a live
 * lease it asks the master for one.  A client that names a newer version
 * than the lease knows of a set change the primary missed (the master
 * moved the set, e.g. after a lost disk elsewhere): the primary asks the
 * master once more before refusing.  One that names an older version is
 * stale and refused (SL_E_STALE_VERSION), and so is a newer one after the
 * primary asked.
 */
#ifndef SHOAL_CS_PRIM_RULE_H
#define SHOAL_CS_PRIM_RULE_H

#include <stdbool.h>
#include <stdint.h>

enum prim_admit {
	PRIM_ACQUIRE,		/* wait for a (new) lease from the master */
	PRIM_STALE,		/* refuse: SL_E_STALE_VERSION */
	PRIM_SERVE,		/* lease live at the op's version */
};

/* live: a lease held and not run out; asked: this op already made us ask once for a newer one. */
enum prim_admit prim_admit(bool live, uint64_t lease_version, uint64_t op_version, bool asked);

#endif
