/* test_passes.c — constant folding, dead code elimination, the energy
 * heads and the front-end pipeline, checked against values computed here by
 * hand. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "pipeline.h"

static const ebmc_options verify_opts = {.head = EBM_HEAD_OUTPUT, .verify = 1};

static int count_op(const ir_graph *g, ir_op op)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        k += g->nodes[i].op == op;
    return k;
}

/* Runs a one-input, one-output graph in double. */
static void run_f64(const ir_graph *g, int64_t n, const double *x, double *y)
{
    ebm_error err = {0};
    const void *in[1] = {x};
    void *out[1] = {y};
    ck_assert_msg(ebmc_exec(g, n, EBMC_F64, in, out, &err) == EBM_OK, "%s", err.msg);
}

static void run_f32(const ir_graph *g, int64_t n, const float *x, float *y)
{
    ebm_error err = {0};
    const void *in[1] = {x};
    void *out[1] = {y};
    ck_assert_msg(ebmc_exec(g, n, EBMC_F32, in, out, &err) == EBM_OK, "%s", err.msg);
}

/* ---- constant folding ------------------------------------------------------------- */

/* y = x + exp((c + s)^2): the constant chain becomes one CONST; graph fields survive. */
START_TEST(test_fold_chain)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
    float cv[3] = {0.5f, -1.0f, 0.25f};
    int c = ir_add_const(g, "c", ir_shape_make(1, 3), cv, 0, &err);
    int s = ir_add_scalar(g, 0.125, &err);
    int a = ir_binary(g, IR_OP_ADD, c, s, NULL, &err);
    int e = ir_unary(g, IR_OP_EXP, ir_binary(g, IR_OP_MUL, a, a, NULL, &err), NULL, &err);
    int y = ir_binary(g, IR_OP_ADD, x, e, "y", &err);
    ck_assert_int_eq(ir_add_output(g, y, "out", &err), EBM_OK);
    ck_assert_int_eq(ir_graph_set_meta(g, "ebm.energy_head", "sum", &err), EBM_OK);
    g->producer = strdup("test");
    g->onnx_nodes = 42;

    ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_FOLD_CONSTANTS, g, &verify_opts, &err), EBM_OK);
    ck_assert_int_eq(g->n_nodes, 3);   /* x, the folded constant, the add */
    ck_assert_int_eq(count_op(g, IR_OP_CONST), 1);
    ck_assert_int_eq(g->n_inputs, 1);
    ck_assert_int_eq(g->n_outputs, 1);
    ck_assert_str_eq(g->output_names[0], "out");
    ck_assert_str_eq(ir_graph_get_meta(g, "ebm.energy_head"), "sum");
    ck_assert_str_eq(g->producer, "test");
    ck_assert_int_eq(g->onnx_nodes, 42);
    const ir_node *k = NULL;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == IR_OP_CONST)
            k = &g->nodes[i];
    ck_assert_int_eq(k->shape.rank, 1);
    ck_assert_int_eq(k->shape.d[0], 3);
    for (int i = 0; i < 3; i++) {
        double want = exp((cv[i] + 0.125) * (cv[i] + 0.125));
        ck_assert_msg(fabs(k->data[i] - want) <= 1e-6 * want, "%d: %g vs %g", i, k->data[i], want);
    }
    double xv[6] = {1, 2, 3, 4, 5, 6}, yv[6];
    run_f64(g, 2, xv, yv);
    for (int i = 0; i < 6; i++) {
        double want = xv[i] + exp((cv[i % 3] + 0.125) * (cv[i % 3] + 0.125));
        ck_assert(fabs(yv[i] - want) <= 1e-6 * want);
    }
    ir_graph_free(g);
}
END_TEST

/* Parameters are rewritten by training: what depends on them stays computed.
 * A broadcast to a batch shape has no static value to fold. */
START_TEST(test_fold_keeps_params_and_batch)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 2), &err);
    float wv[2] = {3, 4};
    int w = ir_add_const(g, "w", ir_shape_make(1, 2), wv, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int w2 = ir_binary(g, IR_OP_MUL, w, ir_add_scalar(g, 2, &err), NULL, &err);
    int b = ir_broadcast_to(g, ir_add_scalar(g, 1, &err), ir_shape_make(2, IR_DIM_N, 2), NULL, &err);
    int y = ir_binary(g, IR_OP_ADD, ir_binary(g, IR_OP_MUL, x, w2, NULL, &err), b, NULL, &err);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    int before = g->n_nodes;
    ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_FOLD_CONSTANTS, g, &verify_opts, &err), EBM_OK);
    ck_assert_int_eq(g->n_nodes, before);
    ck_assert_int_eq(count_op(g, IR_OP_MUL), 2);
    ck_assert_int_eq(count_op(g, IR_OP_BROADCAST), 1);
    ir_graph_free(g);
}
END_TEST

