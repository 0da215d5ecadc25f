/*
 * Logging with levels, to stderr or syslog.
 *
 * The logger is the one piece of process-wide state in libshoal: a daemon
 * opens it once in main().  All names carry the sl_ prefix because the
 * gateway module lives inside tgtd, which exports log_error() and friends
 * and would otherwise interpose on ours.
 */
#ifndef SHOAL_LOG_H
#define SHOAL_LOG_H

#include <stdbool.h>

enum sl_log_level {
	SL_LOG_ERR,
	SL_LOG_WARN,
	SL_LOG_INFO,
	SL_LOG_DEBUG,
};

/* ident prefixes every line; use_syslog sends lines to syslog(3) instead of stderr. */
void sl_log_open(const char *ident, enum sl_log_level level, bool use_syslog);
void sl_log_set_level(enum sl_log_level level);
bool sl_log_enabled(enum sl_log_level level);
/* "error", "warn", "info", "debug" -> level; -1 when the name is unknown. */
int sl_log_level_parse(const char *name);
void sl_log(enum sl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sl_err(...)	sl_log(SL_LOG_ERR, __VA_ARGS__)
#define sl_warn(...)	sl_log(SL_LOG_WARN, __VA_ARGS__)
#define sl_info(...)	sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_debug(...)	do { if (sl_log_enabled(SL_LOG_DEBUG)) sl_log(SL_LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
