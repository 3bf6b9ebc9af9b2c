/* test_onnx_export.c — writing the core IR as ONNX (onnx/onnx_export.c).
 *
 * The oracle is the importer, which is checked against ONNX's own backend
 * tests (conformance runner): a graph exported and imported again must
 * compute the same values, and from then on the round trip is a fixpoint —
 * ONNX -> IR -> ONNX -> IR gives the same IR node by node (op, operands,
 * shapes, attributes, parameter names and data) and the same bytes.  Where
 * an op has a pattern of several ONNX operators, the test says which core IR
 * comes back.  The file structure (opset, initializers, symbolic N, metadata)
 * is read back with protobuf-c.  The onnx Python checker accepts these files
 * (tests/data/presets/gen_presets.py runs it on the presets; not part of
 * CTest, which needs no Python).
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "zoo.h"
#include "onnx.h"
#include "onnx_ebmc.pb-c.h"
#include "testutil.h"

#define N_BATCH 3

/* ---- helpers ------------------------------------------------------------------------ */

static void *export_ok(const ir_graph *g, size_t *len)
{
    ebm_error err = {0};
    void *buf = NULL;
    ebm_status st = ir_onnx_export_buffer(g, &buf, len, &err);
    ck_assert_msg(st == EBM_OK, "export: %s", err.msg);
    ck_assert_ptr_nonnull(buf);
    return buf;
}

static ir_graph *import_buf(const void *buf, size_t len)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ebm_status st = ir_onnx_import_buffer(buf, len, "exported", NULL, &g, &err);
    ck_assert_msg(st == EBM_OK, "import of the exported model: %s", err.msg);
    ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s", err.msg);
    return g;
}

static ir_graph *reimport(const ir_graph *g)
{
    size_t len;
    void *buf = export_ok(g, &len);
    ir_graph *h = import_buf(buf, len);
    free(buf);
    return h;
}

/* The same computation node by node.  Constants compare by data and their
 * PARAM/TRAINABLE flags; parameters and inputs also by name (other names are
 * labels for messages, which the importer rewrites). */
static void assert_same_ir(const ir_graph *a, const ir_graph *b, const char *what)
{
    char la[256], lb[256];
    ck_assert_msg(a->n_nodes == b->n_nodes, "%s: %d nodes vs %d", what, a->n_nodes, b->n_nodes);
    for (int i = 0; i < a->n_nodes; i++) {
        const ir_node *x = &a->nodes[i], *y = &b->nodes[i];
        ir_node_label(a, i, la, sizeof la);
        ir_node_label(b, i, lb, sizeof lb);
        ck_assert_msg(x->op == y->op && x->n_in == y->n_in && ir_shape_eq(&x->shape, &y->shape),
                      "%s: node %s vs %s (op, operand count or shape)", what, la, lb);
        for (int k = 0; k < x->n_in; k++)
            ck_assert_msg(x->in[k] == y->in[k], "%s: node %s operand %d: %%%d vs %%%d", what, la, k, x->in[k],
                          y->in[k]);
        unsigned keep = IR_NODE_PARAM | IR_NODE_TRAINABLE;
        if (x->op == IR_OP_CONST) {
            ck_assert_msg((x->flags & keep) == (y->flags & keep), "%s: node %s flags", what, la);
            size_t n = (size_t)ir_shape_numel(&x->shape, 0);
            ck_assert_msg(memcmp(x->data, y->data, n * sizeof(float)) == 0, "%s: node %s data", what, la);
        } else if (x->op != IR_OP_INPUT) {
            ck_assert_msg(memcmp(&x->attr, &y->attr, sizeof x->attr) == 0, "%s: node %s attributes", what, la);
        }
        if (x->op == IR_OP_INPUT || (x->flags & IR_NODE_PARAM))
            ck_assert_msg(x->name && y->name && strcmp(x->name, y->name) == 0, "%s: node %s name vs %s", what, la,
                          lb);
    }
    ck_assert_int_eq(a->n_inputs, b->n_inputs);
    ck_assert_int_eq(a->n_outputs, b->n_outputs);
    for (int i = 0; i < a->n_inputs; i++)
        ck_assert_int_eq(a->inputs[i], b->inputs[i]);
    for (int i = 0; i < a->n_outputs; i++) {
        ck_assert_int_eq(a->outputs[i], b->outputs[i]);
        ck_assert_str_eq(a->output_names[i], b->output_names[i]);
    }
}

/* Runs g (N = N_BATCH) on inputs from `seed`; every output as a malloc'd
 * array of dt, all outputs concatenated, *count values. */
