/*
 * What every shoal-admin command shares: the one-line error, argument
 * parsing, number formatting and the master call with its error words.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "json_out.h"
#include "evloop.h"
#include "master_client.h"
#include "rpc.h"
#include "status.h"

int admin_err(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("shoal-admin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int admin_parse_size(const char *arg, const char *what, uint64_t *out)
{
	if (!arg || !*arg || arg[0] == '-' || sl_parse_size(arg, out) < 0)
		return admin_err(AX_USAGE, "bad size '%s' for %s", arg ? arg : "", what);
	return AX_OK;
}

int admin_parse_uint(const char *arg, const char *what, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!arg || !isdigit((unsigned char)arg[0]))
		goto bad;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return AX_OK;
bad:
	return admin_err(AX_USAGE, "bad value '%s' for %s (a number from %" PRIu64 " to %" PRIu64 ")",
			 arg ? arg : "", what, min, max);
}

int admin_parse_duration(const char *arg, const char *what, uint64_t max_ms, uint64_t *out_ms)
{
	char *end;
	unsigned long long v;
	uint64_t unit = 1000;

	if (!arg || !isdigit((unsigned char)arg[0]))
		goto bad;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno)
		goto bad;
	if (*end) {
		switch (*end++) {
		case 's': unit = 1000; break;
		case 'm': unit = 60 * 1000; break;
		case 'h': unit = 3600 * 1000; break;
		case 'd': unit = 24 * 3600 * 1000; break;
		default: goto bad;
		}
		if (*end)
			goto bad;
	}
	if (v == 0 || v > max_ms / unit)
		goto bad;
	*out_ms = v * unit;
	return AX_OK;
bad:
	return admin_err(AX_USAGE, "bad duration '%s' for %s (N, Ns, Nm, Nh or Nd; from 1s to %" PRIu64 "d)",
			 arg ? arg : "", what, max_ms / (24 * 3600 * 1000));
}

/*
 * Volume names become tgt backing-store paths and targets.conf tokens:
 * tgtd splits its LU parameters on ',' and tgt-admin on blanks.  The same
 * set as the master's (master/volume.c), minus a leading '-' or '.' that
 * would read as an option or a hidden file.
 */
bool admin_valid_name(const char *name)
{
	/* a label's characters (lib/config.h), not empty, not starting like an option or a path */
	return name[0] && name[0] != '-' && name[0] != '.' && sl_label_valid(name);
}

/* Exact when it divides evenly, else one decimal: sizes are powers of 1024. */
void fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char units[] = "KMGTPE";
	int u = -1;
	uint64_t div = 1;

	while (u < 5 && bytes >= div * 1024) {
		div *= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, bytes);
	else if (bytes % div == 0)
		snprintf(buf, len, "%" PRIu64 "%c", bytes / div, units[u]);
	else
		snprintf(buf, len, "%.1f%c", (double)bytes / (double)div, units[u]);
}

void fmt_uuid(char *buf, size_t len, const uint8_t *b, size_t n)
{
	size_t o = 0;

	buf[0] = '\0';
	if (n != 16)
		return;
	for (size_t i = 0; i < 16 && o + 3 < len; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		o += snprintf(buf + o, len - o, "%02x", b[i]);
	}
}

struct json_object *disks_json(Shoal__DiskStatus *const *disks, size_t n)
{
	struct json_object *a = jo_arr();

	for (size_t d = 0; d < n; d++) {
		struct json_object *o = jo_obj();

		jo_u64(o, "index", disks[d]->index);
		jo_str(o, "path", disks[d]->path);
		jo_str(o, "uuid", disks[d]->uuid);
		jo_u64(o, "capacity", disks[d]->capacity);
		jo_u64(o, "used", disks[d]->used);
		jo_bool(o, "failed", disks[d]->failed);
		jo_u64(o, "chunks", disks[d]->chunks);
		jo_add(a, NULL, o);
	}
	return a;
}

