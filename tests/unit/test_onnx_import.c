/* test_onnx_import.c — the ONNX import framework and the shape/plumbing
 * lowering (onnx/onnx_import.c, onnx/onnx_lower_shape.c).
 *
 * Models come from tests/data/import/gen.py; where values are checked, the
 * expected output was computed by NumPy (<name>_out.npy) and the lowered graph
 * is run by the reference executor.  ONNX's own backend test cases for the
 * movement ops are imported twice: with the data inputs dynamic (core
 * movement ops) and with every input bound (folded at import time), and both
 * must reproduce ONNX's expected outputs.
 */
#include <check.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "npy.h"
#include "onnx.h"
#include "testutil.h"

static const char *data_path(const char *name, const char *suffix)
{
    return tu_path("%s/tests/data/import/%s%s", tu_source_dir(), name, suffix);
}

static const char *model_path(const char *name)
{
    return data_path(name, ".onnx");
}

static ir_graph *import_ok(const char *name)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ebm_status st = ir_onnx_import_file(model_path(name), NULL, &g, &err);
    ck_assert_msg(st == EBM_OK, "%s: %s", name, err.msg);
    ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s: %s", name, err.msg);
    return g;
}

/* Imports a model that must fail; checks the code, that the message starts
 * with the file and contains each of the NULL-terminated words. */
static void import_fails(const char *name, ebm_status code, ...)
{
    ebm_error err = {0};
    ir_graph *g = (ir_graph *)&err;   /* must be reset to NULL */
    const char *path = model_path(name);
    ebm_status st = ir_onnx_import_file(path, NULL, &g, &err);
    ck_assert_msg(st == code, "%s: got %s (%s), want %s", name, ebm_status_name(st), err.msg,
                  ebm_status_name(code));
    ck_assert_int_eq(err.code, code);
    ck_assert_ptr_null(g);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s: message does not name the file: %s", name,
                  err.msg);
    va_list ap;
    va_start(ap, code);
    for (const char *w; (w = va_arg(ap, const char *));)
        ck_assert_msg(strstr(err.msg, w), "%s: message lacks '%s': %s", name, w, err.msg);
    va_end(ap);
}

static int count_op(const ir_graph *g, ir_op op)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        k += g->nodes[i].op == op;
    return k;
}

static const char *shape_of(const ir_graph *g, int id)
{
    static char buf[8][64];
    static int slot;
    return ir_shape_str(&g->nodes[id].shape, buf[slot++ & 7], sizeof buf[0]);
}

static double *npy_as_f64(const ebm_array *a)
{
    int64_t n = ebm_array_numel(a);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++)
        d[i] = a->dtype == EBM_NPY_F32 ? ((float *)a->data)[i] : ((double *)a->data)[i];
    return d;
}

/* Runs g (one input, one output) on <name>_in.npy in float64 and compares with
 * <name>_out.npy, which NumPy computed: equal, or within tol relative to the
 * largest reference value (NumPy's float32 arithmetic). */
