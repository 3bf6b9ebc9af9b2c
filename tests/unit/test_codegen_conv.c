/* test_codegen_conv.c — the C backend's convolution kernels (conv2d and its
 * two transposes, compiler/codegen_c_kernels.c with the helpers of
 * compiler/kernels/ebmk_conv.h) against the reference executor in double precision.
 *
 * Each case is a one-layer model E(x) = 1/2 sum conv2d(x, W)^2, so that the
 * SCORE program runs conv2d and CONV2D_BWD_DATA (dE/dy = y) and PARAM_GRAD
 * runs CONV2D_BWD_FILTER.  The geometries cover 1 and 3 channels, odd and
 * non-square images, strides 1, 2 and 3, symmetric and asymmetric padding,
 * dilation, groups, non-square kernels, strided 1x1 kernels (phase planes no
 * cell reads), input rows and columns no window reaches (their gradient is
 * 0), the unpadded 1x1 path, an image large enough that a tile is split
 * into several GEMM chunks, and the Winograd path (3x3, stride 1, padding 1,
 * >= 16 channels) on even and odd image sizes and over several chunks, and
 * (row_cases) the stride-2 row split and merge and the batched 1x1 path on
 * harder shapes.  Each
 * model is compiled with a small tile and run over a batch that is not a
 * multiple of it:
 *   - energy, score and parameter gradient against ebmc_exec in float64:
 *     norm-wise relative error <= 1e-5 (float32 sums of at most a few
 *     thousand terms);
 *   - the arena (im2col matrices, staging, phase planes) is filled with NaN
 *     before every run, and a second run on an arena of zeros gives the same
 *     bits: no kernel reads scratch it has not written;
 *   - the batch run one sample per call gives the same bits as whole tiles:
 *     the forward and input-gradient products are the generated GEMM, whose
 *     sums do not depend on how many samples share it (OpenBLAS's sgemm, used
 *     before, rounds an element differently with the matrix sizes around it).
 */
#include <check.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "codegen.h"
#include "ebm_abi.h"
#include "exec.h"
#include "testutil.h"

#define TOL 1e-5

typedef struct conv_case {
    const char *name;
    int64_t c, h, w, o, kh, kw;
    int64_t stride[2], pad[4], dilation[2], group;
    int64_t n, tile;   /* batch and tile */
} conv_case;

static const conv_case cases[] = {
    {"c1_7x7_k3_s1_p1", 1, 7, 7, 4, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 5, 3},
    {"c3_9x9_k3_s2_p1", 3, 9, 9, 5, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1, 5, 3},
    {"c3_8x10_k3_s2_p0_unread", 3, 8, 10, 4, 3, 3, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, 5, 3},
    {"c2_5x7_k2_s2_unread_rows", 2, 5, 7, 3, 2, 2, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, 4, 3},
    {"c4_6x6_k1_s2", 4, 6, 6, 6, 1, 1, {2, 2}, {0, 0, 0, 0}, {1, 1}, 1, 5, 3},
    {"c4_7x5_g2_asym_pad", 4, 7, 5, 4, 3, 3, {1, 1}, {1, 0, 0, 2}, {1, 1}, 2, 5, 3},
    {"c3_9x9_k3_d2_p2", 3, 9, 9, 3, 3, 3, {1, 1}, {2, 2, 2, 2}, {2, 2}, 1, 5, 3},
    {"c2_11x10_k2x4_s3x2", 2, 11, 10, 3, 2, 4, {3, 2}, {1, 1, 1, 1}, {1, 1}, 1, 5, 3},
    {"c5_4x4_k1_pointwise", 5, 4, 4, 3, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, 5, 3},
    {"c3_64x64_k3_chunked", 3, 64, 64, 8, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 10, 8},
    {"c16_6x6_k3_winograd", 16, 6, 6, 16, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 5, 3},
    {"c17_5x7_k3_winograd_odd", 17, 5, 7, 24, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 5, 3},
    {"c16_16x16_k3_winograd_chunks", 16, 16, 16, 20, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 13, 10},
};

