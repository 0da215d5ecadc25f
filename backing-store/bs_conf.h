/*
 * The module's options: the "cluster" and "gateway" sections of
 * shoal.conf, overridden by --bsopts.  bsopts is ';'-separated (tgtd
 * splits its own parameter string on ',', so a comma would cut it):
 *
 *   conf=/etc/shoal/shoal.conf;masters=10.0.0.1:7300;masters=10.0.0.2:7300;deadline_ms=30000
 *
 * Each key=value becomes the long flag --key=value of the option table
 * (conf= is --config=), so the file and bsopts share one parser and one
 * set of error messages.
 */
#ifndef SHOAL_BS_CONF_H
#define SHOAL_BS_CONF_H

#include <stddef.h>
#include <stdint.h>
#include "../lib/config.h"

#define BS_CONF_MAX_ARGS	32

struct bs_conf {
	char volume[256];		/* the --backing-store path */
	struct sl_str_list masters;
	int64_t deadline_ms;
	int64_t rpc_timeout_ms;
	char *log_level;
	char *config_path;		/* file actually read, or NULL */
};

/* 0, or -1 with one line in err.  conf must be freed with bs_conf_free(). */
int bs_conf_load(struct bs_conf *conf, const char *bsopts, char *err, size_t errlen);
void bs_conf_free(struct bs_conf *conf);

#endif
