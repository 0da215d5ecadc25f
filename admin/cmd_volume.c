/*
 * shoal-admin volume create|list|info|resize|delete.
 *
 * Arguments are checked here before anything is sent, so a typo is a usage
 * error (exit 2) naming the argument; what only the master can judge (name
 * taken, not enough servers) comes back as its status.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "admin.h"
#include "json_out.h"
#include "msg_types.h"
#include "rpc.h"
#include "status.h"

#define VOL_F_THIN		1u
#define VOL_F_WRITE_BACK	2u

#define CHUNK_SHIFT_MIN		20	/* 1 MiB */
#define CHUNK_SHIFT_MAX		32	/* 4 GiB */
#define REPLICAS_MAX		5	/* SL_MAX_REPLICAS of the master */

/* Sizes are whole 512-byte sectors: the LUN's logical block. */
#define SECTOR			512u

static struct json_object *volume_json(const Shoal__VolumeInfo *v)
{
	struct json_object *o = jo_obj();
	char uuid[40];

	fmt_uuid(uuid, sizeof(uuid), v->uuid.data, v->uuid.len);
	jo_u64(o, "id", v->id);
	jo_str(o, "name", v->name);
	jo_str(o, "uuid", uuid);
	jo_u64(o, "size", v->size);
	jo_u64(o, "chunk_size", v->chunk_shift < 64 ? (uint64_t)1 << v->chunk_shift : 0);
	jo_u64(o, "replicas", v->replicas);
	jo_u64(o, "min_replicas", v->min_replicas);
	jo_bool(o, "thin", v->flags & VOL_F_THIN);
	jo_bool(o, "write_back", v->flags & VOL_F_WRITE_BACK);
	jo_u64(o, "allocated_chunks", v->allocated_chunks);
	jo_u64(o, "ctime", v->ctime);
	return o;
}

static const char *flags_str(uint32_t flags)
{
	if ((flags & VOL_F_THIN) && (flags & VOL_F_WRITE_BACK))
		return "thin,write-back";
	if (flags & VOL_F_THIN)
		return "thin";
	if (flags & VOL_F_WRITE_BACK)
		return "thick,write-back";
	return "thick";
}

