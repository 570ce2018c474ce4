/*
 * identity.c - the destination's own ids, and asynchronous jobs.
 *
 * CRMs address a record by their id: an op the profile's identity.ops
 * names (HubSpot's update and archive, Salesforce's delete) is never sent
 * without one.  A change carries the id the snapshot keeps ("id"); a
 * record without one is first looked up (identity.lookup: a request that
 * resolves a batch of records to their ids by a match field, such as an
 * e-mail) and then written by its id.  A record the lookup does not find
 * becomes what identity.not_found says: created (upsert: it is sent as an
 * insert), dead-lettered as not found (update), or acked as already gone
 * (delete).  A record is looked up at most once a run, and the id found
 * leaves in its ack, so the commit keeps it and the next run sends it
 * with the change: each record is looked up once in its life.
 *
 * An op may be a job (ops.OP.job): its reply names a job, which is polled
 * (ops.OP.job.poll, paced by the same rate limits, backed off) until its
 * status program says how each record fared; only then are the records
 * acked or dead-lettered.  A job that outlives its max_wait stops the run
 * (exit 75) with its records unacked, sent again next run.  The status
 * program may send the next poll elsewhere ("next": a path, such as the
 * next page of a job's errors) and carry what it learnt to it ("carry").
 * A job may also be made first (job.create, whose reply names it): the
 * write then adds the records to it ({job} in its path), its response
 * program dead-letters the records refused there, and the others wait
 * for the poll, whose first request starts the job (Google Ads'
 * offlineUserDataJobs :create, :addOperations, :run).
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rx_push_identity_batch(engine *e, push_batch *b)
{
	push_ctx *c = e->c;
	const push_profile *p = &c->prof;

	if (!rx_push_needs_id(p, b->op)) {
		rx_push_queue_writes(e, b->op, b->recs, b->n, 0);
		return;
	}
	/* records with an id are written; the others wait for a lookup */
	push_record **with = rx_xmalloc(b->n * sizeof *with), **without = rx_xmalloc(b->n * sizeof *without);
	size_t nwith = 0, nwithout = 0;
	for (size_t i = 0; i < b->n; i++) {
		push_record *r = b->recs[i];
		if (r->id.n > 0) {
			with[nwith++] = r;
		} else if (p->has_lookup && !r->looked_up) {
			without[nwithout++] = r;
		} else {
			char msg[300];
			snprintf(msg, sizeof msg,
				 "%s needs the record's id at the destination (profile %s: identity.ops), and it has none%s",
				 r->op, p->name,
				 r->looked_up ? " (the lookup found none)" : ": the profile has no identity.lookup to find it");
			rx_push_dead(c, r, 0, msg, NULL, 0, 0);
		}
	}
	if (nwith > 0)
		rx_push_queue_writes(e, b->op, with, nwith, 0);
	size_t per = p->lookup.max_records > 0 ? p->lookup.max_records : p->max_records;
	for (size_t at = 0; at < nwithout; at += per) {
		request *r = rx_push_request_new(b->op, without + at, nwithout - at < per ? nwithout - at : per);
		r->kind = REQ_LOOKUP;
		r->spec = &p->lookup;
		rx_push_queue(e, r);
	}
	free(with);
	free(without);
}

void rx_push_lookup_results(engine *e, request *r, jv results, int status)
{
	push_ctx *c = e->c;
	const push_profile *p = &c->prof;
	push_record **found = rx_xmalloc(r->n * sizeof *found), **create = rx_xmalloc(r->n * sizeof *create);
	size_t nfound = 0, ncreate = 0;

	for (size_t i = 0; i < r->n; i++) {
		push_record *rec = r->recs[i];
		jv id = jv_array_get(jv_copy(results), (int)i);
		jv_kind k = jv_get_kind(id);
		rec->looked_up = 1;
		if (k == JV_KIND_STRING || k == JV_KIND_NUMBER) {
			rx_push_record_set_id(rec, id);
			found[nfound++] = rec;
			continue;
		}
		if (k == JV_KIND_NULL) {
			const char *then = rx_push_not_found(p, rec->op);
			jv_free(id);
			if (strcmp(then, "insert") == 0) {
				snprintf(rec->op, sizeof rec->op, "insert"); /* created */
				create[ncreate++] = rec;
			} else if (strcmp(then, "ack") == 0) {
				rx_push_ack(c, rec, jv_null()); /* a delete of what is not there: done */
			} else {
				char msg[300];
				snprintf(msg, sizeof msg, "not found at the destination: the lookup (identity.lookup of profile "
					 "%s) found no record for it, and %s does not create one", p->name, rec->op);
				rx_push_dead(c, rec, status, msg, r->reply.data, r->reply.len, r->attempts);
			}
			continue;
		}
		/* {"error": "..."} or anything else: never a guess */
		char why[600];
		rx_push_dead(c, rec, status,
			     k == JV_KIND_OBJECT ? rx_push_result_message(id, why, sizeof why, "the lookup rejected it")
						 : "the lookup's answer for this record is not understood (an id or null)",
			     r->reply.data, r->reply.len, r->attempts);
		jv_free(id);
	}
	jv_free(results);
	if (nfound > 0)
		rx_push_queue_writes(e, r->op, found, nfound, 0);
	if (ncreate > 0)
		rx_push_queue_writes(e, "insert", create, ncreate, 0);
	free(found);
	free(create);
}

