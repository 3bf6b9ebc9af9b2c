/* test_gemm.c — the GEMM kernels (compiler/kernels/ebmk_gemm.h) on their
 * own, and the form compiler/codegen_c_gemm.c picks per shape.
 *
 * The kernels are compiled in the build (kernels_gemm.c, one wrapper per
 * shape of gemm_shapes.h with K and N constants) with the flags models are
 * compiled with, for -march=native and for generic x86-64 (SSE vectors, no
 * FMA), and linked in:
 *   - against a double-precision product for awkward shapes: rows n = 1, 2,
 *     7, 64, 65; K and N not multiples of any vector width (and 1); each
 *     element within K * 2^-23 of sum_k |a_ik b_kj| (a float sum of K terms);
 *   - a row's result bit for bit the same whatever n and whatever rows share
 *     its block: n = 1, 2, 3, 7, 64, 65, and the same rows shifted by one;
 *   - every NN element bit for bit the k-order chain acc = fma(a_ik, w_kj, acc)
 *     (a multiply then an add without FMA), for the shapes above at every row
 *     count, and in the convolutions' form (m and K constants, N at run time:
 *     1..1030 columns, so tails, many strips and N a multiple of 1024);
 *   - the form chosen per shape (N = 1 a dot product, K = 1 an axpy) and the
 *     prologue transpose only for short K;
 *   - what a model gets: the embedded text (ebmc_emit_gemm_helpers) with the
 *     calls ebmc_emit_gemm_call writes, compiled at run time by ebmc_cc_run,
 *     gives the same bits as the kernels compiled in the build.
 * That the header compiles under -Wall -Wextra -Werror for each target is
 * checked by the build (compiler/kernels/ebmk_check.c).
 */
#include <check.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cc.h"
#include "codegen_c.h"
#include "gemm_shapes.h"
#include "testutil.h"

typedef struct shape {
    int64_t k, n;
    int trans_b;   /* B = W^T with W [n, k] */
    ebmc_gemm_form form;
} shape;
#define SHAPE_ROW(i, k, n, trans_b, form) {k, n, trans_b, EBMC_GEMM_##form},
static const shape shapes[] = {GEMM_SHAPES(SHAPE_ROW)};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))
static const int64_t rows[] = {1, 2, 7, 64, 65};
#define MAX_ROWS 66

typedef struct conv_shape {
    int64_t m, k;
} conv_shape;
#define CONV_ROW(i, m, k) {m, k},
static const conv_shape conv_shapes[] = {GEMM_CONV_SHAPES(CONV_ROW)};
#define N_CONV ((int)(sizeof conv_shapes / sizeof conv_shapes[0]))
static const int64_t conv_ns[] = {1, 15, 16, 17, 64, 100, 200, 1024, 1030};
#define MAX_CONV_N 1030

/* The kernels of a target: "native" or "generic". */
static const gemm_shape_fn *shape_fns(const char *cpu)
{
    return strcmp(cpu, "native") == 0 ? gemm_shape_native : gemm_shape_generic;
}

static const gemm_conv_fn *conv_fns(const char *cpu)
{
    return strcmp(cpu, "native") == 0 ? gemm_conv_native : gemm_conv_generic;
}

/* W as stored: [n, k] when trans_b, else [k, n]. */
static float w_at(const shape *sh, const float *w, int64_t k, int64_t j)
{
    return sh->trans_b ? w[j * sh->k + k] : w[k * sh->n + j];
}

static void check_against_double(const char *cpu)
{
    const gemm_shape_fn *fns = shape_fns(cpu);
    for (int s = 0; s < N_SHAPES; s++) {
        const shape *sh = &shapes[s];
        float *a = malloc(sizeof(float) * MAX_ROWS * sh->k), *w = malloc(sizeof(float) * sh->k * sh->n);
        float *c = malloc(sizeof(float) * MAX_ROWS * sh->n);
        ck_assert(a && w && c);
        tu_fill_uniform_f32(a, (size_t)(MAX_ROWS * sh->k), 11 + (uint64_t)s, -1, 1);
        tu_fill_uniform_f32(w, (size_t)(sh->k * sh->n), 97 + (uint64_t)s, -1, 1);
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            const int64_t m = rows[r];
            fns[s](m, a, w, c);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < sh->n; j++) {
                    double want = 0, mag = 0;
                    for (int64_t k = 0; k < sh->k; k++) {
                        double t = (double)a[i * sh->k + k] * w_at(sh, w, k, j);
                        want += t;
                        mag += fabs(t);
                    }
                    double tol = (double)sh->k * 0x1p-23 * mag;
                    ck_assert_msg(fabs(c[i * sh->n + j] - want) <= tol,
                                  "%s K=%lld N=%lld transB=%d m=%lld: c[%lld,%lld] = %.9g, want %.9g (tol %.3g)", cpu,
                                  (long long)sh->k, (long long)sh->n, sh->trans_b, (long long)m, (long long)i,
                                  (long long)j, c[i * sh->n + j], want, tol);
                }
        }
        free(a);
        free(w);
        free(c);
    }
}