static void print_volume_text(const Shoal__VolumeInfo *v)
{
	char size[32], chunk[32], uuid[40], when[64] = "-";
	time_t t = (time_t)v->ctime;
	struct tm tm;

	fmt_size(size, sizeof(size), v->size);
	fmt_size(chunk, sizeof(chunk), v->chunk_shift < 64 ? (uint64_t)1 << v->chunk_shift : 0);
	fmt_uuid(uuid, sizeof(uuid), v->uuid.data, v->uuid.len);
	if (v->ctime && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("name:             %s\n", v->name);
	printf("id:               %" PRIu64 "\n", v->id);
	printf("uuid:             %s\n", uuid);
	printf("size:             %s (%" PRIu64 " bytes)\n", size, v->size);
	printf("chunk size:       %s\n", chunk);
	printf("replicas:         %u (writes stop below %u)\n", v->replicas, v->min_replicas);
	printf("provisioning:     %s\n", flags_str(v->flags));
	printf("allocated chunks: %" PRIu64 "\n", v->allocated_chunks);
	printf("created:          %s\n", when);
}

static int print_volume(struct admin_ctx *ctx, const Shoal__VolumeInfo *v)
{
	if (!v)
		return admin_err(AX_FAILED, "the master's reply carried no volume");
	if (ctx->json) {
		jo_print(volume_json(v));
	} else {
		print_volume_text(v);
	}
	return AX_OK;
}

static int check_name(const char *name)
{
	if (!admin_valid_name(name))
		return admin_err(AX_USAGE, "bad volume name '%s' (1-63 of A-Z a-z 0-9 . _ -, "
				 "not starting with '-' or '.')", name);
	return AX_OK;
}

static int check_volume_size(const char *arg, uint64_t *size)
{
	int rc = admin_parse_size(arg, "SIZE", size);

	if (rc)
		return rc;
	if (*size == 0 || *size % SECTOR)
		return admin_err(AX_USAGE, "bad size '%s' for SIZE (must be a non-zero multiple of 512)", arg);
	return AX_OK;
}

static int volume_create(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "replicas", required_argument, NULL, 'r' },
		{ "min-replicas", required_argument, NULL, 'm' },
		{ "chunk-size", required_argument, NULL, 'c' },
		{ "thin", no_argument, NULL, 't' },
		{ "thick", no_argument, NULL, 'T' },
		{ "write-back", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	Shoal__VolumeCreateReq req = SHOAL__VOLUME_CREATE_REQ__INIT;
	Shoal__DedupId dedup = SHOAL__DEDUP_ID__INIT;
	ProtobufCMessage *rep = NULL;
	uint64_t v, size, chunk = 0;
	char what[200];
	int c, rc, status;

	req.flags = VOL_F_THIN;
	optind = 0;
	while ((c = admin_getopt(argc, argv, lo, "volume create")) != -1) {
		switch (c) {
		case 'r':
			if (admin_parse_uint(optarg, "--replicas", 1, REPLICAS_MAX, &v))
				return AX_USAGE;
			req.replicas = v;
			break;
		case 'm':
			if (admin_parse_uint(optarg, "--min-replicas", 1, REPLICAS_MAX, &v))
				return AX_USAGE;
			req.min_replicas = v;
			break;
		case 'c':
			if (admin_parse_size(optarg, "--chunk-size", &chunk))
				return AX_USAGE;
			if (chunk & (chunk - 1) || chunk < (1ull << CHUNK_SHIFT_MIN) ||
			    chunk > (1ull << CHUNK_SHIFT_MAX))
				return admin_err(AX_USAGE, "bad size '%s' for --chunk-size "
						 "(a power of two from 1M to 4G)", optarg);
			req.chunk_shift = __builtin_ctzll(chunk);
			break;
		case 't':
			req.flags |= VOL_F_THIN;
			break;
		case 'T':
			req.flags &= ~VOL_F_THIN;
			break;
		case 'w':
			req.flags |= VOL_F_WRITE_BACK;
			break;
		default:
			return AX_USAGE;
		}
	}
	rc = admin_nargs(argc, argv, 2, "volume create", "NAME and SIZE");
	if (rc)
		return rc;
	rc = check_name(argv[optind]);
	if (rc)
		return rc;
	rc = check_volume_size(argv[optind + 1], &size);
	if (rc)
		return rc;
	if (req.replicas && req.min_replicas > req.replicas)
		return admin_err(AX_USAGE, "--min-replicas %u is more than --replicas %u",
				 req.min_replicas, req.replicas);

	req.name = argv[optind];
	req.size = size;
	req.dedup = &dedup;
	rc = admin_dedup(ctx, &dedup);
	if (rc)
		return rc;
	snprintf(what, sizeof(what), "volume '%s'", req.name);
	if (admin_call(ctx, SL_MSG_M_VOLUME_CREATE, &req.base, &rep, &status))
		return status ? admin_status_err(ctx, status, what) : AX_FAILED;
	rc = print_volume(ctx, ((Shoal__VolumeRep *)rep)->volume);
	sl_msg_free(rep);
	return rc;
}

static int volume_list(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	Shoal__Empty req = SHOAL__EMPTY__INIT;
	ProtobufCMessage *rep = NULL;
	Shoal__VolumeListRep *l;
	int c, rc, status;

	optind = 0;
	while ((c = admin_getopt(argc, argv, lo, "volume list")) != -1)
		return AX_USAGE;
	rc = admin_nargs(argc, argv, 0, "volume list", "no arguments");
	if (rc)
		return rc;
	if (admin_call(ctx, SL_MSG_M_VOLUME_LIST, &req.base, &rep, &status))
		return status ? admin_status_err(ctx, status, "volume list") : AX_FAILED;
	l = (Shoal__VolumeListRep *)rep;
	if (ctx->json) {
		struct json_object *a = jo_arr();

		for (size_t i = 0; i < l->n_volumes; i++)
			jo_add(a, NULL, volume_json(l->volumes[i]));
		jo_print(a);
	} else {
		printf("%-24s %8s %8s %6s %9s  %-16s %s\n", "NAME", "SIZE", "CHUNK", "COPIES",
		       "ALLOCATED", "PROVISIONING", "UUID");
		for (size_t i = 0; i < l->n_volumes; i++) {
			const Shoal__VolumeInfo *v = l->volumes[i];
			char size[32], chunk[32], uuid[40], copies[16];

			fmt_size(size, sizeof(size), v->size);
			fmt_size(chunk, sizeof(chunk), v->chunk_shift < 64 ? (uint64_t)1 << v->chunk_shift : 0);
			fmt_uuid(uuid, sizeof(uuid), v->uuid.data, v->uuid.len);
			snprintf(copies, sizeof(copies), "%u/%u", v->replicas, v->min_replicas);
			printf("%-24s %8s %8s %6s %9" PRIu64 "  %-16s %s\n", v->name, size, chunk, copies,
			       v->allocated_chunks, flags_str(v->flags), uuid);
		}
	}
	sl_msg_free(rep);
	return AX_OK;
}

/* info and delete: one NAME, no options. */
static int volume_by_name(struct admin_ctx *ctx, int argc, char **argv, uint16_t type, const char *cmd)
{
	static const struct option lo[] = { { NULL, 0, NULL, 0 } };
	Shoal__VolumeNameReq req = SHOAL__VOLUME_NAME_REQ__INIT;
	Shoal__DedupId dedup = SHOAL__DEDUP_ID__INIT;
	ProtobufCMessage *rep = NULL;
	char what[200];
	int c, rc, status;

	optind = 0;
	while ((c = admin_getopt(argc, argv, lo, cmd)) != -1)
		return AX_USAGE;
	rc = admin_nargs(argc, argv, 1, cmd, "NAME");
	if (rc)
		return rc;
	rc = check_name(argv[optind]);
	if (rc)
		return rc;
	req.name = argv[optind];
	if (type == SL_MSG_M_VOLUME_DELETE) {
		rc = admin_dedup(ctx, &dedup);
		if (rc)
			return rc;
		req.dedup = &dedup;
	}
	snprintf(what, sizeof(what), "volume '%s'", req.name);
	if (admin_call(ctx, type, &req.base, &rep, &status))
		return status ? admin_status_err(ctx, status, what) : AX_FAILED;
	if (type == SL_MSG_M_VOLUME_INFO) {
		rc = print_volume(ctx, ((Shoal__VolumeRep *)rep)->volume);
	} else if (ctx->json) {
		struct json_object *o = jo_obj();

		jo_str(o, "deleted", req.name);
		jo_print(o);
	} else {
		printf("deleted volume '%s'\n", req.name);
	}
	sl_msg_free(rep);
	return rc;
}

static int volume_resize(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	Shoal__VolumeResizeReq req = SHOAL__VOLUME_RESIZE_REQ__INIT;
	Shoal__DedupId dedup = SHOAL__DEDUP_ID__INIT;
	ProtobufCMessage *rep = NULL;
	char what[200];
	int c, rc, status;

	optind = 0;
	while ((c = admin_getopt(argc, argv, lo, "volume resize")) != -1) {
		if (c != 'f')
			return AX_USAGE;
		req.force = true;
	}
	rc = admin_nargs(argc, argv, 2, "volume resize", "NAME and SIZE");
	if (rc)
		return rc;
	rc = check_name(argv[optind]);
	if (rc)
		return rc;
	rc = check_volume_size(argv[optind + 1], &req.size);
	if (rc)
		return rc;
	req.name = argv[optind];
	rc = admin_dedup(ctx, &dedup);
	if (rc)
		return rc;
	req.dedup = &dedup;
	snprintf(what, sizeof(what), "volume '%s'", req.name);
	if (admin_call(ctx, SL_MSG_M_VOLUME_RESIZE, &req.base, &rep, &status)) {
		if (status == SL_E_NOTEMPTY)
			return admin_err(AX_FAILED, "volume '%s': shrinking drops data past the new end "
					 "(add --force)", req.name);
		return status ? admin_status_err(ctx, status, what) : AX_FAILED;
	}
	rc = print_volume(ctx, ((Shoal__VolumeRep *)rep)->volume);
	sl_msg_free(rep);
	return rc;
}

int cmd_volume(struct admin_ctx *ctx, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub)
		return admin_err(AX_USAGE, "'volume' needs a subcommand: create, list, info, resize, delete");
	argc--;
	argv++;
	if (!strcmp(sub, "create"))
		return volume_create(ctx, argc, argv);
	if (!strcmp(sub, "list"))
		return volume_list(ctx, argc, argv);
	if (!strcmp(sub, "info"))
		return volume_by_name(ctx, argc, argv, SL_MSG_M_VOLUME_INFO, "volume info");
	if (!strcmp(sub, "resize"))
		return volume_resize(ctx, argc, argv);
	if (!strcmp(sub, "delete"))
		return volume_by_name(ctx, argc, argv, SL_MSG_M_VOLUME_DELETE, "volume delete");
	return admin_err(AX_USAGE, "unknown subcommand 'volume %s' (create, list, info, resize, delete)", sub);
}
