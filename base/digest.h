/* digest.h — a fast 64-bit content digest for integrity checks: the code and
 * weights digests of a compiled model (runtime/ebm_abi.h), computed by ebmc
 * when it seals a model and by libebm each time it opens one.
 *
 * It is XXH64 (seed 0), written here from the algorithm's published
 * description; tests/unit/test_model_file.c pins its reference values
 * ("" -> ef46db3751d8e999, "a" -> d24ec4f1a98c6e5b), so `xxhsum -H1` can check
 * a digest from outside.  Four independent multiply-rotate lanes over 32-byte
 * blocks run at memory speed: a 50 MB weights blob costs a few milliseconds,
 * not the ~70 ms of byte-wise FNV-1a.  It detects corruption (bit flips,
 * truncation, a changed byte anywhere), not tampering: anyone can recompute
 * it.  Trust in a file comes from its owner and permissions
 * (runtime/model_file.c), not from this.
 *
 * Results are stored in model files: never change the function.
 */
#ifndef BASE_DIGEST_H
#define BASE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* Streaming state: init, any number of updates (any split of the same bytes
 * gives the same result), final.  Zero-size updates are allowed. */
typedef struct base_digest {
    uint64_t lane[4];
    uint64_t total;          /* bytes seen */
    unsigned char buf[32];   /* a partial block */
    size_t n_buf;
} base_digest;

void base_digest_init(base_digest *d, uint64_t seed);
void base_digest_update(base_digest *d, const void *p, size_t n);
/* n zero bytes (without a buffer of zeros). */
void base_digest_zeros(base_digest *d, uint64_t n);
/* The digest of everything given so far; d is not changed. */
uint64_t base_digest_final(const base_digest *d);

/* One shot, seed 0. */
uint64_t base_digest64(const void *p, size_t n);

#endif /* BASE_DIGEST_H */