START_TEST(matches_double_native)
{
    check_against_double("native");
}
END_TEST

START_TEST(matches_double_generic)
{
    check_against_double("generic");
}
END_TEST

/* Row i of A gives the same bits in C whatever the row count m and wherever
 * the row sits (blocks of rows start at row 0 of the call). */
static void check_rows_independent(const char *cpu)
{
    const gemm_shape_fn *fns = shape_fns(cpu);
    static const int64_t ms[] = {1, 2, 3, 7, 64, 65};
    for (int s = 0; s < N_SHAPES; s++) {
        const shape *sh = &shapes[s];
        float *a = malloc(sizeof(float) * MAX_ROWS * sh->k), *w = malloc(sizeof(float) * sh->k * sh->n);
        float *full = malloc(sizeof(float) * MAX_ROWS * sh->n), *c = malloc(sizeof(float) * MAX_ROWS * sh->n);
        ck_assert(a && w && full && c);
        tu_fill_uniform_f32(a, (size_t)(MAX_ROWS * sh->k), 5 + (uint64_t)s, -2, 2);
        tu_fill_uniform_f32(w, (size_t)(sh->k * sh->n), 7 + (uint64_t)s, -2, 2);
        fns[s](MAX_ROWS, a, w, full);
        for (size_t r = 0; r < sizeof ms / sizeof ms[0]; r++)
            for (int64_t shift = 0; shift <= 1; shift++) {
                const int64_t m = ms[r];
                fns[s](m, a + shift * sh->k, w, c);
                ck_assert_msg(memcmp(c, full + shift * sh->n, sizeof(float) * (size_t)(m * sh->n)) == 0,
                              "%s K=%lld N=%lld transB=%d: rows %lld..%lld differ from the %d-row call", cpu,
                              (long long)sh->k, (long long)sh->n, sh->trans_b, (long long)shift,
                              (long long)(shift + m - 1), MAX_ROWS);
            }
        free(a);
        free(w);
        free(full);
        free(c);
    }
}

START_TEST(rows_independent_of_n_native)
{
    check_rows_independent("native");
}
END_TEST

START_TEST(rows_independent_of_n_generic)
{
    check_rows_independent("generic");
}
END_TEST

/* The k-order chain every NN element must equal: acc = 0; acc = fma(a_ik,
 * w_kj, acc) for k = 0..K-1 (a multiply, then an add, without FMA). */
static float nn_chain(int fma, int64_t k, const float *a, const float *w, int64_t ldw)
{
    float acc = 0;
    for (int64_t q = 0; q < k; q++) {
        if (fma) {
            acc = fmaf(a[q], w[q * ldw], acc);
        } else {
            volatile float p = a[q] * w[q * ldw];
            acc = p + acc;
        }
    }
    return acc;
}

/* NN products bit for bit the k-order chain: the MLP shapes for every row
 * count, and the convolution form (m, K constant, N at run time) for column
 * counts from 1 to 1030 (tails, several strips, N a multiple of 1024). */
