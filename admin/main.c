/*
 * shoal-admin: provision volumes and LUNs, inspect and operate the cluster.
 *
 * Global options may appear anywhere on the line: they are pulled out of
 * argv first and handed to sl_config_load() (file section "cluster", then
 * "admin", then the flags), and what is left is the command and its own
 * arguments, parsed by the command's file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "evloop.h"
#include "log.h"
#include "master_client.h"

static const char usage_text[] =
	"usage: shoal-admin [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  volume create NAME SIZE [--replicas N] [--min-replicas N] [--chunk-size S]\n"
	"                [--thin|--thick] [--write-back]\n"
	"  volume list\n"
	"  volume info NAME\n"
	"  volume resize NAME SIZE [--force]\n"
	"  volume delete NAME\n"
	"  chunkserver list\n"
	"  chunkserver status ID|ADDR\n"
	"  chunkserver drain ID\n"
	"  chunkserver remove ID [--force]\n"
	"  chunkserver maintenance ID --for DURATION | --off\n"
	"  cluster status\n"
	"  master status\n"
	"  lun export VOLUME --target IQN [--lun N] [--tid N] [--portal ADDR:PORT]\n"
	"             [--initiator-address ADDR]... [--initiator-name IQN]...\n"
	"             [--chap-user USER --chap-secret SECRET]\n"
	"  lun unexport VOLUME | --target IQN [--lun N]  [--force]\n"
	"  lun list\n"
	"  lun restore\n"
	"\n"
	"global options:\n"
	"  --config FILE        configuration file (default " SL_DEFAULT_CONFIG ")\n"
	"  --masters LIST       master service addresses, comma-separated\n"
	"                       (default: cluster.masters from the file, else 127.0.0.1:7300)\n"
	"  --json               machine-readable output\n"
	"  --timeout-ms N       give up on the masters after N ms (default 10000)\n"
	"  --control-port N     tgtd control port for lun commands (like tgtadm -C)\n"
	"  --conf-dir DIR       targets.conf fragments for lun commands (default " ADMIN_DEFAULT_CONF_DIR ")\n"
	"  -h, --help           this text\n"
	"  --version            print the version\n"
	"\n"
	"exit codes: 0 ok, 1 failed or refused, 2 usage error, 3 no master (or tgtd,\n"
	"or the chunkserver asked) answered in time, 4 not found, 5 already exists\n";

/* Global flags and whether each takes a value. */
static const struct {
	const char *name;
	bool has_arg;
} global_flags[] = {
	{ "--config", true },
	{ "--masters", true },
	{ "--timeout-ms", true },
	{ "--control-port", true },
	{ "--conf-dir", true },
	{ "--json", false },
	{ "--no-json", false },
};

/* 1 + index when arg is a global flag (with "=value" allowed), else 0. */
static int global_flag(const char *arg, bool *inline_value)
{
	for (size_t i = 0; i < sizeof(global_flags) / sizeof(global_flags[0]); i++) {
		size_t n = strlen(global_flags[i].name);

		if (strncmp(arg, global_flags[i].name, n))
			continue;
		if (arg[n] == '\0') {
			*inline_value = false;
			return i + 1;
		}
		if (arg[n] == '=' && global_flags[i].has_arg) {
			*inline_value = true;
			return i + 1;
		}
	}
	return 0;
}

/*
 * Moves the global flags of argv into gargv (after gargv[0]) and the rest
 * into cargv.  Stops moving at "--".  Returns AX_OK or a usage error.
 */
static int split_args(int argc, char **argv, int *gargc, char **gargv, int *cargc, char **cargv,
		      bool *masters_given)
{
	bool rest = false;

	*gargc = 0;
	*cargc = 0;
	gargv[(*gargc)++] = argv[0];
	for (int i = 1; i < argc; i++) {
		bool inl;
		int g = rest ? 0 : global_flag(argv[i], &inl);

		if (!rest && !strcmp(argv[i], "--")) {
			/* the command's getopt sees it too: "volume create v -- -1" */
			rest = true;
			cargv[(*cargc)++] = argv[i];
			continue;
		}
		if (!g) {
			cargv[(*cargc)++] = argv[i];
			continue;
		}
		if (!strncmp(argv[i], "--masters", 9))
			*masters_given = true;
		gargv[(*gargc)++] = argv[i];
		if (global_flags[g - 1].has_arg && !inl) {
			if (i + 1 >= argc)
				return admin_err(AX_USAGE, "option '%s' needs a value", argv[i]);
			gargv[(*gargc)++] = argv[++i];
		}
	}
	gargv[*gargc] = NULL;
	cargv[*cargc] = NULL;
	return AX_OK;
}

