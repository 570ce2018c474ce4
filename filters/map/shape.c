/*
 * shape.c - rx-map's shorthands (--select, --rename, --set, --hash,
 * --drop-nulls) on raw spans.
 *
 * A row arrives as the (name, value) spans of rx_json_scan_object and
 * leaves as bytes appended to the caller's buffer: names and values that
 * are not touched are copied exactly as they came (a number keeps its
 * text, a string its escapes), and no jq value is built.  Order of the
 * steps, as documented in rx-map(1): --select names input columns,
 * --rename maps input names to output names (a renamed column replaces
 * an input column of the same name), then --set, --hash and --drop-nulls
 * name output fields.  All scratch lives in the map_shape and is reused.
 */
#include "map.h"

#include <stdio.h>
#include <string.h>

int map_shape_active(const map_shape *s)
{
	return s->nselect || s->nrenames || s->nsets || s->nhashes || s->drop_nulls;
}

static int selected(const map_shape *s, rx_span name)
{
	for (size_t i = 0; i < s->nselect; i++)
		if (rx_json_name_eq(name, s->select[i], s->selectlen[i]))
			return 1;
	return 0;
}

static int is_hex64(const char *p, size_t n)
{
	if (n != 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

/* Append the hashed form of value to out. */
static int put_hashed(map_shape *s, const map_hash *h, rx_span value, rx_buf *out, char *err, size_t errlen)
{
	char hex[65];
	int some;

	switch (rx_json_kind(value)) {
	case 'z':
		rx_buf_puts(out, "null");
		return 0;
	case 'o':
	case 'a':
		snprintf(err, errlen, "cannot hash field '%s': it is %s, not a string or number", h->name,
			 rx_json_kind(value) == 'o' ? "an object" : "an array");
		return -1;
	case 's':
		rx_buf_reset(&s->text);
		rx_json_string_decode(value, &s->text);
		break;
	default: /* numbers, true, false: their text */
		rx_buf_reset(&s->text);
		rx_buf_put(&s->text, value.p, value.n);
		break;
	}
	rx_buf_reset(&s->norm);
	switch (h->kind) {
	case MAP_HASH_RAW:
		rx_buf_put(&s->norm, s->text.data, s->text.len);
		some = 1;
		break;
	case MAP_HASH_PHONE:
	case MAP_HASH_E164:
		some = map_normalize_phone(s->text.data, s->text.len, s->country_code, h->kind == MAP_HASH_E164,
					   &s->norm);
		break;
	default:
		some = map_normalize_text(s->text.data, s->text.len, &s->norm);
		break;
	}
	if (!some) {
		rx_buf_puts(out, "null");
		return 0;
	}
	rx_buf_putc(out, '"');
	if (h->kind != MAP_HASH_RAW && is_hex64(s->norm.data, s->norm.len)) {
		/* already a SHA-256 (a re-run, or hashed upstream): keep it */
		rx_buf_put(out, s->norm.data, 64);
	} else {
		rx_sha256_hex(s->norm.data ? s->norm.data : "", s->norm.len, hex);
		rx_buf_put(out, hex, 64);
	}
	rx_buf_putc(out, '"');
	return 0;
}

int map_shape_row(map_shape *s, const rx_members *row, rx_buf *out, int skip_hashed, char *err, size_t errlen)
{
	size_t start = out->len;
	int first = 1;

	if (row->n > s->rename_cap) {
		s->rename_cap = row->n * 2;
		s->rename_of = rx_xrealloc(s->rename_of, s->rename_cap * sizeof *s->rename_of);
	}
	/* pass 1: which members are kept, and which renames fire */
	if (s->nrenames)
		memset(s->fired, 0, s->nrenames);
	for (size_t i = 0; i < row->n; i++) {
		s->rename_of[i] = -1;
		if (s->nselect && !selected(s, row->m[i].name)) {
			s->rename_of[i] = -2; /* dropped */
			continue;
		}
		for (size_t r = 0; r < s->nrenames; r++) {
			if (rx_json_name_eq(row->m[i].name, s->renames[r].src, s->renames[r].srclen)) {
				s->rename_of[i] = (int)r;
				s->fired[r] = 1;
				break;
			}
		}
	}
	if (s->nsets)
		memset(s->set_used, 0, s->nsets);
	/* pass 2: write */
	rx_buf_putc(out, '{');
	for (size_t i = 0; i < row->n; i++) {
		rx_span name = row->m[i].name, value = row->m[i].value;
		int r = s->rename_of[i];
		if (r == -2)
			continue;
		if (r >= 0) {
			name = rx_span_of(s->renames[r].dst_json, s->renames[r].dst_jsonlen);
		} else if (s->nrenames) {
			/* an input column a renamed one replaces */
			int replaced = 0;
			for (size_t k = 0; k < s->nrenames && !replaced; k++)
				if (s->fired[k] && rx_json_name_eq(name, s->renames[k].dst, s->renames[k].dstlen))
					replaced = 1;
			if (replaced)
				continue;
		}
		const map_set *set = NULL;
		for (size_t k = 0; k < s->nsets; k++) {
			if (rx_json_name_eq(name, s->sets[k].name, s->sets[k].namelen)) {
				if (s->set_used[k])
					goto next; /* the field came twice; --set wrote it once */
				set = &s->sets[k];
				s->set_used[k] = 1;
				break;
			}
		}
		if (set != NULL)
			value = rx_span_of(set->value_json, strlen(set->value_json));
		const map_hash *h = NULL;
		for (size_t k = 0; k < s->nhashes; k++)
			if (rx_json_name_eq(name, s->hashes[k].name, s->hashes[k].namelen))
				h = &s->hashes[k];
		if (h != NULL && skip_hashed)
			continue;
		if (s->drop_nulls && rx_json_kind(value) == 'z')
			continue;
		size_t mark = out->len;
		if (!first)
			rx_buf_putc(out, ',');
		rx_buf_put(out, name.p, name.n);
		rx_buf_putc(out, ':');
		if (h != NULL) {
			size_t vstart = out->len;
			if (put_hashed(s, h, value, out, err, errlen) < 0) {
				out->len = start;
				out->data[start] = '\0';
				return -1;
			}
			if (s->drop_nulls && out->len - vstart == 4 && memcmp(out->data + vstart, "null", 4) == 0) {
				out->len = mark;
				out->data[mark] = '\0';
				continue;
			}
		} else {
			rx_buf_put(out, value.p, value.n);
		}
		first = 0;
	next:;
	}
	for (size_t k = 0; k < s->nsets; k++) {
		if (s->set_used[k])
			continue;
		if (s->drop_nulls && strcmp(s->sets[k].value_json, "null") == 0)
			continue;
		int hashed = 0;
		for (size_t j = 0; j < s->nhashes; j++)
			if (strcmp(s->hashes[j].name, s->sets[k].name) == 0)
				hashed = 1;
		if (hashed && skip_hashed)
			continue;
		if (!first)
			rx_buf_putc(out, ',');
		rx_buf_puts(out, s->sets[k].name_json);
		rx_buf_putc(out, ':');
		if (hashed) {
			for (size_t j = 0; j < s->nhashes; j++)
				if (strcmp(s->hashes[j].name, s->sets[k].name) == 0 &&
				    put_hashed(s, &s->hashes[j], rx_span_of(s->sets[k].value_json,
									   strlen(s->sets[k].value_json)),
					       out, err, errlen) < 0) {
					out->len = start;
					out->data[start] = '\0';
					return -1;
				}
		} else {
			rx_buf_puts(out, s->sets[k].value_json);
		}
		first = 0;
	}
	rx_buf_putc(out, '}');
	return 0;
}