static int connect_masters(struct admin_ctx *ctx)
{
	if (ctx->mc)
		return AX_OK;
	ctx->loop = sl_loop_new();
	if (!ctx->loop)
		return admin_err(AX_FAILED, "cannot create the event loop");
	ctx->mc = sl_master_client_new(ctx->loop, &ctx->masters);
	if (!ctx->mc)
		return admin_err(AX_USAGE, "bad master address in '%s'", ctx->masters.v[0]);
	return AX_OK;
}

int admin_dedup(struct admin_ctx *ctx, void *dedup)
{
	int rc = connect_masters(ctx);

	if (rc)
		return rc;
	sl_master_dedup(ctx->mc, dedup);
	return AX_OK;
}

int admin_call(struct admin_ctx *ctx, uint16_t type, const ProtobufCMessage *msg,
	       ProtobufCMessage **reply, int *status)
{
	ProtobufCMessage *rep = NULL;
	int rc = connect_masters(ctx);

	if (rc)
		return rc;
	*status = sl_master_call_sync(ctx->mc, type, msg, (uint32_t)ctx->timeout_ms, &rep);
	if (*status != SL_OK) {
		if (rep)
			sl_msg_free(rep);
		return AX_FAILED;
	}
	if (reply)
		*reply = rep;
	else if (rep)
		sl_msg_free(rep);
	return AX_OK;
}

int admin_status_err(struct admin_ctx *ctx, int status, const char *what)
{
	const char *leader = ctx->mc ? sl_master_leader(ctx->mc) : "";
	char list[512];
	size_t o = 0;

	switch (status) {
	case SL_E_TIMEDOUT:
	case SL_E_UNAVAIL:
	case SL_E_NOT_LEADER:
		if (leader && *leader)
			return admin_err(AX_UNREACHABLE, "%s: no answer from the master group within %" PRId64
					 " ms (%s; last leader %s)", what, ctx->timeout_ms,
					 sl_status_str(status), leader);
		list[0] = '\0';
		for (int i = 0; i < ctx->masters.n && o < sizeof(list); i++)
			o += snprintf(list + o, sizeof(list) - o, "%s%s", i ? "," : "", ctx->masters.v[i]);
		return admin_err(AX_UNREACHABLE, "no master answered within %" PRId64 " ms (%s)",
				 ctx->timeout_ms, list);
	case SL_E_NOENT:
		return admin_err(AX_NOTFOUND, "%s not found", what);
	case SL_E_EXIST:
		return admin_err(AX_EXISTS, "%s already exists", what);
	case SL_E_NOTEMPTY:
		return admin_err(AX_FAILED, "%s: refused, it would drop data (add --force)", what);
	case SL_E_NOSPACE:
		return admin_err(AX_FAILED, "%s: not enough chunkservers or space in the cluster", what);
	case SL_E_INVAL:
	case SL_E_RANGE:
		return admin_err(AX_FAILED, "%s: the master refused the request (%s)", what,
				 sl_status_str(status));
	case SL_E_BUSY:
		return admin_err(AX_FAILED, "%s: the master is busy, try again", what);
	case SL_E_PROTO:
		return admin_err(AX_FAILED, "%s: the master does not know this request (version mismatch?)",
				 what);
	default:
		return admin_err(AX_FAILED, "%s: %s", what, sl_status_str(status));
	}
}

int admin_getopt(int argc, char **argv, const struct option *lo, const char *cmd)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, ":", lo, NULL);
	if (c == '?') {
		if (optopt)
			return admin_err(AX_USAGE, "unknown option '-%c' for '%s'", optopt, cmd), -2;
		return admin_err(AX_USAGE, "unknown option '%s' for '%s'", argv[optind - 1], cmd), -2;
	}
	if (c == ':')
		return admin_err(AX_USAGE, "option '%s' needs a value", argv[optind - 1]), -2;
	return c;
}

int admin_nargs(int argc, char **argv, int want, const char *cmd, const char *names)
{
	int have = argc - optind;

	if (have < want)
		return admin_err(AX_USAGE, "'%s' needs %s", cmd, names);
	if (have > want)
		return admin_err(AX_USAGE, "unexpected argument '%s' for '%s'", argv[optind + want], cmd);
	return AX_OK;
}