static int load_options(struct admin_ctx *ctx, int gargc, char **gargv)
{
	const struct sl_option opts[] = {
		{ "masters", SL_OPT_LIST, &ctx->masters, "master service addresses", 0, 0 },
		{ "timeout_ms", SL_OPT_INT, &ctx->timeout_ms, "give up on the masters after this long",
		  1, 3600000 },
		{ "json", SL_OPT_BOOL, &ctx->json, "machine-readable output", 0, 0 },
		{ "control_port", SL_OPT_INT, &ctx->control_port, "tgtd control port (tgtadm -C)", 0, 65535 },
		{ "conf_dir", SL_OPT_STR, &ctx->conf_dir, "directory for targets.conf fragments", 0, 0 },
		{ NULL, 0, NULL, NULL, 0, 0 },
	};
	char err[512];
	int rc;

	static char default_conf_dir[] = ADMIN_DEFAULT_CONF_DIR;

	/* A static default: sl_config_load puts its own copy on the heap. */
	ctx->conf_dir = default_conf_dir;
	rc = sl_config_load("admin", opts, gargc, gargv, usage_text, &ctx->config_path, err, sizeof(err));
	if (ctx->conf_dir == default_conf_dir)
		ctx->conf_dir = NULL;	/* it failed before copying: nothing to free */
	if (rc < 0)
		return admin_err(AX_USAGE, "%s", err);
	if (ctx->masters.n == 0) {
		ctx->masters.v[0] = strdup("127.0.0.1:7300");
		if (!ctx->masters.v[0])
			return admin_err(AX_FAILED, "out of memory");
		ctx->masters.n = 1;
	}
	return AX_OK;
}

static void ctx_free(struct admin_ctx *ctx)
{
	if (ctx->mc)
		sl_master_client_free(ctx->mc);
	if (ctx->loop)
		sl_loop_free(ctx->loop);
	for (int i = 0; i < ctx->masters.n; i++)
		free(ctx->masters.v[i]);
	free(ctx->conf_dir);
	free(ctx->config_path);
}

int main(int argc, char **argv)
{
	struct admin_ctx ctx = {
		.timeout_ms = ADMIN_DEFAULT_TIMEOUT_MS,
	};
	char **gargv = NULL, **cargv = NULL, **cargv_mem = NULL;
	int gargc, cargc;
	int rc;

	/* The master client logs its retries; the admin tool reports one line itself. */
	sl_log_open("shoal-admin", SL_LOG_ERR, false);
	sl_log_set_level(getenv("SHOAL_ADMIN_DEBUG") ? SL_LOG_DEBUG : SL_LOG_ERR);

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return AX_OK;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("shoal-admin %s\n", SHOAL_VERSION);
			return AX_OK;
		}
	}

	gargv = calloc(argc + 1, sizeof(*gargv));
	cargv = cargv_mem = calloc(argc + 1, sizeof(*cargv));
	if (!gargv || !cargv) {
		rc = admin_err(AX_FAILED, "out of memory");
		goto out;
	}
	rc = split_args(argc, argv, &gargc, gargv, &cargc, cargv, &ctx.masters_from_cli);
	if (rc)
		goto out;
	rc = load_options(&ctx, gargc, gargv);
	if (rc)
		goto out;

	if (cargc > 0 && !strcmp(cargv[0], "--")) {
		cargc--;
		cargv++;
	}
	if (cargc == 0) {
		rc = admin_err(AX_USAGE, "no command given (try 'shoal-admin --help')");
		goto out;
	}
	if (!strcmp(cargv[0], "volume"))
		rc = cmd_volume(&ctx, cargc, cargv);
	else if (!strcmp(cargv[0], "chunkserver"))
		rc = cmd_chunkserver(&ctx, cargc, cargv);
	else if (!strcmp(cargv[0], "cluster"))
		rc = cmd_cluster(&ctx, cargc, cargv);
	else if (!strcmp(cargv[0], "master"))
		rc = cmd_master(&ctx, cargc, cargv);
	else if (!strcmp(cargv[0], "lun"))
		rc = cmd_lun(&ctx, cargc, cargv);
	else
		rc = admin_err(AX_USAGE, "unknown command '%s' (try 'shoal-admin --help')", cargv[0]);
out:
	if (fflush(stdout) && !rc)
		rc = admin_err(AX_FAILED, "cannot write output");
	ctx_free(&ctx);
	free(gargv);
	free(cargv_mem);
	return rc;
}
