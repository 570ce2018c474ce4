/*
 * killpoint.c - deterministic crash points for the crash-safety tests.
 *
 * RX_KILL_AT="rx-push:sent:3" makes rx-push raise SIGKILL the third time
 * it passes the point named "sent".  Several specs may be given,
 * separated by commas.  Programs call rx_killpoint("sent") where a crash
 * would hurt most (mid-transaction, requests in flight, between a write
 * and its commit).  When RX_KILL_AT is unset this costs one branch.
 */
#include "rx.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPECS 8

static struct {
	char point[64];        /* point name */
	unsigned long at;      /* kill on this pass */
	unsigned long passes;  /* passes so far */
} specs[MAX_SPECS];
static int nspecs;
static pthread_once_t parsed = PTHREAD_ONCE_INIT; /* points may be reached from threads */

static void parse(void)
{
	const char *env = getenv("RX_KILL_AT");
	size_t plen = strlen(rx_progname);

	nspecs = 0;
	if (env == NULL)
		return;
	char *copy = rx_xstrdup(env), *save = NULL;
	for (char *s = strtok_r(copy, ",", &save); s && nspecs < MAX_SPECS; s = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(s, ':');
		if (strncmp(s, rx_progname, plen) != 0 || s[plen] != ':' || colon == NULL || colon == s + plen)
			continue;
		*colon = '\0';
		snprintf(specs[nspecs].point, sizeof specs[nspecs].point, "%s", s + plen + 1);
		specs[nspecs].at = strtoul(colon + 1, NULL, 10);
		specs[nspecs].passes = 0;
		nspecs++;
	}
	free(copy);
}

void rx_killpoint(const char *point)
{
	pthread_once(&parsed, parse);
	for (int i = 0; i < nspecs; i++)
		if (strcmp(specs[i].point, point) == 0 && ++specs[i].passes == specs[i].at) {
			/* say so, so a test can tell the crash it asked for from another */
			rx_diag("killed at %s:%lu (RX_KILL_AT)", point, specs[i].at);
			raise(SIGKILL);
		}
}
