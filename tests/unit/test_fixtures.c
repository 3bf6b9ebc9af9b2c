/* test_fixtures.c — every PyTorch fixture under tests/fixtures/<name>/ through
 * the front end and the reference executor, against PyTorch's float64 energies.
 *
 * For each directory holding model.onnx: import (batch symbolic), apply the
 * head from meta.json, fold constants, DCE, verify, run the executor in f64
 * and f32 on input.npy and compare with energy_f64.npy norm-wise.  The folder
 * is listed at run time, so a new fixture is tested without touching this file.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "npy.h"
#include "onnx.h"
#include "passes.h"
#include "testutil.h"

/* Bounds near what is measured (norm-wise, against torch's float64): float64
 * at most 2.1e-9 (mlp_layernorm_gelu, tabular2d: constants the exporter
 * rounded to float32), the rest 1e-12 or less; float32 at most 1.6e-6
 * (resnet_groupnorm).  A bound of 1e-5 in float64 would let a real error
 * 5000 times the worst measured one through. */
#define TOL_F64 1e-8
#define TOL_F32 1e-5
#define MAX_FIXTURES 256

typedef struct fixture_result {
    char name[128];
    int core_nodes;
    double err64, err32;
    ebm_error err;    /* code != EBM_OK: the fixture could not be run */
} fixture_result;



/* Reads input.npy (float32 [N,...]) and energy_f64.npy (float64 [N]). */
static ebm_status read_arrays(const char *dir, ebm_array *x, ebm_array *e, ebm_error *err)
{
    ebm_status st = ebm_npy_read(tu_path("%s/input.npy", dir), x, err);
    if (!st)
        st = ebm_npy_read(tu_path("%s/energy_f64.npy", dir), e, err);
    if (st)
        return st;
    if (x->dtype != EBM_NPY_F32 || x->rank < 1)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s/input.npy: expected float32 [N,...]", dir);
    if (e->dtype != EBM_NPY_F64 || e->rank != 1 || e->shape[0] != x->shape[0])
        return ebm_fail(err, EBM_ERR_FORMAT, "%s/energy_f64.npy: expected float64 [%lld]", dir,
                        (long long)x->shape[0]);
    return EBM_OK;
}

static ebm_status run_both(const ir_graph *g, const ebm_array *x, const ebm_array *e,
                           fixture_result *r, ebm_error *err)
{
    int64_t n = x->shape[0], numel = ebm_array_numel(x);
    /* +1: malloc(0) may return NULL, which is not an allocation failure. */
    double *x64 = malloc((size_t)(numel + 1) * sizeof *x64);
    double *e64 = malloc((size_t)(n + 1) * sizeof *e64);
    float *e32 = malloc((size_t)(n + 1) * sizeof *e32);
    ebm_status st = EBM_OK;
    if (!x64 || !e64 || !e32)
        st = ebm_fail(err, EBM_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; !st && i < numel; i++)
        x64[i] = ((const float *)x->data)[i];
    if (!st && g->n_outputs != 1)
        st = ebm_fail(err, EBM_ERR_INVALID, "%d outputs after the energy head", g->n_outputs);
    if (!st) {
        const void *in64[1] = {x64}, *in32[1] = {x->data};
        void *out64[1] = {e64}, *out32[1] = {e32};
        st = ebmc_exec(g, n, EBMC_F64, in64, out64, err);
        if (!st)
            st = ebmc_exec(g, n, EBMC_F32, in32, out32, err);
    }
    if (!st) {
        r->err64 = tu_rel_err_f64(e64, e->data, (size_t)n);
        r->err32 = tu_rel_err_f32(e32, e->data, (size_t)n);
    }
    free(x64);
    free(e64);
    free(e32);
    return st;
}

static void run_fixture(const char *dir, fixture_result *r)
{
    ir_graph *g = NULL;
    ebm_array x = {0}, e = {0};
    ebm_status st = tu_fixture_graph(dir, &g, &r->err);
    if (!st) {
        r->core_nodes = g->n_nodes;
        st = read_arrays(dir, &x, &e, &r->err);
    }
    if (!st)
        st = run_both(g, &x, &e, r, &r->err);
    r->err.code = st;
    ebm_array_free(&x);
    ebm_array_free(&e);
    ir_graph_free(g);
}

/* Fills res[] with the fixture directories (those holding model.onnx), sorted. */
static int list_fixtures(const char *root, fixture_result *res, int max)
{
    static char names[MAX_FIXTURES][TU_NAME_MAX];
    int n = tu_fixture_names(root, names, max < MAX_FIXTURES ? max : MAX_FIXTURES);
    ck_assert_msg(n >= 0, "cannot open %s", root);
    for (int i = 0; i < n; i++) {
        memset(&res[i], 0, sizeof res[i]);
        snprintf(res[i].name, sizeof res[i].name, "%.127s", names[i]);
    }
    return n;
}

static int result_ok(const fixture_result *r)
{
    return r->err.code == EBM_OK && r->err64 <= TOL_F64 && r->err32 <= TOL_F32;
}

START_TEST(fixtures_match_pytorch)
{
    static fixture_result res[MAX_FIXTURES];
    /* tu_path's buffers rotate, so keep the paths we hold on to in our own. */
    char root[4096], dir[4096 + 160];
    snprintf(root, sizeof root, "%s/tests/fixtures", tu_source_dir());
    int n = list_fixtures(root, res, MAX_FIXTURES);
    ck_assert_msg(n > 0, "no fixtures (directories with model.onnx) under %s", root);

    int failed = 0;
    printf("%-28s %6s %12s %12s\n", "fixture", "nodes", "rel err f64", "rel err f32");
    for (int i = 0; i < n; i++) {
        fixture_result *r = &res[i];
        snprintf(dir, sizeof dir, "%s/%.127s", root, r->name);
        run_fixture(dir, r);
        if (r->err.code)
            printf("%-28s %6s  ERROR: %s\n", r->name, "-", r->err.msg);
        else
            printf("%-28s %6d %12.3g %12.3g%s\n", r->name, r->core_nodes, r->err64, r->err32,
                   result_ok(r) ? "" : "  FAIL");
        failed += !result_ok(r);
    }
    printf("tolerances: f64 %g, f32 %g; %d of %d fixtures failed\n", TOL_F64, TOL_F32, failed, n);
    fflush(stdout);
    ck_assert_msg(failed == 0, "%d of %d fixtures failed (see the table above)", failed, n);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fixtures");
    TCase *tc = tcase_create("fixtures");
    tcase_add_test(tc, fixtures_match_pytorch);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed ? EXIT_FAILURE : EXIT_SUCCESS;
}
