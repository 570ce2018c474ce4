/*
 * ratelimit.c - when may the next request start.
 *
 * Three mechanisms, all consulted by rx_push_rate_acquire() before each
 * request (a retry included):
 *
 *  - Pacing windows ("100 per 10 s"): requests are spaced W/N apart (plus
 *    2% of margin for jitter), a generic cell rate algorithm whose only state is
 *    the theoretical arrival time of the next request.  Spacing rather
 *    than bursting keeps every sliding window of length W at N requests
 *    or fewer, which is what a destination that counts a rolling window
 *    checks.
 *  - Quota windows (a window of an hour or more, or "quota": true):
 *    counted in fixed periods aligned to the epoch (a day is a UTC day);
 *    when the count reaches N the quota is exhausted and the caller stops
 *    the run.
 *  - A pause (Retry-After, a reset header) and, when no limit is known,
 *    an adaptive interval: a 429 halves the rate, each success shortens
 *    the interval by 2%, until it vanishes again.
 *
 * With --budget FILE the state (every window, the pause, the exhausted
 * mark) lives in that file, read and written under flock(2) around each
 * decision, so every process naming the file draws on one budget, and a
 * restart remembers the day's count.  Processes sharing a file should
 * name the same windows: a window this process does not have is dropped
 * when it writes the file.
 */
#include "push.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define MAX_WINDOWS 8
#define PACING_MARGIN 1.02

struct push_rate {
	push_window w[MAX_WINDOWS]; /* the windows */
	size_t n;
	double tat[MAX_WINDOWS];    /* pacing: earliest start of the next request */
	double period[MAX_WINDOWS]; /* quota: the period counted */
	double used[MAX_WINDOWS];   /* quota: requests in that period */
	double pause_until;         /* no request before this */
	double exhausted_until;     /* a quota is exhausted until this */
	double adapt_interval;      /* adaptive spacing after 429s, 0 = none */
	double adapt_tat;           /* adaptive: earliest next start */
	double recent[64];          /* start times of recent requests (rate estimate) */
	double last_decrease;       /* when a 429 last lowered the rate */
	size_t nrecent;
	int fd;                     /* budget file, or -1 */
};

double rx_push_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int rx_push_rate_parse(const char *s, push_window *w)
{
	char *end;
	double n = strtod(s, &end), mult = 1, count = 1;

	memset(w, 0, sizeof *w);
	if (end == s || *end != '/' || !(n > 0))
		return -1;
	s = end + 1;
	if (*s >= '0' && *s <= '9') {
		count = strtod(s, &end);
		if (!(count > 0))
			return -1;
		s = end;
	}
	if (strcmp(s, "s") == 0 || strcmp(s, "sec") == 0 || strcmp(s, "") == 0)
		mult = 1;
	else if (strcmp(s, "ms") == 0)
		mult = 0.001;
	else if (strcmp(s, "m") == 0 || strcmp(s, "min") == 0)
		mult = 60;
	else if (strcmp(s, "h") == 0)
		mult = 3600;
	else if (strcmp(s, "d") == 0 || strcmp(s, "day") == 0)
		mult = 86400;
	else
		return -1;
	w->requests = n;
	w->seconds = count * mult;
	w->quota = w->seconds >= 3600;
	return 0;
}

/* ---- the budget file: a few text lines, read and written under a lock ---- */

static void load(push_rate *r)
{
	char text[4096], *save = NULL;
	ssize_t got = pread(r->fd, text, sizeof text - 1, 0);

	if (got <= 0)
		return;
	text[got] = '\0';
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		double a, b, c, d, e;
		if (sscanf(line, "pause %lf", &a) == 1) {
			r->pause_until = a;
		} else if (sscanf(line, "exhausted %lf", &a) == 1) {
			r->exhausted_until = a;
		} else if (sscanf(line, "window %lf/%lf %lf %lf %lf", &a, &b, &c, &d, &e) == 5) {
			for (size_t i = 0; i < r->n; i++) {
				if (r->w[i].requests == a && r->w[i].seconds == b) {
					r->tat[i] = c;
					r->period[i] = d;
					r->used[i] = e;
				}
			}
		}
	}
}

static void save(push_rate *r)
{
	rx_buf b = {0};

	rx_buf_puts(&b, "# rx-push rate budget: shared by every rx-push naming this file\n");
	rx_buf_printf(&b, "pause %.3f\nexhausted %.3f\n", r->pause_until, r->exhausted_until);
	for (size_t i = 0; i < r->n; i++)
		rx_buf_printf(&b, "window %.17g/%.17g %.6f %.0f %.0f\n", r->w[i].requests, r->w[i].seconds, r->tat[i],
			      r->period[i], r->used[i]);
	if (pwrite(r->fd, b.data, b.len, 0) == (ssize_t)b.len)
		(void)!ftruncate(r->fd, (off_t)b.len);
	rx_buf_free(&b);
}

