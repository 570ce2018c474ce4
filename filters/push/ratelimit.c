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
 *
 * With --budget redis://HOST:PORT/NAME the same state lives in one hash
 * of a Redis server ("rx:budget:NAME"), and every decision is one Lua
 * script (BUDGET_SCRIPT below) run atomically by the server on the
 * server's clock, so rx-push processes on several hosts draw on one
 * budget and their clocks need not agree.  The script is this file's
 * logic again, line for line: pacing by theoretical arrival times,
 * quotas per period, the pause and the exhausted mark.  A server that
 * cannot be reached (at start, or later after one reconnection) is never
 * taken for "no limit": acquire answers -1 and rx_push_rate_error() says
 * why, and rx-push stops with the records unacked (exit 75).
 */
#include "push.h"
#include "redis.h"

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
	redisContext *redis;        /* a budget in Redis, or NULL */
	rx_redis_target target;     /* where */
	char key[300];              /* its hash: rx:budget:NAME */
	char sha[48];               /* the script's SHA1 once loaded */
	char error[2048];           /* why the Redis budget failed, or "" */
};

/* The Redis budget's script.  KEYS[1]: the budget's hash.  ARGV[1]:
 * "acquire", "pause" or "exhaust"; ARGV[2]: a wait in seconds (pause,
 * exhaust: 0 for "its window's end"); then three values per window:
 * requests, seconds, 1 for a quota.  Answers "ok", "wait SECONDS" or
 * "exhausted".  The hash expires after twice the longest window. */
static const char BUDGET_SCRIPT[] =
	"local key, op, arg = KEYS[1], ARGV[1], tonumber(ARGV[2])\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"
	"local windows, longest = {}, 60\n"
	"for i = 3, #ARGV, 3 do\n"
	"  local w = {requests = tonumber(ARGV[i]), seconds = tonumber(ARGV[i + 1]), quota = ARGV[i + 2] == '1',\n"
	"             id = ARGV[i] .. '/' .. ARGV[i + 1]}\n"
	"  windows[#windows + 1] = w\n"
	"  if w.seconds > longest then longest = w.seconds end\n"
	"end\n"
	"local function num(field) return tonumber(redis.call('HGET', key, field) or '0') or 0 end\n"
	"local function keep() redis.call('PEXPIRE', key, math.ceil((longest * 2 + 60) * 1000)) end\n"
	"if op == 'pause' then\n"
	"  if now + arg > num('pause') then redis.call('HSET', key, 'pause', string.format('%.6f', now + arg)); keep() end\n"
	"  return 'ok'\n"
	"end\n"
	"if op == 'exhaust' then\n"
	"  local till = now + arg\n"
	"  if arg <= 0 then\n"
	"    for _, w in ipairs(windows) do\n"
	"      local e = (math.floor(now / w.seconds) + 1) * w.seconds\n"
	"      if w.quota and e > till then till = e end\n"
	"    end\n"
	"  end\n"
	"  if till > num('exhausted') then redis.call('HSET', key, 'exhausted', string.format('%.6f', till)); keep() end\n"
	"  return 'ok'\n"
	"end\n"
	"if num('exhausted') > now then return 'exhausted' end\n"
	"local wait = 0\n"
	"if num('pause') - now > wait then wait = num('pause') - now end\n"
	"for _, w in ipairs(windows) do\n"
	"  if w.quota then\n"
	"    local period = math.floor(now / w.seconds)\n"
	"    if num(w.id .. ' period') ~= period then\n"
	"      redis.call('HSET', key, w.id .. ' period', string.format('%d', period), w.id .. ' used', '0')\n"
	"    end\n"
	"    if num(w.id .. ' used') >= w.requests then\n"
	"      redis.call('HSET', key, 'exhausted', string.format('%.6f', (period + 1) * w.seconds)); keep()\n"
	"      return 'exhausted'\n"
	"    end\n"
	"  elseif num(w.id .. ' tat') - now > wait then\n"
	"    wait = num(w.id .. ' tat') - now\n"
	"  end\n"
	"end\n"
	"if wait > 0 then return string.format('wait %.6f', wait) end\n"
	"for _, w in ipairs(windows) do\n"
	"  if w.quota then\n"
	"    redis.call('HINCRBY', key, w.id .. ' used', 1)\n"
	"  else\n"
	"    local step = w.seconds / w.requests * 1.02\n"
	"    local slack = math.min(step / 2, w.seconds * 0.01)\n"
	"    redis.call('HSET', key, w.id .. ' tat', string.format('%.6f', math.max(num(w.id .. ' tat'), now - slack) + step))\n"
	"  end\n"
	"end\n"
	"keep()\n"
	"return 'ok'\n";

#define BUDGET_TIMEOUT 5.0 /* seconds: connecting to the budget's server, and each reply */

static int is_redis_url(const char *s)
{
	return strncmp(s, "redis://", 8) == 0 || strncmp(s, "rediss://", 9) == 0 || strncmp(s, "unix://", 7) == 0;
}