static void check_nn_chain(const char *cpu, int fma)
{
    const gemm_shape_fn *fns = shape_fns(cpu);
    const gemm_conv_fn *convs = conv_fns(cpu);
    for (int s = 0; s < N_SHAPES; s++) {
        const shape *sh = &shapes[s];
        if (ebmc_gemm_form_of(sh->k, sh->n, sh->trans_b) != EBMC_GEMM_NN)
            continue;
        float *a = malloc(sizeof(float) * MAX_ROWS * sh->k), *w = malloc(sizeof(float) * sh->k * sh->n);
        float *c = malloc(sizeof(float) * MAX_ROWS * sh->n);
        ck_assert(a && w && c);
        tu_fill_uniform_f32(a, (size_t)(MAX_ROWS * sh->k), 21 + (uint64_t)s, -1, 1);
        tu_fill_uniform_f32(w, (size_t)(sh->k * sh->n), 23 + (uint64_t)s, -1, 1);
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            fns[s](rows[r], a, w, c);
            for (int64_t i = 0; i < rows[r]; i++)
                for (int64_t j = 0; j < sh->n; j++) {
                    float want = nn_chain(fma, sh->k, a + i * sh->k, w + j, sh->n);
                    ck_assert_msg(memcmp(&want, &c[i * sh->n + j], sizeof want) == 0,
                                  "%s K=%lld N=%lld m=%lld: c[%lld,%lld] = %a, the chain gives %a", cpu,
                                  (long long)sh->k, (long long)sh->n, (long long)rows[r], (long long)i, (long long)j,
                                  c[i * sh->n + j], want);
                }
        }
        free(a);
        free(w);
        free(c);
    }
    for (int s = 0; s < N_CONV; s++) {
        const conv_shape *cs = &conv_shapes[s];
        float *a = malloc(sizeof(float) * cs->m * cs->k), *w = malloc(sizeof(float) * cs->k * MAX_CONV_N);
        float *c = malloc(sizeof(float) * cs->m * MAX_CONV_N);
        ck_assert(a && w && c);
        tu_fill_uniform_f32(a, (size_t)(cs->m * cs->k), 31 + (uint64_t)s, -1, 1);
        tu_fill_uniform_f32(w, (size_t)(cs->k * MAX_CONV_N), 37 + (uint64_t)s, -1, 1);
        for (size_t q = 0; q < sizeof conv_ns / sizeof conv_ns[0]; q++) {
            const int64_t n = conv_ns[q];
            convs[s](n, a, w, c);
            for (int64_t i = 0; i < cs->m; i++)
                for (int64_t j = 0; j < n; j++) {
                    float want = nn_chain(fma, cs->k, a + i * cs->k, w + j, n);
                    ck_assert_msg(memcmp(&want, &c[i * n + j], sizeof want) == 0,
                                  "%s conv m=%lld K=%lld N=%lld: c[%lld,%lld] = %a, the chain gives %a", cpu,
                                  (long long)cs->m, (long long)cs->k, (long long)n, (long long)i, (long long)j,
                                  c[i * n + j], want);
                }
        }
        free(a);
        free(w);
        free(c);
    }
}

START_TEST(nn_chain_native)
{
    /* -march=native vectors fuse when the CPU has FMA (AVX2 with FMA, AVX-512) */
    __builtin_cpu_init();
    check_nn_chain("native", __builtin_cpu_supports("fma"));
}
END_TEST

START_TEST(nn_chain_generic)
{
    check_nn_chain("generic", 0);
}
END_TEST

START_TEST(form_by_shape)
{
    ck_assert_int_eq(ebmc_gemm_form_of(784, 256, 1), EBMC_GEMM_NT);
    ck_assert_int_eq(ebmc_gemm_form_of(256, 784, 0), EBMC_GEMM_NN);
    ck_assert_int_eq(ebmc_gemm_form_of(256, 1, 0), EBMC_GEMM_NT);   /* W [256,1] is W^T [1,256] */
    ck_assert_int_eq(ebmc_gemm_form_of(1, 256, 1), EBMC_GEMM_NN);   /* W [256,1] read as [1,256] */
    ck_assert_int_eq(ebmc_gemm_form_of(64, 2, 0), EBMC_GEMM_NT_COPY);   /* a toy model's input gradient */
    ck_assert_int_eq(ebmc_gemm_form_of(5, 2, 0), EBMC_GEMM_NN);         /* too short to fill a vector */
    ck_assert_int_eq(ebmc_gemm_form_of(IR_DIM_N, 8, 0), EBMC_GEMM_BLAS);
    ck_assert_int_eq(ebmc_gemm_form_of(8, IR_DIM_N, 1), EBMC_GEMM_BLAS);
    ck_assert(ebmc_gemm_packs_transpose(2, 64));
    ck_assert(!ebmc_gemm_packs_transpose(784, 256));
    for (int s = 0; s < N_SHAPES; s++)   /* the forms kernels_gemm.c compiled */
        ck_assert_msg(ebmc_gemm_form_of(shapes[s].k, shapes[s].n, shapes[s].trans_b) == shapes[s].form,
                      "K=%lld N=%lld transB=%d: form %d, gemm_shapes.h says %d", (long long)shapes[s].k,
                      (long long)shapes[s].n, shapes[s].trans_b,
                      (int)ebmc_gemm_form_of(shapes[s].k, shapes[s].n, shapes[s].trans_b), (int)shapes[s].form);
    ck_assert(!ebmc_gemm_packs_transpose(1, 64) && !ebmc_gemm_packs_transpose(64, 1));
}
END_TEST