/* E(x) = 1/2 sum conv2d(x, W)^2 with W uniform in [-1, 1). */
static ir_graph *conv_graph(const conv_case *k)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    ck_assert_ptr_nonnull(g);
    int64_t wn = k->o * (k->c / k->group) * k->kh * k->kw;
    float *wd = malloc((size_t)wn * sizeof *wd);
    ck_assert_ptr_nonnull(wd);
    tu_fill_uniform_f32(wd, (size_t)wn, 77, -1, 1);
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, k->c, k->h, k->w), &err);
    int w = ir_add_const(g, "w", ir_shape_make(4, k->o, k->c / k->group, k->kh, k->kw), wd,
                         IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    free(wd);
    ir_attr a;
    memset(&a, 0, sizeof a);
    memcpy(a.conv.stride, k->stride, sizeof a.conv.stride);
    memcpy(a.conv.pad, k->pad, sizeof a.conv.pad);
    memcpy(a.conv.dilation, k->dilation, sizeof a.conv.dilation);
    a.conv.group = k->group;
    int in[2] = {x, w};
    int y = ir_add_node(g, IR_OP_CONV2D, in, 2, &a, "conv", &err);
    int sq = ir_binary(g, IR_OP_MUL, y, y, "sq", &err);
    int s = ir_reduce(g, IR_OP_RSUM, sq, 7u << 1, "sum", &err);
    int e = ir_binary(g, IR_OP_MUL, s, ir_add_scalar(g, 0.5, &err), "half", &err);
    e = ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), "energy", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s: %s", k->name, err.msg);
    return g;
}

typedef struct loaded {
    void *so;
    const ebm_abi_model *m;
} loaded;

static loaded compile(const ir_graph *g, const conv_case *k)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.so", tu_scratch_dir(), k->name);
    ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output", .tile = k->tile};
    ebm_error err = {0};
    ck_assert_msg(ebmc_compile_model(g, &o, path, &err) == EBM_OK, "%s: %s", k->name, err.msg);
    loaded l;
    l.so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(l.so != NULL, "%s: %s", k->name, dlerror());
    l.m = dlsym(l.so, EBM_ABI_SYMBOL_NAME);
    ck_assert_ptr_nonnull(l.m);
    ck_assert_int_eq(l.m->tile, k->tile);
    return l;
}

static const ebm_abi_program *program(const ebm_abi_model *m, int kind)
{
    for (int k = 0; k < m->n_programs; k++)
        if (m->programs[k].kind == kind)
            return &m->programs[k];
    ck_abort_msg("program %d missing", kind);
    return NULL;
}

/* Program kind over n samples in calls of at most chunk samples, on an arena
 * whose bytes start as `fill` (0xff: NaNs). */
static void run(const ebm_abi_model *m, int kind, float *x, int64_t n, int64_t chunk, int fill, float *energy,
                float *score, const float *sw, float *grad)
{
    const ebm_abi_program *p = program(m, kind);
    size_t bytes = ((size_t)p->arena_bytes + 63) / 64 * 64 + 64;
    void *arena = aligned_alloc(64, bytes);
    ck_assert_ptr_nonnull(arena);
    memset(arena, fill, bytes);
    int64_t d = m->sample_numel;
    for (int64_t off = 0; off < n; off += chunk) {
        ebm_abi_call c;
        memset(&c, 0, sizeof c);
        c.n = n - off < chunk ? n - off : chunk;
        c.sample_offset = off;
        c.weights = m->weights;
        c.arena = arena;
        c.x = x + off * d;
        c.energy = energy + off;
        c.score = score ? score + off * d : NULL;
        c.sample_weights = sw ? sw + off : NULL;
        c.param_grad = grad;
        ck_assert_int_eq(p->run(&c), 0);
    }
    free(arena);
}

static double *to_f64(const float *a, int64_t n)
{
    double *d = malloc((size_t)n * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < n; i++)
        d[i] = a[i];
    return d;
}