/* ---- dead code elimination ------------------------------------------------------------ */

START_TEST(test_dce)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 2), &err);
    int unused_in = ir_add_input(g, "unused", ir_shape_make(1, 5), &err);
    int dead = ir_unary(g, IR_OP_EXP, x, "dead", &err);
    ir_unary(g, IR_OP_LOG, dead, "dead2", &err);
    ir_unary(g, IR_OP_ABS, unused_in, "dead3", &err);
    int t = ir_unary(g, IR_OP_TANH, x, "t", &err);
    int z = ir_add_input(g, "z", ir_shape_make(2, IR_DIM_N, 2), &err);   /* an input after compute nodes */
    int y = ir_binary(g, IR_OP_MUL, t, z, "y", &err);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    ck_assert_int_eq(ir_add_output(g, t, "t", &err), EBM_OK);
    ck_assert_int_eq(g->n_nodes, 8);

    ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_DCE, g, &verify_opts, &err), EBM_OK);
    ck_assert_int_eq(g->n_nodes, 5);   /* x, unused, t, z, y */
    ck_assert_int_eq(g->n_inputs, 3);
    ck_assert_str_eq(g->nodes[g->inputs[0]].name, "x");
    ck_assert_str_eq(g->nodes[g->inputs[1]].name, "unused");
    ck_assert_str_eq(g->nodes[g->inputs[2]].name, "z");
    ck_assert_str_eq(g->nodes[g->outputs[0]].name, "y");
    ck_assert_str_eq(g->nodes[g->outputs[1]].name, "t");
    ck_assert_str_eq(g->output_names[1], "t");
    ck_assert_int_eq(count_op(g, IR_OP_EXP) + count_op(g, IR_OP_LOG) + count_op(g, IR_OP_ABS), 0);

    /* still computes tanh(x) * z */
    double xv[4] = {0.5, -1, 2, 0}, uv[5] = {0}, zv[4] = {2, 3, -1, 7}, yv[4], tv[4];
    const void *in[3] = {xv, uv, zv};
    void *out[2] = {yv, tv};
    ck_assert_int_eq(ebmc_exec(g, 2, EBMC_F64, in, out, &err), EBM_OK);
    for (int i = 0; i < 4; i++)
        ck_assert(fabs(yv[i] - tanh(xv[i]) * zv[i]) < 1e-15);

    /* nothing dead: unchanged */
    ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_DCE, g, NULL, &err), EBM_OK);
    ck_assert_int_eq(g->n_nodes, 5);
    ir_graph_free(g);
}
END_TEST

/* ---- energy heads ------------------------------------------------------------------- */

/* x [N,k...] -> y = 2*x, the "network". */
static ir_graph *net(ir_shape xs)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", xs, &err);
    int y = ir_binary(g, IR_OP_MUL, x, ir_add_scalar(g, 2, &err), "net", &err);
    ck_assert_int_eq(ir_add_output(g, y, "y", &err), EBM_OK);
    return g;
}

static ebm_status apply_head(ir_graph *g, ebm_head h, ebm_error *err)
{
    ebmc_options o = {.head = h, .verify = 1};
    return ebmc_pass_run(EBMC_PASS_ENERGY_HEAD, g, &o, err);
}

static void check_energy_graph(const ir_graph *g)
{
    ck_assert_int_eq(g->n_outputs, 1);
    ck_assert_str_eq(g->output_names[0], "energy");
    const ir_shape *s = &g->nodes[g->outputs[0]].shape;
    ck_assert_int_eq(s->rank, 1);
    ck_assert_int_eq(s->d[0], IR_DIM_N);
}

