/* test_runtime_threads.c — libebm's threads (runtime/pool.c, run.c): the
 * batch tiles of a call are spread over a context's threads, and ebm.h
 * promises that no result depends on the thread count.  On fixtures compiled
 * with a tile of 4 (so 13 samples are 4 tiles, the last partial):
 *   - energy, score, param_grad, Langevin (with a trajectory) give the same
 *     bytes on 1, 2 and 3 threads, from an aligned and an odd address;
 *   - param_grad equals, bit for bit, the per-tile gradients (one call per
 *     tile) added in tile order, which is what the runtime promises;
 *   - error messages (NaN in two tiles) are the same on 1 and 3 threads and
 *     name the first failing tile;
 *   - the thread count: ebm_ctx_new_threads, $EBM_NUM_THREADS (and a bad
 *     value's error), the cap at the tiles of a full batch;
 *   - no allocation during calls on 2 threads, with a model whose matrix
 *     products are big enough for OpenBLAS to go multithreaded if let. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc_counter.h"
#include "codegen.h"
#include "ebm.h"
#include "zoo.h"
#include "pipeline.h"
#include "testutil.h"

#define TILE 4
#define N 13
#define MAX_THREADS_TESTED 3

static const char *const fixtures[] = {"mlp_silu", "cnn_strided_silu", "resnet_groupnorm", "batchnorm_pool",
                                       "classifier10"};
#define N_FIXTURES ((int)(sizeof fixtures / sizeof fixtures[0]))
#define BIG_MLP N_FIXTURES   /* index of the model built here for the allocation test */
#define BIG_CNN (N_FIXTURES + 1)   /* cnn_strided_silu on BIG_TILE */
#define N_MODELS (N_FIXTURES + 2)
#define BIG_TILE 32

static char so_dir[256];
static char compile_errors[N_MODELS][EBM_ERROR_MSG_MAX];

/* ---- models -------------------------------------------------------------------- */

static const char *model_so(int k)
{
    return tu_path("%s/%d.so", so_dir, k);
}

/* An MLP 256-512-512-1 (SiLU): its products of a 32-sample tile are big
 * enough that OpenBLAS would split them over threads. */
static ebm_status build_big_mlp(ir_graph **g, ebm_error *err)
{
    zoo_spec s;
    zoo_spec_default(&s);
    s.kind = ZOO_MLP;
    s.input_dim = 256;
    s.n_hidden = 2;
    s.hidden[0] = s.hidden[1] = 512;
    s.act = IR_NN_SILU;
    ebmc_options o = {.head = EBM_HEAD_OUTPUT, .verify = 1};
    ebm_status st = zoo_build(&s, 3, g, err);
    if (!st)
        st = ebmc_pass_run(EBMC_PASS_ENERGY_HEAD, *g, &o, err);
    return st;
}

/* In the parent process, before the tests fork. */
static void compile_all(void)
{
    snprintf(so_dir, sizeof so_dir, "/tmp/ebmc_test_runtime_threads_XXXXXX");
    if (!mkdtemp(so_dir))
        return;
    for (int k = 0; k < N_MODELS; k++) {
        ir_graph *g = NULL;
        ebm_error err = {0};
        char head[64] = "output";
        ebm_status st;
        if (k != BIG_MLP) {
            const char *dir = tu_path("%s/tests/fixtures/%s", tu_source_dir(), fixtures[k == BIG_CNN ? 1 : k]);
            char dir_copy[1024];
            snprintf(dir_copy, sizeof dir_copy, "%s", dir);
            st = tu_fixture_head(tu_path("%s/meta.json", dir_copy), head, sizeof head, &err);
            if (!st)
                st = tu_fixture_graph(dir_copy, &g, &err);
        } else {
            st = build_big_mlp(&g, &err);
        }
        ebmc_compile_options o = {.opt_level = 3, .target_cpu = "native", .tile = k < N_FIXTURES ? TILE : BIG_TILE,
                                  .energy_head = head};
        if (!st)
            st = ebmc_compile_model(g, &o, model_so(k), &err);
        if (st)
            snprintf(compile_errors[k], sizeof compile_errors[k], "%s", err.msg[0] ? err.msg : "failed");
        ir_graph_free(g);
    }
}