static void lock(push_rate *r)
{
	if (r->fd < 0)
		return;
	while (flock(r->fd, LOCK_EX) < 0 && errno == EINTR)
		;
	load(r);
}

static void unlock(push_rate *r, int changed)
{
	if (r->fd < 0)
		return;
	if (changed)
		save(r);
	flock(r->fd, LOCK_UN);
}

push_rate *rx_push_rate_open(const push_window *w, size_t n, const char *budget_file, char *err, size_t errlen)
{
	push_rate *r = calloc(1, sizeof *r);

	if (r == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	if (n > MAX_WINDOWS)
		n = MAX_WINDOWS;
	memcpy(r->w, w, n * sizeof *w);
	r->n = n;
	r->fd = -1;
	if (budget_file != NULL) {
		r->fd = open(budget_file, O_RDWR | O_CREAT | O_CLOEXEC, 0600); /* like the state: the sync's own */
		if (r->fd < 0) {
			snprintf(err, errlen, "cannot open budget file '%s': %s", budget_file, strerror(errno));
			free(r);
			return NULL;
		}
	}
	return r;
}

double rx_push_rate_acquire(push_rate *r, double now)
{
	double wait = 0;

	lock(r);
	if (r->exhausted_until > now) {
		unlock(r, 0);
		return -1;
	}
	if (r->pause_until > now)
		wait = r->pause_until - now;
	if (r->adapt_interval > 0 && r->adapt_tat - now > wait)
		wait = r->adapt_tat - now;
	for (size_t i = 0; i < r->n; i++) {
		if (r->w[i].quota) {
			double period = floor(now / r->w[i].seconds);
			if (period != r->period[i]) {
				r->period[i] = period;
				r->used[i] = 0;
			}
			if (r->used[i] >= r->w[i].requests) {
				r->exhausted_until = (period + 1) * r->w[i].seconds;
				unlock(r, 1);
				return -1;
			}
		} else if (r->tat[i] - now > wait) {
			wait = r->tat[i] - now;
		}
	}
	if (wait > 0) {
		unlock(r, 0);
		return wait;
	}
	for (size_t i = 0; i < r->n; i++) {
		if (r->w[i].quota) {
			r->used[i]++;
		} else {
			/* a start a little late (the poll's granularity) does not
			 * push the schedule back: up to the slack is caught up, and
			 * N+1 starts still span at least W * 1.02 - slack > W */
			double t = r->w[i].seconds / r->w[i].requests * PACING_MARGIN;
			double slack = t / 2 < r->w[i].seconds * 0.01 ? t / 2 : r->w[i].seconds * 0.01;
			r->tat[i] = (r->tat[i] > now - slack ? r->tat[i] : now - slack) + t;
		}
	}
	if (r->adapt_interval > 0)
		r->adapt_tat = (r->adapt_tat > now ? r->adapt_tat : now) + r->adapt_interval;
	r->recent[r->nrecent++ % 64] = now;
	unlock(r, 1);
	return 0;
}

void rx_push_rate_pause(push_rate *r, double until)
{
	lock(r);
	if (until > r->pause_until)
		r->pause_until = until;
	unlock(r, 1);
}

void rx_push_rate_exhaust(push_rate *r, double until)
{
	double now = rx_push_now();

	lock(r);
	if (until <= now) {
		for (size_t i = 0; i < r->n; i++)
			if (r->w[i].quota && (r->period[i] + 1) * r->w[i].seconds > until)
				until = (floor(now / r->w[i].seconds) + 1) * r->w[i].seconds;
	}
	if (until > r->exhausted_until)
		r->exhausted_until = until;
	unlock(r, 1);
}

void rx_push_rate_throttled(push_rate *r, double now)
{
	/* one decrease per congestion event: the 429s of requests already in
	 * flight when the first came back say nothing new */
	if (now - r->last_decrease < 1 || now - r->last_decrease < r->adapt_interval * 4)
		return;
	r->last_decrease = now;
	size_t n = r->nrecent < 64 ? r->nrecent : 64;
	double oldest = now;

	for (size_t i = 0; i < n; i++)
		if (r->recent[i] < oldest && now - r->recent[i] < 5)
			oldest = r->recent[i];
	size_t count = 0;
	for (size_t i = 0; i < n; i++)
		if (r->recent[i] >= oldest)
			count++;
	double span = now - oldest > 0.25 ? now - oldest : 0.25;
	double rate = (double)(count ? count : 1) / span;
	double interval = 2.0 / rate; /* half the rate seen */
	if (r->adapt_interval * 2 > interval)
		interval = r->adapt_interval * 2;
	if (interval > 60)
		interval = 60;
	r->adapt_interval = interval;
}

void rx_push_rate_succeeded(push_rate *r)
{
	if (r->adapt_interval > 0) {
		r->adapt_interval *= 0.95;
		if (r->adapt_interval < 0.0005)
			r->adapt_interval = 0;
	}
}

void rx_push_rate_close(push_rate *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}