static void *run(const ir_graph *g, ebmc_dtype dt, uint64_t seed, size_t *count)
{
    size_t es = dt == EBMC_F64 ? sizeof(double) : sizeof(float);
    void *in[8] = {0}, *out[16] = {0};
    ck_assert(g->n_inputs <= 8 && g->n_outputs <= 16);
    for (int k = 0; k < g->n_inputs; k++) {
        size_t c = (size_t)ir_shape_numel(&g->nodes[g->inputs[k]].shape, N_BATCH);
        double *v = malloc(c * sizeof *v + 1);
        tu_fill_uniform_f64(v, c, seed + (uint64_t)k, -2, 2);
        in[k] = malloc(c * es + 1);
        for (size_t i = 0; i < c; i++) {
            if (dt == EBMC_F64)
                ((double *)in[k])[i] = (float)v[i];
            else
                ((float *)in[k])[i] = (float)v[i];
        }
        free(v);
    }
    size_t total = 0, at = 0;
    for (int j = 0; j < g->n_outputs; j++)
        total += (size_t)ir_shape_numel(&g->nodes[g->outputs[j]].shape, N_BATCH);
    char *all = malloc(total * es + 1);
    for (int j = 0; j < g->n_outputs; j++) {
        out[j] = all + at * es;
        at += (size_t)ir_shape_numel(&g->nodes[g->outputs[j]].shape, N_BATCH);
    }
    ebm_error err = {0};
    ebm_status st = ebmc_exec(g, N_BATCH, dt, (const void *const *)in, out, &err);
    ck_assert_msg(st == EBM_OK, "exec: %s", err.msg);
    for (int k = 0; k < g->n_inputs; k++)
        free(in[k]);
    *count = total;
    return all;
}

/* g and h compute the same: float32 bit for bit (they hold the same float
 * constants); float64 to rounding (g's exact scalars are doubles, h's the
 * floats the file holds). */
static void assert_same_values(const ir_graph *g, const ir_graph *h, const char *what)
{
    size_t n1, n2;
    float *a = run(g, EBMC_F32, 11, &n1), *b = run(h, EBMC_F32, 11, &n2);
    ck_assert_uint_eq(n1, n2);
    for (size_t i = 0; i < n1; i++)
        ck_assert_msg(memcmp(&a[i], &b[i], sizeof a[i]) == 0 || (isnan(a[i]) && isnan(b[i])),
                      "%s: float32 value %zu: %.9g vs %.9g", what, i, a[i], b[i]);
    free(a);
    free(b);
    double *c = run(g, EBMC_F64, 11, &n1), *d = run(h, EBMC_F64, 11, &n2);
    for (size_t i = 0; i < n1; i++)
        ck_assert_msg(fabs(c[i] - d[i]) <= 1e-6 * (1 + fabs(c[i])) || (isnan(c[i]) && isnan(d[i])),
                      "%s: float64 value %zu: %.17g vs %.17g", what, i, c[i], d[i]);
    free(c);
    free(d);
}

/* g0 -> g1 -> g2: g1 computes what g0 does; g1 and g2 are the same IR and
 * export to the same bytes.  With `exact`, g0 already is that IR. */
static void check_round_trip(const ir_graph *g0, int exact, const char *what)
{
    ir_graph *g1 = reimport(g0), *g2 = reimport(g1);
    assert_same_values(g0, g1, what);
    assert_same_ir(g1, g2, what);
    if (exact)
        assert_same_ir(g0, g1, what);
    size_t l1, l2;
    void *b1 = export_ok(g1, &l1), *b2 = export_ok(g2, &l2);
    ck_assert_msg(l1 == l2 && memcmp(b1, b2, l1) == 0, "%s: the second and third export differ", what);
    free(b1);
    free(b2);
    ir_graph_free(g1);
    ir_graph_free(g2);
}

static ir_graph *new_graph(ir_shape x_shape, int *x)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    *x = ir_add_input(g, "x", x_shape, &err);
    ck_assert_msg(*x >= 0, "%s", err.msg);
    return g;
}

