/* test_runtime_alloc.c — ebm.h promises that the compute calls never
 * allocate (ebm_ctx_new allocates everything up front), the Langevin loop
 * above all.  This test counts every heap allocation made while the calls
 * run (alloc_counter.h).  It runs the fake model of
 * tests/data/runtime/quadratic_model.c. */
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_counter.h"
#include "ebm.h"
#include "runtime_fake.h"
#include "testutil.h"

/* The counter itself must work, or the zero below means nothing. */
START_TEST(test_counter_sees_allocations)
{
    install_counter();
    counting = 1;
    allocations = 0;
    void *volatile p = malloc(24);
    ebm_ctx *c = NULL;
    ebm_model *m = fake_open("quadratic");
    ck_assert_int_eq(ebm_ctx_new(m, 8, &c, NULL), EBM_OK);
    counting = 0;
    ck_assert_int_ge(allocations, 3);   /* the malloc, the model, the context */
    free(p);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_compute_calls_do_not_allocate)
{
    install_counter();
    const int64_t n = 100;   /* 7 tiles of 16, the last partial */
    ebm_model *m = fake_open("quadratic");
    ebm_ctx *c = NULL;
    ck_assert_int_eq(ebm_ctx_new(m, n, &c, NULL), EBM_OK);
    /* +1: odd addresses, so the staging copies are used too */
    float *x = calloc(n * FAKE_NUMEL + 1, sizeof(float)), *e = calloc(n + 1, sizeof(float));
    float *s = calloc(n * FAKE_NUMEL + 1, sizeof(float)), *w = calloc(n + 1, sizeof(float));
    float *g = calloc(64, sizeof(float)), *traj = calloc(11 * n * FAKE_NUMEL, sizeof(float));
    ck_assert(x && e && s && w && g && traj);
    tu_fill_uniform_f32(x + 1, (size_t)(n * FAKE_NUMEL), 1, -1, 1);
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 200, p.trajectory_every = 20, p.noise_scale = 0.1f;
    ebm_error err = {0};
    long calls0 = fake_counter("quadratic", "quad_calls");

    counting = 1;
    allocations = 0;
    ebm_status st = ebm_langevin(c, x + 1, n, &p, e + 1, traj, &err);
    long during_langevin = allocations;
    if (!st)
        st = ebm_energy(c, x + 1, n, e + 1, &err);
    if (!st)
        st = ebm_score(c, x + 1, n, e + 1, s + 1, &err);
    if (!st)
        st = ebm_param_grad(c, x + 1, w + 1, n, e + 1, g + 1, &err);
    counting = 0;

    ck_assert_msg(st == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(during_langevin, 0);
    ck_assert_int_eq(allocations, 0);
    ck_assert_int_eq(fake_counter("quadratic", "quad_calls") - calls0, 4 * 7);
    ck_assert_int_eq(fake_counter("quadratic", "quad_contract_violations"), 0);
    free(x), free(e), free(s), free(w), free(g), free(traj);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime_alloc");
    TCase *t = tcase_create("alloc");
    tcase_add_test(t, test_counter_sees_allocations);
    tcase_add_test(t, test_compute_calls_do_not_allocate);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
