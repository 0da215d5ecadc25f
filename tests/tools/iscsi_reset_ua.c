/*
 * iscsi_reset_ua URL_A URL_B MODE: LUN RESET through one path, unit
 * attentions on the other (tests/cluster/405-gw-reset-ua.sh).  URL_A and
 * URL_B are the same volume through two gateways; both sessions are logged
 * in and cleared of their login UA (TUR until GOOD) first, so any UA seen
 * afterwards comes from the reset.
 *
 *   tur   LUN RESET through A; the first TUR on B and on A must each be a
 *         UNIT ATTENTION 29/xx, then a TUR is GOOD.
 *   read  LUN RESET through A; B sends only READ(10)s, every 100 ms: one
 *         must be a UNIT ATTENTION 29/xx within 5 s (the gateway's poll).
 *   down  (master stopped) a TUR on B answers GOOD within 2.5 s; LUN RESET
 *         through A still succeeds, within 6 s; A then reports its UA.
 *
 * Prints one line per measurement.  Exit 0 ok, 1 a check failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

enum tur_result { T_GOOD, T_RESET_UA, T_OTHER };

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static enum tur_result classify(struct scsi_task *t, const char *what, const char *path)
{
	enum tur_result r = T_OTHER;

	if (!t) {
		fprintf(stderr, "iscsi_reset_ua: %s on %s: no answer\n", what, path);
		return T_OTHER;
	}
	if (t->status == SCSI_STATUS_GOOD)
		r = T_GOOD;
	else if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION &&
		 (t->sense.ascq >> 8) == 0x29)
		r = T_RESET_UA;
	else
		fprintf(stderr, "iscsi_reset_ua: %s on %s: status 0x%x sense %x/%04x\n", what, path,
			t->status, t->sense.key, t->sense.ascq);
	scsi_free_scsi_task(t);
	return r;
}

static enum tur_result tur(struct iscsi_context *c, int lun, const char *path)
{
	return classify(iscsi_testunitready_sync(c, lun), "TEST UNIT READY", path);
}

/* TUR until GOOD, at most 20 times: clears the login UA. */
static int settle(struct iscsi_context *c, int lun, const char *path)
{
	for (int i = 0; i < 20; i++) {
		struct scsi_task *t = iscsi_testunitready_sync(c, lun);
		int good = t && t->status == SCSI_STATUS_GOOD;

		if (t)
			scsi_free_scsi_task(t);
		if (good)
			return 0;
	}
	fprintf(stderr, "iscsi_reset_ua: %s: no GOOD TEST UNIT READY in 20\n", path);
	return -1;
}

static struct iscsi_context *login(const char *u, const char *name, int *lun)
{
	struct iscsi_context *c = iscsi_create_context(name);
	struct iscsi_url *url;

	if (!c)
		return NULL;
	url = iscsi_parse_full_url(c, u);
	if (!url) {
		fprintf(stderr, "iscsi_reset_ua: URL %s: %s\n", u, iscsi_get_error(c));
		iscsi_destroy_context(c);
		return NULL;
	}
	iscsi_set_session_type(c, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(c, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	if (iscsi_full_connect_sync(c, url->portal, url->lun)) {
		fprintf(stderr, "iscsi_reset_ua: login to %s failed: %s\n", u, iscsi_get_error(c));
		iscsi_destroy_url(url);
		iscsi_destroy_context(c);
		return NULL;
	}
	*lun = url->lun;
	iscsi_destroy_url(url);
	return c;
}

/* A TUR on path must report the reset UA first, then GOOD. */
static int expect_ua_then_good(struct iscsi_context *c, int lun, const char *path)
{
	long t0 = now_ms();
	enum tur_result r = tur(c, lun, path);

	if (r != T_RESET_UA) {
		fprintf(stderr, "iscsi_reset_ua: %s: first TUR after the reset is %s, not UNIT ATTENTION 29/xx\n",
			path, r == T_GOOD ? "GOOD" : "another error");
		return -1;
	}
	printf("%s: UNIT ATTENTION 29/xx on the first TUR (%ld ms)\n", path, now_ms() - t0);
	if (tur(c, lun, path) != T_GOOD) {
		fprintf(stderr, "iscsi_reset_ua: %s: TUR after the UA is not GOOD\n", path);
		return -1;
	}
	return 0;
}

static int lun_reset(struct iscsi_context *c, int lun, long limit_ms)
{
	long t0 = now_ms(), el;
	int rc = iscsi_task_mgmt_lun_reset_sync(c, lun);

	el = now_ms() - t0;
	if (rc) {
		fprintf(stderr, "iscsi_reset_ua: LUN RESET through A failed: %s\n", iscsi_get_error(c));
		return -1;
	}
	printf("A: LUN RESET done in %ld ms\n", el);
	if (el > limit_ms) {
		fprintf(stderr, "iscsi_reset_ua: LUN RESET took %ld ms (limit %ld)\n", el, limit_ms);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct iscsi_context *a = NULL, *b = NULL;
	int la = 0, lb = 0, rc = 1;
	const char *mode;

	if (argc != 4 || (strcmp(argv[3], "tur") && strcmp(argv[3], "read") && strcmp(argv[3], "down"))) {
		fprintf(stderr, "usage: iscsi_reset_ua URL_A URL_B tur|read|down\n");
		return 2;
	}
	mode = argv[3];
	a = login(argv[1], "iqn.2024-01.org.shoal:reset-ua-a", &la);
	b = a ? login(argv[2], "iqn.2024-01.org.shoal:reset-ua-b", &lb) : NULL;
	if (!a || !b || settle(a, la, "A") || settle(b, lb, "B"))
		goto out;
	if (!strcmp(mode, "tur")) {
		if (lun_reset(a, la, 4000) || expect_ua_then_good(b, lb, "B") ||
		    expect_ua_then_good(a, la, "A"))
			goto out;
	} else if (!strcmp(mode, "read")) {
		long t0;
		int n;

		if (lun_reset(a, la, 4000))
			goto out;
		t0 = now_ms();
		for (n = 0; n < 50; n++) {
			enum tur_result r = classify(iscsi_read10_sync(b, lb, 0, 512, 512, 0, 0, 0, 0, 0),
						     "READ(10)", "B");

			if (r == T_RESET_UA)
				break;
			if (r != T_GOOD)
				goto out;
			sleep_ms(100);
		}
		if (n == 50) {
			fprintf(stderr, "iscsi_reset_ua: B: no UNIT ATTENTION on READ(10) within %ld ms\n",
				now_ms() - t0);
			goto out;
		}
		printf("B: UNIT ATTENTION 29/xx on READ(10) %ld ms after the reset (%d GOOD reads before)\n",
		       now_ms() - t0, n);
		if (classify(iscsi_read10_sync(b, lb, 0, 512, 512, 0, 0, 0, 0, 0), "READ(10)", "B") != T_GOOD)
			goto out;
	} else {
		long t0 = now_ms(), el;
		enum tur_result r = tur(b, lb, "B");

		el = now_ms() - t0;
		printf("B: TUR with the master down: %s in %ld ms\n", r == T_GOOD ? "GOOD" : "not GOOD", el);
		if (r != T_GOOD || el > 2500)
			goto out;
		if (lun_reset(a, la, 6000) || expect_ua_then_good(a, la, "A"))
			goto out;
	}
	rc = 0;
out:
	if (b) {
		iscsi_logout_sync(b);
		iscsi_destroy_context(b);
	}
	if (a) {
		iscsi_logout_sync(a);
		iscsi_destroy_context(a);
	}
	if (rc == 0)
		printf("iscsi_reset_ua %s: ok\n", mode);
	return rc;
}
