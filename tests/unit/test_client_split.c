/*
 * Pure pieces of the client and the module: splitting an I/O at chunk and
 * frame boundaries, the status -> SCSI sense table, and the SCSI identity
 * derived from a volume UUID.
 */
#include <string.h>
#include "client.h"
#include "status.h"
#include "../../backing-store/bs_ident.h"
#include "../../backing-store/bs_sense.h"
#include "cunit_main.h"

static void test_split_count(void)
{
	const unsigned int s = 20;	/* 1 MiB chunks */

	CU_ASSERT_EQUAL(sl_split_count(0, 0, s), 0);
	CU_ASSERT_EQUAL(sl_split_count(0, 512, s), 1);
	CU_ASSERT_EQUAL(sl_split_count(0, 1 << 20, s), 1);
	CU_ASSERT_EQUAL(sl_split_count(0, (1 << 20) + 512, s), 2);
	CU_ASSERT_EQUAL(sl_split_count((1 << 20) - 512, 1024, s), 2);
	CU_ASSERT_EQUAL(sl_split_count((1 << 20) - 512, 512, s), 1);
	CU_ASSERT_EQUAL(sl_split_count(512, 3 << 20, s), 4);
	CU_ASSERT_EQUAL(sl_split_count(5ull << 40, 1ull << 30, 26), 16);
}

/* Walk the pieces like client_io.c does and check they tile the range. */
static void walk(uint64_t off, uint64_t len, unsigned int shift)
{
	uint64_t pos = off, end = off + len, n = 0;

	while (pos < end) {
		uint64_t l = sl_split_piece_len(pos, end, shift);

		CU_ASSERT(l > 0);
		/* a piece never crosses a unit boundary */
		CU_ASSERT_EQUAL(pos >> shift, (pos + l - 1) >> shift);
		/* and every piece but the last ends on one */
		if (pos + l < end)
			CU_ASSERT_EQUAL((pos + l) & ((1ull << shift) - 1), 0);
		pos += l;
		n++;
	}
	CU_ASSERT_EQUAL(pos, end);
	CU_ASSERT_EQUAL(n, sl_split_count(off, len, shift));
}

static void test_split_walk(void)
{
	walk(0, 4096, 20);
	walk((1 << 20) - 4096, 8192, 20);
	walk(12345 * 512, 7 << 20, 20);
	walk(3, 1, 12);
	walk((1ull << 20) - 1, 2, 20);
	walk(0, 64ull << 20, 26);
}

static void test_split_unit(void)
{
	/* data ops split at 4 MiB even with 64 MiB chunks (frame data bound) */
	CU_ASSERT_EQUAL(sl_split_unit_shift(SL_IO_READ, 26), 22);
	CU_ASSERT_EQUAL(sl_split_unit_shift(SL_IO_WRITE, 26), 22);
	CU_ASSERT_EQUAL(sl_split_unit_shift(SL_IO_CAW, 26), 22);
	CU_ASSERT_EQUAL(sl_split_unit_shift(SL_IO_READ, 20), 20);
	/* no-data ops split only at chunks (and 1 GiB: 32-bit length) */
	CU_ASSERT_EQUAL(sl_split_unit_shift(SL_IO_UNMAP, 26), 26);
	CU_ASSERT_EQUAL(sl_split_unit_shift(SL_IO_WRITE_SAME, 26), 26);
	CU_ASSERT_EQUAL(sl_split_unit_shift(SL_IO_UNMAP, 34), 30);
	CU_ASSERT((1u << sl_split_unit_shift(SL_IO_WRITE, 40)) <= (8u << 20) / 2);
}

static void check(int st, bool wr, int status, int key, int asc)
{
	struct bs_sense s;

	bs_sense_from_status(st, wr, 0, &s);
	CU_ASSERT_EQUAL(s.status, status);
	CU_ASSERT_EQUAL(s.key, key);
	CU_ASSERT_EQUAL(s.asc, asc);
}