/* The embedded kernel text and one exported wrapper per shape, with the
 * calls the C backend writes: what a model carries. */
static char *model_source(void)
{
    ebmc_buf b = {0};
    ebmc_buf_puts(&b, "#include <stdint.h>\n#include <string.h>\n\n");
    ebmc_emit_gemm_helpers(&b);
    for (int s = 0; s < N_SHAPES; s++) {
        ebmc_buf_printf(&b, "__attribute__((visibility(\"default\"))) void gemm_%d(int64_t m, const float *a, "
                            "const float *w, float *c)\n{\n", s);
        ebmc_emit_gemm_call(&b, "    ", shapes[s].form, "m", shapes[s].k, shapes[s].n, "a", "w", "c");
        ebmc_buf_puts(&b, "}\n");
    }
    ck_assert(!b.oom);
    return b.s;
}

/* The model's copy, compiled at run time as cc.c compiles models, gives the
 * bits of the kernels compiled in the build, for every shape and row count. */
START_TEST(embedded_text_same_bits)
{
    tu_scratch_make("gemm");
    char *src = model_source();
    const char *so_path = tu_scratch_file("gemm.so");
    ebmc_cc_job job = {.cc = "cc", .opt_level = 3, .target_cpu = "native", .c_source = src, .out_path = so_path};
    ebm_error err = {0};
    ck_assert_msg(ebmc_cc_run(&job, &err) == EBM_OK, "%s", err.msg);
    free(src);
    void *so = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(so != NULL, "%s", dlerror());
    for (int s = 0; s < N_SHAPES; s++) {
        const shape *sh = &shapes[s];
        char name[32];
        snprintf(name, sizeof name, "gemm_%d", s);
        gemm_shape_fn model;
        *(void **)&model = dlsym(so, name);
        ck_assert_msg(model != NULL, "%s", name);
        float *a = malloc(sizeof(float) * MAX_ROWS * sh->k), *w = malloc(sizeof(float) * sh->k * sh->n);
        float *want = malloc(sizeof(float) * MAX_ROWS * sh->n), *got = malloc(sizeof(float) * MAX_ROWS * sh->n);
        ck_assert(a && w && want && got);
        tu_fill_uniform_f32(a, (size_t)(MAX_ROWS * sh->k), 41 + (uint64_t)s, -1, 1);
        tu_fill_uniform_f32(w, (size_t)(sh->k * sh->n), 43 + (uint64_t)s, -1, 1);
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
            gemm_shape_native[s](rows[r], a, w, want);
            model(rows[r], a, w, got);
            ck_assert_msg(memcmp(want, got, sizeof(float) * (size_t)(rows[r] * sh->n)) == 0,
                          "K=%lld N=%lld transB=%d m=%lld: the model's copy differs from the build's",
                          (long long)sh->k, (long long)sh->n, sh->trans_b, (long long)rows[r]);
        }
        free(a);
        free(w);
        free(want);
        free(got);
    }
    dlclose(so);
    tu_scratch_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, form_by_shape);
    tcase_add_test(tc, matches_double_native);
    tcase_add_test(tc, matches_double_generic);
    tcase_add_test(tc, rows_independent_of_n_native);
    tcase_add_test(tc, rows_independent_of_n_generic);
    tcase_add_test(tc, nn_chain_native);
    tcase_add_test(tc, nn_chain_generic);
    tcase_add_test(tc, embedded_text_same_bits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
