/* The module's options from shoal.conf and --bsopts (see bs_conf.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bs_conf.h"

static struct sl_option *conf_table(struct bs_conf *c, struct sl_option *t)
{
	struct sl_option opts[] = {
		{ "masters", SL_OPT_LIST, &c->masters, "master service addresses (host:port)", 0, 0 },
		{ "deadline_ms", SL_OPT_INT, &c->deadline_ms,
		  "every SCSI command is answered within this many ms plus its fence", 100, 60000 },
		{ "rpc_timeout_ms", SL_OPT_INT, &c->rpc_timeout_ms,
		  "one RPC to a chunkserver", 50, 600000 },
		{ "log_level", SL_OPT_STR, &c->log_level, "error, warn, info or debug", 0, 0 },
		{ NULL, 0, NULL, NULL, 0, 0 },
	};

	memcpy(t, opts, sizeof(opts));
	return t;
}

int bs_conf_load(struct bs_conf *c, const char *bsopts, char *err, size_t errlen)
{
	struct sl_option table[5];
	char *copy = NULL, *save = NULL, *tok;
	char *argv[BS_CONF_MAX_ARGS + 2];
	int argc = 0, rc = -1, i;

	memset(&c->masters, 0, sizeof(c->masters));
	c->deadline_ms = 15000;
	c->rpc_timeout_ms = 5000;
	c->log_level = NULL;
	c->config_path = NULL;
	argv[argc++] = strdup("bs_shoal");
	if (bsopts && *bsopts) {
		copy = strdup(bsopts);
		if (!copy)
			goto nomem;
		for (tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
			char *eq = strchr(tok, '=');
			char *arg, *p;

			while (*tok == ' ')
				tok++;
			if (!*tok)
				continue;
			if (argc >= BS_CONF_MAX_ARGS) {
				snprintf(err, errlen, "bsopts: more than %d options", BS_CONF_MAX_ARGS);
				goto out;
			}
			if (!eq || eq == tok) {
				snprintf(err, errlen, "bsopts: '%s' is not key=value", tok);
				goto out;
			}
			*eq = '\0';
			if (asprintf(&arg, "--%s=%s", strcmp(tok, "conf") ? tok : "config", eq + 1) < 0)
				goto nomem;
			/* key: '_' or '-' alike, as on the command line */
			for (p = arg + 2; *p && *p != '='; p++)
				if (*p == '_')
					*p = '-';
			argv[argc++] = arg;
		}
	}
	argv[argc] = NULL;
	if (sl_config_load("gateway", conf_table(c, table), argc, argv, NULL,
			   &c->config_path, err, errlen) != 0) {
		if (!err[0])
			snprintf(err, errlen, "bsopts: bad options");
		goto out;
	}
	if (c->masters.n == 0) {
		snprintf(err, errlen, "no masters: set cluster.masters in %s or masters= in bsopts",
			 c->config_path ? c->config_path : SL_DEFAULT_CONFIG);
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(copy);
	return rc;
}

void bs_conf_free(struct bs_conf *c)
{
	int i;

	for (i = 0; i < c->masters.n; i++)
		free(c->masters.v[i]);
	c->masters.n = 0;
	free(c->log_level);
	c->log_level = NULL;
	free(c->config_path);
	c->config_path = NULL;
}