static void test_sense(void)
{
	struct bs_sense s;
	int st;

	check(SL_OK, false, BS_SAM_GOOD, 0, 0);
	check(SL_OK, true, BS_SAM_GOOD, 0, 0);
	/* unreachable cluster: retryable NOT READY so multipath can switch */
	check(SL_E_TIMEDOUT, false, BS_SAM_CHECK_CONDITION, 0x02, 0x0401);
	check(SL_E_UNAVAIL, true, BS_SAM_CHECK_CONDITION, 0x02, 0x0401);
	check(SL_E_BUSY, true, BS_SAM_CHECK_CONDITION, 0x02, 0x0401);
	check(SL_E_NOT_PRIMARY, false, BS_SAM_CHECK_CONDITION, 0x02, 0x0401);
	check(SL_E_STALE_VERSION, true, BS_SAM_CHECK_CONDITION, 0x02, 0x0401);
	/* unreadable on every replica */
	check(SL_E_CHECKSUM, false, BS_SAM_CHECK_CONDITION, 0x03, 0x1100);
	check(SL_E_IO, true, BS_SAM_CHECK_CONDITION, 0x03, 0x0c00);
	check(SL_E_NOSPACE, true, BS_SAM_CHECK_CONDITION, 0x07, 0x2707);
	check(SL_E_RANGE, false, BS_SAM_CHECK_CONDITION, 0x05, 0x2100);
	check(SL_E_INVAL, true, BS_SAM_CHECK_CONDITION, 0x05, 0x2400);
	check(SL_E_PROTO, false, BS_SAM_CHECK_CONDITION, 0x04, 0x4400);
	check(SL_E_INTERNAL, false, BS_SAM_CHECK_CONDITION, 0x04, 0x4400);
	/* a COMPARE AND WRITE in doubt: a target failure, not retried on another path */
	check(SL_E_INDOUBT, true, BS_SAM_CHECK_CONDITION, 0x04, 0x4400);
	/* miscompare carries the offset in INFORMATION */
	bs_sense_from_status(SL_E_MISCOMPARE, true, 1234, &s);
	CU_ASSERT_EQUAL(s.status, BS_SAM_CHECK_CONDITION);
	CU_ASSERT_EQUAL(s.key, 0x0e);
	CU_ASSERT_EQUAL(s.asc, 0x1d00);
	CU_ASSERT(s.has_info);
	CU_ASSERT_EQUAL(s.info, 1234);
	/* nothing but SL_OK is GOOD */
	for (st = 1; st < SL_E_MAX; st++) {
		bs_sense_from_status(st, st & 1, 0, &s);
		CU_ASSERT_EQUAL(s.status, BS_SAM_CHECK_CONDITION);
	}
	bs_sense_from_status(9999, false, 0, &s);
	CU_ASSERT_EQUAL(s.status, BS_SAM_CHECK_CONDITION);
}

static void test_ident(void)
{
	const uint8_t u[16] = { 0xf1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
				0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	struct bs_ident a, b;

	bs_ident_from_uuid(u, &a);
	CU_ASSERT_STRING_EQUAL(a.scsi_id, "f123456789abcdef0102030405060708");
	CU_ASSERT_STRING_EQUAL(a.scsi_sn, "SLf123456789abcdef01020304050607");
	CU_ASSERT_EQUAL(a.numeric_id >> 60, 0);	/* tgt ORs NAA type 3 into the top nibble */
	CU_ASSERT_EQUAL(a.numeric_id, (0xf123456789abcdefull ^ 0x0102030405060708ull) & 0x0fffffffffffffffull);
	/* deterministic: the same on every gateway */
	bs_ident_from_uuid(u, &b);
	CU_ASSERT_STRING_EQUAL(a.scsi_id, b.scsi_id);
	CU_ASSERT_STRING_EQUAL(a.scsi_sn, b.scsi_sn);
	CU_ASSERT_EQUAL(a.numeric_id, b.numeric_id);
	CU_ASSERT(strlen(a.scsi_sn) <= 36);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "split_count", test_split_count },
		{ "split_walk", test_split_walk },
		{ "split_unit", test_split_unit },
		{ "sense", test_sense },
		{ "ident", test_ident },
		{ NULL, NULL },
	};

	return sl_cunit_run("client_split", tests);
}
