/* test_kernel_select.c — the kernel descriptors (compiler/kernel_select.c).
 *
 *   - convolutions on 16 channels of 8x8 images: a 3x3 stride-1 layer runs as
 *     Winograd F(4x4, 3x3) on tiles of 16 (a chunk of 16 samples has 64 tile
 *     columns) and F(2x2, 3x3) on tiles of 1, its kernels transformed by the
 *     prologue; a 1x1 layer is pointwise; a 3x3 stride-2 layer is im2col; the
 *     chunk, scratch and prologue floats are the ones worked out by hand in
 *     each case;
 *   - matmuls: x W^T with K = 784 reads W transposed (NT, the transpose a
 *     view); a W [256, 2] with two columns is copied transposed (NT_COPY); a
 *     W^T with K = 2 is transposed once by the prologue and multiplied as NN;
 *     a product with a transposed activation (param_grad) stays on BLAS;
 *   - for every program of both graphs at both tiles: the plan's scratch and
 *     prologue buffers have exactly the descriptor's sizes, a fused kernel's
 *     group is its run of members, and nodes that root no kernel have none.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "testutil.h"

static int find_named(const ebmc_cg_program *p, const char *name)
{
    for (int i = 0; i < p->g->n_nodes; i++)
        if (p->g->nodes[i].name && strcmp(p->g->nodes[i].name, name) == 0)
            return i;
    ck_abort_msg("no node named %s", name);
    return -1;
}

static int add_conv(ir_graph *g, int x, int c, int o, int k, int stride, int pad, const char *name, ebm_error *err)
{
    static float wd[16 * 16 * 3 * 3];
    int w = ir_add_const(g, name, ir_shape_make(4, o, c, k, k), wd, IR_NODE_PARAM | IR_NODE_TRAINABLE, err);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.stride[0] = a.conv.stride[1] = stride;
    a.conv.pad[0] = a.conv.pad[1] = a.conv.pad[2] = a.conv.pad[3] = pad;
    a.conv.dilation[0] = a.conv.dilation[1] = 1;
    a.conv.group = 1;
    int in[2] = {x, w};
    char nm[32];
    snprintf(nm, sizeof nm, "%s_y", name);
    return ir_add_node(g, IR_OP_CONV2D, in, 2, &a, nm, err);
}

/* x [N,16,8,8] -> wino (3x3, pad 1) -> pw (1x1) -> im2col (3x3, stride 2, pad 1) [N,16,4,4] -> E = sum y^2 */
static ir_graph *conv_graph(void)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 16, 8, 8), &err);
    int y = add_conv(g, x, 16, 16, 3, 1, 1, "wino", &err);
    y = add_conv(g, y, 16, 16, 1, 1, 0, "pw", &err);
    y = add_conv(g, y, 16, 16, 3, 2, 1, "im2col", &err);
    int s = ir_reduce(g, IR_OP_RSUM, ir_binary(g, IR_OP_MUL, y, y, "sq", &err), 7u << 1, "sum", &err);
    int e = ir_reshape(g, s, ir_shape_make(1, IR_DIM_N), "e", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    return g;
}

static int transpose2(ir_graph *g, int x, const char *name, ebm_error *err)
{
    static const int perm[2] = {1, 0};
    return ir_transpose(g, x, perm, name, err);
}