static void remove_all(void)
{
    for (int k = 0; k < N_MODELS; k++)
        unlink(model_so(k));
    rmdir(so_dir);
}

static const char *model_name(int k)
{
    return k < N_FIXTURES ? fixtures[k] : k == BIG_MLP ? "mlp 256-512-512-1" : "cnn_strided_silu (tile 32)";
}

static ebm_model *open_model(int k)
{
    ck_assert_msg(!compile_errors[k][0], "%s: %s", model_name(k), compile_errors[k]);
    ebm_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open(model_so(k), &m, &err) == EBM_OK, "%s", err.msg);
    return m;
}

static ebm_ctx *new_ctx(ebm_model *m, int64_t capacity, int threads)
{
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_ctx_new_threads(m, capacity, threads, &c, &err) == EBM_OK, "%s", err.msg);
    return c;
}

/* ---- every output of every call, on one thread count ----------------------------- */

typedef struct outputs {
    float *energy, *score, *grad, *grad_energy, *x, *lv_energy, *traj;
} outputs;

#define LV_STEPS 6
#define LV_EVERY 2
#define LV_FRAMES (1 + LV_STEPS / LV_EVERY)

static float *zeros(int64_t count)
{
    float *p = calloc((size_t)count + 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void outputs_free(outputs *o)
{
    free(o->energy), free(o->score), free(o->grad), free(o->grad_energy), free(o->x), free(o->lv_energy);
    free(o->traj);
}

/* Runs energy, score, param_grad and Langevin on `threads` threads; `shift`
 * offsets every array by that many floats (1: odd addresses, so the staging
 * copies are used). */
static outputs run_all_n(ebm_model *m, int64_t count, int threads, int shift)
{
    const int64_t numel = ebm_model_sample_numel(m), wn = ebm_model_desc(m)->weights_numel;
    ebm_ctx *c = new_ctx(m, count, threads);
    ck_assert_int_eq(ebm_ctx_threads(c), threads);
    float *xin = zeros(count * numel + shift), *w = zeros(count + shift);
    tu_fill_uniform_f32(xin + shift, (size_t)(count * numel), 11, -1, 1);
    tu_fill_uniform_f32(w + shift, count, 12, -1, 1);
    outputs o = {zeros(count + shift), zeros(count * numel + shift), zeros(wn + shift), zeros(count + shift),
                 zeros(count * numel + shift), zeros(count + shift), zeros(LV_FRAMES * count * numel + shift)};
    ebm_error err = {0};
    ck_assert_msg(ebm_energy(c, xin + shift, count, o.energy + shift, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebm_score(c, xin + shift, count, o.energy + shift, o.score + shift, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebm_param_grad(c, xin + shift, w + shift, count, o.grad_energy + shift, o.grad + shift, &err) ==
                  EBM_OK, "%s", err.msg);
    memcpy(o.x + shift, xin + shift, (size_t)(count * numel) * sizeof(float));
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = LV_STEPS, p.trajectory_every = LV_EVERY, p.noise_scale = 0.05f, p.grad_clip = 0.5f, p.seed = 9;
    ck_assert_msg(ebm_langevin(c, o.x + shift, count, &p, o.lv_energy + shift, o.traj + shift, &err) == EBM_OK, "%s",
                  err.msg);
    free(xin), free(w);
    ebm_ctx_free(c);
    return o;
}

static outputs run_all(ebm_model *m, int threads, int shift)
{
    return run_all_n(m, N, threads, shift);
}

static void assert_same(const float *a, const float *b, int64_t count, const char *what, int k, int threads)
{
    int64_t i = 0;
    while (i < count && memcmp(&a[i], &b[i], sizeof(float)) == 0)
        i++;
    ck_assert_msg(i == count, "%s: %s on %d threads differs from 1 thread at [%lld]: %.9g vs %.9g",
                  model_name(k), what, threads, (long long)i, (double)b[i], (double)a[i]);
}

/* Every output of run_all_n on `count` samples, `shift`ed, the same bytes. */
static void assert_outputs_same(const outputs *one, const outputs *o, ebm_model *m, int64_t count, int shift, int k,
                                int threads)
{
    const int64_t numel = ebm_model_sample_numel(m), wn = ebm_model_desc(m)->weights_numel;
    assert_same(one->energy + shift, o->energy + shift, count, "energy", k, threads);
    assert_same(one->score + shift, o->score + shift, count * numel, "score", k, threads);
    assert_same(one->grad + shift, o->grad + shift, wn, "param_grad", k, threads);
    assert_same(one->grad_energy + shift, o->grad_energy + shift, count, "param_grad's energy", k, threads);
    assert_same(one->x + shift, o->x + shift, count * numel, "Langevin state", k, threads);
    assert_same(one->lv_energy + shift, o->lv_energy + shift, count, "Langevin energy", k, threads);
    assert_same(one->traj + shift, o->traj + shift, LV_FRAMES * count * numel, "Langevin trajectory", k, threads);
}

START_TEST(test_same_bytes_on_1_2_3_threads)
{
    ebm_model *m = open_model(_i);
    const int64_t numel = ebm_model_sample_numel(m);
    for (int shift = 0; shift <= 1; shift++) {
        outputs one = run_all(m, 1, shift);
        /* the chains moved: a Langevin that did nothing would be the same everywhere */
        float *x0 = zeros(N * numel);
        tu_fill_uniform_f32(x0, (size_t)(N * numel), 11, -1, 1);
        ck_assert(memcmp(x0, one.x + shift, (size_t)(N * numel) * sizeof(float)) != 0);
        free(x0);
        for (int t = 2; t <= MAX_THREADS_TESTED; t++) {
            outputs o = run_all(m, t, shift);
            assert_outputs_same(&one, &o, m, N, shift, _i, t);
            outputs_free(&o);
        }
        outputs_free(&one);
    }
    ebm_model_close(m);
}
END_TEST

/* A batch of fewer tiles than threads is split into parts of 16 samples
 * for energy, score and Langevin (run.c split_tile), with the same bytes as
 * on 1 thread: 30 samples (one tile of 32) as 16 + 14 on 2 threads, 40 (32 +
 * 8) as 16 + 16 + 8 on 3; the context takes as many threads as there are
 * parts (before the split: 1 and 2). */
START_TEST(test_small_batch_split_same_bytes)
{
    const int k = _i ? BIG_CNN : BIG_MLP;
    ebm_model *m = open_model(k);
    ck_assert_int_eq(ebm_model_desc(m)->tile, BIG_TILE);
    for (int t = 2; t <= 3; t++) {
        const int64_t n = t == 2 ? 30 : 40;
        ebm_ctx *c = new_ctx(m, n, t);
        ck_assert_int_eq(ebm_ctx_threads(c), t);
        ebm_ctx_free(c);
        for (int sh = 0; sh <= 1; sh++) {   /* the caller's arrays, and the staging copies */
            outputs one = run_all_n(m, n, 1, sh), o = run_all_n(m, n, t, sh);
            assert_outputs_same(&one, &o, m, n, sh, k, t);
            outputs_free(&one);
            outputs_free(&o);
        }
    }
    ebm_model_close(m);
}
END_TEST

/* The promised sum: ((0 + g_0) + g_1) + ... over the tiles' own gradients,
 * each from a call on that tile alone (so with the same tile composition). */
START_TEST(test_param_grad_is_tile_sum_in_order)
{
    ebm_model *m = open_model(_i);
    const int64_t numel = ebm_model_sample_numel(m), wn = ebm_model_desc(m)->weights_numel;
    float *x = zeros(N * numel), *w = zeros(N), *got = zeros(wn), *want = zeros(wn), *part = zeros(wn);
    tu_fill_uniform_f32(x, (size_t)(N * numel), 21, -1, 1);
    tu_fill_uniform_f32(w, N, 22, -1, 1);
    ebm_ctx *c3 = new_ctx(m, N, 3), *c1 = new_ctx(m, TILE, 1);
    ebm_error err = {0};
    ck_assert_msg(ebm_param_grad(c3, x, w, N, NULL, got, &err) == EBM_OK, "%s", err.msg);
    for (int64_t i0 = 0; i0 < N; i0 += TILE) {
        int64_t k = N - i0 < TILE ? N - i0 : TILE;
        ck_assert_msg(ebm_param_grad(c1, x + i0 * numel, w + i0, k, NULL, part, &err) == EBM_OK, "%s", err.msg);
        for (int64_t j = 0; j < wn; j++)
            want[j] = i0 == 0 ? 0.0f + part[j] : want[j] + part[j];
    }
    assert_same(want, got, wn, "param_grad vs the tile sum", _i, 3);
    free(x), free(w), free(got), free(want), free(part);
    ebm_ctx_free(c3);
    ebm_ctx_free(c1);
    ebm_model_close(m);
}
END_TEST

/* NaN in samples 5 and 10 (tiles 1 and 2): the same message on any thread
 * count, naming tile 1 (samples 4..7) for Langevin. */
START_TEST(test_errors_name_the_first_tile)
{
    ebm_model *m = open_model(0);
    const int64_t numel = ebm_model_sample_numel(m);
    float *x = zeros(N * numel), *e = zeros(N), *xl = zeros(N * numel);
    char msg[2][2][EBM_ERROR_MSG_MAX];
    for (int r = 0; r < 2; r++) {
        int threads = r == 0 ? 1 : 3;
        ebm_ctx *c = new_ctx(m, N, threads);
        tu_fill_uniform_f32(x, (size_t)(N * numel), 31, -1, 1);
        x[5 * numel + 1] = NAN;
        x[10 * numel] = INFINITY;
        ebm_error err = {0};
        ck_assert_int_eq(ebm_energy(c, x, N, e, &err), EBM_ERR_NUMERIC);
        snprintf(msg[r][0], sizeof msg[r][0], "%s", err.msg);
        memcpy(xl, x, (size_t)(N * numel) * sizeof(float));
        ebm_langevin_params p = ebm_langevin_defaults();
        p.steps = 3;
        ck_assert_int_eq(ebm_langevin(c, xl, N, &p, e, NULL, &err), EBM_ERR_NUMERIC);
        snprintf(msg[r][1], sizeof msg[r][1], "%s", err.msg);
        ebm_ctx_free(c);
    }
    ck_assert_msg(strstr(msg[0][0], "for 2 of 13 samples (first: sample 5)"), "%s", msg[0][0]);
    ck_assert_msg(strstr(msg[0][1], "samples 4..7 of 13, the first tile that failed"), "%s", msg[0][1]);
    ck_assert_msg(strstr(msg[0][1], "first: sample 5"), "%s", msg[0][1]);
    ck_assert_str_eq(msg[0][0], msg[1][0]);
    ck_assert_str_eq(msg[0][1], msg[1][1]);
    free(x), free(e), free(xl);
    ebm_model_close(m);
}
END_TEST

START_TEST(test_thread_count)
{
    ebm_model *m = open_model(0);
    ebm_ctx *c = NULL;
    ebm_error err = {0};
    /* capped at the tiles of a full batch: 5 samples are 2 tiles of 4 */
    c = new_ctx(m, 5, 8);
    ck_assert_int_eq(ebm_ctx_threads(c), 2);
    ebm_ctx_free(c);
    ck_assert_int_eq(setenv("EBM_NUM_THREADS", "3", 1), 0);
    ck_assert_int_eq(ebm_ctx_new(m, 100, &c, &err), EBM_OK);
    ck_assert_int_eq(ebm_ctx_threads(c), 3);
    ebm_ctx_free(c);
    c = new_ctx(m, 100, 2);   /* the explicit count wins */
    ck_assert_int_eq(ebm_ctx_threads(c), 2);
    ebm_ctx_free(c);
    ck_assert_int_eq(setenv("EBM_NUM_THREADS", "two", 1), 0);
    ck_assert_int_eq(ebm_ctx_new(m, 100, &c, &err), EBM_ERR_INVALID);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "EBM_NUM_THREADS = 'two', expected a thread count 1..1024"), "%s", err.msg);
    ck_assert_int_eq(unsetenv("EBM_NUM_THREADS"), 0);
    ck_assert_int_eq(ebm_ctx_new(m, 100, &c, &err), EBM_OK);   /* one per core */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_eq(ebm_ctx_threads(c), cores < 25 ? cores : 25);
    ebm_ctx_free(c);
    ck_assert_int_eq(ebm_ctx_new_threads(m, 100, -1, &c, &err), EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "threads = -1, expected 0 (the default) or 1..1024"), "%s", err.msg);
    ebm_model_close(m);
}
END_TEST

/* Calls on 2 threads allocate nothing, including inside OpenBLAS: 3 tiles
 * (both threads busy) and 1 tile (the caller alone). */
START_TEST(test_no_allocation_on_threads)
{
    install_counter();
    const int64_t n = 3 * BIG_TILE;
    ebm_model *m = open_model(BIG_MLP);
    const int64_t numel = ebm_model_sample_numel(m), wn = ebm_model_desc(m)->weights_numel;
    ebm_ctx *c = new_ctx(m, n, 2);
    ck_assert_int_eq(ebm_ctx_threads(c), 2);
    float *x = zeros(n * numel + 1), *e = zeros(n + 1), *s = zeros(n * numel + 1), *w = zeros(n + 1);
    float *g = zeros(wn + 1), *traj = zeros(3 * n * numel);
    tu_fill_uniform_f32(x + 1, (size_t)(n * numel), 41, -1, 1);
    tu_fill_uniform_f32(w + 1, (size_t)n, 42, -1, 1);
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 4, p.trajectory_every = 2;
    ebm_error err = {0};
    ck_assert_msg(ebm_langevin(c, x + 1, n, &p, e + 1, traj, &err) == EBM_OK, "%s", err.msg);   /* warm-up */
    for (int pass = 0; pass < 2; pass++) {
        int64_t k = pass == 0 ? n : BIG_TILE;
        counting = 1;
        allocations = 0;
        ebm_status st = ebm_langevin(c, x + 1, k, &p, e + 1, traj, &err);
        if (!st)
            st = ebm_energy(c, x + 1, k, e + 1, &err);
        if (!st)
            st = ebm_score(c, x + 1, k, e + 1, s + 1, &err);
        if (!st)
            st = ebm_param_grad(c, x + 1, w + 1, k, e + 1, g + 1, &err);
        counting = 0;
        ck_assert_msg(st == EBM_OK, "%s", err.msg);
        ck_assert_msg(allocations == 0, "%ld allocations during calls on %lld samples", (long)allocations,
                      (long long)k);
    }
    free(x), free(e), free(s), free(w), free(g), free(traj);
    ebm_ctx_free(c);
    ebm_model_close(m);
}
END_TEST

int main(void)
{
    compile_all();
    Suite *s = suite_create("runtime_threads");
    TCase *t = tcase_create("threads");
    tcase_set_timeout(t, 300);
    tcase_add_loop_test(t, test_same_bytes_on_1_2_3_threads, 0, N_FIXTURES);
    tcase_add_loop_test(t, test_param_grad_is_tile_sum_in_order, 0, N_FIXTURES);
    tcase_add_test(t, test_errors_name_the_first_tile);
    tcase_add_test(t, test_thread_count);
    tcase_add_test(t, test_no_allocation_on_threads);
    tcase_add_loop_test(t, test_small_batch_split_same_bytes, 0, 2);
    suite_add_tcase(s, t);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    remove_all();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
