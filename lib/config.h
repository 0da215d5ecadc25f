/*
 * Options from one libconfig file and the command line, from one table.
 *
 * Every option is a key in the role's section of the file (for the master:
 * `master: { listen = "127.0.0.1:7300"; }`) and a long flag of the same
 * name with '_' written as '-' (`--listen`).  Precedence: built-in default
 * (the value already in *dest), then the file, then the command line.
 * `--config FILE` names the file (default SL_DEFAULT_CONFIG; a missing
 * default file is not an error, a missing named one is).  A section named
 * "cluster" is read first by every role for shared keys (e.g. masters).
 * `--help` prints the table and exits 0; an unknown flag, a bad value or a
 * value out of range is one line naming the option, and the daemon exits 2.
 */
#ifndef SHOAL_CONFIG_H
#define SHOAL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SL_DEFAULT_CONFIG "/etc/shoal/shoal.conf"
#define SL_CONFIG_MAX_LIST 64

enum sl_opt_type {
	SL_OPT_STR,	/* char **dest; strdup'd */
	SL_OPT_INT,	/* int64_t *dest; min..max */
	SL_OPT_BOOL,	/* bool *dest; flag takes no value, --no-NAME clears */
	SL_OPT_SIZE,	/* uint64_t *dest; "64M", "1G", "4096"; K/M/G/T are powers of 1024 */
	SL_OPT_LIST,	/* struct sl_str_list *dest; file: list of strings; flag: repeatable, or comma-separated */
};

struct sl_str_list {
	int n;
	char *v[SL_CONFIG_MAX_LIST];
};

struct sl_option {
	const char *name;	/* "data_dirs" -> key data_dirs, flag --data-dirs */
	enum sl_opt_type type;
	void *dest;
	const char *help;	/* one line; the default is appended by --help */
	int64_t min, max;	/* SL_OPT_INT and SL_OPT_SIZE; both 0: no bound */
};

/*
 * Loads section `role` of the config file and applies argv on top.  On error
 * writes one line into err and returns -1; returns 1 after printing --help
 * (the caller exits 0); 0 otherwise.  Positional arguments are an error.
 * The loaded file's path is stored into *config_path when non-NULL.
 */
int sl_config_load(const char *role, const struct sl_option *opts, int argc, char **argv,
		   const char *usage, char **config_path, char *err, size_t errlen);
void sl_config_free(const struct sl_option *opts);

/*
 * A failure-domain label (a chunkserver's host or rack): NULL or empty
 * (unlabelled), or 1 to SL_LABEL_MAX characters of A-Z a-z 0-9 . _ -.  Whatever reaches
 * a listing or JSON output stays readable; a chunkserver refuses another
 * at start, the master at registration.
 */
#define SL_LABEL_MAX	63
bool sl_label_valid(const char *s);

/* "64M" -> 67108864.  0 or -1 on a bad size (no number, unknown suffix, overflow). */
int sl_parse_size(const char *s, uint64_t *out);

#endif
