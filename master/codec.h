/*
 * Little-endian binary records for Raft log entries and snapshots.
 *
 * Writer: grows a malloc'd buffer; an allocation failure sets .bad and
 * later puts are dropped, so callers check once at the end.
 * Reader: every get is bounds-checked; reading past the end sets .bad and
 * returns zeros, so a decoder checks .bad once after reading a record and
 * never touches memory outside [p, p+len).
 */
#ifndef SHOAL_MASTER_CODEC_H
#define SHOAL_MASTER_CODEC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool bad;
};

struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static inline void wbuf_init(struct wbuf *w)
{
	memset(w, 0, sizeof(*w));
}

static inline void wbuf_free(struct wbuf *w)
{
	free(w->p);
	wbuf_init(w);
}

static inline bool wbuf_reserve(struct wbuf *w, size_t n)
{
	if (w->bad)
		return false;
	if (w->len + n <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	uint8_t *np = realloc(w->p, cap);
	if (!np) {
		w->bad = true;
		return false;
	}
	w->p = np;
	w->cap = cap;
	return true;
}

static inline void put_bytes(struct wbuf *w, const void *b, size_t n)
{
	if (!wbuf_reserve(w, n))
		return;
	if (n)
		memcpy(w->p + w->len, b, n);
	w->len += n;
}

static inline void put_u8(struct wbuf *w, uint8_t v)
{
	put_bytes(w, &v, 1);
}

static inline void put_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { v, v >> 8, v >> 16, v >> 24 };
	put_bytes(w, b, 4);
}

static inline void put_u64(struct wbuf *w, uint64_t v)
{
	put_u32(w, (uint32_t)v);
	put_u32(w, (uint32_t)(v >> 32));
}

/* Strings: u16 length then bytes, no NUL. */
static inline void put_str(struct wbuf *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > 0xffff) {
		w->bad = true;
		return;
	}
	put_u8(w, n & 0xff);
	put_u8(w, n >> 8);
	put_bytes(w, s, n);
}

static inline void rbuf_init(struct rbuf *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
}

static inline const uint8_t *get_bytes(struct rbuf *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *b = r->p + r->off;
	r->off += n;
	return b;
}

static inline uint8_t get_u8(struct rbuf *r)
{
	const uint8_t *b = get_bytes(r, 1);
	return b ? b[0] : 0;
}

static inline uint32_t get_u32(struct rbuf *r)
{
	const uint8_t *b = get_bytes(r, 4);
	return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24 : 0;
}

static inline uint64_t get_u64(struct rbuf *r)
{
	uint64_t lo = get_u32(r);
	return lo | (uint64_t)get_u32(r) << 32;
}

/* Copies a string into out (size outsz, NUL-terminated); too long = bad. */
static inline void get_str(struct rbuf *r, char *out, size_t outsz)
{
	size_t n = get_u8(r);
	n |= (size_t)get_u8(r) << 8;
	const uint8_t *b = get_bytes(r, n);
	if (!b || n >= outsz) {
		r->bad = true;
		out[0] = 0;
		return;
	}
	memcpy(out, b, n);
	out[n] = 0;
}

#endif