static int param(ir_graph *g, const char *name, ir_shape s, uint64_t seed)
{
    ebm_error err = {0};
    size_t n = (size_t)ir_shape_numel(&s, 0);
    float *v = malloc(n * sizeof *v + 1);
    tu_fill_uniform_f32(v, n, seed, -1, 1);
    int id = ir_add_const(g, name, s, v, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    free(v);
    ck_assert_msg(id >= 0, "%s", err.msg);
    return id;
}

static void out(ir_graph *g, int id, const char *name)
{
    ebm_error err = {0};
    ck_assert_msg(id >= 0 && ir_add_output(g, id, name, &err) == EBM_OK, "output %s: %s", name, err.msg);
}

static int node(ir_graph *g, ir_op op, const int *in, int n_in, const ir_attr *a)
{
    ebm_error err = {0};
    int id = ir_add_node(g, op, in, n_in, a, NULL, &err);
    ck_assert_msg(id >= 0, "%s: %s", ir_op_get(op)->name, err.msg);
    return id;
}

static ir_attr zero_attr(void)
{
    ir_attr a;
    memset(&a, 0, sizeof a);
    return a;
}

static Onnx__ModelProto *decode(const void *buf, size_t len)
{
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    ck_assert_ptr_nonnull(m);
    return m;
}

static int count_op_type(const Onnx__ModelProto *m, const char *op_type)
{
    int k = 0;
    for (size_t i = 0; i < m->graph->n_node; i++)
        k += strcmp(m->graph->node[i]->op_type, op_type) == 0;
    return k;
}

static int count_ir_op(const ir_graph *g, ir_op op)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        k += g->nodes[i].op == op;
    return k;
}

/* ---- elementwise ops ---------------------------------------------------------------- */

/* One node of core op `op` on x [N,5] (and, for more operands, parameters
 * that broadcast against it), as the graph's output. */
static ir_graph *one_op_graph(ir_op op)
{
    int x, in[3];
    ir_graph *g = new_graph(ir_shape_make(2, IR_DIM_N, 5), &x);
    in[0] = x;
    for (int k = 1; k < ir_op_get(op)->arity; k++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", k);
        in[k] = param(g, name, ir_shape_make(1, 5), 40 + (uint64_t)k);
    }
    ir_attr a = zero_attr();
    if (ir_op_get(op)->attr == IR_ATTR_F)
        a.f = 3.0;   /* pows: x^3 */
    out(g, node(g, op, in, ir_op_get(op)->arity, &a), "y");
    return g;
}

/* Every elementwise op of ops.def with an onnx_type: exported and imported
 * again it computes the same (float32 bit for bit) and is a fixpoint from
 * then on; when its export is the one ONNX node of that type, it comes back
 * as the same IR.  A new row of ops.def is tested here without an edit. */
START_TEST(test_every_elementwise_op_round_trips)
{
    int tested = 0;
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *info = ir_op_get((ir_op)op);
        if (!info->elementwise || !info->onnx_type)
            continue;
        ir_graph *g = one_op_graph((ir_op)op);
        size_t len;
        void *buf = export_ok(g, &len);
        Onnx__ModelProto *m = decode(buf, len);
        ck_assert_msg(count_op_type(m, info->onnx_type) == 1, "%s: no %s node in the file", info->name,
                      info->onnx_type);
        int one_node = m->graph->n_node == 1;
        onnx__model_proto__free_unpacked(m, NULL);
        free(buf);
        check_round_trip(g, one_node, info->name);
        ir_graph_free(g);
        tested++;
    }
    ck_assert_int_gt(tested, 0);
}
END_TEST

/* log and sqrt of positive values; x^3 and x^-0.5 (exponents the importer
 * keeps as pows: 2 and 0.5 come back as mul and sqrt); x^(1/3) keeps its
 * double exponent. */
START_TEST(test_unary_ops_round_trip)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(2, IR_DIM_N, 5), &x);
    int pos = ir_unary(g, IR_OP_EXP, x, NULL, &err);
    out(g, ir_unary(g, IR_OP_LOG, pos, NULL, &err), "log");
    out(g, ir_unary(g, IR_OP_SQRT, pos, NULL, &err), "sqrt");
    out(g, ir_pows(g, x, 3.0, NULL, &err), "cube");
    out(g, ir_pows(g, pos, -0.5, NULL, &err), "rsqrt");
    out(g, ir_pows(g, pos, 1.0 / 3.0, NULL, &err), "cbrt");   /* kept as a double */
    check_round_trip(g, 1, "unary");
    ir_graph *h = reimport(g);
    int pows = 0;
    for (int i = 0; i < h->n_nodes; i++)
        if (h->nodes[i].op == IR_OP_POWS && h->nodes[i].attr.f == 1.0 / 3.0)
            pows++;
    ck_assert_int_eq(pows, 1);
    ir_graph_free(h);
    ir_graph_free(g);
}
END_TEST

/* Binary ops against parameters that broadcast; the parameters are
 * initializers, a plain constant a Constant node. */
