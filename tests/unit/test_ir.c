/* test_ir.c — the graph builder, shape rules, verifier, printer and op table. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

static char *shape_of(const ir_graph *g, int id)
{
    static char buf[64];
    return ir_shape_str(&g->nodes[id].shape, buf, sizeof buf);
}

START_TEST(test_broadcast_with_batch)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(3, IR_DIM_N, 4, 1), &err);
    float b[5] = {1, 2, 3, 4, 5};
    int c = ir_add_const(g, "b", ir_shape_make(1, 5), b, 0, &err);
    int y = ir_binary(g, IR_OP_ADD, x, c, "y", &err);
    ck_assert_int_ge(y, 0);
    ck_assert_str_eq(shape_of(g, y), "[N,4,5]");
    /* N broadcasts with 1 and with N, never with a static size > 1 */
    int one = ir_add_input(g, "one", ir_shape_make(3, 1, 4, 5), &err);
    ck_assert_str_eq(shape_of(g, ir_binary(g, IR_OP_MUL, y, one, NULL, &err)), "[N,4,5]");
    int two = ir_add_input(g, "two", ir_shape_make(3, 2, 4, 5), &err);
    ck_assert_int_eq(ir_binary(g, IR_OP_MUL, y, two, "bad", &err), -1);
    ck_assert_int_eq(err.code, EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "bad"));
    ck_assert_ptr_nonnull(strstr(err.msg, "[2,4,5]"));
    ck_assert_int_eq(ir_verify(g, &err), EBM_OK);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_error_propagates_through_nesting)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
    int w = ir_add_input(g, "w", ir_shape_make(2, 4, 5), &err);
    int bad = ir_matmul(g, x, w, "mm", &err);
    ck_assert_int_eq(bad, -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "inner dimensions"));
    char first[EBM_ERROR_MSG_MAX];
    strcpy(first, err.msg);
    /* the -1 flows through later calls without replacing the first message */
    ck_assert_int_eq(ir_unary(g, IR_OP_EXP, ir_unary(g, IR_OP_TANH, bad, NULL, &err), NULL, &err), -1);
    ck_assert_str_eq(err.msg, first);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_matmul_reduce_reshape)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 3, 8, 8), &err);
    int f = ir_reshape(g, x, ir_shape_make(2, IR_DIM_N, 192), "flat", &err);
    ck_assert_str_eq(shape_of(g, f), "[N,192]");
    float *w = calloc(192 * 7, sizeof *w);
    int m = ir_matmul(g, f, ir_add_const(g, "W", ir_shape_make(2, 192, 7), w, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err), NULL, &err);
    free(w);
    ck_assert_str_eq(shape_of(g, m), "[N,7]");
    int r = ir_reduce(g, IR_OP_RSUM, m, 1u << 1, NULL, &err);
    ck_assert_str_eq(shape_of(g, r), "[N,1]");
    ck_assert_int_eq(ir_graph_param_count(g, 1), 192 * 7);
    /* merging N with a static dim would mix samples: rejected */
    ck_assert_int_eq(ir_reshape(g, x, ir_shape_make(2, 3, IR_DIM_N), "mix", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "mix"));
    /* a reshape that keeps the prefix before N is fine */
    ck_assert_int_ge(ir_reshape(g, x, ir_shape_make(3, IR_DIM_N, 3, 64), NULL, &err), 0);
    /* a target whose element count overflows int64 is refused, not multiplied out (fuzz_import, via Tile) */
    const int64_t huge = (int64_t)1 << 40;
    ck_assert_int_eq(ir_reshape(g, x, ir_shape_make(3, IR_DIM_N, huge, huge), "huge", &err), -1);
    ck_assert_msg(strstr(err.msg, "huge") && strstr(err.msg, "cannot become"), "%s", err.msg);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_conv_and_pool_shapes)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(4, IR_DIM_N, 4, 13, 13), &err);
    float *w = calloc(8 * 2 * 3 * 3, sizeof *w);
    int wc = ir_add_const(g, "w", ir_shape_make(4, 8, 2, 3, 3), w, 0, &err);
    free(w);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.conv.stride[0] = a.conv.stride[1] = 2;
    a.conv.pad[0] = a.conv.pad[1] = a.conv.pad[2] = a.conv.pad[3] = 1;
    a.conv.dilation[0] = a.conv.dilation[1] = 1;
    a.conv.group = 2;
    int in[2] = {x, wc};
    int y = ir_add_node(g, IR_OP_CONV2D, in, 2, &a, NULL, &err);
    /* floor((13 + 2 - 3) / 2) + 1 = 7 */
    ck_assert_str_eq(shape_of(g, y), "[N,8,7,7]");
    a.conv.group = 1;   /* weight has 2 input channels, x has 4 */
    ck_assert_int_eq(ir_add_node(g, IR_OP_CONV2D, in, 2, &a, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "channels"));

    ir_attr p;
    memset(&p, 0, sizeof p);
    p.pool.kernel[0] = p.pool.kernel[1] = 2;
    p.pool.stride[0] = p.pool.stride[1] = 2;
    p.pool.dilation[0] = p.pool.dilation[1] = 1;
    ck_assert_str_eq(shape_of(g, ir_add_node(g, IR_OP_MAXPOOL2D, &y, 1, &p, NULL, &err)), "[N,8,3,3]");
    p.pool.ceil_mode = 1;   /* ceil((7-2)/2)+1 = 4, last window starts at 6 < 7 */
    ck_assert_str_eq(shape_of(g, ir_add_node(g, IR_OP_MAXPOOL2D, &y, 1, &p, NULL, &err)), "[N,8,4,4]");
    /* with padding 1, ceil would give a window starting at 8 >= 7 + 1: dropped (PyTorch rule) */
    p.pool.kernel[0] = p.pool.kernel[1] = 3;
    p.pool.pad[0] = p.pool.pad[1] = p.pool.pad[2] = p.pool.pad[3] = 1;
    p.pool.stride[0] = p.pool.stride[1] = 3;
    /* span = 7+2-2-1 = 6, ceil(6/3)+1 = 3, last start 6 < 8: kept */
    ck_assert_str_eq(shape_of(g, ir_add_node(g, IR_OP_AVGPOOL2D, &y, 1, &p, NULL, &err)), "[N,8,3,3]");
    ck_assert_int_eq(ir_verify(g, &err), EBM_OK);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_slice_pad_concat_transpose)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(3, IR_DIM_N, 6, 5), &err);
    ir_attr a;
    memset(&a, 0, sizeof a);
    a.slice.start[0] = 0, a.slice.end[0] = INT64_MAX, a.slice.step[0] = 1;
    a.slice.start[1] = 5, a.slice.end[1] = -1, a.slice.step[1] = -2;   /* 5,3,1 */
    a.slice.start[2] = 1, a.slice.end[2] = 5, a.slice.step[2] = 3;     /* 1,4 */
    int s = ir_add_node(g, IR_OP_SLICE, &x, 1, &a, NULL, &err);
    ck_assert_str_eq(shape_of(g, s), "[N,3,2]");
    memset(&a, 0, sizeof a);
    a.pad.begin[2] = 1;
    a.pad.end[2] = 2;
    int p = ir_add_node(g, IR_OP_PAD, &s, 1, &a, NULL, &err);
    ck_assert_str_eq(shape_of(g, p), "[N,3,5]");
    int parts[3] = {x, p, x};
    ck_assert_str_eq(shape_of(g, ir_concat(g, parts, 3, 1, NULL, &err)), "[N,15,5]");
    ck_assert_int_eq(ir_concat(g, parts, 3, 0, "cat0", &err), -1);
    int perm[3] = {0, 2, 1};
    ck_assert_str_eq(shape_of(g, ir_transpose(g, x, perm, NULL, &err)), "[N,5,6]");
    int bad[3] = {0, 1, 1};
    ck_assert_int_eq(ir_transpose(g, x, bad, NULL, &err), -1);
    ck_assert_int_eq(ir_verify(g, &err), EBM_OK);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_verify_catches_corruption)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
    int y = ir_unary(g, IR_OP_EXP, x, "e", &err);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    ck_assert_int_eq(ir_verify(g, &err), EBM_OK);
    g->nodes[y].shape.d[1] = 4;
    ck_assert_int_ne(ir_verify(g, &err), EBM_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "\"e\""));
    g->nodes[y].shape.d[1] = 3;
    g->nodes[y].in[0] = y;   /* a cycle */
    ck_assert_int_ne(ir_verify(g, &err), EBM_OK);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_clone_meta_print)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 2), &err);
    float w[4] = {1, 2, 3, 4};
    int y = ir_matmul(g, x, ir_add_const(g, "w\"q", ir_shape_make(2, 2, 2), w, IR_NODE_PARAM, &err), "mm", &err);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    ck_assert_int_eq(ir_graph_set_meta(g, "ebm.energy_head", "sum", &err), EBM_OK);
    ck_assert_int_eq(ir_graph_set_meta(g, "ebm.energy_head", "output", &err), EBM_OK);
    ir_graph *c = ir_graph_clone(g);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->n_meta, 1);
    ck_assert_str_eq(ir_graph_get_meta(c, "ebm.energy_head"), "output");
    ck_assert_float_eq(c->nodes[1].data[3], 4.0f);
    ck_assert_ptr_ne(c->nodes[1].data, g->nodes[1].data);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ir_print_text(f, c);
    ir_print_dot(f, c);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "%2 = matmul(%0, %1) : [N,2]  # mm"));
    ck_assert_ptr_nonnull(strstr(buf, "output \"y\" = %2"));
    ck_assert_ptr_nonnull(strstr(buf, "w\\\"q"));   /* quotes escaped in dot */
    free(buf);
    ir_graph_free(c);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_op_table)
{
    ck_assert_int_eq(ir_op_from_name("conv2d"), IR_OP_CONV2D);
    ck_assert_int_eq(ir_op_from_name("nope"), IR_OP_COUNT);
    ck_assert_int_eq(ir_op_get(IR_OP_ADD)->elementwise, 1);
    ck_assert_int_eq(ir_op_get(IR_OP_MATMUL)->elementwise, 0);
    ck_assert_int_eq(ir_op_get(IR_OP_CONCAT)->arity, -1);
    ck_assert_int_eq(ir_op_get(IR_OP_SELECT)->arity, 3);
}
END_TEST