/* x [N,784] -> a = x W1^T [N,256] -> b = a W2 [N,2] -> c = b W3^T [N,8] -> E = sum c */
static ir_graph *mlp_graph(void)
{
    static float w1[256 * 784], w2[256 * 2], w3[8 * 2];
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 784), &err);
    int c1 = ir_add_const(g, "W1", ir_shape_make(2, 256, 784), w1, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int c2 = ir_add_const(g, "W2", ir_shape_make(2, 256, 2), w2, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int c3 = ir_add_const(g, "W3", ir_shape_make(2, 8, 2), w3, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int a = ir_matmul(g, x, transpose2(g, c1, "W1t", &err), "a", &err);
    int b = ir_matmul(g, a, c2, "b", &err);
    int c = ir_matmul(g, b, transpose2(g, c3, "W3t", &err), "c", &err);
    int e = ir_reshape(g, ir_reduce(g, IR_OP_RSUM, c, 1u << 1, "sum", &err), ir_shape_make(1, IR_DIM_N), "e", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    return g;
}

static ebmc_cg_program *build(const ir_graph *g, ebmc_program kind, int64_t tile)
{
    ebm_error err = {0};
    ebmc_cg_program *p = NULL;
    ck_assert_msg(ebmc_cg_program_build(g, kind, tile, &p, &err) == EBM_OK, "%s", err.msg);
    return p;
}

static void check_conv(const ebmc_cg_program *p, const char *name, ebmc_kernel_variant variant, int r, int64_t chunk,
                       int64_t scratch, int64_t pro)
{
    const ebmc_kernel *kd = &p->kern[find_named(p, name)];
    ck_assert_msg(kd->variant == variant, "%s at tile %lld: variant %d", name, (long long)p->tile, kd->variant);
    ck_assert_int_eq(kd->wino_r, r);
    ck_assert_int_eq(kd->chunk, chunk);
    ck_assert_int_eq(kd->scratch_floats, scratch);
    ck_assert_int_eq(kd->pro_floats, pro);
}

START_TEST(conv_variants_and_sizes)
{
    ir_graph *g = conv_graph();
    ebmc_cg_program *p = build(g, EBMC_PROGRAM_ENERGY, 16);
    /* F(4x4): 36 cells, 2x2 tiles a sample; u 36*16*16 = 9216 by the prologue;
       scratch 9216 + 16 * (36*32*4 + 10*10) + 2*36*16 - 9216 */
    check_conv(p, "wino_y", EBMC_KERNEL_CONV_WINOGRAD, 4, 16, 16 * 4708 + 1152, 9216);
    /* x and y staged, (16 + 16) * 64 floats a sample; 32 samples fill 64 Ki floats */
    check_conv(p, "pw_y", EBMC_KERNEL_CONV_POINTWISE, 0, 16, 16 * 2048, 0);
    /* (144 + 16) * 16 + 16 * 2*2*5*5 = 4160 floats a sample: 15 fill 64 Ki, 16 give 256 columns */
    check_conv(p, "im2col_y", EBMC_KERNEL_CONV_IM2COL, 0, 16, 16 * 4160, 0);
    ebm_error err = {0};
    ck_assert_msg(ebmc_cg_program_plan(p, 1, &err) == EBM_OK, "%s", err.msg);
    /* F(2x2): 16 cells, 4x4 tiles: 16*256 + (16*32*16 + 100) + 2*16*16 - 4096 */
    check_conv(p, "wino_y", EBMC_KERNEL_CONV_WINOGRAD, 2, 1, 8292 + 512, 4096);
    check_conv(p, "pw_y", EBMC_KERNEL_CONV_POINTWISE, 0, 1, 2048, 0);
    check_conv(p, "im2col_y", EBMC_KERNEL_CONV_IM2COL, 0, 1, 4160, 0);
    ebmc_cg_program_free(p);
    ir_graph_free(g);
}
END_TEST

START_TEST(matmul_gemm_forms)
{
    ir_graph *g = mlp_graph();
    ebmc_cg_program *p = build(g, EBMC_PROGRAM_ENERGY, 64);
    const ebmc_kernel *a = &p->kern[find_named(p, "a")], *b = &p->kern[find_named(p, "b")];
    const ebmc_kernel *c = &p->kern[find_named(p, "c")];
    ck_assert(a->trans_b && !a->trans_a && a->gemm == EBMC_GEMM_NT);
    ck_assert_int_eq(p->info.view[find_named(p, "W1t")], EBMC_VIEW_MATMUL_T);
    ck_assert(!b->trans_b && b->gemm == EBMC_GEMM_NT_COPY);
    ck_assert(!c->trans_b && c->gemm == EBMC_GEMM_NN);
    int w3t = find_named(p, "W3t");   /* K = 2: computed once, a kernel of the prologue */
    ck_assert_int_eq(p->info.view[w3t], EBMC_VIEW_NONE);
    ck_assert(p->info.invariant[w3t] && p->kern[w3t].variant == EBMC_KERNEL_OP);
    ebmc_cg_program_free(p);
    p = build(g, EBMC_PROGRAM_PARAM_GRAD, 64);
    int blas_ta = 0;
    for (int i = 0; i < p->g->n_nodes; i++)
        if (p->kern[i].variant != EBMC_KERNEL_NONE && p->g->nodes[i].op == IR_OP_MATMUL && p->kern[i].trans_a) {
            ck_assert_int_eq(p->kern[i].gemm, EBMC_GEMM_BLAS);
            blas_ta++;
        }
    ck_assert_int_ge(blas_ta, 1);   /* dW = x^T g */
    ebmc_cg_program_free(p);
    ir_graph_free(g);
}
END_TEST

/* The plan holds what the descriptors say, and only kernels have one. */
static void check_plan_reads_descriptors(const ebmc_cg_program *p)
{
    for (int i = 0; i < p->g->n_nodes; i++) {
        const ebmc_kernel *kd = &p->kern[i];
        const ebmc_cg_value *v = &p->v[i];
        ck_assert_int_eq(kd->variant != EBMC_KERNEL_NONE, v->kernel == i);
        if (kd->variant == EBMC_KERNEL_NONE)
            continue;
        ck_assert_int_eq(v->scratch_buffer >= 0, kd->scratch_floats > 0);
        if (v->scratch_buffer >= 0)
            ck_assert_int_eq(p->bufs[v->scratch_buffer].size, ebmc_float_bytes(kd->scratch_floats));
        ck_assert_int_eq(v->pro_buffer >= 0, kd->pro_floats > 0);
        if (v->pro_buffer >= 0)
            ck_assert_int_eq(p->bufs[v->pro_buffer].size, ebmc_float_bytes(kd->pro_floats));
        if (kd->variant == EBMC_KERNEL_FUSED) {
            ck_assert_int_eq(kd->io.last, i);
            for (int j = kd->io.first; j <= i; j++)
                ck_assert_int_eq(p->v[j].kernel, i);
            ck_assert(kd->io.first == 0 || p->v[kd->io.first - 1].kernel != i);
        }
    }
}

START_TEST(plans_read_the_descriptors)
{
    static const ebmc_program kinds[] = {EBMC_PROGRAM_ENERGY, EBMC_PROGRAM_SCORE, EBMC_PROGRAM_PARAM_GRAD};
    ir_graph *graphs[2] = {conv_graph(), mlp_graph()};
    for (int gi = 0; gi < 2; gi++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            ebmc_cg_program *p = build(graphs[gi], kinds[k], 64);
            check_plan_reads_descriptors(p);
            ebm_error err = {0};
            ck_assert_msg(ebmc_cg_program_plan(p, 3, &err) == EBM_OK, "%s", err.msg);
            check_plan_reads_descriptors(p);
            ebmc_cg_program_free(p);
        }
    ir_graph_free(graphs[0]);
    ir_graph_free(graphs[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernel_select");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, conv_variants_and_sizes);
    tcase_add_test(tc, matmul_gemm_forms);
    tcase_add_test(tc, plans_read_the_descriptors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
