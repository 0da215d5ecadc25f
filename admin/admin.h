/*
 * shoal-admin: one context, the exit codes every command keeps, and the
 * helpers the command files share.
 *
 * Exit codes (documented in shoal-admin(8); scripts depend on them):
 *   0  success
 *   1  the operation failed or the cluster (or tgtd) refused it
 *   2  usage error: unknown command or option, bad argument value
 *   3  no master answered within --timeout-ms (or tgtd is not running, or
 *      the chunkserver that chunkserver status asks did not answer)
 *   4  the named volume, chunkserver, target or LUN does not exist
 *   5  the name or number is already taken
 *
 * Every error is printed as exactly one line on stderr, starting with
 * "shoal-admin: ", and names what was wrong.
 */
#ifndef SHOAL_ADMIN_H
#define SHOAL_ADMIN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <protobuf-c/protobuf-c.h>
#include "master_client.h"	/* and, through it, lib/config.h */

enum admin_exit {
	AX_OK = 0,
	AX_FAILED = 1,
	AX_USAGE = 2,
	AX_UNREACHABLE = 3,
	AX_NOTFOUND = 4,
	AX_EXISTS = 5,
};

#define ADMIN_DEFAULT_TIMEOUT_MS 10000
#define ADMIN_DEFAULT_CONF_DIR "/etc/tgt/conf.d"

struct sl_loop;
struct sl_master_client;

struct admin_ctx {
	/* options (file section "cluster", then "admin", then command line) */
	struct sl_str_list masters;
	int64_t timeout_ms;
	bool json;
	int64_t control_port;		/* tgtd control port; 0: tgtd's default */
	char *conf_dir;			/* where lun export writes targets.conf fragments */
	char *config_path;		/* the config file that was loaded, if any */
	bool masters_from_cli;

	/* the master link, made on first use */
	struct sl_loop *loop;
	struct sl_master_client *mc;
};

/* One line on stderr: "shoal-admin: <fmt>\n". Returns code. */
int admin_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * One master call within the context's timeout.  On SL_OK returns AX_OK and
 * *reply (if non-NULL) holds the reply, freed with sl_msg_free().  Otherwise
 * *status gets the master's status (or SL_E_TIMEDOUT) and the caller turns
 * it into words with admin_status_err(), which knows the unreachable case.
 */
int admin_call(struct admin_ctx *ctx, uint16_t type, const ProtobufCMessage *msg,
	       ProtobufCMessage **reply, int *status);
/* Fill a DedupId for a mutating request (connects first if needed). */
int admin_dedup(struct admin_ctx *ctx, void *dedup);
/*
 * Prints the one-line error for a failed master call and returns the exit
 * code.  what names the object ("volume 'x'", "chunkserver 3").
 */
int admin_status_err(struct admin_ctx *ctx, int status, const char *what);

/* Argument parsing helpers: each prints the one-line error itself. */
int admin_parse_size(const char *arg, const char *what, uint64_t *out);
int admin_parse_uint(const char *arg, const char *what, uint64_t min, uint64_t max, uint64_t *out);
/* A duration: N with s (the default), m, h or d; in ms, from 1 s to max_ms. */
int admin_parse_duration(const char *arg, const char *what, uint64_t max_ms, uint64_t *out_ms);
bool admin_valid_name(const char *name);
/*
 * getopt_long over argv (argv[0] is the subcommand word; set optind = 0
 * before the first call).  Returns the option's val, -1 at the end, or -2
 * after printing the one-line usage error.
 */
struct option;
int admin_getopt(int argc, char **argv, const struct option *lo, const char *cmd);
/* Exactly want positional arguments left at optind; names says which (for the error). */
int admin_nargs(int argc, char **argv, int want, const char *cmd, const char *names);

/* Output helpers (output.c). */
void fmt_size(char *buf, size_t len, uint64_t bytes);	/* "64M", "1.5G", "512" */
void fmt_uuid(char *buf, size_t len, const uint8_t *b, size_t n);
/* --json: a chunkserver's disks as an array (json_out.h) */
struct json_object *disks_json(Shoal__DiskStatus *const *disks, size_t n);

/* Command groups; argv[0] is the group name. */
int cmd_volume(struct admin_ctx *ctx, int argc, char **argv);
int cmd_chunkserver(struct admin_ctx *ctx, int argc, char **argv);
/* chunkserver status ID|ADDR (argv[0] is "status"); cmd_chunkserver_status.c */
int cmd_chunkserver_status(struct admin_ctx *ctx, int argc, char **argv);
int cmd_cluster(struct admin_ctx *ctx, int argc, char **argv);
int cmd_master(struct admin_ctx *ctx, int argc, char **argv);
int cmd_lun(struct admin_ctx *ctx, int argc, char **argv);

#endif