/* What is wrong with a float_expr column entry, or NULL: it must compute in
 * single precision (calls of float functions only: ebmk_* or a name ending
 * in f; float literals; no double), and read its operands x, y, z only
 * as far as the op's arity. */
static const char *float_form_problem(const char *e, int arity)
{
    static char why[128];
    int uses[3] = {0, 0, 0};
    for (const char *p = e; *p;) {
        const char *t = p;
        if (isalpha((unsigned char)*p) || *p == '_') {
            while (isalnum((unsigned char)*p) || *p == '_')
                p++;
            size_t len = (size_t)(p - t);
            const char *q = p;
            while (*q == ' ')
                q++;
            if (len == 6 && strncmp(t, "double", 6) == 0)
                return "uses double";
            int keyword = len == 6 && strncmp(t, "return", 6) == 0;
            if (*q == '(' && !keyword && strncmp(t, "ebmk_", 5) != 0 && t[len - 1] != 'f') {
                snprintf(why, sizeof why, "calls %.*s, not a float function", (int)len, t);
                return why;
            }
            if (len == 1 && *t >= 'x' && *t <= 'z')
                uses[*t - 'x'] = 1;
        } else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
            int real = 0;
            while (isalnum((unsigned char)*p) || *p == '.' || ((*p == '-' || *p == '+') && (p[-1] == 'e')))
                real |= *p == '.' || *p == 'e', p++;
            if (real && p[-1] != 'f') {
                snprintf(why, sizeof why, "literal %.*s is a double", (int)(p - t), t);
                return why;
            }
        } else {
            p++;
        }
    }
    if (!uses[0])
        return "does not read x";
    if ((uses[1] && arity < 2) || (uses[2] && arity < 3))
        return "reads an operand the op does not have";
    return NULL;
}