START_TEST(test_head_output)
{
    ebm_error err = {0};
    ir_graph *g = net(ir_shape_make(2, IR_DIM_N, 1));
    ck_assert_int_eq(apply_head(g, EBM_HEAD_OUTPUT, &err), EBM_OK);
    check_energy_graph(g);
    double xv[3] = {1, -2, 0.5}, e[3];
    run_f64(g, 3, xv, e);
    for (int i = 0; i < 3; i++)
        ck_assert(e[i] == 2 * xv[i]);
    ir_graph_free(g);

    g = net(ir_shape_make(1, IR_DIM_N));   /* already [N] */
    ck_assert_int_eq(apply_head(g, EBM_HEAD_OUTPUT, &err), EBM_OK);
    check_energy_graph(g);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_head_output_rejects_vectors)
{
    ebm_error err = {0};
    ir_graph *g = net(ir_shape_make(2, IR_DIM_N, 10));
    int before = g->n_nodes;
    ck_assert_int_eq(apply_head(g, EBM_HEAD_OUTPUT, &err), EBM_ERR_SHAPE);
    ck_assert_str_eq(err.msg, "energy head 'output' needs one value per sample, but the network's output 'y' "
                              "has shape [N,10]; use --energy-head sum or neg-logsumexp");
    /* the graph is untouched */
    ck_assert_int_eq(g->n_nodes, before);
    ck_assert_str_eq(g->output_names[0], "y");
    /* the same error arrives without an error record */
    ck_assert_int_eq(apply_head(g, EBM_HEAD_OUTPUT, NULL), EBM_ERR_SHAPE);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_head_sum)
{
    ebm_error err = {0};
    ir_graph *g = net(ir_shape_make(3, IR_DIM_N, 2, 3));
    ck_assert_int_eq(apply_head(g, EBM_HEAD_SUM, &err), EBM_OK);
    check_energy_graph(g);
    double xv[12], e[2];
    for (int i = 0; i < 12; i++)
        xv[i] = i * 0.5 - 2;
    run_f64(g, 2, xv, e);
    for (int b = 0; b < 2; b++) {
        double s = 0;
        for (int i = 0; i < 6; i++)
            s += 2 * xv[b * 6 + i];
        ck_assert(fabs(e[b] - s) < 1e-13);
    }
    ir_graph_free(g);
}
END_TEST

/* logsumexp(2x) by hand: 2x = [1000, 1000] -> 1000 + ln 2 (a naive exp would
 * overflow to inf); 2x = [1, 2, 3] -> 3 + ln(1 + e^-1 + e^-2). */
START_TEST(test_head_logsumexp)
{
    for (int neg = 0; neg < 2; neg++) {
        ebm_error err = {0};
        ir_graph *g = net(ir_shape_make(2, IR_DIM_N, 3));
        ck_assert_int_eq(apply_head(g, neg ? EBM_HEAD_NEG_LOGSUMEXP : EBM_HEAD_LOGSUMEXP, &err), EBM_OK);
        check_energy_graph(g);
        double xv[6] = {500, 500, -INFINITY, 0.5, 1, 1.5}, e[2];
        double want[2] = {1000 + log(2.0), 3 + log(1 + exp(-1.0) + exp(-2.0))};
        double sign = neg ? -1 : 1;
        run_f64(g, 2, xv, e);
        for (int b = 0; b < 2; b++)
            ck_assert_msg(fabs(e[b] - sign * want[b]) < 1e-12 * fabs(want[b]), "f64 %d: %.17g", b, e[b]);
        float xf[6], ef[2];
        for (int i = 0; i < 6; i++)
            xf[i] = (float)xv[i];
        run_f32(g, 2, xf, ef);
        for (int b = 0; b < 2; b++)
            ck_assert_msg(fabs(ef[b] - sign * want[b]) < 5e-7 * fabs(want[b]), "f32 %d: %.9g", b, ef[b]);
        ir_graph_free(g);
    }
}
END_TEST

/* [N,1,K] is still one row of K classes per sample. */
START_TEST(test_head_logsumexp_rank3)
{
    ebm_error err = {0};
    ir_graph *g = net(ir_shape_make(3, IR_DIM_N, 1, 2));
    ck_assert_int_eq(apply_head(g, EBM_HEAD_NEG_LOGSUMEXP, &err), EBM_OK);
    check_energy_graph(g);
    double xv[2] = {0, 0}, e[1];
    run_f64(g, 1, xv, e);
    ck_assert(fabs(e[0] + log(2.0)) < 1e-15);
    ir_graph_free(g);

    g = net(ir_shape_make(3, IR_DIM_N, 2, 2));
    ck_assert_int_eq(apply_head(g, EBM_HEAD_LOGSUMEXP, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "[N,2,2]"));
    ir_graph_free(g);
}
END_TEST

START_TEST(test_head_errors)
{
    ebm_error err = {0};
    /* batch dimension not symbolic */
    ir_graph *g = net(ir_shape_make(2, 1, 1));
    ck_assert_int_eq(apply_head(g, EBM_HEAD_OUTPUT, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "batch dimension N"));
    ck_assert_ptr_nonnull(strstr(err.msg, "'y'"));
    ir_graph_free(g);
    /* logsumexp over [N] would mix samples */
    g = net(ir_shape_make(1, IR_DIM_N));
    ck_assert_int_eq(apply_head(g, EBM_HEAD_NEG_LOGSUMEXP, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "neg-logsumexp"));
    ir_graph_free(g);
    /* two outputs */
    g = net(ir_shape_make(2, IR_DIM_N, 1));
    ck_assert_int_eq(ir_add_output(g, 0, "x_again", &err), EBM_OK);
    ck_assert_int_eq(apply_head(g, EBM_HEAD_SUM, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "exactly one output"));
    ir_graph_free(g);
}
END_TEST

