#include "status.h"

static const char *const names[SL_E_MAX] = {
	[SL_OK] = "ok",
	[SL_E_INVAL] = "invalid argument",
	[SL_E_NOENT] = "not found",
	[SL_E_EXIST] = "already exists",
	[SL_E_STALE_VERSION] = "stale chunk version",
	[SL_E_STALE_EPOCH] = "stale lease epoch",
	[SL_E_NOT_PRIMARY] = "not primary",
	[SL_E_NOT_LEADER] = "not leader",
	[SL_E_IO] = "I/O error",
	[SL_E_CHECKSUM] = "checksum mismatch",
	[SL_E_MISCOMPARE] = "miscompare",
	[SL_E_NOSPACE] = "no space",
	[SL_E_TIMEDOUT] = "timed out",
	[SL_E_UNAVAIL] = "unavailable",
	[SL_E_RANGE] = "out of range",
	[SL_E_BUSY] = "busy",
	[SL_E_NOTEMPTY] = "not empty",
	[SL_E_PROTO] = "protocol error",
	[SL_E_INTERNAL] = "internal error",
	[SL_E_INDOUBT] = "outcome unknown",
};

const char *sl_status_str(int status)
{
	if (status < 0 || status >= SL_E_MAX || !names[status])
		return "unknown status";
	return names[status];
}