START_TEST(test_float_form_check)
{
    ck_assert_ptr_null(float_form_problem("(x > 0 ? 1.0f : 0.0f)", 1));
    ck_assert_ptr_null(float_form_problem("const float e = ebmk_expf(x); return e * 2;", 1));
    ck_assert_str_eq(float_form_problem("sin(x)", 1), "calls sin, not a float function");
    ck_assert_str_eq(float_form_problem("(x > 0 ? 1.0 : 0.0f)", 1), "literal 1.0 is a double");
    ck_assert_str_eq(float_form_problem("(double)x", 1), "uses double");
    ck_assert_str_eq(float_form_problem("0", 1), "does not read x");
    ck_assert_str_eq(float_form_problem("(x + y)", 1), "reads an operand the op does not have");
}
END_TEST

/* Every row of ops.def has the columns its kernel family needs, so a new row
 * is picked up by the sweeps over IR_OP_COUNT in the other tests (executor,
 * C backend, derivatives, export). */
START_TEST(test_ops_table_is_complete)
{
    int ewise = 0;
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *in = ir_op_get((ir_op)op);
        ck_assert_ptr_nonnull(in->shape_rule);
        ck_assert_msg(ir_op_from_name(in->name) == (ir_op)op, "%s: the name is taken by an earlier row", in->name);
        ck_assert_msg(in->kernel >= 0 && in->kernel < IR_KERNEL_COUNT && in->attr >= 0 && in->attr < IR_ATTR_COUNT,
                      "%s: kernel or attribute kind out of range", in->name);
        ck_assert_msg((in->kernel == IR_KERNEL_SOURCE) == (in->arity == 0), "%s: only sources have no operands",
                      in->name);
        ck_assert_msg(in->elementwise == (in->kernel == IR_KERNEL_ELEMWISE),
                      "%s: the ELEMWISE kernel family is the rows with a scalar_expr", in->name);
        if (!in->elementwise) {
            ck_assert_msg(!in->scalar_expr && !in->float_expr, "%s: expressions on a non-elementwise row", in->name);
            continue;
        }
        ck_assert_msg(in->fuse == IR_FUSE_ELEMWISE || in->fuse == IR_FUSE_BROADCAST, "%s: fuse class", in->name);
        ck_assert_msg(in->arity >= 1 && in->arity <= 3, "%s: elementwise ops take 1 to 3 operands", in->name);
        const char *why = float_form_problem(in->float_expr, in->arity);
        ck_assert_msg(!why, "%s: float_expr \"%s\" %s", in->name, in->float_expr, why);
        ewise++;
    }
    ck_assert_int_gt(ewise, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ir");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_broadcast_with_batch);
    tcase_add_test(tc, test_error_propagates_through_nesting);
    tcase_add_test(tc, test_matmul_reduce_reshape);
    tcase_add_test(tc, test_conv_and_pool_shapes);
    tcase_add_test(tc, test_slice_pad_concat_transpose);
    tcase_add_test(tc, test_verify_catches_corruption);
    tcase_add_test(tc, test_clone_meta_print);
    tcase_add_test(tc, test_op_table);
    tcase_add_test(tc, test_float_form_check);
    tcase_add_test(tc, test_ops_table_is_complete);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
