/* bigmem.h — large arrays that are filled once, right after allocation: data
 * sets, sample buffers, decompressed files.
 *
 * A fresh malloc'd block of 188 MB (Fashion-MNIST as floats) takes one page
 * fault per 4 KiB page when first written, and on this project's virtual
 * machines each fault is a trap to the hypervisor: filling it cost 0.49 s, of
 * which 0.46 s were faults.  With transparent huge pages in "madvise" mode
 * (Debian's default) the same block advised MADV_HUGEPAGE before its first
 * write faults once per 2 MiB and fills in 0.03 s.  The advice is only a
 * hint: where huge pages are off or unavailable nothing changes. */
#ifndef BASE_BIGMEM_H
#define BASE_BIGMEM_H

#include <stddef.h>

/* Blocks from this size on are advised (smaller ones gain nothing: they
 * hold no whole aligned 2 MiB page, or too few to matter). */
#define BASE_BIGMEM_MIN ((size_t)4 << 20)

/* Advises the whole 2 MiB-aligned pages inside [p, p + bytes) for huge
 * pages, when bytes >= BASE_BIGMEM_MIN.  Call it before the block's first
 * write: pages already touched stay small until the kernel collapses them.
 * The block stays the caller's (free() it as usual). */
void base_bigmem_advise(void *p, size_t bytes);

/* malloc(bytes), advised as above.  NULL when malloc fails. */
void *base_bigmem_alloc(size_t bytes);

#endif /* BASE_BIGMEM_H */
