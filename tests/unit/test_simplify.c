/* test_simplify.c — CSE, algebraic identities and transpose folding, checked
 * by node counts and by running the graph before and after. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "pipeline.h"
#include "testutil.h"

static int count_op(const ir_graph *g, ir_op op)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        k += g->nodes[i].op == op;
    return k;
}

static void run(const ir_graph *g, const float *x, float *out)
{
    ebm_error err = {0};
    const void *in[1] = {x};
    void *o[1] = {out};
    ck_assert_msg(ebmc_exec(g, 2, EBMC_F32, in, o, &err) == EBM_OK, "%s", err.msg);
}

/* Simplifies g (x [2,3] in, 8 values out) and checks the outputs are unchanged. */
static void simplify_keeps_values(ir_graph *g)
{
    ebm_error err = {0};
    float xin[6] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, before[8], after[8];
    run(g, xin, before);
    ebmc_options o = {.verify = 1};
    ck_assert_msg(ebmc_pass_run(EBMC_PASS_SIMPLIFY, g, &o, &err) == EBM_OK, "%s", err.msg);
    run(g, xin, after);
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(before[i], after[i]);
}

START_TEST(test_cse_identities_transposes)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
    float wd[12];
    tu_fill_uniform_f32(wd, 12, 5, -1, 1);
    int w = ir_add_const(g, "w", ir_shape_make(2, 3, 4), wd, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    float zero = 0;
    int bias0 = ir_add_const(g, "b", ir_shape_make(1, 1), &zero, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int s1 = ir_unary(g, IR_OP_SIGMOID, x, NULL, &err), s2 = ir_unary(g, IR_OP_SIGMOID, x, NULL, &err);
    int t = ir_binary(g, IR_OP_ADD, s1, s2, NULL, &err);                              /* CSE: one sigmoid */
    t = ir_binary(g, IR_OP_MUL, t, ir_add_scalar(g, 1, &err), NULL, &err);            /* x*1 */
    t = ir_binary(g, IR_OP_ADD, ir_add_scalar(g, 0, &err), t, NULL, &err);            /* 0+x */
    t = ir_unary(g, IR_OP_NEG, ir_unary(g, IR_OP_NEG, t, NULL, &err), NULL, &err);    /* -(-x) */
    int wt = ir_transpose(g, ir_transpose(g, w, (int[]){1, 0}, NULL, &err), (int[]){1, 0}, NULL, &err);
    int y = ir_matmul(g, t, wt, NULL, &err);
    y = ir_binary(g, IR_OP_ADD, y, bias0, NULL, &err);   /* a zero parameter is NOT an identity */
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    simplify_keeps_values(g);
    ck_assert_int_eq(count_op(g, IR_OP_SIGMOID), 1);
    ck_assert_int_eq(count_op(g, IR_OP_NEG), 0);
    ck_assert_int_eq(count_op(g, IR_OP_TRANSPOSE), 0);
    /* x (input), w, b, sigmoid, add (s+s), matmul, add (bias): nothing else */
    ck_assert_int_eq(g->n_nodes, 7);
    ck_assert_int_eq(count_op(g, IR_OP_ADD), 2);
    ir_graph_free(g);
}
END_TEST

/* matmul(ones [N,1], w [1,4]) becomes w broadcast to [N,4] (reverse mode's
 * seed of a last linear layer); a column of twos, or a [N,2] left operand,
 * stays a product.  Values before and after are the same. */
START_TEST(test_outer_product_with_ones)
{
    for (int variant = 0; variant < 3; variant++) {
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
        float wd[12];   /* w: the first 4 or 8; v: all 12 */
        tu_fill_uniform_f32(wd, 12, 7, -1, 1);
        const int k = variant == 2 ? 2 : 1;
        int w = ir_add_const(g, "w", ir_shape_make(2, k, 4), wd, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
        int one = ir_add_scalar(g, variant == 1 ? 2.0f : 1.0f, &err);
        int ones = ir_broadcast_to(g, one, ir_shape_make(2, IR_DIM_N, k), NULL, &err);
        int outer = ir_matmul(g, ones, w, NULL, &err);
        int v = ir_add_const(g, "v", ir_shape_make(2, 3, 4), wd, IR_NODE_PARAM, &err);
        int y = ir_binary(g, IR_OP_MUL, outer, ir_matmul(g, x, v, NULL, &err), NULL, &err);
        ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
        simplify_keeps_values(g);
        ck_assert_int_eq(count_op(g, IR_OP_MATMUL), variant == 0 ? 1 : 2);
        ir_graph_free(g);
    }
}
END_TEST

/* g a + (g y) z becomes g (a + y z) (the backward of x sigmoid(x) as reverse
 * mode writes it), in either operand order; values agree to rounding (one
 * rounding fewer).  A g of another shape (broadcast) is left alone. */
START_TEST(test_factor_common_product)
{
    for (int variant = 0; variant < 3; variant++) {
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
        float bd[3] = {0.5f, -1.5f, 2.0f};
        int b = ir_add_const(g, "b", ir_shape_make(2, 1, 3), bd, IR_NODE_PARAM, &err);
        int gg = variant == 2 ? b : ir_unary(g, IR_OP_TANH, x, NULL, &err);
        int a = ir_unary(g, IR_OP_SIGMOID, x, NULL, &err), y = ir_unary(g, IR_OP_EXP, x, NULL, &err);
        int z = ir_binary(g, IR_OP_MUL, x, x, NULL, &err);
        int ga = variant == 1 ? ir_binary(g, IR_OP_MUL, a, gg, NULL, &err) : ir_binary(g, IR_OP_MUL, gg, a, NULL, &err);
        int gy = variant == 1 ? ir_binary(g, IR_OP_MUL, y, gg, NULL, &err) : ir_binary(g, IR_OP_MUL, gg, y, NULL, &err);
        int gyz = variant == 1 ? ir_binary(g, IR_OP_MUL, z, gy, NULL, &err) : ir_binary(g, IR_OP_MUL, gy, z, NULL, &err);
        int out = variant == 1 ? ir_binary(g, IR_OP_ADD, gyz, ga, NULL, &err) : ir_binary(g, IR_OP_ADD, ga, gyz, NULL, &err);
        ck_assert_int_eq(ir_add_output(g, out, "y", &err), EBM_OK);
        float xin[6] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, before[6], after[6];
        run(g, xin, before);
        ebmc_options o = {.verify = 1};
        ck_assert_msg(ebmc_pass_run(EBMC_PASS_SIMPLIFY, g, &o, &err) == EBM_OK, "%s", err.msg);
        run(g, xin, after);
        for (int i = 0; i < 6; i++) {
            const double want = (double)before[i];
            ck_assert_msg(fabs((double)after[i] - want) <= 2.4e-7 * fabs(want) + 1e-30, "variant %d [%d]: %.9g vs %.9g",
                          variant, i, (double)after[i], want);
        }
        /* factored: x*x, y*z, g*(...) ; not: x*x, g*a, g*y, (g*y)*z */
        ck_assert_int_eq(count_op(g, IR_OP_MUL), variant == 2 ? 4 : 3);
        ck_assert_int_eq(count_op(g, IR_OP_ADD), 1);
        ir_graph_free(g);
    }
}
END_TEST

START_TEST(test_cse_merges_constants_not_params)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
    float v[3] = {1, 2, 3};
    int c1 = ir_add_const(g, NULL, ir_shape_make(1, 3), v, 0, &err);
    int c2 = ir_add_const(g, NULL, ir_shape_make(1, 3), v, 0, &err);
    int p1 = ir_add_const(g, "p1", ir_shape_make(1, 3), v, IR_NODE_PARAM, &err);
    int p2 = ir_add_const(g, "p2", ir_shape_make(1, 3), v, IR_NODE_PARAM, &err);
    int y = ir_binary(g, IR_OP_ADD, ir_binary(g, IR_OP_MUL, x, c1, NULL, &err), ir_binary(g, IR_OP_MUL, x, c2, NULL, &err), NULL, &err);
    y = ir_binary(g, IR_OP_ADD, y, ir_binary(g, IR_OP_ADD, p1, p2, NULL, &err), NULL, &err);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    ebmc_options o = {.verify = 1};
    ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_SIMPLIFY, g, &o, &err), EBM_OK);
    ck_assert_int_eq(count_op(g, IR_OP_CONST), 3);   /* c1 = c2 merged; p1, p2 kept */
    ck_assert_int_eq(count_op(g, IR_OP_MUL), 1);
    ir_graph_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("simplify");
    TCase *tc = tcase_create("simplify");
    tcase_add_test(tc, test_cse_identities_transposes);
    tcase_add_test(tc, test_cse_merges_constants_not_params);
    tcase_add_test(tc, test_outer_product_with_ones);
    tcase_add_test(tc, test_factor_common_product);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
