/* test_runtime_compiled.c — libebm driving models made by the real code
 * generator (compiler/codegen.h), where test_runtime.c uses a hand-written
 * fake.  Every fixture under tests/fixtures is compiled once (before the
 * tests fork) and opened with ebm_model_open; then, through libebm only:
 *   - ebm_energy / ebm_score against torch's float64 values (energy_f64.npy,
 *     score_f64.npy), norm-wise rel <= 1e-4 as for every float32 path;
 *   - ebm_param_grad, looked up by ONNX initializer name through the
 *     descriptor's parameter table (what training relies on), against
 *     torch.autograd (param_grad/NAME.npy with the weights of weights.npy);
 *   - ebm_langevin (K = 7, on an array at an odd address) against a
 *     step-by-step loop written here with ebm_score and ebm_philox.h, <= 1e-6;
 *   - per-sample results of N = 1 and N = 5 agree (rounding aside: a matrix
 *     product over fewer rows may round differently).
 * The code generator's own tests (test_codegen.c) drive the ABI directly. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "ebm.h"
#include "ebm_philox.h"
#include "npy.h"
#include "testutil.h"

#define MAX_FIXTURES 64
#define TOL_F32 1e-4
#define TOL_LANGEVIN 1e-6
#define TOL_SPLIT 1e-5

static char names[MAX_FIXTURES][TU_NAME_MAX];
static int n_fixtures;
static char so_dir[256];
static char compile_errors[MAX_FIXTURES][EBM_ERROR_MSG_MAX];

/* A copy: tu_path's rotating buffers are reused after 8 calls. */
static const char *fixture_dir(int k)
{
    static char dirs[MAX_FIXTURES][1024];
    snprintf(dirs[k], sizeof dirs[k], "%s/tests/fixtures/%s", tu_source_dir(), names[k]);
    return dirs[k];
}

static const char *fixture_so(int k)
{
    return tu_path("%s/%s.so", so_dir, names[k]);
}

/* In the parent process: every fixture to a .so (errors kept for the tests to report). */
static void compile_all(void)
{
    snprintf(so_dir, sizeof so_dir, "/tmp/ebmc_test_runtime_compiled_XXXXXX");
    if (!mkdtemp(so_dir))
        return;
    n_fixtures = tu_fixture_names(tu_path("%s/tests/fixtures", tu_source_dir()), names, MAX_FIXTURES);
    for (int k = 0; k < n_fixtures; k++) {
        ir_graph *g = NULL;
        ebm_error err = {0};
        char head[64];
        ebm_status st = tu_fixture_head(tu_path("%s/meta.json", fixture_dir(k)), head, sizeof head, &err);
        if (!st)
            st = tu_fixture_graph(fixture_dir(k), &g, &err);
        ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .tile = 3, .energy_head = head};
        if (!st)
            st = ebmc_compile_model(g, &o, fixture_so(k), &err);
        if (st)
            snprintf(compile_errors[k], sizeof compile_errors[k], "%s", err.msg[0] ? err.msg : "failed");
        ir_graph_free(g);
    }
}

static void remove_all(void)
{
    for (int k = 0; k < n_fixtures; k++)
        unlink(fixture_so(k));
    rmdir(so_dir);
}

static ebm_model *open_fixture(int k)
{
    ck_assert_msg(!compile_errors[k][0], "%s: %s", names[k], compile_errors[k]);
    ebm_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open(fixture_so(k), &m, &err) == EBM_OK, "%s", err.msg);
    return m;
}

/* An .npy as float32 (converted from float64) or float64 values. */
static float *read_f32(const char *path, int64_t *numel)
{
    ebm_array a = {0};
    ebm_error err = {0};
    ck_assert_msg(ebm_npy_read(path, &a, &err) == EBM_OK, "%s", err.msg);
    *numel = ebm_array_numel(&a);
    float *v = malloc((size_t)(*numel + 1) * sizeof(float));
    ck_assert_ptr_nonnull(v);
    for (int64_t i = 0; i < *numel; i++)
        v[i] = a.dtype == EBM_NPY_F32 ? ((float *)a.data)[i] : (float)((double *)a.data)[i];
    ebm_array_free(&a);
    return v;
}

