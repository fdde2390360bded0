/* Slabs of locked, guarded, undumpable memory for objects holding secrets
 * (see secret.h for the trade-offs). A slab serves one object size; its
 * chunks are sodium_malloc'd and carry a header, then slots: a slot is a
 * small header (owning chunk, free-list link) followed by the object. Free
 * slots are always all zero past their header. */
#include "wgd/secret.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wgd/crypto.h"
#include "wgd/log.h"

#define ALIGN	    16u
#define MAX_SLABS   16
#define CHUNK_MIN   (16u << 10)
#define CHUNK_MAX   (1u << 20)
#define CANARY_SIZE 16u /* libsodium's canary in front of its blocks */

#define ROUND_UP(n) (((n) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

struct chunk;

struct slot {
	struct chunk *chunk;	/* NULL while free */
	struct slot *next_free; /* in chunk->free while free */
};

struct slab;

struct chunk {
	struct slab *slab;
	struct chunk *prev, *next; /* in slab->partial while a slot is free */
	struct slot *free;	   /* freed slots */
	size_t bump;		   /* slots from here on were never handed out */
	size_t nslots, nused;
	size_t bytes; /* the sodium_malloc'd size */
};

struct slab {
	size_t obj_size;       /* bytes of the object part of a slot */
	size_t slot_size;      /* header + object */
	size_t next_bytes;     /* size of the next chunk */
	struct chunk *partial; /* chunks with a free slot, empty ones last */
	struct chunk *tail;
	size_t empty; /* chunks holding no live object (kept: 0 or 1) */
};

#define SLOT_HDR  ROUND_UP(sizeof(struct slot))
#define CHUNK_HDR ROUND_UP(sizeof(struct chunk))

static struct slab slabs[MAX_SLABS];
static size_t n_slabs;
static struct wg_secret_stats stats;

/* --- lists --- */

static void partial_unlink(struct slab *s, struct chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		s->partial = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	c->prev = c->next = NULL;
}

static void partial_push_front(struct slab *s, struct chunk *c)
{
	c->prev = NULL;
	c->next = s->partial;
	if (s->partial)
		s->partial->prev = c;
	else
		s->tail = c;
	s->partial = c;
}

/* Empty chunks go last so that partly used ones fill up first. */
static void partial_push_back(struct slab *s, struct chunk *c)
{
	c->next = NULL;
	c->prev = s->tail;
	if (s->tail)
		s->tail->next = c;
	else
		s->partial = c;
	s->tail = c;
}

/* --- slabs --- */

static struct slab *slab_new(size_t obj_size)
{
	struct slab *s;

	if (n_slabs == MAX_SLABS)
		return NULL;
	s = &slabs[n_slabs++];
	s->obj_size = obj_size;
	s->slot_size = SLOT_HDR + obj_size;
	s->next_bytes = CHUNK_MIN;
	return s;
}

/* The slab of exactly this rounded size, else a new one, else (all slabs
 * taken) the smallest slab the object fits in. */
static struct slab *slab_for(size_t size)
{
	size_t want = ROUND_UP(size ? size : 1);
	struct slab *best = NULL;

	if (want < size)
		return NULL;
	for (size_t i = 0; i < n_slabs; i++) {
		if (slabs[i].obj_size == want)
			return &slabs[i];
		if (slabs[i].obj_size > want && (!best || slabs[i].obj_size < best->obj_size))
			best = &slabs[i];
	}
	return n_slabs < MAX_SLABS ? slab_new(want) : best;
}

/* --- chunks --- */

static void lock_failed(void)
{
	if (!stats.lock_failed)
		wg_log_error(
			"cannot lock more key memory: RLIMIT_MEMLOCK reached, keys from here on "
			"may be swapped (raise it: ulimit -l, systemd LimitMEMLOCK=)");
	stats.lock_failed = true;
}

static struct slot *slot_at(struct chunk *c, size_t i)
{
	return (struct slot *)(void *)((uint8_t *)c + CHUNK_HDR + i * c->slab->slot_size);
}

static size_t chunk_bytes(struct slab *s)
{
	size_t bytes = s->next_bytes;

	while (bytes - CANARY_SIZE < CHUNK_HDR + s->slot_size)
		bytes *= 2;
	if (bytes < CHUNK_MAX)
		s->next_bytes = bytes * 2;
	return bytes;
}

static struct chunk *chunk_new(struct slab *s)
{
	/* A page multiple less libsodium's canary: no page is wasted and the
	 * block starts 16-byte aligned. */
	size_t bytes = chunk_bytes(s) - CANARY_SIZE;
	struct chunk *c;

	if (wg_crypto_init() < 0) /* sodium_malloc needs it */
		return NULL;
	c = sodium_malloc(bytes);
	if (!c)
		return NULL;
	if (sodium_mlock(c, bytes) != 0)
		lock_failed();
	memset(c, 0, bytes);
	c->slab = s;
	c->bytes = bytes;
	c->nslots = (bytes - CHUNK_HDR) / s->slot_size;
	partial_push_back(s, c);
	s->empty++;
	stats.chunks++;
	stats.bytes += bytes;
	return c;
}

static void chunk_release(struct slab *s, struct chunk *c)
{
	partial_unlink(s, c);
	s->empty--;
	stats.chunks--;
	stats.bytes -= c->bytes;
	sodium_free(c); /* zeroes, unlocks, unmaps */
}

/* --- API --- */

void *wg_secret_alloc(size_t size)
{
	struct slab *s;
	struct chunk *c;
	struct slot *sl;

	s = slab_for(size);
	if (!s || (!s->partial && !chunk_new(s)))
		return NULL;
	c = s->partial;
	if (c->free) {
		sl = c->free;
		c->free = sl->next_free;
	} else {
		sl = slot_at(c, c->bump++);
	}
	sl->chunk = c;
	sl->next_free = NULL;
	if (c->nused++ == 0)
		s->empty--;
	if (c->nused == c->nslots)
		partial_unlink(s, c);
	stats.live++;
	return (uint8_t *)sl + SLOT_HDR;
}

void wg_secret_free(void *p)
{
	struct slot *sl;
	struct chunk *c;
	struct slab *s;

	if (!p)
		return;
	sl = (struct slot *)(void *)((uint8_t *)p - SLOT_HDR);
	c = sl->chunk;
	if (!c)
		abort(); /* double free */
	s = c->slab;
	wg_memzero(p, s->obj_size);
	sl->chunk = NULL;
	sl->next_free = c->free;
	c->free = sl;
	if (c->nused-- == c->nslots)
		partial_push_front(s, c);
	stats.live--;
	if (c->nused)
		return;
	/* Keep one empty chunk per slab, so that a peer coming and going does
	 * not map and unmap memory each time. */
	partial_unlink(s, c);
	partial_push_back(s, c);
	if (s->empty++)
		chunk_release(s, c);
}

void wg_secret_trim(void)
{
	for (size_t i = 0; i < n_slabs; i++) {
		struct chunk *c = slabs[i].partial, *next;
		for (; c; c = next) {
			next = c->next;
			if (!c->nused)
				chunk_release(&slabs[i], c);
		}
	}
}

void wg_secret_get_stats(struct wg_secret_stats *out)
{
	*out = stats;
}
