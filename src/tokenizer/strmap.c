#include "tokenizer/strmap.h"

#include <stdlib.h>

#include "common/error.h"
#include "common/util.h"

int strmap_init(StrMap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    if (!m->slots) return kr_error("out of memory");
    m->mask = cap - 1;
    return 0;
}

void strmap_free(StrMap *m) {
    free(m->slots), free(m->entries), free(m->arena);
    memset(m, 0, sizeof *m);
}

static int rehash(StrMap *m) {
    size_t cap = (m->mask + 1) * 2;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t k = 0; k < m->n; k++) {
        size_t i = m->entries[k].hash & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    free(m->slots);
    m->slots = slots;
    m->mask = cap - 1;
    return 0;
}

int64_t *strmap_upsert(StrMap *m, const char *key, size_t len, int64_t init, int *added) {
    uint64_t h = strmap_hash(key, len);
    size_t i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        uint32_t s = m->slots[i];
        if (!s) break;
        StrMapEntry *e = &m->entries[s - 1];
        if (e->hash == h && e->key_len == len && memcmp(m->arena + e->key_off, key, len) == 0) {
            if (added) *added = 0;
            return &e->value;
        }
    }
    if (m->arena_len + len > UINT32_MAX || m->n + 1 >= UINT32_MAX ||
        kr_grow((void **)&m->arena, &m->arena_cap, m->arena_len + len, 1, 4096, "string table") != 0 ||
        kr_grow((void **)&m->entries, &m->entries_cap, m->n + 1, sizeof *m->entries, 64, "string table") != 0) {
        kr_error("out of memory (string table of %zu entries)", m->n);
        return NULL;
    }
    memcpy(m->arena + m->arena_len, key, len);
    StrMapEntry *e = &m->entries[m->n];
    e->hash = h, e->key_off = (uint32_t)m->arena_len, e->key_len = (uint32_t)len, e->value = init;
    m->arena_len += len;
    m->slots[i] = (uint32_t)(++m->n);
    if (m->n * 4 > (m->mask + 1) * 3 && rehash(m) != 0) {
        kr_error("out of memory (string table of %zu entries)", m->n);
        return NULL;
    }
    if (added) *added = 1;
    return &m->entries[m->n - 1].value;
}
