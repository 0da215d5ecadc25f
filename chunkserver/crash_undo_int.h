/*
 * The undo journal's records and run-time state, shared by the recording
 * (crash_undo.c) and the recovery after a cut (crash_recover.c).  Test
 * builds only; the model is in crash_undo.h.
 */
#ifndef SHOAL_CRASH_UNDO_INT_H
#define SHOAL_CRASH_UNDO_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "crash_undo.h"

#define CU_MAGIC	0x55524353u	/* "SCRU" */
#define CU_SECTOR	512u
#define CU_MAX_TREES	8
#define CU_MAX_PRE	(64u << 20)	/* a pre-image larger than this is refused */

enum cu_type {
	CU_CREATE = 1,		/* path1 (new name) */
	CU_RENAME,		/* path1 -> path2, ino of path1; grave: the old path2 */
	CU_UNLINK,		/* path1, ino; grave: the file */
	CU_SIZE,		/* path1, ino, old_size -> len; grave: the cut tail */
	CU_DATA,		/* path1, ino, [off, off + len), old_size; pre-image follows */
	CU_END,			/* id: the DATA write completed; flags & CU_F_DSYNC: durable */
	CU_CANCEL,		/* id: the change was not made */
	CU_SYNCDIR,		/* path1: names in that directory are durable */
	CU_SYNCFILE,		/* dev, ino: size and completed writes durable */
	CU_SIZESYNC,		/* dev, ino: size durable */
};

#define CU_F_DSYNC	1

struct cu_rec {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t size;			/* the whole record */
	uint32_t sum;			/* FNV-1a of the record, this field 0 */
	uint64_t id;
	uint64_t dev, ino;
	uint64_t off, len;
	uint64_t old_size;
	uint32_t n1, n2, ng, nd;	/* path1, path2, grave, pre-image: bytes that follow */
};

/* A change not yet durable (at run time; at recovery, an index into the records). */
struct cu_pend {
	uint64_t id;
	int type;
	uint64_t dev, ino;
	char *dir;			/* name changes: the directory whose fsync makes it durable */
	char *grave;			/* removed once durable */
	bool ended, dsync;		/* DATA */
	size_t rec;			/* recovery: index of the record */
};

struct cu_tree {
	char root[PATH_MAX];
	size_t rlen;
	char udir[PATH_MAX - 64];	/* room for a grave's name in a PATH_MAX buffer */
	int jfd;
	dev_t dev;
	uint64_t next_id;
	struct cu_pend *pend;
	size_t npend, cap;
	bool replay;			/* recovery: no journal, no graves touched */
};


static inline uint32_t cu_fnv(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}

void cu_parent_of(const char *path, char *buf, size_t len);
struct cu_pend *cu_pend_add(struct cu_tree *t, uint64_t id, int type, uint64_t dev, uint64_t ino,
			    const char *dir, const char *grave);
void cu_pend_drop(struct cu_tree *t, size_t i);
bool cu_event(struct cu_tree *t, int type, uint64_t id, uint64_t dev, uint64_t ino,
	      const char *dir, bool dsync, bool *durable_out, size_t *rec_out);
/* Settles what a cut left of t's journal (subset mode: seeded by seed) and empties it. */
int cu_recover(struct cu_tree *t, bool subset, uint64_t seed, struct cu_outcome *out,
	       char *err, size_t errlen);

#endif