static void check_values_tol(const ir_graph *g, const char *name, double tol)
{
    ebm_array in, want;
    ebm_error err = {0};
    ck_assert_msg(ebm_npy_read(data_path(name, "_in.npy"), &in, &err) == 0, "%s", err.msg);
    ck_assert_msg(ebm_npy_read(data_path(name, "_out.npy"), &want, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(g->n_inputs, 1);
    int64_t n = in.shape[0], count = ebm_array_numel(&want);
    ck_assert_int_eq(ir_shape_numel(&g->nodes[g->outputs[0]].shape, n), count);
    double *x = npy_as_f64(&in), *ref = npy_as_f64(&want), *y = calloc((size_t)count + 1, sizeof *y);
    const void *ins[1] = {x};
    void *outs[1] = {y};
    ck_assert_msg(ebmc_exec(g, n, EBMC_F64, ins, outs, &err) == EBM_OK, "%s: %s", name, err.msg);
    double scale = 0;
    for (int64_t i = 0; i < count; i++)
        scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
    for (int64_t i = 0; i < count; i++)
        ck_assert_msg(fabs(y[i] - ref[i]) <= tol * scale, "%s: element %lld is %.9g, NumPy says %.9g", name,
                      (long long)i, y[i], ref[i]);
    free(x);
    free(ref);
    free(y);
    ebm_array_free(&in);
    ebm_array_free(&want);
}

static void check_values(const ir_graph *g, const char *name)
{
    check_values_tol(g, name, 0);
}

/* ---- models from gen.py --------------------------------------------------- */

/* nn.MultiheadAttention's layout: [T, N, E] -> [T, N*H, d] (N*H computed on the
 * shape path) -> batched matmuls over N*H -> [T*N, E] -> Gemm -> [T, N, E].
 * The IR keeps N an axis of its own: [T, N*H, d] is [T, N, H, d] there. */
START_TEST(test_batch_views_attention)
{
    ir_graph *g = import_ok("view_attention");
    int heads = -1, rows = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const char *nm = g->nodes[i].name ? g->nodes[i].name : "";
        heads = strcmp(nm, "split_heads (Reshape)") == 0 ? i : heads;
        rows = strcmp(nm, "merge_rows (Reshape)") == 0 ? i : rows;
    }
    ck_assert_int_ge(heads, 0);
    ck_assert_int_ge(rows, 0);
    ck_assert_str_eq(shape_of(g, heads), "[3,N,2,2]");
    ck_assert_str_eq(shape_of(g, rows), "[3,N,4]");
    ck_assert_str_eq(shape_of(g, g->outputs[0]), "[N,3,4]");
    check_values_tol(g, "view_attention", 1e-6);
    ir_graph_free(g);

    /* exported with a fixed batch of 1: the reshapes' targets are constants
       ([3,2,2] is [T, N*H, d], [3,4] is [T*N, E], [3,1,4] is [T, N, E]); the
       model still runs at any N (the values are at N = 2) */
    g = import_ok("view_attention_b1");
    ck_assert_str_eq(shape_of(g, g->outputs[0]), "[N,3,4]");
    check_values_tol(g, "view_attention_b1", 1e-6);
    ir_graph_free(g);
}
END_TEST

/* Graphs that really mix samples are refused, naming the node. */
START_TEST(test_batch_views_mixing_refused)
{
    import_fails("view_mix_reduce", EBM_ERR_UNSUPPORTED, "node sum_rows (ReduceSum)", "[3*N,4]",
                 "merges the batch dimension N", "ReduceSum cannot take it", NULL);
    import_fails("view_mix_softmax", EBM_ERR_UNSUPPORTED, "node softmax_rows (Softmax)", "[3*N,4]",
                 "along merged axes", NULL);
    import_fails("view_mix_reshape", EBM_ERR_SHAPE, "node flatten_tne (Reshape)", "[3,N,4]", "mix samples", NULL);
}
END_TEST

START_TEST(test_view_pattern_folds_away)
{
    ir_graph *g = import_ok("view_flatten");
    /* Shape/Gather/Unsqueeze/Concat evaluated at import: only x -> reshape remain */
    ck_assert_int_eq(g->n_nodes, 2);
    ck_assert_int_eq(g->nodes[0].op, IR_OP_INPUT);
    ck_assert_str_eq(shape_of(g, 0), "[N,2,3,4]");
    ck_assert_int_eq(g->nodes[1].op, IR_OP_RESHAPE);
    ck_assert_str_eq(shape_of(g, 1), "[N,24]");
    ck_assert_str_eq(g->nodes[1].name, "/Reshape (Reshape)");
    ck_assert_int_eq(g->n_outputs, 1);
    ck_assert_int_eq(g->outputs[0], 1);
    ck_assert_str_eq(g->output_names[0], "y");
    check_values(g, "view_flatten");
    /* graph fields */
    ck_assert_str_eq(g->producer, "gen.py 1");
    ck_assert_str_eq(g->source, model_path("view_flatten"));
    ck_assert_int_eq(g->onnx_ir_version, 7);
    ck_assert_int_eq(g->onnx_nodes, 10);
    ck_assert_int_eq(g->n_opsets, 1);
    ck_assert_str_eq(g->opsets[0].domain, "");
    ck_assert_int_eq(g->opsets[0].version, 13);
    ck_assert_str_eq(ir_graph_get_meta(g, "ebm.preset"), "test");
    ir_graph_free(g);
}
END_TEST

START_TEST(test_movement_chain)
{
    ir_graph *g = import_ok("movement");
    ck_assert_int_eq(count_op(g, IR_OP_TRANSPOSE), 1);
    /* Slice; Gather [4,0,-1] = slices [4,0] (step -4) and [4] + concat; Pad crops with a slice */
    ck_assert_int_eq(count_op(g, IR_OP_SLICE), 4);
    ck_assert_int_eq(count_op(g, IR_OP_CONCAT), 1);
    ck_assert_int_eq(count_op(g, IR_OP_PAD), 1);
    ck_assert_int_eq(count_op(g, IR_OP_BROADCAST), 1);
    ck_assert_int_eq(count_op(g, IR_OP_RESHAPE), 0);
    ck_assert_str_eq(shape_of(g, g->outputs[0]), "[2,N,5,3,3]");
    check_values(g, "movement");
    ir_graph_free(g);
}
END_TEST

START_TEST(test_squeeze_axes_attr_and_input)
{
    const char *names[] = {"squeeze_v11", "squeeze_v13"};
    for (int i = 0; i < 2; i++) {
        ir_graph *g = import_ok(names[i]);
        ck_assert_int_eq(count_op(g, IR_OP_RESHAPE), 3);
        ck_assert_int_eq(g->n_nodes, 4);
        ck_assert_str_eq(shape_of(g, 1), "[N,1,3,2,1]");
        ck_assert_str_eq(shape_of(g, 2), "[N,1,3,2]");
        ck_assert_str_eq(shape_of(g, g->outputs[0]), "[N,6]");
        check_values(g, names[i]);
        ir_graph_free(g);
    }
}
END_TEST

START_TEST(test_slice_opset1_attributes)
{
    ir_graph *g = import_ok("slice_v1");
    ck_assert_int_eq(g->n_nodes, 2);
    ck_assert_str_eq(shape_of(g, 1), "[N,2,2]");
    check_values(g, "slice_v1");
    ir_graph_free(g);
}
END_TEST

START_TEST(test_batch_sized_constants)
{
    ir_graph *g = import_ok("batch_constants");
    /* Identity, Dropout and a float Cast add nothing; ones(N,3) and the
     * expanded row are broadcasts of constants */
    ck_assert_int_eq(count_op(g, IR_OP_BROADCAST), 2);
    ck_assert_int_eq(count_op(g, IR_OP_CONCAT), 1);
    ck_assert_int_eq(count_op(g, IR_OP_CONST), 2);
    ck_assert_int_eq(g->n_nodes, 6);
    ck_assert_str_eq(shape_of(g, g->outputs[0]), "[N,8]");
    check_values(g, "batch_constants");
    ir_graph_free(g);
}
END_TEST

START_TEST(test_static_outputs_and_parameters)
{
    ir_graph *g = import_ok("static_fold");
    ck_assert_int_eq(g->n_outputs, 3);
    /* Cast(Shape(x)[1:]) is a static output: a plain constant [3, 2] */
    const ir_node *tail = &g->nodes[g->outputs[0]];
    ck_assert_int_eq(tail->op, IR_OP_CONST);
    ck_assert_uint_eq(tail->flags, 0);
    ck_assert_str_eq(shape_of(g, g->outputs[0]), "[2]");
    ck_assert(tail->data[0] == 3.0f && tail->data[1] == 2.0f);
    /* Reshape to an int64 initializer [0, -1] */
    ck_assert_str_eq(shape_of(g, g->outputs[1]), "[N,6]");
    /* The transposed weight is still the trainable parameter "w" */
    ck_assert_int_eq(ir_graph_param_count(g, 1), 6);
    const ir_node *y = &g->nodes[g->outputs[2]];
    ck_assert_int_eq(y->op, IR_OP_RESHAPE);
    const ir_node *t = &g->nodes[y->in[0]];
    ck_assert_int_eq(t->op, IR_OP_TRANSPOSE);
    const ir_node *w = &g->nodes[t->in[0]];
    ck_assert_int_eq(w->op, IR_OP_CONST);
    ck_assert_str_eq(w->name, "w");
    ck_assert_uint_eq(w->flags, IR_NODE_PARAM | IR_NODE_TRAINABLE);

    ebm_array want;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_read(data_path("static_fold", "_y.npy"), &want, &err), 0);
    double x[2 * 3 * 2] = {0}, o0[2], o1[12], o2[6];
    const void *ins[1] = {x};
    void *outs[3] = {o0, o1, o2};
    ck_assert_msg(ebmc_exec(g, 2, EBMC_F64, ins, outs, &err) == EBM_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++)
        ck_assert(o2[i] == ((float *)want.data)[i]);
    ebm_array_free(&want);
    ir_graph_free(g);
}
END_TEST

