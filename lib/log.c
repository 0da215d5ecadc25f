/*
 * The process-wide logger (see log.h): one ident, one level, one sink.
 *
 * Each stderr line is written with a single write(2) so that lines from
 * several threads (the gateway module's I/O thread and tgtd's) never
 * interleave mid-line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

static struct {
	char ident[32];
	enum sl_log_level level;
	bool use_syslog;
} sl_logger = { "shoal", SL_LOG_INFO, false };

static const char *const level_names[] = {
	[SL_LOG_ERR] = "ERROR",
	[SL_LOG_WARN] = "WARN",
	[SL_LOG_INFO] = "INFO",
	[SL_LOG_DEBUG] = "DEBUG",
};

static const int level_prio[] = {
	[SL_LOG_ERR] = LOG_ERR,
	[SL_LOG_WARN] = LOG_WARNING,
	[SL_LOG_INFO] = LOG_INFO,
	[SL_LOG_DEBUG] = LOG_DEBUG,
};

void sl_log_open(const char *ident, enum sl_log_level level, bool use_syslog)
{
	snprintf(sl_logger.ident, sizeof(sl_logger.ident), "%s", ident ? ident : "shoal");
	sl_logger.level = level;
	sl_logger.use_syslog = use_syslog;
	if (use_syslog)
		openlog(sl_logger.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void sl_log_set_level(enum sl_log_level level)
{
	sl_logger.level = level;
}

bool sl_log_enabled(enum sl_log_level level)
{
	return level <= sl_logger.level;
}

int sl_log_level_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcmp(name, "error") || !strcmp(name, "err"))
		return SL_LOG_ERR;
	if (!strcmp(name, "warn") || !strcmp(name, "warning"))
		return SL_LOG_WARN;
	if (!strcmp(name, "info"))
		return SL_LOG_INFO;
	if (!strcmp(name, "debug"))
		return SL_LOG_DEBUG;
	return -1;
}

void sl_log(enum sl_log_level level, const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int r, saved_errno = errno;

	if (!sl_log_enabled(level))
		return;
	if ((unsigned int)level > SL_LOG_DEBUG)
		level = SL_LOG_DEBUG;

	if (sl_logger.use_syslog) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		syslog(level_prio[level], "%s", line);
		errno = saved_errno;
		return;
	}

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ld %s[%d] %s: ",
		     ts.tv_nsec / 1000000, sl_logger.ident, (int)getpid(), level_names[level]);
	if (r > 0)
		n += (size_t)r;
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (r > 0)
			n += (size_t)r;
	}
	/* Truncated lines still end in a newline. */
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report it. */
	}
	errno = saved_errno;
}
