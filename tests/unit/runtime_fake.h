/* runtime_fake.h — where the runtime tests find the hand-written fake
 * compiled models (tests/data/runtime/quadratic_model.c, built by
 * tests/data/runtime/CMakeLists.txt), and their closed-form energy. */
#ifndef EBMC_RUNTIME_FAKE_H
#define EBMC_RUNTIME_FAKE_H

#include <check.h>
#include <dlfcn.h>

#include "ebm.h"
#include "testutil.h"

#define FAKE_NUMEL 4          /* samples are [2, 2] */
#define FAKE_TILE 16          /* of quadratic.so */
#define FAKE_INV_VAR 0        /* parameter indices */
#define FAKE_CENTER 1

static inline const char *fake_path(const char *name)
{
    return tu_path("%s/../testdata/runtime/%s.so", tu_bin_dir(), name);
}

static inline ebm_model *fake_open(const char *name)
{
    ebm_model *m = NULL;
    ebm_error err = {0};
    ebm_status st = ebm_model_open(fake_path(name), &m, &err);
    ck_assert_msg(st == EBM_OK, "%s: %s", fake_path(name), err.msg);
    return m;
}

/* A counter the fake model exports (quad_calls, quad_contract_violations,
 * quad_max_n): the model must already be open. */
static inline long fake_counter(const char *name, const char *counter)
{
    void *h = dlopen(fake_path(name), RTLD_NOW | RTLD_NOLOAD);
    ck_assert_msg(h != NULL, "%s is not loaded", fake_path(name));
    long *c = dlsym(h, counter);
    ck_assert_ptr_nonnull(c);
    long v = __atomic_load_n(c, __ATOMIC_RELAXED);
    dlclose(h);
    return v;
}

#endif
