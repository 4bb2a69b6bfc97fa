/* A byte-string → int64 hash map (open addressing, linear probing) that owns copies of its keys
 * in one arena. Used for the piece table, word frequencies and symbol strings. */
#ifndef KR_STRMAP_H
#define KR_STRMAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len; /* into the arena */
    int64_t value;
} StrMapEntry;

typedef struct {
    uint32_t *slots; /* 0 = empty, else entry index + 1 */
    size_t mask;
    StrMapEntry *entries;
    size_t n, entries_cap;
    char *arena;
    size_t arena_len, arena_cap;
} StrMap;

static inline uint64_t strmap_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8, n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    h = (h ^ v) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

int strmap_init(StrMap *m, size_t expected);
void strmap_free(StrMap *m);
/* Finds `key` (with its precomputed hash); returns its entry or NULL. */
static inline const StrMapEntry *strmap_find_h(const StrMap *m, const char *key, size_t len, uint64_t h) {
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint32_t s = m->slots[i];
        if (!s) return NULL;
        const StrMapEntry *e = &m->entries[s - 1];
        if (e->hash == h && e->key_len == len && memcmp(m->arena + e->key_off, key, len) == 0) return e;
    }
}
static inline const StrMapEntry *strmap_find(const StrMap *m, const char *key, size_t len) {
    return strmap_find_h(m, key, len, strmap_hash(key, len));
}
/* Returns the value slot for `key`, inserting it with value `init` if absent (*added = 1), or NULL
 * when out of memory. The pointer is valid until the next insertion. */
int64_t *strmap_upsert(StrMap *m, const char *key, size_t len, int64_t init, int *added);
static inline const char *strmap_key(const StrMap *m, const StrMapEntry *e) { return m->arena + e->key_off; }

#endif