START_TEST(test_binary_ops_broadcast_round_trip)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(3, IR_DIM_N, 2, 4), &x);
    char name[32];
    static const ir_op ops[] = {IR_OP_ADD, IR_OP_DIV};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        snprintf(name, sizeof name, "w%zu", i);
        int w = param(g, name, ir_shape_make(2, 1, 4), 100 + i);
        snprintf(name, sizeof name, "y%zu", i);
        out(g, ir_binary(g, ops[i], x, w, NULL, &err), name);
    }
    int s = ir_add_scalar(g, 0.25, &err);   /* a non-parameter constant: a Constant node */
    out(g, ir_binary(g, IR_OP_MUL, s, x, NULL, &err), "scaled");
    check_round_trip(g, 1, "binary");

    size_t len;
    void *buf = export_ok(g, &len);
    Onnx__ModelProto *m = decode(buf, len);
    ck_assert_uint_eq(m->graph->n_initializer, 2);   /* the parameters only */
    ck_assert_int_eq(count_op_type(m, "Constant"), 1);
    onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
    ir_graph_free(g);
}
END_TEST

/* Comparisons yield bool in ONNX: a Cast makes the 0/1 float; a select whose
 * condition is a comparison uses the bool directly, so both come back as is. */
START_TEST(test_compare_and_select_round_trip)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(2, IR_DIM_N, 6), &x);
    int w = param(g, "w", ir_shape_make(1, 6), 7);
    int gt = ir_binary(g, IR_OP_GT, x, w, NULL, &err);
    out(g, gt, "gt");
    out(g, ir_binary(g, IR_OP_GE, x, w, NULL, &err), "ge");
    int r = ir_unary(g, IR_OP_RELU, x, NULL, &err);   /* zeros, so eq meets equal values */
    int z = ir_add_scalar(g, 0.0, &err);
    out(g, ir_binary(g, IR_OP_EQ, r, z, NULL, &err), "eq");
    int lt = ir_binary(g, IR_OP_GT, w, x, NULL, &err);   /* used only as a condition */
    int neg = ir_unary(g, IR_OP_NEG, x, NULL, &err);
    out(g, ir_select(g, lt, x, neg, NULL, &err), "where");
    out(g, ir_select(g, gt, neg, x, NULL, &err), "where2");
    check_round_trip(g, 1, "compare/select");

    size_t len;
    void *buf = export_ok(g, &len);
    Onnx__ModelProto *m = decode(buf, len);
    ck_assert_int_eq(count_op_type(m, "Cast"), 3);   /* gt, ge, eq as floats; lt stays bool */
    ck_assert_int_eq(count_op_type(m, "Where"), 2);
    onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
    ir_graph_free(g);
}
END_TEST

/* step(x) is Greater(x, 0) and comes back as gt(x, 0); a select on any
 * other condition c is Where(c == 0, b, a). */
START_TEST(test_step_and_general_select_values)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(2, IR_DIM_N, 6), &x);
    int st = ir_unary(g, IR_OP_STEP, x, NULL, &err);
    out(g, st, "step");
    int c = ir_unary(g, IR_OP_TANH, x, NULL, &err);   /* a float condition, nonzero almost always */
    int relu = ir_unary(g, IR_OP_RELU, x, NULL, &err);  /* and one that is 0 for x <= 0 */
    int e = ir_unary(g, IR_OP_EXP, x, NULL, &err);
    out(g, ir_select(g, c, e, x, NULL, &err), "sel_tanh");
    out(g, ir_select(g, relu, e, x, NULL, &err), "sel_relu");
    check_round_trip(g, 0, "step/select");
    ir_graph *h = reimport(g);
    ck_assert_int_eq(count_ir_op(h, IR_OP_STEP), 0);
    ck_assert_int_eq(count_ir_op(h, IR_OP_GT), 1);
    ck_assert_int_eq(count_ir_op(h, IR_OP_EQ), 2);
    ck_assert_int_eq(count_ir_op(h, IR_OP_SELECT), 2);
    ir_graph_free(h);
    ir_graph_free(g);
}
END_TEST

/* ---- reductions, contractions, windows ---------------------------------------------- */

