/* hash.h — FNV-1a, the one byte hash of the project (weight seeds from
 * parameter names, file digests, cache keys, CSE), and a string -> int hash
 * map for name lookups (ONNX value names). */
#ifndef BASE_HASH_H
#define BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define BASE_FNV1A_INIT UINT64_C(0xcbf29ce484222325)   /* the 64-bit offset basis */

/* h continued over n bytes at p: base_fnv1a(BASE_FNV1A_INIT, s, strlen(s)) is
 * FNV-1a 64 of s.  Results are stored in files and seed weights: never change. */
uint64_t base_fnv1a(uint64_t h, const void *p, size_t n);

/* Open addressing over borrowed keys (the caller keeps them alive while the
 * map is used).  Zero-initialised = empty. */
typedef struct base_strmap {
    const char **keys;
    int *vals;
    size_t cap, n;   /* cap: a power of two, or 0 */
} base_strmap;

/* The value stored for key, or -1. */
int base_strmap_get(const base_strmap *m, const char *key);
/* Adds key, which must not be present yet; -1 when out of memory. */
int base_strmap_put(base_strmap *m, const char *key, int val);
void base_strmap_free(base_strmap *m);

#endif /* BASE_HASH_H */
