/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

const char *tu_source_dir(void)
{
    const char *s = getenv("EBMC_SOURCE_DIR");
    return s ? s : "..";
}

const char *tu_bin_dir(void)
{
    const char *s = getenv("EBMC_BIN_DIR");
    return s ? s : "bin";
}

const char *tu_shared_dir(void)
{
    const char *s = getenv("EBMC_SHARED_DIR");
    return s ? s : "../../shared";
}

const char *tu_path(const char *fmt, ...)
{
    static char bufs[8][4096];
    static int slot;
    char *b = bufs[slot++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

int tu_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

double tu_rel_err_f64(const double *a, const double *b, size_t n)
{
    double scale = 1e-30, diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > scale)
            scale = fabs(b[i]);
        double d = fabs(a[i] - b[i]);
        if (!(d <= diff))   /* also catches NaN */
            diff = isnan(d) ? INFINITY : d;
    }
    return diff / scale;
}

double tu_rel_err_f32(const float *a, const double *b, size_t n)
{
    double scale = 1e-30, diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > scale)
            scale = fabs(b[i]);
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= diff))
            diff = isnan(d) ? INFINITY : d;
    }
    return diff / scale;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tu_fill_uniform_f64(double *x, size_t n, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
}

void tu_fill_uniform_f32(float *x, size_t n, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * (double)(splitmix64(&s) >> 11) * 0x1.0p-53);
}