/* Output `name` of program kind run by the executor in float64 (caller frees). */
static double *reference(const ir_graph *energy, ebmc_program kind, const double *x, const double *sw, int64_t n,
                         const char *name)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ck_assert_msg(ebmc_build_program(energy, kind, &g, &err) == EBM_OK, "%s", err.msg);
    double **outs = calloc((size_t)g->n_outputs, sizeof *outs);
    ck_assert_ptr_nonnull(outs);
    for (int j = 0; j < g->n_outputs; j++) {
        outs[j] = calloc((size_t)ir_shape_numel(&g->nodes[g->outputs[j]].shape, n), sizeof **outs);
        ck_assert_ptr_nonnull(outs[j]);
    }
    const void *in[2] = {x, sw};
    ck_assert_msg(ebmc_exec(g, n, EBMC_F64, in, (void *const *)outs, &err) == EBM_OK, "%s", err.msg);
    double *r = NULL;
    for (int j = 0; j < g->n_outputs; j++)
        if (strcmp(g->output_names[j], name) == 0)
            r = outs[j];
        else
            free(outs[j]);
    ck_assert_msg(r != NULL, "no output %s", name);
    free(outs);
    ir_graph_free(g);
    return r;
}

/* Cases for the im2col paths' row and staging code: stride-2 rows longer than
 * one 16-lane vector (several permutes per row), padding 2 and asymmetric
 * padding with stride 2, stride 2 with dilation (only one column phase read),
 * grouped stride-2 layers over several chunks, and batched 1x1 convolutions
 * (grouped, and an image large enough for several chunks and a last chunk of
 * one sample). */
static const conv_case row_cases[] = {
    {"c2_37x40_k3_s2_p1_long_rows", 2, 37, 40, 3, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1, 5, 3},
    {"c2_9x11_k3_s2_p2", 2, 9, 11, 3, 3, 3, {2, 2}, {2, 2, 2, 2}, {1, 1}, 1, 5, 3},
    {"c3_10x9_k3_s2_asym_pad", 3, 10, 9, 4, 3, 3, {2, 2}, {0, 1, 2, 0}, {1, 1}, 1, 5, 3},
    {"c2_13x13_k3_s2_d2", 2, 13, 13, 3, 3, 3, {2, 2}, {2, 2, 2, 2}, {2, 2}, 1, 5, 3},
    {"c8_24x24_k3_s2_g2_chunks", 8, 24, 24, 8, 3, 3, {2, 2}, {1, 1, 1, 1}, {1, 1}, 2, 9, 8},
    {"c4_4x4_k1_pointwise_g2", 4, 4, 4, 6, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, 2, 7, 4},
    {"c8_40x40_k1_pointwise_chunks", 8, 40, 40, 8, 1, 1, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1, 7, 5},
};