/* What import computes is bounded, per tensor and in all (a hostile file can
 * otherwise fold tensors until memory runs out: fuzz_import in CI). */
START_TEST(test_computed_tensors_bounded)
{
    import_fails("computed_too_big", EBM_ERR_UNSUPPORTED, "node huge (ConstantOfShape)", "16777216 elements", NULL);

    /* 600 + 600 + 600 elements computed: within the default, y = x + (1 + 1) */
    ir_graph *g = import_ok("computed_budget");
    double x[2 * 4] = {0.5, -1, 2, 3, 4, 5, 6, -7}, y[2 * 4];
    const void *ins[1] = {x};
    void *outs[1] = {y};
    ebm_error err = {0};
    ck_assert_msg(ebmc_exec(g, 2, EBMC_F64, ins, outs, &err) == EBM_OK, "%s", err.msg);
    for (int i = 0; i < 8; i++)
        ck_assert_double_eq(y[i], x[i] + 2.0);
    ir_graph_free(g);

    /* under a limit of 1,000 the second fill is refused, naming it */
    ir_import_options opt = {.batch_symbolic = 1, .max_computed = 1000};
    g = NULL;
    ck_assert_int_eq(ir_onnx_import_file(model_path("computed_budget"), &opt, &g, &err), EBM_ERR_UNSUPPORTED);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, "node c2 (ConstantOfShape)") && strstr(err.msg, "limit of 1000 elements in all"),
                  "%s", err.msg);
    /* exactly at the limit: imports */
    opt.max_computed = 1800;
    ck_assert_msg(ir_onnx_import_file(model_path("computed_budget"), &opt, &g, &err) == EBM_OK, "%s", err.msg);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_bound_input_and_fixed_batch)
{
    /* The Reshape target is a graph input: an error until a value is bound */
    import_fails("missing_init", EBM_ERR_UNSUPPORTED, "'shape'", "INT64", NULL);
    int64_t dims[2] = {2, 2};
    ir_tensor shape = {IR_DT_I64, ir_shape_make(1, 2), dims, NULL};
    ir_bound_input bind = {"shape", &shape};
    ir_import_options opt = {.batch_symbolic = 1, .bind = &bind, .n_bind = 1};
    ebm_error err = {0};
    ir_graph *g;
    /* [N,4] -> [2,2] would mix samples: refused, naming the node */
    ck_assert_int_eq(ir_onnx_import_file(model_path("missing_init"), &opt, &g, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "rs (Reshape)"));
    ck_assert_ptr_null(g);
    dims[0] = 0;   /* [0, -1]: copy N, infer 4 */
    dims[1] = -1;
    ck_assert_msg(ir_onnx_import_file(model_path("missing_init"), &opt, &g, &err) == EBM_OK, "%s", err.msg);
    ck_assert_str_eq(shape_of(g, g->outputs[0]), "[N,4]");
    ck_assert_int_eq(g->n_inputs, 1);
    ir_graph_free(g);

    /* a binding must name a graph input and fit its declared shape */
    bind.name = "shapee";
    ck_assert_int_eq(ir_onnx_import_file(model_path("missing_init"), &opt, &g, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "'shapee'"));
    bind.name = "shape";
    shape.shape = ir_shape_make(1, 1);
    ck_assert_int_eq(ir_onnx_import_file(model_path("missing_init"), &opt, &g, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "[1]"));
    ck_assert_ptr_nonnull(strstr(err.msg, "[2]"));

    /* batch_symbolic = 0: the file's symbolic N is an error naming the input */
    ir_import_options fixed = {.batch_symbolic = 0};
    ck_assert_int_eq(ir_onnx_import_file(model_path("view_flatten"), &fixed, &g, &err), EBM_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "'x'"));
    ck_assert_ptr_null(g);
}
END_TEST

