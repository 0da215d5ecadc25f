/*
 * Result codes of every Shoal operation, carried in the frame header's
 * status field of a reply (and never reused for another meaning).
 */
#ifndef SHOAL_STATUS_H
#define SHOAL_STATUS_H

enum sl_status {
	SL_OK = 0,
	SL_E_INVAL = 1,		/* malformed or out-of-range argument */
	SL_E_NOENT = 2,		/* no such volume / chunk / server */
	SL_E_EXIST = 3,		/* name or id already taken */
	SL_E_STALE_VERSION = 4,	/* sender's chunk version differs from ours */
	SL_E_STALE_EPOCH = 5,	/* sender's lease epoch is older than ours */
	SL_E_NOT_PRIMARY = 6,	/* this server holds no live lease for the chunk */
	SL_E_NOT_LEADER = 7,	/* this master is not the Raft leader; see leader hint */
	SL_E_IO = 8,		/* disk I/O error */
	SL_E_CHECKSUM = 9,	/* stored data failed its CRC32C */
	SL_E_MISCOMPARE = 10,	/* COMPARE AND WRITE: data differed */
	SL_E_NOSPACE = 11,	/* no disk or server has room */
	SL_E_TIMEDOUT = 12,	/* deadline passed */
	SL_E_UNAVAIL = 13,	/* peer unreachable, not enough replicas */
	SL_E_RANGE = 14,	/* offset/length outside the chunk or volume */
	SL_E_BUSY = 15,		/* try again shortly (e.g. lease wait after failover) */
	SL_E_NOTEMPTY = 16,	/* refused: would lose data (shrink without force) */
	SL_E_PROTO = 17,	/* message did not decode or type unknown */
	SL_E_INTERNAL = 18,
	SL_E_INDOUBT = 19,	/* COMPARE AND WRITE: whether it took effect is unknown */
	SL_E_MAX
};

const char *sl_status_str(int status);

#endif
