/* CRC32C: published vectors (RFC 3720 B.4) and composition by extend. */
#include <stdlib.h>
#include <string.h>
#include "crc32c.h"
#include "cunit_main.h"

static void test_vectors(void)
{
	uint8_t buf[32];

	CU_ASSERT_EQUAL(sl_crc32c("123456789", 9), 0xe3069283u);
	CU_ASSERT_EQUAL(sl_crc32c("", 0), 0u);
	memset(buf, 0, sizeof(buf));
	CU_ASSERT_EQUAL(sl_crc32c(buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	CU_ASSERT_EQUAL(sl_crc32c(buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	CU_ASSERT_EQUAL(sl_crc32c(buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	CU_ASSERT_EQUAL(sl_crc32c(buf, 32), 0x113fdb5cu);
}

static void test_extend(void)
{
	size_t len = 1 << 20;
	uint8_t *buf = malloc(len);
	uint32_t whole;

	CU_ASSERT_FATAL(buf != NULL);
	srand(7);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rand();
	whole = sl_crc32c(buf, len);
	/* Every kind of split point: tiny, unaligned, block-sized, at the ends. */
	size_t splits[] = { 0, 1, 3, 7, 8, 63, 4096, 4097, 65535, len - 1, len };
	for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		size_t s = splits[i];

		CU_ASSERT_EQUAL(sl_crc32c_extend(sl_crc32c(buf, s), buf + s, len - s), whole);
	}
	/* Three pieces. */
	CU_ASSERT_EQUAL(sl_crc32c_extend(sl_crc32c_extend(sl_crc32c(buf, 100), buf + 100, 5000),
					 buf + 5100, len - 5100), whole);
	/* Flipping one bit changes the CRC. */
	buf[len / 2] ^= 0x10;
	CU_ASSERT_NOT_EQUAL(sl_crc32c(buf, len), whole);
	free(buf);
}

int main(void)
{
	static const struct sl_cunit_test tests[] = {
		{ "known vectors", test_vectors },
		{ "extend composes", test_extend },
		{ NULL, NULL },
	};

	return sl_cunit_run("crc32c", tests);
}
