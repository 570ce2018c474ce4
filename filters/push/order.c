/*
 * order.c - the order of a stream through rx-push: a key's changes reach
 * the destination in the order they came, and a source position leaves
 * only after every record before it.
 *
 * NOTES ON THE DESIGN
 *
 * A batch run sends each key once, so order between requests does not
 * matter there; a stream (rx-diff --stream, docs/streaming.md) sends a
 * key again while its last change may still be on its way, and with
 * several requests in flight (and retries) the later change could land
 * first, leaving the destination with the older value while the snapshot
 * holds the newer one.  So:
 *
 *  - Every record taken is appended to its key's list (the key's raw JSON
 *    text, hashed with XXH3; two keys of one hash only share an order).
 *    A request may start only when each of its records is the first of
 *    its key's list, or every record before it in the list is in that
 *    same request (rx_push_order_ready).  Records of an earlier request
 *    always came first, so the earliest request can always start: no
 *    deadlock.  A record leaves its list when it is acked or
 *    dead-lettered.  In a batch run every list has one record, and the
 *    check is one lookup.
 *
 *  - A commit record ({"$rx":"commit",...}, control.c) is a source
 *    position.  It is written among the acks once every record taken
 *    before it has left (acked or dead-lettered), and after the commit
 *    records before it, so rx-diff --commit stores it only when what it
 *    covers is settled.  Records count towards the commit record after
 *    them: record r belongs to segment r->mark; the commit records are a
 *    ring indexed by segment, each with the count of its records still
 *    held.  A record still held when the run stops keeps every commit
 *    record after it unwritten: the position does not pass it.
 */
#include "push.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

typedef struct key_slot {
	uint64_t hash;            /* of the key's raw text */
	push_record *head, *tail; /* its held records, in arrival order; head NULL: free */
} key_slot;

typedef struct mark {
	char *text;     /* the commit record, as read */
	size_t len;
	size_t pending; /* records of its segment still held */
} mark;

struct push_order {
	key_slot *slots;
	size_t cap, count;
	unsigned stamp;             /* marks the records of the request being checked */
	mark *marks;                /* ring: segment first + i at (start + i) % mcap */
	size_t mcap, mstart, mcount;
	unsigned long long first;   /* the segment of marks[mstart] */
	unsigned long long open;    /* the segment of records with no commit record yet */
	size_t open_pending;        /* its records still held */
};

static struct push_order *order_of(push_ctx *c)
{
	if (c->order == NULL) {
		c->order = calloc(1, sizeof *c->order);
		if (c->order == NULL)
			rx_die(RX_EXIT_FAIL, "out of memory");
	}
	return c->order;
}

static uint64_t key_hash(const push_record *r)
{
	return XXH3_64bits(r->key.p, r->key.n);
}

/* The slot of hash h (its head NULL when the key holds no record). */
static key_slot *find_slot(struct push_order *o, uint64_t h)
{
	size_t i = (size_t)h & (o->cap - 1);

	while (o->slots[i].head != NULL && o->slots[i].hash != h)
		i = (i + 1) & (o->cap - 1);
	return &o->slots[i];
}

static void grow(struct push_order *o)
{
	key_slot *old = o->slots;
	size_t oldcap = o->cap;

	o->cap = oldcap ? 2 * oldcap : 1024;
	o->slots = calloc(o->cap, sizeof *o->slots);
	if (o->slots == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].head != NULL)
			*find_slot(o, old[i].hash) = old[i];
	free(old);
}

/* Free slot s, shifting back the slots after it (linear probing keeps no
 * tombstones). */
static void free_slot(struct push_order *o, key_slot *s)
{
	size_t i = (size_t)(s - o->slots), j = i;

	o->slots[i].head = o->slots[i].tail = NULL;
	o->count--;
	for (;;) {
		j = (j + 1) & (o->cap - 1);
		if (o->slots[j].head == NULL)
			return;
		size_t home = (size_t)o->slots[j].hash & (o->cap - 1);
		/* may slot j move to i?  Only if its home is not in (i, j] */
		int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		o->slots[i] = o->slots[j];
		o->slots[j].head = o->slots[j].tail = NULL;
		i = j;
	}
}

