/* alloc_counter.h — counts every heap allocation a test makes between
 * `counting = 1` and `counting = 0`, for the tests of ebm.h's promise that
 * compute calls never allocate.  Under AddressSanitizer (or ThreadSanitizer)
 * through the sanitizer's malloc hook; otherwise by interposing malloc and
 * friends in the test executable (they forward to glibc's __libc_*
 * functions).  Include it in exactly one file of a test executable, then call
 * install_counter() before counting. */
#ifndef EBMC_TEST_ALLOC_COUNTER_H
#define EBMC_TEST_ALLOC_COUNTER_H

#include <check.h>
#include <stddef.h>

static volatile int counting;
static volatile long allocations;

static void note_allocation(void)
{
    if (counting)
        __atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* From <sanitizer/allocator_interface.h>, which gcc does not ship. */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t size)
{
    (void)p;
    (void)size;
    note_allocation();
}

static void on_free(const volatile void *p)
{
    (void)p;
}

static void install_counter(void)
{
    ck_assert_int_ne(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free), 0);
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);

void *malloc(size_t size)
{
    note_allocation();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    note_allocation();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    note_allocation();
    return __libc_realloc(p, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    note_allocation();
    return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    note_allocation();
    void *p = __libc_memalign(align, size);
    if (!p)
        return 12;   /* ENOMEM */
    *out = p;
    return 0;
}

static void install_counter(void)
{
}
#endif

#endif /* EBMC_TEST_ALLOC_COUNTER_H */
