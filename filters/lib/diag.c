/*
 * diag.c - diagnostics, process set-up and command-line helpers.
 *
 * Every human message is one line on stderr that starts with the
 * program's name and a colon, so `grep '^{'` separates dead letters from
 * diagnostics.  Number parsing is strict: the whole argument must be a
 * number in range, or it is a usage error (exit 2).
 */
#include "rx.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char *rx_progname = "rx";

void rx_init(const char *progname)
{
	rx_progname = progname;
	signal(SIGPIPE, SIG_DFL);
}

static void vdiag(const char *prefix, const char *fmt, va_list ap)
{
	char msg[4096];
	int n;

	n = snprintf(msg, sizeof msg, "%s: %s", rx_progname, prefix ? prefix : "");
	if (n < 0 || (size_t)n >= sizeof msg)
		n = 0;
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	rx_scrub_string(msg); /* a server's message may quote a secret back */
	/* one fputs of a whole line: lines from concurrent writers don't mix */
	size_t len = strlen(msg);
	if (len + 1 >= sizeof msg)
		len = sizeof msg - 2;
	msg[len] = '\n';
	msg[len + 1] = '\0';
	fputs(msg, stderr);
}

void rx_diag(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(NULL, fmt, ap);
	va_end(ap);
}

void rx_diag_at(const char *file, unsigned long long line, const char *fmt, ...)
{
	char prefix[1024];
	va_list ap;

	if (file == NULL || strcmp(file, "<stdin>") == 0)
		snprintf(prefix, sizeof prefix, "line %llu: ", line);
	else
		snprintf(prefix, sizeof prefix, "%s: line %llu: ", file, line);
	va_start(ap, fmt);
	vdiag(prefix, fmt, ap);
	va_end(ap);
}

void rx_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(NULL, fmt, ap);
	va_end(ap);
	exit(status);
}

void rx_usage_hint(void)
{
	fprintf(stderr, "Try '%s --help'.\n", rx_progname);
	exit(RX_EXIT_USAGE);
}

void rx_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(NULL, fmt, ap);
	va_end(ap);
	rx_usage_hint();
}

void rx_print_version(const char *extra)
{
	printf("%s (rx) %s%s%s\n", rx_progname, RX_VERSION, extra ? " " : "", extra ? extra : "");
	if (fflush(stdout) != 0 || ferror(stdout))
		exit(RX_EXIT_IOERR);
	exit(RX_EXIT_OK);
}

long long rx_parse_number(const char *option, const char *arg, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0')
		rx_usage_error("%s: '%s' is not a whole number", option, arg);
	if (v < min || v > max)
		rx_usage_error("%s: %lld is out of range (%lld to %lld)", option, v, min, max);
	return v;
}

size_t rx_parse_size(const char *option, const char *arg)
{
	char *end;
	unsigned long long v, mult = 1;

	errno = 0;
	if (arg[0] == '-')
		rx_usage_error("%s: '%s' is not a size", option, arg);
	v = strtoull(arg, &end, 10);
	if (errno != 0 || end == arg)
		rx_usage_error("%s: '%s' is not a size", option, arg);
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K': mult = 1ULL << 10; end++; break;
	case 'm': case 'M': mult = 1ULL << 20; end++; break;
	case 'g': case 'G': mult = 1ULL << 30; end++; break;
	default:
		rx_usage_error("%s: '%s' is not a size (a number, optionally K, M or G)", option, arg);
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end != '\0' || v == 0 || v > SIZE_MAX / mult)
		rx_usage_error("%s: '%s' is not a size (a number, optionally K, M or G)", option, arg);
	return (size_t)(v * mult);
}

const char *rx_input_name(const char *path)
{
	if (path == NULL || strcmp(path, "-") == 0)
		return "<stdin>";
	return path;
}

const char *rx_one_line(const char *msg, char *out, size_t outlen)
{
	size_t n = 0;
	int space = 0;

	for (const char *p = msg; *p && n + 1 < outlen; p++) {
		if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
			space = n > 0;
			continue;
		}
		if (space && n + 2 < outlen)
			out[n++] = ' ';
		space = 0;
		out[n++] = *p;
	}
	out[n] = '\0';
	return out;
}

#ifndef RX_SHARE_DEFAULT
#define RX_SHARE_DEFAULT "/usr/local/share/rx"
#endif

const char *rx_share_dir(void)
{
	static char found[4096];
	const char *env = getenv("RX_SHARE");
	char exe[4096];
	ssize_t n;

	if (env != NULL && *env != '\0')
		return env;
	if (found[0] != '\0')
		return found;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(found, sizeof found, "%.4000s/../share/rx", exe);
			if (access(found, R_OK | X_OK) == 0)
				return found;
		}
	}
	snprintf(found, sizeof found, "%s", RX_SHARE_DEFAULT);
	return found;
}

void rx_iso_time(char out[32])
{
	struct timeval tv;
	struct tm tm;
	char date[24];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03uZ", date, (unsigned)(tv.tv_usec / 1000) % 1000u);
}

int rx_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
