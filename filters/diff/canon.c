/*
 * canon.c - a row's hash (the canonical form is filters/lib/canon.c's),
 * which fields changed, and the fingerprint of a row's raw text.
 */
#include "diff.h"

#include <xxhash.h>
#include <stdlib.h>
#include <string.h>

/* The decoded text of a member name: the raw bytes inside the quotes when
 * there is no escape (nearly always), else decoded into scratch. */
static rx_span name_text(rx_span raw, rx_buf *scratch)
{
	if (memchr(raw.p, '\\', raw.n) == NULL)
		return rx_span_of(raw.p + 1, raw.n - 2);
	rx_buf_reset(scratch);
	rx_json_string_decode(raw, scratch);
	return rx_span_of(scratch->data, scratch->len);
}

void rx_diff_row_hash(const rx_members *row, const diff_options *o, unsigned char hash[DIFF_HASH_LEN])
{
	rx_canon_row_hash(row, o->ignore_cols, o->nignore_cols, hash);
}

void rx_diff_canon_free(void)
{
	rx_canon_free();
}

size_t rx_diff_changed(const rx_members *old_row, const rx_members *new_row, const diff_options *o, rx_buf *out,
		       unsigned char *new_flags)
{
	static rx_buf a, b, na, nb;
	size_t count = 0;

	for (int pass = 0; pass < 2; pass++) {
		const rx_members *from = pass == 0 ? new_row : old_row;
		const rx_members *other = pass == 0 ? old_row : new_row;
		for (size_t i = 0; i < from->n; i++) {
			rx_span raw = from->m[i].name;
			if (rx_name_in(raw, o->ignore_cols, o->nignore_cols))
				continue;
			rx_span name = name_text(raw, &na);
			long at = -1;
			for (size_t j = 0; j < other->n; j++) {
				rx_span oname = name_text(other->m[j].name, &nb);
				if (rx_span_cmp(oname, name) == 0) {
					at = (long)j;
					break;
				}
			}
			int differs;
			if (pass == 1) {
				differs = at < 0; /* a member that left */
			} else if (at < 0) {
				differs = 1;
			} else {
				rx_buf_reset(&a);
				rx_buf_reset(&b);
				rx_canon_value(&a, from->m[i].value, 1);
				rx_canon_value(&b, other->m[at].value, 1);
				differs = a.len != b.len || memcmp(a.data, b.data, a.len) != 0;
			}
			if (pass == 0 && new_flags != NULL)
				new_flags[i] = (unsigned char)differs;
			if (!differs)
				continue;
			if (count++ > 0)
				rx_buf_putc(out, ',');
			rx_json_put_compact(out, raw);
		}
	}
	return count;
}

void rx_diff_fingerprint(const char *row, size_t n, uint64_t seed, unsigned char raw[DIFF_RAW_LEN])
{
	XXH128_canonical_t c;

	XXH128_canonicalFromHash(&c, XXH3_128bits_withSeed(row, n, seed));
	memcpy(raw, c.digest, DIFF_RAW_LEN);
}

void rx_diff_hex(const unsigned char *hash, char out[2 * DIFF_HASH_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < DIFF_HASH_LEN; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[2 * DIFF_HASH_LEN] = '\0';
}

int rx_diff_unhex(const char *hex, size_t n, unsigned char hash[DIFF_HASH_LEN])
{
	if (n != 2 * DIFF_HASH_LEN)
		return -1;
	for (size_t i = 0; i < DIFF_HASH_LEN; i++) {
		int hi = rx_hexval(hex[2 * i]), lo = rx_hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		hash[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
