/* Shoal status -> SCSI sense (see bs_sense.h for the rules). */
#include "bs_sense.h"
#include "../lib/status.h"

static void set(struct bs_sense *s, uint8_t key, uint16_t asc)
{
	s->status = BS_SAM_CHECK_CONDITION;
	s->key = key;
	s->asc = asc;
}

void bs_sense_from_status(int sl_status, bool is_write, uint64_t miscompare_offset,
			  struct bs_sense *out)
{
	out->status = BS_SAM_GOOD;
	out->key = 0;
	out->asc = 0;
	out->has_info = false;
	out->info = 0;

	switch (sl_status) {
	case SL_OK:
		return;
	case SL_E_MISCOMPARE:
		set(out, BS_KEY_MISCOMPARE, BS_ASC_MISCOMPARE);
		out->has_info = true;
		out->info = miscompare_offset;
		return;
	case SL_E_CHECKSUM:
	case SL_E_IO:
		set(out, BS_KEY_MEDIUM_ERROR, is_write ? BS_ASC_WRITE_ERROR : BS_ASC_READ_ERROR);
		return;
	case SL_E_TIMEDOUT:
	case SL_E_UNAVAIL:
	case SL_E_BUSY:
	case SL_E_NOT_LEADER:
	case SL_E_NOT_PRIMARY:
	case SL_E_STALE_VERSION:
	case SL_E_STALE_EPOCH:
		/* Transient: let the initiator retry, or multipath switch gateways. */
		set(out, BS_KEY_NOT_READY, BS_ASC_BECOMING_READY);
		return;
	case SL_E_NOSPACE:
		set(out, BS_KEY_DATA_PROTECT, BS_ASC_SPACE_ALLOC_FAILED);
		return;
	case SL_E_RANGE:
		set(out, BS_KEY_ILLEGAL_REQUEST, BS_ASC_LBA_OUT_OF_RANGE);
		return;
	case SL_E_INVAL:
		set(out, BS_KEY_ILLEGAL_REQUEST, BS_ASC_INVALID_FIELD_IN_CDB);
		return;
	case SL_E_NOENT:
		/* The volume is gone. */
		set(out, BS_KEY_NOT_READY, BS_ASC_MEDIUM_NOT_PRESENT);
		return;
	case SL_E_INDOUBT:
		/*
		 * A COMPARE AND WRITE that may have taken effect (lib/client_io.c
		 * R5): a target failure, which multipath does not retry on
		 * another path, unlike NOT READY.
		 */
		set(out, BS_KEY_HARDWARE_ERROR, BS_ASC_INTERNAL_TGT_FAILURE);
		return;
	default:
		set(out, BS_KEY_HARDWARE_ERROR, BS_ASC_INTERNAL_TGT_FAILURE);
		return;
	}
}