static void check_conv(const conv_case *k)
{
    tu_scratch_make("codegen_conv");
    ir_graph *g = conv_graph(k);
    loaded l = compile(g, k);
    const ebm_abi_model *m = l.m;
    int64_t n = k->n, d = m->sample_numel;
    ck_assert_int_eq(d, k->c * k->h * k->w);
    float *x = malloc((size_t)(n * d) * sizeof *x), *e = calloc((size_t)n, sizeof *e);
    float *s = calloc((size_t)(n * d), sizeof *s), *s1 = calloc((size_t)(n * d), sizeof *s1);
    float *sw = malloc((size_t)n * sizeof *sw), *grad = calloc((size_t)m->weights_numel, sizeof *grad);
    ck_assert(x && e && s && s1 && sw && grad);
    tu_fill_uniform_f32(x, (size_t)(n * d), 5, -1, 1);
    tu_fill_uniform_f32(sw, (size_t)n, 6, 0.5, 1.5);
    double *xd = to_f64(x, n * d), *swd = to_f64(sw, n);

    run(m, EBM_PROGRAM_SCORE, x, n, m->tile, 0xff, e, s, NULL, NULL);
    double *re = reference(g, EBMC_PROGRAM_SCORE, xd, NULL, n, "energy");
    double *rs = reference(g, EBMC_PROGRAM_SCORE, xd, NULL, n, "score");
    double err_e = tu_rel_err_f32(e, re, (size_t)n), err_s = tu_rel_err_f32(s, rs, (size_t)(n * d));

    float *e1 = calloc((size_t)n, sizeof *e1);
    ck_assert_ptr_nonnull(e1);
    run(m, EBM_PROGRAM_SCORE, x, n, m->tile, 0, e1, s1, NULL, NULL);
    ck_assert_msg(memcmp(s, s1, (size_t)(n * d) * sizeof *s) == 0 && memcmp(e, e1, (size_t)n * sizeof *e) == 0,
                  "%s: energy or score depends on the arena's previous contents", k->name);
    memset(s1, 0, (size_t)(n * d) * sizeof *s1);
    run(m, EBM_PROGRAM_SCORE, x, n, 1, 0xff, e1, s1, NULL, NULL);
    ck_assert_msg(memcmp(s, s1, (size_t)(n * d) * sizeof *s) == 0 && memcmp(e, e1, (size_t)n * sizeof *e) == 0,
                  "%s: energy or score changes when the batch is run one sample per call", k->name);
    free(e1);

    ck_assert_int_eq(m->n_params, 1);
    run(m, EBM_PROGRAM_PARAM_GRAD, x, n, m->tile, 0xff, e, NULL, sw, grad);
    double *rg = reference(g, EBMC_PROGRAM_PARAM_GRAD, xd, swd, n, "grad:w");
    double err_g = tu_rel_err_f32(grad + m->params[0].offset, rg, (size_t)m->params[0].numel);
    printf("%-28s energy %9.2e score %9.2e grad %9.2e\n", k->name, err_e, err_s, err_g);
    ck_assert_msg(err_e <= TOL && err_s <= TOL && err_g <= TOL, "%s: energy %g score %g grad %g over %g", k->name,
                  err_e, err_s, err_g, TOL);

    free(re), free(rs), free(rg), free(xd), free(swd);
    free(x), free(e), free(s), free(s1), free(sw), free(grad);
    dlclose(l.so);
    ir_graph_free(g);
    tu_scratch_remove();
}

START_TEST(conv_matches_executor)
{
    check_conv(&cases[_i]);
}
END_TEST

START_TEST(conv_rows_match_executor)
{
    check_conv(&row_cases[_i]);
}
END_TEST

/* Winograd with tiles over its chunk of 16 samples (the transforms' vector
 * over a tile's samples): a call of 20 samples is a chunk of 16 and one of
 * 4, the last call of 17 one of 16 and one of 1; the one-sample-per-call
 * run checks that neither the chunk's sample count nor the column a sample
 * has in it changes its bits.  4x4 images (one row of two tiles, F(2x2,
 * 3x3)), 7x7 (odd, tiles past the edge, F(4x4, 3x3)), channel counts that
 * are not multiples of 16 (the kernels' transform in blocks of 16 channels),
 * and F(4x4, 3x3) at its 64 channels: the score, through both transforms,
 * has the largest error (5e-6 here; 8e-6 at 128 channels on 16x16, 1.1e-5
 * at 256 on 8x8, hence the limit). */
static const conv_case wino_cases[] = {
    {"c24_4x4_k3_winograd_tile20", 24, 4, 4, 40, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 37, 20},
    {"c32_7x7_k3_winograd_tile20", 32, 7, 7, 19, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 37, 20},
    {"c64_8x8_k3_winograd4", 64, 8, 8, 64, 3, 3, {1, 1}, {1, 1, 1, 1}, {1, 1}, 1, 17, 16},
};

START_TEST(wino_chunks_match_executor)
{
    check_conv(&wino_cases[_i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codegen_conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, conv_matches_executor, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_loop_test(tc, wino_chunks_match_executor, 0, (int)(sizeof wino_cases / sizeof wino_cases[0]));
    tcase_add_loop_test(tc, conv_rows_match_executor, 0, (int)(sizeof row_cases / sizeof row_cases[0]));
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
