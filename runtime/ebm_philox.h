/* ebm_philox.h — the counter-based random numbers of ebmc (Philox4x32-10,
 * Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
 *
 * A Langevin step's noise for one element is a pure function of
 * (seed, global sample index, global step, element index), so results do not
 * depend on thread count, batch split or tile size.  This header is the one
 * definition: libebm includes it, and ebmc copies it next to the generated C
 * of every compiled model.  Header-only, C11, no includes beyond <math.h> and
 * <stdint.h>.
 *
 * Layout: element j of sample s at step t takes its normal from the Philox
 * block with counter {j / 4, s_lo, s_hi, t} and key {seed_lo, seed_hi}; the
 * block's four 32-bit words give four normals by two Box-Muller transforms
 * (words 0,1 -> elements 4b, 4b+1; words 2,3 -> 4b+2, 4b+3).
 */
#ifndef EBM_PHILOX_H
#define EBM_PHILOX_H

#include <math.h>
#include <stdint.h>

static inline void ebm_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0];
        uint64_t p1 = (uint64_t)0xCD9E8D57u * ctr[2];
        uint32_t c0 = (uint32_t)(p1 >> 32) ^ ctr[1] ^ k0;
        uint32_t c2 = (uint32_t)(p0 >> 32) ^ ctr[3] ^ k1;
        ctr[1] = (uint32_t)p1;
        ctr[3] = (uint32_t)p0;
        ctr[0] = c0;
        ctr[2] = c2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/* A uniform in (0, 1]: never 0, so log() is safe. */
static inline double ebm_philox_uniform(uint32_t w)
{
    return ((double)w + 1.0) * (1.0 / 4294967296.0);
}

/* Four standard normals for block `block` of sample `sample` at step `step`. */
static inline void ebm_philox_normal4(uint64_t seed, uint64_t sample, uint64_t step, uint64_t block,
                                      float out[4])
{
    uint32_t c[4] = {(uint32_t)block, (uint32_t)sample, (uint32_t)(sample >> 32), (uint32_t)step};
    ebm_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
    for (int h = 0; h < 2; h++) {
        double r = sqrt(-2.0 * log(ebm_philox_uniform(c[2 * h])));
        double a = 6.283185307179586 * ebm_philox_uniform(c[2 * h + 1]);
        out[2 * h] = (float)(r * cos(a));
        out[2 * h + 1] = (float)(r * sin(a));
    }
}

/* Fills eps[0..count) with the normals of elements 0..count-1 of one sample. */
static inline void ebm_philox_normals(uint64_t seed, uint64_t sample, uint64_t step, float *eps,
                                      int64_t count)
{
    float q[4];
    for (int64_t j = 0; j < count; j += 4) {
        ebm_philox_normal4(seed, sample, step, (uint64_t)(j / 4), q);
        for (int64_t k = 0; k < 4 && j + k < count; k++)
            eps[j + k] = q[k];
    }
}

#endif /* EBM_PHILOX_H */
