/* bigmem.c — huge-page advice for large fresh blocks (bigmem.h). */
#define _DEFAULT_SOURCE   /* madvise, MADV_HUGEPAGE */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define HUGE_PAGE ((uintptr_t)2 << 20)

void base_bigmem_advise(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (!p || bytes < BASE_BIGMEM_MIN)
        return;
    const uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    const uintptr_t hi = ((uintptr_t)p + bytes) & ~(HUGE_PAGE - 1);
    if (hi > lo)
        (void)madvise((void *)lo, (size_t)(hi - lo), MADV_HUGEPAGE);   /* a hint: failure changes nothing */
#else
    (void)p;
    (void)bytes;
#endif
}

void *base_bigmem_alloc(size_t bytes)
{
    void *p = malloc(bytes);
    base_bigmem_advise(p, bytes);
    return p;
}
