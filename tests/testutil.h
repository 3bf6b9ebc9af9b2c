/* testutil.h — small helpers shared by the Check tests. */
#ifndef EBMC_TESTUTIL_H
#define EBMC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Folders from the environment CTest sets (fall back to paths relative to the
 * build folder when run by hand). */
const char *tu_source_dir(void);
const char *tu_bin_dir(void);
const char *tu_shared_dir(void);

/* snprintf into a static rotating buffer (8 slots): for building paths. */
const char *tu_path(const char *fmt, ...);
int tu_file_exists(const char *path);

/* max_i |a_i - b_i| / max(max_j |b_j|, tiny): the norm-wise relative error. */
double tu_rel_err_f64(const double *a, const double *b, size_t n);
double tu_rel_err_f32(const float *a, const double *b, size_t n);

/* Deterministic uniform values in [lo, hi) from a seed (splitmix64). */
void tu_fill_uniform_f64(double *x, size_t n, uint64_t seed, double lo, double hi);
void tu_fill_uniform_f32(float *x, size_t n, uint64_t seed, double lo, double hi);

#endif