START_TEST(test_reduce_matmul_round_trip)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(3, IR_DIM_N, 3, 4), &x);
    out(g, ir_reduce(g, IR_OP_RSUM, x, 1u << 1, NULL, &err), "sum1");
    out(g, ir_reduce(g, IR_OP_RSUM, x, 1u << 0 | 1u << 2, NULL, &err), "sum_batch");   /* over N too */
    out(g, ir_reduce(g, IR_OP_RMAX, x, 1u << 1 | 1u << 2, NULL, &err), "max12");
    int w = param(g, "w", ir_shape_make(2, 4, 5), 3);
    out(g, ir_matmul(g, x, w, NULL, &err), "mm");
    check_round_trip(g, 1, "reduce/matmul");
    ir_graph_free(g);
}
END_TEST

START_TEST(test_conv_and_pool_round_trip)
{
    int x;
    ir_graph *g = new_graph(ir_shape_make(4, IR_DIM_N, 4, 9, 8), &x);
    int w = param(g, "w", ir_shape_make(4, 6, 2, 3, 2), 5);   /* group 2 */
    ir_attr a = zero_attr();
    a.conv.stride[0] = 2, a.conv.stride[1] = 1;
    a.conv.pad[0] = 0, a.conv.pad[1] = 1, a.conv.pad[2] = 1, a.conv.pad[3] = 2;
    a.conv.dilation[0] = 1, a.conv.dilation[1] = 2;
    a.conv.group = 2;
    int in[2] = {x, w};
    out(g, node(g, IR_OP_CONV2D, in, 2, &a), "conv");
    ir_attr p = zero_attr();
    p.pool.kernel[0] = 3, p.pool.kernel[1] = 2;
    p.pool.stride[0] = 2, p.pool.stride[1] = 2;
    p.pool.pad[0] = 1, p.pool.pad[1] = 0, p.pool.pad[2] = 1, p.pool.pad[3] = 1;
    p.pool.dilation[0] = 1, p.pool.dilation[1] = 2;
    p.pool.ceil_mode = 1;
    out(g, node(g, IR_OP_MAXPOOL2D, &x, 1, &p), "maxpool");
    p.pool.dilation[1] = 1;
    p.pool.count_include_pad = 1;
    out(g, node(g, IR_OP_AVGPOOL2D, &x, 1, &p), "avgpool");
    check_round_trip(g, 1, "conv/pool");
    ir_graph_free(g);
}
END_TEST

/* ---- data movement ------------------------------------------------------------------ */

START_TEST(test_reshape_transpose_concat_pad_round_trip)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(3, IR_DIM_N, 2, 6), &x);
    int r = ir_reshape(g, x, ir_shape_make(3, IR_DIM_N, 3, 4), NULL, &err);
    out(g, r, "r34");
    out(g, ir_reshape(g, x, ir_shape_make(2, IR_DIM_N, 12), NULL, &err), "flat");
    int perm[3] = {0, 2, 1};
    out(g, ir_transpose(g, r, perm, NULL, &err), "t");
    int parts[3] = {x, ir_unary(g, IR_OP_NEG, x, NULL, &err), x};
    out(g, ir_concat(g, parts, 3, 2, NULL, &err), "cat");
    ir_attr a = zero_attr();
    a.pad.begin[1] = 1, a.pad.end[1] = 0, a.pad.begin[2] = 2, a.pad.end[2] = 3;
    a.pad.value = 0.5;
    out(g, node(g, IR_OP_PAD, &x, 1, &a), "pad");
    check_round_trip(g, 1, "movement");
    ir_graph_free(g);
}
END_TEST

START_TEST(test_slice_round_trip)
{
    int x;
    ir_graph *g = new_graph(ir_shape_make(3, IR_DIM_N, 5, 7), &x);
    ir_attr a = zero_attr();
    a.slice.start[0] = 0, a.slice.end[0] = INT64_MAX, a.slice.step[0] = 1;   /* the batch axis whole */
    a.slice.start[1] = 1, a.slice.end[1] = 5, a.slice.step[1] = 2;
    a.slice.start[2] = 6, a.slice.end[2] = -1, a.slice.step[2] = -2;        /* down to element 0 */
    out(g, node(g, IR_OP_SLICE, &x, 1, &a), "s1");
    a.slice.start[2] = 5, a.slice.end[2] = 1, a.slice.step[2] = -1;
    a.slice.start[1] = 0, a.slice.end[1] = 5, a.slice.step[1] = 1;
    out(g, node(g, IR_OP_SLICE, &x, 1, &a), "s2");
    check_round_trip(g, 1, "slice");
    ir_graph_free(g);
}
END_TEST

/* broadcast to a shape with N: from an operand that has N (Expand with 1
 * there) and from one that does not (N read with Shape from the input). */