/* Run the script once: its answer into out.  0, or -1 (r->error set). */
static int budget_call(push_rate *r, const char *op, double arg, char *out, size_t outlen)
{
	char args[MAX_WINDOWS * 3 + 2][40];
	const char *argv[MAX_WINDOWS * 3 + 7];
	int argc = 0;

	argv[argc++] = "EVALSHA";
	argv[argc++] = r->sha;
	argv[argc++] = "1";
	argv[argc++] = r->key;
	argv[argc++] = op;
	snprintf(args[0], sizeof args[0], "%.6f", arg);
	argv[argc++] = args[0];
	for (size_t i = 0; i < r->n; i++) {
		snprintf(args[1 + i * 3], sizeof args[0], "%.17g", r->w[i].requests);
		snprintf(args[2 + i * 3], sizeof args[0], "%.17g", r->w[i].seconds);
		snprintf(args[3 + i * 3], sizeof args[0], "%d", r->w[i].quota);
		argv[argc++] = args[1 + i * 3];
		argv[argc++] = args[2 + i * 3];
		argv[argc++] = args[3 + i * 3];
	}
	int reloaded = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		char err[512] = "";
		if (r->redis == NULL || r->redis->err) {
			if (r->redis != NULL) {
				redisFree(r->redis);
				r->redis = NULL;
			}
			r->redis = rx_redis_connect(&r->target, BUDGET_TIMEOUT, err, sizeof err);
			if (r->redis == NULL) {
				snprintf(r->error, sizeof r->error, "the rate budget is unreachable: %s", err);
				return -1;
			}
		}
		redisReply *rep = redisCommandArgv(r->redis, argc, argv, NULL);
		if (rep == NULL) {
			snprintf(r->error, sizeof r->error, "the rate budget is unreachable: Redis %s: %s",
				 r->target.shown, r->redis->errstr);
			continue; /* once more, on a new connection */
		}
		if (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 && !reloaded) {
			/* a server restarted or flushed: load the script again, once */
			freeReplyObject(rep);
			rep = redisCommand(r->redis, "SCRIPT LOAD %s", BUDGET_SCRIPT);
			if (rep != NULL && rep->type == REDIS_REPLY_STRING)
				snprintf(r->sha, sizeof r->sha, "%s", rep->str);
			freeReplyObject(rep);
			reloaded = 1;
			attempt--;
			continue;
		}
		if (rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_STATUS) {
			snprintf(r->error, sizeof r->error, "the rate budget at Redis %s failed: %s", r->target.shown,
				 rep->type == REDIS_REPLY_ERROR ? rep->str : "an unexpected reply");
			freeReplyObject(rep);
			return -1;
		}
		snprintf(out, outlen, "%s", rep->str);
		freeReplyObject(rep);
		r->error[0] = '\0';
		return 0;
	}
	if (r->error[0] == '\0')
		snprintf(r->error, sizeof r->error, "the rate budget at Redis %s failed", r->target.shown);
	return -1;
}

static int budget_open(push_rate *r, const char *url, char *err, size_t errlen)
{
	char e[512];

	if (rx_redis_parse(url, 0, &r->target, err, errlen) < 0)
		return -1;
	if (r->target.name[0] == '\0') {
		snprintf(err, errlen, "--budget %s: name the budget (redis://HOST:PORT/NAME, unix:///PATH?name=NAME)",
			 r->target.shown);
		return -1;
	}
	snprintf(r->key, sizeof r->key, "rx:budget:%s", r->target.name);
	r->redis = rx_redis_connect(&r->target, BUDGET_TIMEOUT, e, sizeof e);
	if (r->redis == NULL) {
		snprintf(err, errlen, "--budget: %s", e);
		return -1;
	}
	redisReply *rep = redisCommand(r->redis, "SCRIPT LOAD %s", BUDGET_SCRIPT);
	if (rep == NULL || rep->type != REDIS_REPLY_STRING) {
		snprintf(err, errlen, "--budget: Redis %s: cannot load the budget's script: %s", r->target.shown,
			 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : r->redis->errstr);
		freeReplyObject(rep);
		return -1;
	}
	snprintf(r->sha, sizeof r->sha, "%s", rep->str);
	freeReplyObject(rep);
	return 0;
}

const char *rx_push_rate_error(const push_rate *r)
{
	return r->error[0] ? r->error : NULL;
}

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
	if (budget_file != NULL && is_redis_url(budget_file)) {
		if (budget_open(r, budget_file, err, errlen) < 0) {
			rx_push_rate_close(r);
			return NULL;
		}
	} else if (budget_file != NULL) {
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

	if (r->redis != NULL || r->error[0]) {
		char answer[64];
		if (r->error[0] || budget_call(r, "acquire", 0, answer, sizeof answer) < 0)
			return -1; /* never "no limit" */
		if (strncmp(answer, "wait ", 5) == 0) {
			wait = strtod(answer + 5, NULL);
			return wait > 0 ? wait : 0.001;
		}
		if (strcmp(answer, "ok") != 0)
			return -1;
		if (r->adapt_interval > 0) {
			if (r->adapt_tat - now > 0)
				return r->adapt_tat - now; /* (the slot drawn is given up: a little unused budget) */
			r->adapt_tat = now + r->adapt_interval;
		}
		r->recent[r->nrecent++ % 64] = now;
		return 0;
	}
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
	if (r->redis != NULL || r->error[0]) {
		char answer[64];
		if (!r->error[0])
			budget_call(r, "pause", until - rx_push_now(), answer, sizeof answer);
		return; /* a failure: the next acquire says so */
	}
	lock(r);
	if (until > r->pause_until)
		r->pause_until = until;
	unlock(r, 1);
}

void rx_push_rate_exhaust(push_rate *r, double until)
{
	double now = rx_push_now();

	if (r->redis != NULL || r->error[0]) {
		char answer[64];
		if (!r->error[0])
			budget_call(r, "exhaust", until > now ? until - now : 0, answer, sizeof answer);
		return;
	}
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
	if (r->redis != NULL)
		redisFree(r->redis);
	free(r);
}