START_TEST(test_list_inputs)
{
    ir_onnx_input_desc *d;
    int n;
    ebm_error err = {0};
    ck_assert_msg(ir_onnx_list_inputs(model_path("missing_init"), &d, &n, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(d[0].name, "x");
    ck_assert_int_eq(d[0].elem_type, 1);
    ck_assert_int_eq(d[0].shape.rank, 2);
    ck_assert_int_eq(d[0].shape.d[0], IR_DIM_N);
    ck_assert_int_eq(d[0].shape.d[1], 4);
    ck_assert_str_eq(d[1].name, "shape");
    ck_assert_int_eq(d[1].elem_type, 7);
    ir_onnx_inputs_free(d, n);
    /* initializers are not inputs */
    ck_assert_int_eq(ir_onnx_list_inputs(model_path("movement"), &d, &n, &err), EBM_OK);
    ck_assert_int_eq(n, 1);
    ir_onnx_inputs_free(d, n);
    ck_assert_int_eq(ir_onnx_list_inputs(model_path("empty"), &d, &n, &err), EBM_ERR_FORMAT);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

START_TEST(test_broken_files)
{
    import_fails("empty", EBM_ERR_FORMAT, "empty", NULL);
    import_fails("no_such_model", EBM_ERR_IO, "cannot open", NULL);
    /* half a file or random bytes: a parse failure, or a parse that yields no
     * valid model; either way a format/structure error, never a crash */
    const char *junk[] = {"truncated", "random"};
    for (int i = 0; i < 2; i++) {
        ebm_error err = {0};
        ir_graph *g;
        ebm_status st = ir_onnx_import_file(model_path(junk[i]), NULL, &g, &err);
        ck_assert_msg(st == EBM_ERR_FORMAT || st == EBM_ERR_INVALID, "%s: %s", junk[i], err.msg);
        ck_assert_ptr_null(g);
        ck_assert_ptr_nonnull(strstr(err.msg, junk[i]));
    }
    import_fails("external", EBM_ERR_UNSUPPORTED, "w_ext", "external", NULL);
    import_fails("bad_raw", EBM_ERR_FORMAT, "w_short", "raw_data", NULL);
}
END_TEST

START_TEST(test_invalid_graphs)
{
    import_fails("unknown_op", EBM_ERR_UNSUPPORTED, "node my_node (FooBar)",
                 "operator FooBar is not supported", NULL);
    import_fails("dangling", EBM_ERR_INVALID, "uses_ghost (Identity)", "'ghost'",
                 "not produced by any node, initializer or graph input", NULL);
    import_fails("dup_output", EBM_ERR_INVALID, "node b (Identity)", "'y'", "more than once", NULL);
    import_fails("custom_domain", EBM_ERR_UNSUPPORTED, "ms_gelu", "com.microsoft", NULL);
    /* x.view(-1) keeps each sample's values together ([4*N] is a batch view),
       but an output must keep N as a dimension of its own */
    import_fails("merge_batch", EBM_ERR_SHAPE, "graph output 'y'", "merges the batch dimension N", "[N,4]", NULL);
    import_fails("flatten_axis0", EBM_ERR_SHAPE, "fl0 (Flatten)", "axis 0", "batch dimension N", NULL);
}
END_TEST

/* Every prefix and every single-byte corruption of a valid model: the importer
 * must fail cleanly or succeed, never crash or leak (run under ASan). */
START_TEST(test_corrupted_models_fail_cleanly)
{
    FILE *f = fopen(model_path("movement"), "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int ok = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        ir_graph *g;
        ebm_error err;
        if (ir_onnx_import_buffer(buf, cut, "cut", NULL, &g, &err) == EBM_OK) {
            ok++;
            ir_graph_free(g);
        } else {
            ck_assert_ptr_null(g);
            ck_assert_msg(strncmp(err.msg, "cut: ", 5) == 0, "%s", err.msg);
        }
    }
    ck_assert_int_ge(ok, 1);   /* the whole file */
    for (size_t i = 0; i < len; i++) {
        for (int x = 1; x < 256; x <<= 2) {
            ir_graph *g;
            buf[i] ^= (unsigned char)x;
            if (ir_onnx_import_buffer(buf, len, "flip", NULL, &g, NULL) == EBM_OK)
                ir_graph_free(g);
            buf[i] ^= (unsigned char)x;
        }
    }
}
END_TEST

/* Prepends a varint to the buffer that ends at *p. */
static void put_varint_before(unsigned char **p, uint64_t v)
{
    unsigned char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    *p -= n;
    memcpy(*p, tmp, (size_t)n);
}

/* Graph -> node -> attribute -> graph ... nested 50000 times: protobuf-c
 * would recurse until the stack overflows; the importer refuses it first. */
START_TEST(test_deep_nesting_refused)
{
    size_t cap = 4u << 20;
    unsigned char *buf = malloc(cap), *end = buf + cap, *p = end;
    static const int fields[3] = {6, 5, 1};   /* Attribute.g, Node.attribute, Graph.node */
    for (int level = 0; level < 50000; level++) {
        for (int f = 0; f < 3; f++) {
            size_t len = (size_t)(end - p);
            put_varint_before(&p, len);
            put_varint_before(&p, (uint64_t)fields[f] << 3 | 2);
        }
    }
    put_varint_before(&p, (size_t)(end - p));
    put_varint_before(&p, 7u << 3 | 2);        /* Model.graph */
    ebm_error err = {0};
    ir_graph *g;
    ebm_status st = ir_onnx_import_buffer(p, (size_t)(end - p), "deep", NULL, &g, &err);
    ck_assert_int_eq(st, EBM_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "nested"));
    free(buf);
}
END_TEST

/* ---- ONNX backend test cases ------------------------------------------------- */

static double *tensor_as_f64(const ir_tensor *t)
{
    int64_t n = ir_shape_numel(&t->shape, 0);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++)
        d[i] = t->dtype == IR_DT_F32 ? ((float *)t->data)[i]
             : t->dtype == IR_DT_F64 ? ((double *)t->data)[i]
                                     : (double)((int64_t *)t->data)[i];
    return d;
}

/* Imports dir/model.onnx with batch_symbolic = 0, binding every input that
 * ebmc cannot take at run time (integer tensors, scalars) — or all of them
 * when bind_all — runs it on test_data_set_0 and compares with output_0.pb. */
static void run_onnx_case(const char *dir, int bind_all)
{
    ebm_error err = {0};
    ir_onnx_input_desc *d;
    int n_in;
    const char *model = tu_path("%s/model.onnx", dir);
    ck_assert_msg(ir_onnx_list_inputs(model, &d, &n_in, &err) == EBM_OK, "%s", err.msg);
    ir_tensor vals[8];
    ir_bound_input bind[8];
    int n_bind = 0;
    ck_assert_int_le(n_in, 8);
    for (int i = 0; i < n_in; i++) {
        const char *pb = tu_path("%s/test_data_set_0/input_%d.pb", dir, i);
        ck_assert_msg(ir_onnx_read_tensor_file(pb, &vals[i], &err) == EBM_OK, "%s", err.msg);
        if (bind_all || vals[i].dtype != IR_DT_F32 || vals[i].shape.rank == 0)
            bind[n_bind++] = (ir_bound_input){d[i].name, &vals[i]};
    }
    ir_import_options opt = {.batch_symbolic = 0, .bind = bind, .n_bind = n_bind};
    ir_graph *g;
    ebm_status st = ir_onnx_import_file(tu_path("%s/model.onnx", dir), &opt, &g, &err);
    ck_assert_msg(st == EBM_OK, "%s (bind_all %d): %s", dir, bind_all, err.msg);
    ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s: %s", dir, err.msg);
    if (bind_all)   /* everything folded: no computation is left */
        ck_assert_int_eq(g->n_inputs, 0);

    const void *ins[8];
    double *inbuf[8];
    for (int i = 0, k = 0; i < n_in; i++) {
        inbuf[i] = tensor_as_f64(&vals[i]);
        if (k < g->n_inputs && strcmp(g->nodes[g->inputs[k]].name, d[i].name) == 0)
            ins[k++] = inbuf[i];
    }
    ir_tensor want;
    const char *pb = tu_path("%s/test_data_set_0/output_0.pb", dir);
    ck_assert_msg(ir_onnx_read_tensor_file(pb, &want, &err) == EBM_OK, "%s", err.msg);
    int64_t count = ir_shape_numel(&want.shape, 0);
    ck_assert_msg(ir_shape_eq(&g->nodes[g->outputs[0]].shape, &want.shape), "%s: output shape %s", dir,
                  shape_of(g, g->outputs[0]));
    double *y = calloc((size_t)count + 1, sizeof *y), *ref = tensor_as_f64(&want);
    void *outs[4] = {y, NULL, NULL, NULL};
    double *extra[3] = {NULL, NULL, NULL};
    for (int k = 1; k < g->n_outputs && k < 4; k++) {
        size_t count_k = (size_t)ir_shape_numel(&g->nodes[g->outputs[k]].shape, 0);
        outs[k] = extra[k - 1] = calloc(count_k + 1, sizeof(double));
    }
    ck_assert_msg(ebmc_exec(g, 0, EBMC_F64, ins, outs, &err) == EBM_OK, "%s: %s", dir, err.msg);
    for (int64_t i = 0; i < count; i++)
        ck_assert_msg(y[i] == ref[i] || (y[i] != y[i] && ref[i] != ref[i]),
                      "%s (bind_all %d): element %lld is %g, ONNX says %g", dir, bind_all, (long long)i, y[i],
                      ref[i]);
    for (int k = 0; k < 3; k++)
        free(extra[k]);
    free(y);
    free(ref);
    ir_tensor_free(&want);
    for (int i = 0; i < n_in; i++) {
        free(inbuf[i]);
        ir_tensor_free(&vals[i]);
    }
    ir_onnx_inputs_free(d, n_in);
    ir_graph_free(g);
}

static const char *const onnx_cases[] = {
    "test_reshape_extended_dims", "test_reshape_negative_dim", "test_reshape_negative_extended_dims",
    "test_reshape_one_dim", "test_reshape_reduced_dims", "test_reshape_reordered_all_dims",
    "test_reshape_reordered_last_dims", "test_reshape_zero_and_negative_dim", "test_reshape_zero_dim",
    "test_squeeze", "test_squeeze_negative_axes", "test_unsqueeze_axis_0", "test_unsqueeze_axis_1",
    "test_unsqueeze_axis_2", "test_unsqueeze_negative_axes", "test_unsqueeze_three_axes",
    "test_unsqueeze_two_axes", "test_unsqueeze_unsorted_axes", "test_slice", "test_slice_default_axes",
    "test_slice_default_steps", "test_slice_end_out_of_bounds", "test_slice_neg", "test_slice_neg_steps",
    "test_slice_negative_axes", "test_slice_start_out_of_bounds", "test_concat_1d_axis_0",
    "test_concat_1d_axis_negative_1", "test_concat_2d_axis_0", "test_concat_2d_axis_1",
    "test_concat_2d_axis_negative_1", "test_concat_2d_axis_negative_2", "test_concat_3d_axis_0",
    "test_concat_3d_axis_1", "test_concat_3d_axis_2", "test_concat_3d_axis_negative_1",
    "test_concat_3d_axis_negative_2", "test_concat_3d_axis_negative_3", "test_transpose_all_permutations_0",
    "test_transpose_all_permutations_1", "test_transpose_all_permutations_2",
    "test_transpose_all_permutations_3", "test_transpose_all_permutations_4",
    "test_transpose_all_permutations_5", "test_transpose_default", "test_flatten_axis0", "test_flatten_axis1",
    "test_flatten_axis2", "test_flatten_axis3", "test_flatten_default_axis", "test_flatten_negative_axis1",
    "test_flatten_negative_axis2", "test_flatten_negative_axis3", "test_flatten_negative_axis4",
    "test_gather_0", "test_gather_1", "test_expand_dim_changed", "test_expand_dim_unchanged",
    "test_constant_pad", "test_constant_pad_axes", "test_constant_pad_negative_axes",
    "test_constantofshape_float_ones", "test_constant", "test_identity", "test_dropout_default",
    "test_dropout_default_old", "test_dropout_default_mask", "test_dropout_default_ratio", "test_shape",
    "test_shape_clip_end", "test_shape_clip_start", "test_shape_end_1", "test_shape_end_negative_1",
    "test_shape_example", "test_shape_start_1", "test_shape_start_1_end_2",
    "test_shape_start_1_end_negative_1",
    "test_shape_start_greater_than_end", "test_shape_start_negative_1", "test_cast_FLOAT_to_DOUBLE",
    "test_cast_DOUBLE_to_FLOAT",
};

/* Where the ONNX backend test data lives (../shared/conformance). */
static const char *backend_root(void)
{
    return tu_path("%s/conformance/onnx-v1.22.0/node", tu_shared_dir());
}

START_TEST(test_onnx_backend_cases)
{
    char root[4096];
    snprintf(root, sizeof root, "%s", backend_root());
    for (size_t i = 0; i < sizeof onnx_cases / sizeof *onnx_cases; i++) {
        char dir[8192];
        snprintf(dir, sizeof dir, "%s/%s", root, onnx_cases[i]);
        run_onnx_case(dir, 0);
        run_onnx_case(dir, 1);
    }
}
END_TEST

/* A DOUBLE graph input is refused (pointing to --f64) unless double_inputs
 * asks for it; then it is an input like a float one, for the float64 executor,
 * which adds the constant 1 to x exactly at 2.4e198 (beyond float32's range). */
START_TEST(test_double_inputs)
{
    const char *model = tu_path("%s/conformance/onnx-v1.22.0/pytorch-operator/test_operator_addconstant/model.onnx",
                                tu_shared_dir());
    ir_graph *g = NULL;
    ebm_error err = {0};
    ir_import_options opt = {.batch_symbolic = 0};
    ck_assert_int_eq(ir_onnx_import_file(model, &opt, &g, &err), EBM_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "element type DOUBLE") && strstr(err.msg, "--f64"), "%s", err.msg);
    opt.double_inputs = 1;
    ck_assert_msg(ir_onnx_import_file(model, &opt, &g, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(g->n_inputs, 1);
    int64_t numel = ir_shape_numel(&g->nodes[g->inputs[0]].shape, 1);
    ck_assert_int_eq(numel, 6);
    double x[6] = {2.4e198, -1.5, 0.0, 1e-300, 3.0, -7e250}, y[6];
    const void *in[1] = {x};
    void *out[1] = {y};
    ck_assert_msg(ebmc_exec(g, 1, EBMC_F64, in, out, &err) == EBM_OK, "%s", err.msg);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(y[i] == x[i] + 1.0, "y[%d] = %g, expected %g", i, y[i], x[i] + 1.0);
    ir_graph_free(g);
}
END_TEST

START_TEST(test_read_tensor_file)
{
    const char *p = tu_path("%s/test_reshape_reduced_dims/%s", backend_root(), "test_data_set_0/input_1.pb");
    ir_tensor t;
    ebm_error err = {0};
    ck_assert_msg(ir_onnx_read_tensor_file(p, &t, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(t.dtype, IR_DT_I64);
    ck_assert_int_eq(t.shape.rank, 1);
    ck_assert_int_eq(t.shape.d[0], 2);
    ck_assert_int_eq(((int64_t *)t.data)[0], 2);   /* ONNX: reshape [2,3,4] to [2,12] */
    ck_assert_int_eq(((int64_t *)t.data)[1], 12);
    ir_tensor_free(&t);
}
END_TEST

START_TEST(test_read_tensor_file_errors)
{
    ir_tensor t;
    ebm_error err = {0};
    ck_assert_int_eq(ir_onnx_read_tensor_file(model_path("empty"), &t, &err), EBM_ERR_FORMAT);
    ck_assert_int_eq(ir_dtype_size(IR_DT_F32), 4);
    ck_assert_int_eq(ir_dtype_size(IR_DT_I64), 8);
}
END_TEST

/* "test_onnx_import --backend" (CTest's test_onnx_backend) runs the tests on
 * ONNX's backend data alone: without the data it exits 77, CTest's skip, with
 * the reason (under CI, where the data must be, that is a failure). */
static int run_backend(void)
{
    if (!tu_file_exists(backend_root())) {
        const char *ci = getenv("CI");
        int in_ci = ci && *ci && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0;
        printf("%s: the ONNX backend test data is not at %s\n", in_ci ? "FAIL (CI)" : "SKIP", backend_root());
        return in_ci ? EXIT_FAILURE : 77;
    }
    Suite *s = suite_create("onnx_backend");
    TCase *tc = tcase_create("backend");
    tcase_add_test(tc, test_onnx_backend_cases);
    tcase_add_test(tc, test_read_tensor_file);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--backend") == 0)
        return run_backend();
    Suite *s = suite_create("onnx_import");
    TCase *tc = tcase_create("import");
    tcase_add_test(tc, test_view_pattern_folds_away);
    tcase_add_test(tc, test_batch_views_attention);
    tcase_add_test(tc, test_batch_views_mixing_refused);
    tcase_add_test(tc, test_movement_chain);
    tcase_add_test(tc, test_squeeze_axes_attr_and_input);
    tcase_add_test(tc, test_slice_opset1_attributes);
    tcase_add_test(tc, test_batch_sized_constants);
    tcase_add_test(tc, test_static_outputs_and_parameters);
    tcase_add_test(tc, test_computed_tensors_bounded);
    tcase_add_test(tc, test_double_inputs);
    tcase_add_test(tc, test_bound_input_and_fixed_batch);
    tcase_add_test(tc, test_list_inputs);
    tcase_add_test(tc, test_broken_files);
    tcase_add_test(tc, test_invalid_graphs);
    tcase_add_test(tc, test_corrupted_models_fail_cleanly);
    tcase_add_test(tc, test_deep_nesting_refused);
    tcase_add_test(tc, test_read_tensor_file_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