START_TEST(test_broadcast_to_batch_round_trip)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(3, IR_DIM_N, 1, 4), &x);
    out(g, ir_broadcast_to(g, x, ir_shape_make(3, IR_DIM_N, 3, 4), NULL, &err), "from_n");
    int w = param(g, "w", ir_shape_make(2, 1, 4), 9);
    out(g, ir_broadcast_to(g, w, ir_shape_make(3, IR_DIM_N, 2, 4), NULL, &err), "to_n");
    int v = param(g, "v", ir_shape_make(1, 4), 10);
    out(g, ir_broadcast_to(g, v, ir_shape_make(3, 2, IR_DIM_N, 4), NULL, &err), "n_inside");
    check_round_trip(g, 1, "broadcast");

    size_t len;
    void *buf = export_ok(g, &len);
    Onnx__ModelProto *m = decode(buf, len);
    ck_assert_int_eq(count_op_type(m, "Expand"), 3);
    ck_assert_int_eq(count_op_type(m, "Shape"), 1);   /* made once, shared */
    onnx__model_proto__free_unpacked(m, NULL);
    free(buf);
    ir_graph_free(g);
}
END_TEST

/* ---- what cannot be exported ------------------------------------------------------------ */

static void export_fails(const ir_graph *g, const char *w1, const char *w2)
{
    ebm_error err = {0};
    void *buf = (void *)&err;
    size_t len = 7;
    ebm_status st = ir_onnx_export_buffer(g, &buf, &len, &err);
    ck_assert_msg(st == EBM_ERR_UNSUPPORTED, "got %s (%s)", ebm_status_name(st), err.msg);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    ck_assert_msg(strstr(err.msg, w1) && strstr(err.msg, w2), "message lacks '%s'/'%s': %s", w1, w2, err.msg);
}

START_TEST(test_backward_ops_unsupported)
{
    int x;
    ir_graph *g = new_graph(ir_shape_make(4, IR_DIM_N, 2, 5, 5), &x);
    int w = param(g, "w", ir_shape_make(4, 2, 2, 3, 3), 1);
    ir_attr a = zero_attr();
    a.conv.stride[0] = a.conv.stride[1] = 1;
    a.conv.dilation[0] = a.conv.dilation[1] = 1;
    a.conv.group = 1;
    a.conv.in_hw[0] = 7, a.conv.in_hw[1] = 7;
    int in[2] = {x, w};
    ebm_error err = {0};
    int y = ir_add_node(g, IR_OP_CONV2D_BWD_DATA, in, 2, &a, "dx", &err);
    ck_assert_msg(y >= 0, "%s", err.msg);
    out(g, y, "y");
    export_fails(g, "conv2d_bwd_data", "\"dx\"");
    ir_graph_free(g);

    g = new_graph(ir_shape_make(4, IR_DIM_N, 2, 5, 5), &x);
    ir_attr p = zero_attr();
    p.pool.kernel[0] = p.pool.kernel[1] = 2;
    p.pool.stride[0] = p.pool.stride[1] = 1;
    p.pool.dilation[0] = p.pool.dilation[1] = 2;
    out(g, node(g, IR_OP_AVGPOOL2D, &x, 1, &p), "y");
    export_fails(g, "AveragePool", "dilation");
    ir_graph_free(g);
}
END_TEST

/* ---- the file ------------------------------------------------------------------------- */

static const Onnx__TensorProto *initializer(const Onnx__ModelProto *m, const char *name)
{
    for (size_t i = 0; i < m->graph->n_initializer; i++)
        if (strcmp(m->graph->initializer[i]->name, name) == 0)
            return m->graph->initializer[i];
    return NULL;
}

