/* hash.c — FNV-1a and the string -> int map (see hash.h). */
#include "hash.h"

#include <stdlib.h>
#include <string.h>

uint64_t base_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static size_t slot_of(const char *key, size_t cap)
{
    return (size_t)base_fnv1a(BASE_FNV1A_INIT, key, strlen(key)) & (cap - 1);
}

int base_strmap_get(const base_strmap *m, const char *key)
{
    if (m->cap == 0)
        return -1;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->keys[i])
            return -1;
        if (strcmp(m->keys[i], key) == 0)
            return m->vals[i];
    }
}

static void insert(base_strmap *m, const char *key, int val)
{
    size_t i = slot_of(key, m->cap);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
}

int base_strmap_put(base_strmap *m, const char *key, int val)
{
    if (2 * (m->n + 1) > m->cap) {   /* at most half full: probes stay short */
        base_strmap bigger = {NULL, NULL, m->cap ? 2 * m->cap : 64, 0};
        bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
        bigger.vals = calloc(bigger.cap, sizeof *bigger.vals);
        if (!bigger.keys || !bigger.vals) {
            free(bigger.keys);
            free(bigger.vals);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i])
                insert(&bigger, m->keys[i], m->vals[i]);
        free(m->keys);
        free(m->vals);
        *m = bigger;
    }
    insert(m, key, val);
    return 0;
}

void base_strmap_free(base_strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