/* The job a reply names (the job.id program of the op `of`), or NULL. */
static char *job_of_reply(engine *e, request *r, const push_op *of, int status)
{
	jv in = jv_object(), out;
	char err[512];

	(void)e;
	in = jv_object_set(in, jv_string("status"), jv_number(status));
	in = jv_object_set(in, jv_string("headers"), rx_push_reply_headers(r));
	in = jv_object_set(in, jv_string("body"), rx_push_reply_body(r));
	int rc = rx_jq_run((rx_jq *)&of->job_id, in, &out, 1, err, sizeof err);
	if (rc != 1)
		return NULL; /* no job (an error reply): the response program decides */
	rx_buf job = {0};
	if (jv_get_kind(out) == JV_KIND_STRING)
		rx_buf_puts(&job, jv_string_value(out));
	else if (jv_get_kind(out) == JV_KIND_NUMBER)
		rx_json_put_double(&job, jv_number_value(out));
	jv_free(out);
	if (job.len == 0) {
		rx_buf_free(&job);
		return NULL;
	}
	return job.data;
}

/* A poll of job (taken) for recs, which it takes. */
static void queue_poll(engine *e, request *r, push_record **recs, size_t n, char *job, const push_op *of, double first)
{
	request *poll = rx_push_request_new(r->op, recs, n);

	poll->kind = REQ_POLL;
	poll->spec = of->poll;
	poll->job = job;
	poll->job_of = of;
	poll->job_started = rx_push_now();
	poll->job_interval = of->job_interval > 0 ? of->job_interval : 1;
	poll->not_before = poll->job_started + first;
	poll->seq = r->seq;
	rx_push_queue(e, poll);
}

int rx_push_job_named(engine *e, request *r, int status)
{
	push_ctx *c = e->c;
	const push_op *op = r->spec ? r->spec : rx_push_profile_op(&c->prof, r->op);
	char *job = job_of_reply(e, r, op, status);

	if (job == NULL)
		return 0;
	/* the records now wait for the job: a poll of it takes them */
	queue_poll(e, r, r->recs, r->n, job, op, op->job_interval > 0 ? op->job_interval : 1);
	r->n = 0; /* the poll owns the records */
	rx_push_rate_succeeded(c->rate);
	rx_killpoint("job");
	return 1;
}

int rx_push_job_created(engine *e, request *r, int status)
{
	push_ctx *c = e->c;
	char *job = job_of_reply(e, r, r->job_of, status);

	if (job == NULL)
		return 0;
	/* the write adds the records to the job ({job} in its path) */
	request *w = rx_push_request_new(r->op, r->recs, r->n);
	w->job = job;
	w->seq = r->seq;
	w->body = r->write_body; /* built before the create */
	r->write_body = (rx_buf){0};
	r->n = 0;
	rx_push_queue(e, w);
	rx_push_rate_succeeded(c->rate);
	rx_killpoint("job");
	return 1;
}

void rx_push_job_poll(engine *e, request *r, push_record **recs, size_t n)
{
	const push_op *of = rx_push_profile_op(&e->c->prof, r->op);

	if (n == 0 || of == NULL)
		return;
	/* the first poll starts the job (Google's :run): at once */
	queue_poll(e, r, recs, n, rx_xstrdup(r->job), of, 0);
}

void rx_push_job_wait(engine *e, request *r, double wait, char *next, char *next_method, char *next_body,
		      char *carry)
{
	push_ctx *c = e->c;
	double now = rx_push_now();
	const push_op *of = r->job_of;

	/* what the status program said to read next, and carried: else as before */
	if (next != NULL) {
		free(r->next_path);
		free(r->next_method);
		free(r->next_body);
		r->next_path = next;
		r->next_method = next_method;
		r->next_body = next_body;
	}
	if (carry != NULL) {
		free(r->carry);
		r->carry = carry;
	}
	if (of != NULL && now - r->job_started > of->job_max_wait) {
		/* kept, unacked: sent again next run */
		rx_push_stop(c, PUSH_STOP_DOWN, "job %s did not finish within %g s (its max_wait)", r->job, of->job_max_wait);
		request *kept = rx_push_request_new(r->op, r->recs, r->n);
		kept->kind = REQ_POLL;
		kept->spec = r->spec;
		kept->job = r->job;
		r->job = NULL;
		r->n = 0;
		rx_push_queue(e, kept);
		return;
	}
	request *again = rx_push_request_new(r->op, r->recs, r->n);
	again->kind = REQ_POLL;
	again->spec = r->spec;
	again->job = r->job;
	again->job_of = r->job_of;
	again->job_started = r->job_started;
	again->job_interval = r->job_interval * 1.5 > 30 ? 30 : r->job_interval * 1.5;
	again->not_before = now + (wait >= 0 ? wait : r->job_interval);
	again->seq = r->seq;
	again->next_path = r->next_path;
	again->next_method = r->next_method;
	again->next_body = r->next_body;
	again->carry = r->carry;
	r->job = r->next_path = r->next_method = r->next_body = r->carry = NULL;
	r->n = 0;
	rx_push_queue(e, again);
}