START_TEST(test_head_names)
{
    const char *names[] = {"output", "sum", "neg-logsumexp", "logsumexp"};
    for (int i = 0; i < 4; i++) {
        ebm_head h = EBM_HEAD_COUNT;
        ck_assert_int_eq(ebm_head_parse(names[i], &h), 0);
        ck_assert_str_eq(ebm_head_name(h), names[i]);
    }
    ebm_head h;
    ck_assert_int_ne(ebm_head_parse("softmax", &h), 0);
    ck_assert_int_ne(ebm_head_parse(NULL, &h), 0);
    ck_assert_str_eq(ebm_head_name(EBM_HEAD_COUNT), "?");
}
END_TEST

/* ---- the front-end pipeline (pipeline.c) ------------------------------------------------ */

START_TEST(test_pipeline_table)
{
    static const char *const order[EBMC_PASS_COUNT] = {"energy head", "fold_constants", "simplify", "dce"};
    for (int i = 0; i < EBMC_PASS_COUNT; i++) {
        ck_assert_str_eq(ebmc_passes[i].name, order[i]);
        ck_assert_ptr_nonnull(ebmc_passes[i].run);
        ck_assert_int_eq(ebmc_passes[i].folding, i == EBMC_PASS_FOLD_CONSTANTS || i == EBMC_PASS_SIMPLIFY);
    }
    ebm_error err = {0};
    ir_graph *g = net(ir_shape_make(2, IR_DIM_N, 1));
    ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_COUNT, g, &verify_opts, &err), EBM_ERR_INTERNAL);
    ir_graph_free(g);
}
END_TEST

/* The runner verifies after a pass only when asked, and names the pass. */
START_TEST(test_pipeline_verifies_after_pass)
{
    ebm_error err = {0};
    ir_graph *g = net(ir_shape_make(2, IR_DIM_N, 1));
    g->nodes[g->outputs[0]].shape = ir_shape_make(2, IR_DIM_N, 7);   /* 2*x cannot be [N,7] */
    ebmc_options quiet = {.verify = 0};
#ifdef NDEBUG
    ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_DCE, g, &quiet, &err), EBM_OK);
#else   /* a debug build verifies after every pass, asked or not (pipeline.c) */
    ck_assert_int_ne(ebmc_pass_run(EBMC_PASS_DCE, g, &quiet, &err), EBM_OK);
#endif
    ck_assert_int_ne(ebmc_pass_run(EBMC_PASS_DCE, g, &verify_opts, &err), EBM_OK);
    ck_assert_msg(strncmp(err.msg, "after dce: ", 11) == 0, "%s", err.msg);
    ir_graph_free(g);
}
END_TEST

/* energy head -> (fold, simplify) -> dce -> verify, with the file named in errors. */
START_TEST(test_pipeline_front_end)
{
    for (int fold = 0; fold < 2; fold++) {
        ebm_error err = {0};
        ir_graph *g = net(ir_shape_make(2, IR_DIM_N, 1));
        ebmc_front_end fe = {.head = EBM_HEAD_OUTPUT, .fold = fold, .verify_each = 1};
        ck_assert_msg(ebmc_front_end_run(g, &fe, &err) == EBM_OK, "%s", err.msg);
        check_energy_graph(g);
        double xv[2] = {1.5, -4}, e[2];
        run_f64(g, 2, xv, e);
        ck_assert(e[0] == 3 && e[1] == -8);
        ir_graph_free(g);
    }
    ebm_error err = {0};
    ir_graph *g = net(ir_shape_make(2, IR_DIM_N, 10));
    g->source = strdup("net.onnx");
    ebmc_front_end fe = {.head = EBM_HEAD_OUTPUT, .fold = 1};
    ck_assert_int_eq(ebmc_front_end_run(g, &fe, &err), EBM_ERR_SHAPE);
    ck_assert_str_eq(err.msg, "net.onnx: energy head 'output' needs one value per sample, but the network's "
                              "output 'y' has shape [N,10]; use --energy-head sum or neg-logsumexp");
    ir_graph_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("passes");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fold_chain);
    tcase_add_test(tc, test_fold_keeps_params_and_batch);
    tcase_add_test(tc, test_dce);
    tcase_add_test(tc, test_head_output);
    tcase_add_test(tc, test_head_output_rejects_vectors);
    tcase_add_test(tc, test_head_sum);
    tcase_add_test(tc, test_head_logsumexp);
    tcase_add_test(tc, test_head_logsumexp_rank3);
    tcase_add_test(tc, test_head_errors);
    tcase_add_test(tc, test_head_names);
    tcase_add_test(tc, test_pipeline_table);
    tcase_add_test(tc, test_pipeline_verifies_after_pass);
    tcase_add_test(tc, test_pipeline_front_end);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