static double *read_f64(const char *path, int64_t *numel)
{
    ebm_array a = {0};
    ebm_error err = {0};
    ck_assert_msg(ebm_npy_read(path, &a, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(a.dtype, EBM_NPY_F64);
    *numel = ebm_array_numel(&a);
    return a.data;
}

START_TEST(test_energy_score_vs_torch)
{
    ebm_model *m = open_fixture(_i);
    const char *dir = fixture_dir(_i);
    int64_t xn, en, sn;
    float *x = read_f32(tu_path("%s/input.npy", dir), &xn);
    double *want_e = read_f64(tu_path("%s/energy_f64.npy", dir), &en);
    double *want_s = read_f64(tu_path("%s/score_f64.npy", dir), &sn);
    ck_assert_int_eq(xn, en * ebm_model_sample_numel(m));
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_ctx_new(m, en, &c, &err), EBM_OK);
    float *e = malloc((size_t)en * sizeof(float)), *s = malloc((size_t)xn * sizeof(float));
    ck_assert_msg(ebm_energy(c, x, en, e, &err) == EBM_OK, "%s: %s", names[_i], err.msg);
    double re = tu_rel_err_f32(e, want_e, (size_t)en);
    ck_assert_msg(ebm_score(c, x, en, e, s, &err) == EBM_OK, "%s: %s", names[_i], err.msg);
    double rs = tu_rel_err_f32(s, want_s, (size_t)sn);
    printf("%-26s energy rel %.2e, score rel %.2e\n", names[_i], re, rs);
    ck_assert_msg(re <= TOL_F32 && rs <= TOL_F32, "%s: energy rel %g, score rel %g", names[_i], re, rs);
    free(x), free(want_e), free(want_s), free(e), free(s);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_param_grad_by_name_vs_torch)
{
    ebm_model *m = open_fixture(_i);
    const ebm_abi_model *d = ebm_model_desc(m);
    const char *dir = fixture_dir(_i);
    int64_t xn, wn;
    float *x = read_f32(tu_path("%s/input.npy", dir), &xn);
    float *w = read_f32(tu_path("%s/weights.npy", dir), &wn);
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_ctx_new(m, wn, &c, &err), EBM_OK);
    float *g = malloc((size_t)(d->weights_numel + 1) * sizeof(float));
    ck_assert_msg(ebm_param_grad(c, x, w, wn, NULL, g, &err) == EBM_OK, "%s: %s", names[_i], err.msg);
    /* Norm-wise over all parameters as one vector theta, as test_fixture_grads.c
     * does: one tensor's gradient can be exactly 0 (a bias whose effect the
     * weights after it cancel), where a per-tensor ratio means nothing. */
    int compared = 0;
    double diff = 0, scale = 1e-300;
    for (int k = 0; k < d->n_params; k++) {
        const char *path = tu_path("%s/param_grad/%s.npy", dir, d->params[k].name);
        if (!d->params[k].trainable || !tu_file_exists(path))
            continue;
        int idx = ebm_model_param_index(m, d->params[k].name);
        ck_assert_int_eq(idx, k);
        int64_t numel;
        double *want = read_f64(path, &numel);
        ck_assert_int_eq(numel, d->params[idx].numel);
        const float *got = g + d->params[idx].offset;
        for (int64_t j = 0; j < numel; j++) {
            scale = fmax(scale, fabs(want[j]));
            diff = fmax(diff, isnan(got[j]) ? INFINITY : fabs((double)got[j] - want[j]));
        }
        compared++;
        free(want);
    }
    printf("%-26s param_grad rel %.2e over %d parameters\n", names[_i], diff / scale, compared);
    ck_assert_msg(diff / scale <= TOL_F32, "%s: parameter gradient rel %g", names[_i], diff / scale);
    ck_assert_int_gt(compared, 0);
    free(x), free(w), free(g);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

/* DESIGN.md's update, step by step with ebm_score (see test_runtime.c). */
static void reference_langevin(ebm_ctx *c, float *x, int64_t n, int64_t numel, const ebm_langevin_params *p,
                               float *energy)
{
    float *e = malloc((size_t)n * sizeof(float)), *s = malloc((size_t)(n * numel) * sizeof(float));
    float *eps = malloc((size_t)numel * sizeof(float));
    ebm_error err = {0};
    for (int32_t t = 0; t < p->steps; t++) {
        ck_assert_msg(ebm_score(c, x, n, e, s, &err) == EBM_OK, "%s", err.msg);
        for (int64_t i = 0; i < n; i++) {
            ebm_philox_normals(p->seed, (uint64_t)i, p->step_offset + (uint64_t)t, eps, numel);
            for (int64_t j = 0; j < numel; j++) {
                float g = -s[i * numel + j] / p->temperature;
                if (p->grad_clip > 0)
                    g = fminf(fmaxf(g, -p->grad_clip), p->grad_clip);
                float v = x[i * numel + j] - p->step_size * g + p->noise_scale * eps[j];
                if (p->clamp)
                    v = fminf(fmaxf(v, p->lo), p->hi);
                x[i * numel + j] = v;
            }
        }
    }
    ck_assert_msg(ebm_energy(c, x, n, energy, &err) == EBM_OK, "%s", err.msg);
    free(e), free(s), free(eps);
}

START_TEST(test_langevin_vs_step_loop)
{
    ebm_model *m = open_fixture(_i);
    const int64_t n = 7, numel = ebm_model_sample_numel(m);
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_ctx_new(m, n, &c, &err), EBM_OK);
    float *buf = malloc((size_t)(n * numel + 1) * sizeof(float)), *x = buf + 1;   /* odd address */
    float *r = malloc((size_t)(n * numel) * sizeof(float)), e[7], re[7];
    tu_fill_uniform_f32(x, (size_t)(n * numel), 5, -1, 1);
    memcpy(r, x, (size_t)(n * numel) * sizeof(float));
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 7, p.step_size = 0.05f, p.noise_scale = 0.02f, p.grad_clip = 0.5f, p.seed = 17, p.step_offset = 2;
    ck_assert_msg(ebm_langevin(c, x, n, &p, e, NULL, &err) == EBM_OK, "%s: %s", names[_i], err.msg);
    reference_langevin(c, r, n, numel, &p, re);
    double dx = 0, de = 0;
    for (int64_t i = 0; i < n * numel; i++)
        dx = fmax(dx, fabs((double)x[i] - r[i]));
    for (int64_t i = 0; i < n; i++)
        de = fmax(de, fabs((double)e[i] - re[i]) / fmax(1.0, fabs(re[i])));
    ck_assert_msg(dx <= TOL_LANGEVIN && de <= TOL_LANGEVIN, "%s: state diff %g, energy diff %g", names[_i], dx, de);
    /* sample 0's chain alone (tiles of 1 instead of 3): rounding aside, the same sample */
    tu_fill_uniform_f32(r, (size_t)(n * numel), 5, -1, 1);
    float one_e;
    double split = 0;
    ebm_ctx *c1 = NULL;
    ck_assert_int_eq(ebm_ctx_new(m, 1, &c1, &err), EBM_OK);
    ck_assert_msg(ebm_langevin(c1, r, 1, &p, &one_e, NULL, &err) == EBM_OK, "%s", err.msg);
    for (int64_t j = 0; j < numel; j++)
        split = fmax(split, fabs((double)r[j] - x[j]));
    ck_assert_msg(split <= TOL_SPLIT, "%s: sample 0 alone differs by %g", names[_i], split);
    free(buf), free(r);
    ebm_ctx_free(c);
    ebm_ctx_free(c1);
    ebm_model_close(m);
}
END_TEST

int main(void)
{
    compile_all();
    if (n_fixtures <= 0) {
        fprintf(stderr, "test_runtime_compiled: no fixtures under %s/tests/fixtures\n", tu_source_dir());
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("runtime_compiled");
    TCase *t = tcase_create("fixtures");
    tcase_set_timeout(t, 300);
    tcase_add_loop_test(t, test_energy_score_vs_torch, 0, n_fixtures);
    tcase_add_loop_test(t, test_param_grad_by_name_vs_torch, 0, n_fixtures);
    tcase_add_loop_test(t, test_langevin_vs_step_loop, 0, n_fixtures);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_all();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
