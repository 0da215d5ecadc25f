#include "prim_rule.h"

enum prim_admit prim_admit(bool live, uint64_t lease_version, uint64_t op_version, bool asked)
{
	if (!live || (op_version > lease_version && !asked))
		return PRIM_ACQUIRE;
	return op_version == lease_version ? PRIM_SERVE : PRIM_STALE;
}