void rx_push_order_take(push_ctx *c, push_record *r)
{
	struct push_order *o = order_of(c);

	r->mark = o->open;
	o->open_pending++;
	if ((o->count + 1) * 2 > o->cap)
		grow(o);
	r->key_hash = key_hash(r);
	r->next_same_key = NULL;
	key_slot *s = find_slot(o, r->key_hash);
	if (s->head == NULL) {
		s->hash = r->key_hash;
		s->head = r;
		o->count++;
	} else {
		s->tail->next_same_key = r;
	}
	s->tail = r;
}

/* Write the commit records at the front of the ring that nothing holds
 * back any more. */
static void release(push_ctx *c, struct push_order *o)
{
	while (o->mcount > 0 && o->marks[o->mstart].pending == 0) {
		mark *m = &o->marks[o->mstart];
		rx_buf_put(&c->out.buf, m->text, m->len);
		rx_buf_putc(&c->out.buf, '\n');
		free(m->text);
		m->text = NULL;
		o->mstart = (o->mstart + 1) % o->mcap;
		o->mcount--;
		o->first++;
	}
}

void rx_push_order_left(push_ctx *c, push_record *r)
{
	struct push_order *o = c->order;

	if (o == NULL)
		return;
	if (r->mark == o->open) {
		o->open_pending--;
	} else if (r->mark >= o->first && r->mark - o->first < o->mcount) {
		o->marks[(o->mstart + (size_t)(r->mark - o->first)) % o->mcap].pending--;
		release(c, o);
	}
	key_slot *s = find_slot(o, r->key_hash);
	if (s->head == NULL)
		return;
	push_record **pp = &s->head, *prev = NULL;
	while (*pp != NULL && *pp != r) {
		prev = *pp;
		pp = &(*pp)->next_same_key;
	}
	if (*pp == NULL)
		return;
	*pp = r->next_same_key;
	if (s->tail == r)
		s->tail = prev;
	if (s->head == NULL)
		free_slot(o, s);
}

int rx_push_order_ready(push_ctx *c, push_record **recs, size_t n)
{
	struct push_order *o = c->order;

	if (o == NULL || o->cap == 0)
		return 1;
	if (++o->stamp == 0)
		o->stamp = 1; /* a stale stamp can only make a check stricter */
	for (size_t i = 0; i < n; i++)
		recs[i]->stamp = o->stamp;
	for (size_t i = 0; i < n; i++) {
		key_slot *s = find_slot(o, recs[i]->key_hash);
		for (push_record *p = s->head; p != NULL && p != recs[i]; p = p->next_same_key)
			if (p->stamp != o->stamp)
				return 0; /* an earlier change of this key is elsewhere */
	}
	return 1;
}

void rx_push_order_commit(push_ctx *c, const char *line, size_t n)
{
	struct push_order *o = order_of(c);

	if (o->mcount == 0 && o->open_pending == 0) {
		/* nothing before it is held: it passes at once */
		rx_buf_put(&c->out.buf, line, n);
		rx_buf_putc(&c->out.buf, '\n');
		o->open++;
		o->first = o->open;
		rx_push_flush(c);
		return;
	}
	if (o->mcount == o->mcap) {
		size_t cap = o->mcap ? 2 * o->mcap : 64;
		mark *m = calloc(cap, sizeof *m);
		if (m == NULL)
			rx_die(RX_EXIT_FAIL, "out of memory");
		for (size_t i = 0; i < o->mcount; i++)
			m[i] = o->marks[(o->mstart + i) % o->mcap];
		free(o->marks);
		o->marks = m;
		o->mcap = cap;
		o->mstart = 0;
	}
	if (o->mcount == 0)
		o->first = o->open;
	mark *m = &o->marks[(o->mstart + o->mcount) % o->mcap];
	m->text = rx_xmalloc(n + 1);
	memcpy(m->text, line, n);
	m->text[n] = '\0';
	m->len = n;
	m->pending = o->open_pending;
	o->mcount++;
	o->open++;
	o->open_pending = 0;
	release(c, o);
	rx_push_flush(c);
}

void rx_push_order_free(push_ctx *c)
{
	struct push_order *o = c->order;

	if (o == NULL)
		return;
	for (size_t i = 0; i < o->mcount; i++)
		free(o->marks[(o->mstart + i) % o->mcap].text);
	free(o->marks);
	free(o->slots);
	free(o);
	c->order = NULL;
}