START_TEST(test_model_structure)
{
    ebm_error err = {0};
    ir_nn nn;
    ir_nn_begin(&nn, 5);
    int x = ir_nn_input(&nn, "x", ir_shape_make(2, IR_DIM_N, 3));
    ir_nn_output(&nn, ir_nn_linear(&nn, "fc", ir_nn_act(&nn, x, IR_NN_TANH), 2), "energy");
    ir_graph *g = ir_nn_finish(&nn, &err);
    ck_assert_msg(g, "%s", err.msg);
    ck_assert_int_eq(ir_graph_set_meta(g, "ebm.energy_head", "sum", &err), EBM_OK);
    ck_assert_int_eq(ir_graph_set_meta(g, "note", "a\nb", &err), EBM_OK);
    size_t len;
    void *buf = export_ok(g, &len);
    Onnx__ModelProto *m = decode(buf, len);
    ck_assert_int_eq(m->ir_version, 8);
    ck_assert_uint_eq(m->n_opset_import, 1);
    ck_assert_str_eq(m->opset_import[0]->domain, "");
    ck_assert_int_eq(m->opset_import[0]->version, 17);
    ck_assert_str_eq(m->producer_name, "ebmc");
    ck_assert_uint_eq(m->n_metadata_props, 2);
    ck_assert_str_eq(m->metadata_props[0]->key, "ebm.energy_head");
    ck_assert_str_eq(m->metadata_props[0]->value, "sum");
    ck_assert_str_eq(m->metadata_props[1]->value, "a\nb");
    const Onnx__GraphProto *gp = m->graph;
    ck_assert_uint_eq(gp->n_input, 1);
    ck_assert_str_eq(gp->input[0]->name, "x");
    const Onnx__TensorShapeProto *s = gp->input[0]->type->tensor_type->shape;
    ck_assert_int_eq(gp->input[0]->type->tensor_type->elem_type, 1);
    ck_assert_uint_eq(s->n_dim, 2);
    ck_assert_int_eq(s->dim[0]->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
    ck_assert_str_eq(s->dim[0]->dim_param, "N");
    ck_assert_int_eq(s->dim[1]->dim_value, 3);
    ck_assert_uint_eq(gp->n_output, 1);
    ck_assert_str_eq(gp->output[0]->name, "energy");
    ck_assert_str_eq(gp->output[0]->type->tensor_type->shape->dim[0]->dim_param, "N");
    ck_assert_int_eq(gp->output[0]->type->tensor_type->shape->dim[1]->dim_value, 2);
    /* parameters: named initializers holding the graph's floats, little-endian */
    ck_assert_uint_eq(gp->n_initializer, 2);
    const Onnx__TensorProto *w = initializer(m, "fc.weight");
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(w->n_dims, 2);
    ck_assert_int_eq(w->dims[0], 3);
    ck_assert_int_eq(w->dims[1], 2);
    ck_assert_int_eq(w->data_type, 1);
    ck_assert_uint_eq(w->raw_data.len, 6 * sizeof(float));
    const float *wd = NULL;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].name && strcmp(g->nodes[i].name, "fc.weight") == 0)
            wd = g->nodes[i].data;
    ck_assert_ptr_nonnull(wd);
    for (int i = 0; i < 6; i++) {
        uint32_t bits = 0;
        for (int b = 0; b < 4; b++)
            bits |= (uint32_t)w->raw_data.data[4 * i + b] << (8 * b);
        float v;
        memcpy(&v, &bits, sizeof v);
        ck_assert(v == wd[i]);
    }
    ck_assert_ptr_nonnull(initializer(m, "fc.bias"));
    onnx__model_proto__free_unpacked(m, NULL);

    /* the same graph, the same bytes */
    size_t len2;
    void *buf2 = export_ok(g, &len2);
    ck_assert(len == len2 && memcmp(buf, buf2, len) == 0);
    free(buf2);
    ir_graph *h = import_buf(buf, len);
    ck_assert_str_eq(ir_graph_get_meta(h, "ebm.energy_head"), "sum");
    ck_assert_int_eq((int)ir_graph_param_count(h, 1), 8);
    ir_graph_free(h);
    free(buf);
    ir_graph_free(g);
}
END_TEST

/* An output that is a graph input, and one value given as two outputs. */
START_TEST(test_outputs_by_identity)
{
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(2, IR_DIM_N, 2), &x);
    int t = ir_unary(g, IR_OP_TANH, x, NULL, &err);
    out(g, x, "copy");
    out(g, t, "a");
    out(g, t, "b");
    int w = param(g, "w", ir_shape_make(1, 2), 4);
    out(g, w, "weights");
    ir_graph *h = reimport(g);
    ck_assert_int_eq(h->n_outputs, 4);
    ck_assert_str_eq(h->output_names[0], "copy");
    ck_assert_str_eq(h->output_names[1], "a");
    ck_assert_str_eq(h->output_names[2], "b");
    ck_assert_str_eq(h->output_names[3], "weights");
    ck_assert_int_eq(h->outputs[0], h->inputs[0]);
    ck_assert_int_eq(h->outputs[1], h->outputs[2]);
    assert_same_values(g, h, "identity outputs");
    ir_graph_free(h);
    ir_graph_free(g);
}
END_TEST

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int k = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        k += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return k;
}

static size_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (size_t)sb.st_size : 0;
}

START_TEST(test_atomic_file_write)
{
    char dir[] = "/tmp/ebmc_export_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *path = tu_path("%s/model.onnx", dir);
    ebm_error err = {0};
    int x;
    ir_graph *g = new_graph(ir_shape_make(2, IR_DIM_N, 2), &x);
    out(g, ir_unary(g, IR_OP_TANH, x, NULL, &err), "y");
    FILE *f = fopen(path, "wb");
    fputs("old", f);
    fclose(f);
    ck_assert_int_eq(ir_onnx_export_file(g, path, &err), EBM_OK);
    size_t len;
    void *buf = export_ok(g, &len);
    ck_assert_uint_eq(file_size(path), len);
    ck_assert_int_eq(count_files(dir), 1);   /* no temporary left behind */
    ir_graph *h = NULL;
    ck_assert_int_eq(ir_onnx_import_file(path, NULL, &h, &err), EBM_OK);
    ir_graph_free(h);
    free(buf);

    /* a graph that cannot be exported leaves the file as it was */
    ir_graph *bad = new_graph(ir_shape_make(4, IR_DIM_N, 1, 3, 3), &x);
    ir_attr p = zero_attr();
    p.pool.kernel[0] = p.pool.kernel[1] = 2;
    p.pool.stride[0] = p.pool.stride[1] = 1;
    p.pool.dilation[0] = p.pool.dilation[1] = 2;
    out(bad, node(bad, IR_OP_AVGPOOL2D, &x, 1, &p), "y");
    ck_assert_int_eq(ir_onnx_export_file(bad, path, &err), EBM_ERR_UNSUPPORTED);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "message does not start with the file: %s", err.msg);
    ck_assert_uint_eq(file_size(path), len);
    ck_assert_int_eq(count_files(dir), 1);

    /* a folder that does not exist */
    const char *missing = tu_path("%s/no/such/dir/m.onnx", dir);
    ck_assert_int_eq(ir_onnx_export_file(g, missing, &err), EBM_ERR_IO);
    ck_assert_msg(strstr(err.msg, missing), "message does not name the file: %s", err.msg);
    unlink(path);
    rmdir(dir);
    ir_graph_free(bad);
    ir_graph_free(g);
}
END_TEST

/* ---- the presets, end to end --------------------------------------------------------------- */

START_TEST(test_presets_round_trip)
{
    const char *presets[] = {"simple", "cnn", "mnist", "cifar"};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        ebm_error err = {0};
        zoo_spec s;
        ck_assert_int_eq(zoo_preset(presets[i], &s, &err), EBM_OK);
        ir_graph *g = NULL;
        ck_assert_msg(zoo_build(&s, 1, &g, &err) == EBM_OK, "%s: %s", presets[i], err.msg);
        /* the builder already makes the IR the importer makes */
        check_round_trip(g, 1, presets[i]);
        ir_graph_free(g);
    }
}
END_TEST

/* The same round trip with an activation of every kind, residual MLP. */
START_TEST(test_every_activation_round_trip)
{
    for (int a = 0; a < IR_NN_ACT_COUNT; a++) {
        ebm_error err = {0};
        zoo_spec s;
        zoo_spec_default(&s);
        s.input_dim = 5;
        s.hidden[0] = 8, s.hidden[1] = 8;
        s.n_hidden = 2;
        s.use_residual = 1;
        s.act = (ir_nn_act_kind)a;
        ir_graph *g = NULL;
        ck_assert_msg(zoo_build(&s, 2, &g, &err) == EBM_OK, "%s", err.msg);
        check_round_trip(g, 1, ir_nn_act_name(s.act));
        ir_graph_free(g);
    }
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("onnx_export");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_every_elementwise_op_round_trips);
    tcase_add_test(tc, test_unary_ops_round_trip);
    tcase_add_test(tc, test_binary_ops_broadcast_round_trip);
    tcase_add_test(tc, test_compare_and_select_round_trip);
    tcase_add_test(tc, test_step_and_general_select_values);
    tcase_add_test(tc, test_reduce_matmul_round_trip);
    tcase_add_test(tc, test_conv_and_pool_round_trip);
    tcase_add_test(tc, test_reshape_transpose_concat_pad_round_trip);
    tcase_add_test(tc, test_slice_round_trip);
    tcase_add_test(tc, test_broadcast_to_batch_round_trip);
    tcase_add_test(tc, test_backward_ops_unsupported);
    tcase_add_test(tc, test_model_structure);
    tcase_add_test(tc, test_outputs_by_identity);
    tcase_add_test(tc, test_atomic_file_write);
    tcase_add_test(tc, test_presets_round_trip);
    tcase_add_test(tc, test_every_activation_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(export_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
