/* test_lowering.c — the ONNX math and neural-network lowerings
 * (onnx/onnx_lower_math.c, onnx/onnx_lower_nn.c) against NumPy / torch.
 *
 * tests/data/lowering/gen.py writes one small model per operator variant with
 * its input arrays and float64 expected outputs (computed from the ONNX
 * specification, not from ebmc).  Each case is imported, run through the
 * reference executor in float64 and float32, and compared element by element.
 * Further tests check what values alone cannot show: imports that must fail
 * (code and message), that exponentials in Elu-like compositions are guarded,
 * that compositions stay small, that BatchNorm statistics are not trainable,
 * and that the gradients of the compositions (the graph is differentiated
 * later) are finite at the delicate inputs and match finite differences.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autodiff.h"
#include "exec.h"
#include "npy.h"
#include "onnx.h"
#include "testutil.h"

/* |got - want| <= RTOL * max(|want|, FLOOR * max|want|) + ATOL, per element:
 * the floor keeps a value near zero from demanding more than its neighbours'
 * rounding allows.  The float64 run is exact up to the constants a lowering
 * introduces (1/sqrt(2), 1/6, eps...), which the IR stores as float32. */
#define RTOL_F64 1e-6
#define RTOL_F32 2e-5
#define ATOL 1e-30
#define FLOOR 1e-2
#define MAX_IO 4
#define MAX_CASES 256

static const char *case_path(const char *name, const char *suffix)
{
    return tu_path("%s/tests/data/lowering/%s%s", tu_source_dir(), name, suffix);
}

static ebm_status import_case(const char *name, int symbolic, ir_graph **g, ebm_error *err)
{
    ir_import_options o = {.batch_symbolic = symbolic};
    return ir_onnx_import_file(case_path(name, ".onnx"), &o, g, err);
}

static ir_graph *must_import(const char *name, int symbolic)
{
    ir_graph *g = NULL;
    ebm_error err = {0};
    ebm_status st = import_case(name, symbolic, &g, &err);
    ck_assert_msg(st == EBM_OK, "%s: import failed: %s", name, err.msg);
    ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s: %s", name, err.msg);
    return g;
}

/* ---- one case: arrays, execution, comparison ------------------------------ */

typedef struct case_io {
    int n_in, n_out;
    ebm_array in[MAX_IO], out[MAX_IO];
} case_io;

static void io_free(case_io *io)
{
    for (int k = 0; k < MAX_IO; k++) {
        ebm_array_free(&io->in[k]);
        ebm_array_free(&io->out[k]);
    }
}

/* NAME<kind>0.npy, NAME<kind>1.npy, ... as long as they exist; returns the count. */
static int load_series(const char *name, const char *kind, ebm_array *arr, ebm_status *st, ebm_error *err)
{
    int n = 0;
    for (const char *p; *st == EBM_OK && n < MAX_IO; n++) {
        p = case_path(name, tu_path("%s%d.npy", kind, n));
        if (!tu_file_exists(p))
            break;
        *st = ebm_npy_read(p, &arr[n], err);
    }
    return n;
}

/* NAME.in<k>.npy (float32) and NAME.out<k>.npy (float64), k = 0, 1, ... */
static ebm_status load_io(const char *name, case_io *io, ebm_error *err)
{
    memset(io, 0, sizeof *io);
    ebm_status st = EBM_OK;
    io->n_in = load_series(name, ".in", io->in, &st, err);
    io->n_out = load_series(name, ".out", io->out, &st, err);
    for (int k = 0; st == EBM_OK && k < io->n_in; k++)
        if (io->in[k].dtype != EBM_NPY_F32)
            st = ebm_fail(err, EBM_ERR_FORMAT, "%s: input %d is not float32", name, k);
    for (int k = 0; st == EBM_OK && k < io->n_out; k++)
        if (io->out[k].dtype != EBM_NPY_F64)
            st = ebm_fail(err, EBM_ERR_FORMAT, "%s: output %d is not float64", name, k);
    if (st == EBM_OK && io->n_out == 0)
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: no expected outputs", name);
    return st;
}

/* The graph's output k must have the expected array's shape (N bound to n). */
static ebm_status check_out_shape(const ir_graph *g, int k, int64_t n, const ebm_array *want, ebm_error *err)
{
    const ir_shape *s = &g->nodes[g->outputs[k]].shape;
    int same = s->rank == want->rank;
    for (int i = 0; same && i < s->rank; i++)
        same = (s->d[i] == IR_DIM_N ? n : s->d[i]) == want->shape[i];
    char buf[64];
    if (!same)
        return ebm_fail(err, EBM_ERR_SHAPE, "output %d has shape %s (N = %lld), expected rank %d", k,
                        ir_shape_str(s, buf, sizeof buf), (long long)n, want->rank);
    return EBM_OK;
}

/* Runs g on io's inputs in dt; out[k] receives ebm_array_numel(&io->out[k])
 * values of dt (allocated here, freed by the caller). */
static ebm_status run_case(const ir_graph *g, const case_io *io, ebmc_dtype dt, void **out, ebm_error *err)
{
    int64_t n = io->in[0].rank > 0 ? io->in[0].shape[0] : 0;
    size_t esz = dt == EBMC_F64 ? sizeof(double) : sizeof(float);
    const void *in[MAX_IO] = {0};
    double *widened[MAX_IO] = {0};
    ebm_status st = EBM_OK;
    if (g->n_inputs != io->n_in || g->n_outputs != io->n_out)
        return ebm_fail(err, EBM_ERR_INVALID, "graph has %d inputs / %d outputs, data %d / %d", g->n_inputs,
                        g->n_outputs, io->n_in, io->n_out);
    for (int k = 0; st == EBM_OK && k < io->n_out; k++) {
        st = check_out_shape(g, k, n, &io->out[k], err);
        out[k] = calloc((size_t)ebm_array_numel(&io->out[k]) + 1, esz);
    }
    for (int k = 0; st == EBM_OK && k < io->n_in; k++) {
        int64_t count = ebm_array_numel(&io->in[k]);
        in[k] = io->in[k].data;
        if (dt == EBMC_F64) {
            widened[k] = malloc(((size_t)count + 1) * sizeof(double));
            for (int64_t i = 0; widened[k] && i < count; i++)
                widened[k][i] = ((const float *)io->in[k].data)[i];
            in[k] = widened[k];
        }
    }
    if (st == EBM_OK)
        st = ebmc_exec(g, n, dt, in, out, err);
    for (int k = 0; k < io->n_in; k++)
        free(widened[k]);
    return st;
}

/* The largest |got - want| / tolerance (<= 1 passes); NaN counts as failing. */
static double worst_ratio(const void *got, ebmc_dtype dt, const ebm_array *want, double rtol)
{
    const double *w = want->data;
    int64_t count = ebm_array_numel(want);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < count; i++)
        scale = fmax(scale, fabs(w[i]));
    for (int64_t i = 0; i < count; i++) {
        double g = dt == EBMC_F64 ? ((const double *)got)[i] : ((const float *)got)[i];
        double tol = rtol * fmax(fabs(w[i]), FLOOR * scale) + ATOL;
        double r = fabs(g - w[i]) / tol;
        if (!(r <= worst))
            worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

typedef struct case_result {
    char name[96];
    int symbolic, core_nodes;
    double r64, r32;   /* worst error / tolerance over all outputs */
    ebm_error err;
} case_result;

static ebm_status run_and_compare(const ir_graph *g, const case_io *io, ebmc_dtype dt, double *ratio,
                                  ebm_error *err)
{
    void *out[MAX_IO] = {0};
    ebm_status st = run_case(g, io, dt, out, err);
    *ratio = 0;
    for (int k = 0; st == EBM_OK && k < io->n_out; k++)
        *ratio = fmax(*ratio, worst_ratio(out[k], dt, &io->out[k], dt == EBMC_F64 ? RTOL_F64 : RTOL_F32));
    for (int k = 0; k < MAX_IO; k++)
        free(out[k]);
    return st;
}

static int count_compute_nodes(const ir_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++)
        k += g->nodes[i].op != IR_OP_INPUT && g->nodes[i].op != IR_OP_CONST;
    return k;
}

static void run_one(case_result *r)
{
    ir_graph *g = NULL;
    case_io io;
    ebm_status st = import_case(r->name, r->symbolic, &g, &r->err);
    if (st == EBM_OK)
        st = ir_verify(g, &r->err);
    if (st == EBM_OK)
        r->core_nodes = count_compute_nodes(g);
    ebm_status io_st = load_io(r->name, &io, st == EBM_OK ? &r->err : NULL);
    if (st == EBM_OK)
        st = io_st;
    if (st == EBM_OK)
        st = run_and_compare(g, &io, EBMC_F64, &r->r64, &r->err);
    if (st == EBM_OK)
        st = run_and_compare(g, &io, EBMC_F32, &r->r32, &r->err);
    r->err.code = st;
    io_free(&io);
    ir_graph_free(g);
}

/* cases.txt: "name symbolic" per line, '#' comments. */
static int read_cases(case_result *res, int max)
{
    const char *path = case_path("cases", ".txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        ck_assert_msg(n < max, "more than %d cases", max);
        memset(&res[n], 0, sizeof res[n]);
        ck_assert_msg(sscanf(line, "%95s %d", res[n].name, &res[n].symbolic) == 2, "bad line in %s: %s",
                      path, line);
        n++;
    }
    fclose(f);
    return n;
}

START_TEST(test_cases_match_reference)
{
    static case_result res[MAX_CASES];
    int n = read_cases(res, MAX_CASES), failed = 0;
    ck_assert_int_gt(n, 50);
    printf("%-30s %5s %12s %12s   (error / tolerance; f64 rtol %g, f32 rtol %g)\n", "case", "nodes", "f64",
           "f32", RTOL_F64, RTOL_F32);
    for (int i = 0; i < n; i++) {
        case_result *r = &res[i];
        run_one(r);
        int ok = r->err.code == EBM_OK && r->r64 <= 1 && r->r32 <= 1;
        if (r->err.code != EBM_OK)
            printf("%-30s ERROR: %s\n", r->name, r->err.msg);
        else
            printf("%-30s %5d %12.3g %12.3g%s\n", r->name, r->core_nodes, r->r64, r->r32, ok ? "" : "  FAIL");
        failed += !ok;
    }
    fflush(stdout);
    ck_assert_msg(failed == 0, "%d of %d lowering cases failed (see the table above)", failed, n);
}
END_TEST

/* ---- imports that must fail ----------------------------------------------------- */

typedef struct error_case {
    const char *name;
    int symbolic;
    ebm_status code;
    const char *node;   /* the node label the message must name */
    const char *text;   /* and what it must say */
} error_case;

static const error_case ERROR_CASES[] = {
    {"err_conv4d", 1, EBM_ERR_UNSUPPORTED, "(Conv)",
     "only 1-D, 2-D and 3-D convolutions are supported (input rank 6; see docs/operators.md)"},
    {"err_conv3d_weight", 1, EBM_ERR_INVALID, "(Conv)", "the weight W must be [O, C/group, kd, kh, kw]"},
    {"err_conv3d_group", 1, EBM_ERR_INVALID, "(Conv)", "does not fit 3 input channels in 2 groups"},
    {"err_conv3d_too_large", 1, EBM_ERR_UNSUPPORTED, "(Conv)",
     "the 3-D lowering would need depth taps of 2.06e+11 elements (limit 6.87e+10"},
    {"err_maxpool4d", 1, EBM_ERR_UNSUPPORTED, "(MaxPool)", "only 1-D, 2-D and 3-D poolings are supported (input rank 6"},
    {"err_gelu_approximate", 1, EBM_ERR_UNSUPPORTED, "(Gelu)", "approximate = 'fast'"},
    {"err_elu_unknown_attr", 1, EBM_ERR_UNSUPPORTED, "(Elu)", "attribute 'flavour'"},
    {"err_clip_dynamic", 1, EBM_ERR_NOT_STATIC, "(Clip)", "the min of Clip"},
    {"err_reduce_mean_batch", 1, EBM_ERR_NOT_STATIC, "(ReduceMean)", "batch axis N"},
    /* [N,3,4] -> [2*N,6] keeps samples apart (a batch view), but not as an output */
    {"err_batch_arithmetic", 1, EBM_ERR_SHAPE, "graph output 'y'", "merges the batch dimension N"},
    {"err_batchnorm_training", 1, EBM_ERR_UNSUPPORTED, "(BatchNormalization)", "training_mode = 1"},
    {"err_layernorm_stash", 1, EBM_ERR_UNSUPPORTED, "(LayerNormalization)", "stash_type = 11"},
    {"err_groupnorm_scale", 1, EBM_ERR_SHAPE, "(GroupNormalization)", "one value per channel"},
    {"err_gemm_c_grows", 0, EBM_ERR_SHAPE, "(Gemm)", "C's shape"},
    {"err_maxpool_indices", 1, EBM_ERR_UNSUPPORTED, "", "'idx'"},
    {"err_auto_pad", 1, EBM_ERR_UNSUPPORTED, "(AveragePool)", "auto_pad = 'SAME_MIDDLE'"},
};

START_TEST(test_import_errors)
{
    const error_case *e = &ERROR_CASES[_i];
    ir_graph *g = NULL;
    ebm_error err = {0};
    ebm_status st = import_case(e->name, e->symbolic, &g, &err);
    ck_assert_msg(st == e->code, "%s: expected %s, got %s: %s", e->name, ebm_status_name(e->code),
                  ebm_status_name(st), err.msg);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, tu_path("%s.onnx", e->name)) != NULL, "%s: no file name in: %s", e->name,
                  err.msg);
    ck_assert_msg(strstr(err.msg, e->node) && strstr(err.msg, e->text), "%s: expected '%s' and '%s' in: %s",
                  e->name, e->node, e->text, err.msg);
}
END_TEST

/* ---- structure of the lowered graphs ------------------------------------------------ */

static const ir_node *operand(const ir_graph *g, const ir_node *nd, int k)
{
    return &g->nodes[nd->in[k]];
}

/* EXP(MIN(x, 0)) or EXP(DIV(MIN(x, 0), k)): bounded above by 1. */
static int exp_is_guarded(const ir_graph *g, const ir_node *e)
{
    const ir_node *a = operand(g, e, 0);
    if (a->op == IR_OP_DIV)
        a = operand(g, a, 0);
    return a->op == IR_OP_MIN;
}

/* EXP(SUB(x, RMAX(x))): bounded above by 1. */
static int exp_is_shifted(const ir_graph *g, const ir_node *e)
{
    const ir_node *a = operand(g, e, 0);
    return a->op == IR_OP_SUB && operand(g, a, 1)->op == IR_OP_RMAX;
}

START_TEST(test_exponentials_cannot_overflow)
{
    static const char *const elu_like[] = {"elu", "selu", "selu_attrs", "celu"};
    static const char *const shifted[] = {"softmax11", "softmax13", "log_softmax13", "reduce_lse_attr",
                                          "reduce_lse_input"};
    for (size_t i = 0; i < sizeof elu_like / sizeof *elu_like + sizeof shifted / sizeof *shifted; i++) {
        int is_elu = i < sizeof elu_like / sizeof *elu_like;
        const char *name = is_elu ? elu_like[i] : shifted[i - sizeof elu_like / sizeof *elu_like];
        ir_graph *g = must_import(name, 1);
        int exps = 0;
        for (int k = 0; k < g->n_nodes; k++) {
            if (g->nodes[k].op != IR_OP_EXP)
                continue;
            exps++;
            ck_assert_msg(is_elu ? exp_is_guarded(g, &g->nodes[k]) : exp_is_shifted(g, &g->nodes[k]),
                          "%s: exp at %%%d is not bounded", name, k);
        }
        ck_assert_msg(exps == 1, "%s: %d exp nodes", name, exps);
        ir_graph_free(g);
    }
}
END_TEST

/* Compositions stay a handful of core ops (fusion makes them one kernel, but
 * every node is also differentiated). */
START_TEST(test_compositions_are_small)
{
    static const struct { const char *name; int max_nodes; } limits[] = {
        {"elu", 6}, {"selu", 7}, {"celu", 7}, {"gelu", 5}, {"gelu_tanh", 9}, {"mish", 3},
        {"hardswish", 5}, {"hardsigmoid", 4}, {"softsign", 3}, {"leaky_relu", 3}, {"softmax13", 5},
        {"log_softmax13", 6}, {"layernorm", 11}, {"batchnorm", 11}, {"gemm_all", 5}, {"pow2", 1},
        {"pow_half", 1}, {"reduce_lse_attr", 6}, {"shape_arith", 1},
    };
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        ir_graph *g = must_import(limits[i].name, 1);
        int k = count_compute_nodes(g);
        ck_assert_msg(k <= limits[i].max_nodes, "%s: %d core nodes, expected at most %d", limits[i].name, k,
                      limits[i].max_nodes);
        ir_graph_free(g);
    }
}
END_TEST

/* x.view(x.size(0)*1, x.size(3)*x.size(1), (x.size(3)+x.size(2))/x.size(1)):
 * all arithmetic happens at import time, one RESHAPE remains and keeps N. */
START_TEST(test_shape_arithmetic_is_static)
{
    ir_graph *g = must_import("shape_arith", 1);
    const ir_node *y = &g->nodes[g->outputs[0]];
    ck_assert_int_eq(y->op, IR_OP_RESHAPE);
    ck_assert_int_eq(y->shape.rank, 3);
    ck_assert_int_eq(y->shape.d[0], IR_DIM_N);
    ck_assert_int_eq(y->shape.d[1], 8);
    ck_assert_int_eq(y->shape.d[2], 3);   /* (4 + 3) / 2 truncated */
    ir_graph_free(g);
}
END_TEST

static const ir_node *const_named(const ir_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op == IR_OP_CONST && g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return &g->nodes[i];
    ck_abort_msg("no constant named %s", name);
    return NULL;
}

START_TEST(test_batchnorm_statistics_not_trainable)
{
    static const char *const cases[] = {"batchnorm", "batchnorm_legacy"};
    for (int c = 0; c < 2; c++) {
        ir_graph *g = must_import(cases[c], 1);
        for (int s = 0; s < 2; s++) {
            const ir_node *stat = const_named(g, s ? "var" : "mean");
            ck_assert_msg((stat->flags & IR_NODE_PARAM) && !(stat->flags & IR_NODE_TRAINABLE),
                          "%s: %s has flags %u", cases[c], stat->name, stat->flags);
        }
        ck_assert(const_named(g, "scale")->flags & IR_NODE_TRAINABLE);
        ck_assert(const_named(g, "bias")->flags & IR_NODE_TRAINABLE);
        ir_graph_free(g);
    }
}
END_TEST

/* LayerNormalization (opset 17) and the opset-13 decomposition exporters
 * write instead agree with each other, not only with NumPy. */
START_TEST(test_layernorm_matches_decomposition)
{
    ir_graph *g17 = must_import("layernorm", 1), *g13 = must_import("layernorm_op13", 1);
    case_io io;
    ebm_error err = {0};
    ck_assert_msg(load_io("layernorm", &io, &err) == EBM_OK, "%s", err.msg);
    for (int d = 0; d < 2; d++) {
        ebmc_dtype dt = d ? EBMC_F32 : EBMC_F64;
        void *a[MAX_IO] = {0}, *b[MAX_IO] = {0};
        ck_assert_msg(run_case(g17, &io, dt, a, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(run_case(g13, &io, dt, b, &err) == EBM_OK, "%s", err.msg);
        int64_t count = ebm_array_numel(&io.out[0]);
        for (int64_t i = 0; i < count; i++) {
            double x = dt == EBMC_F64 ? ((double *)a[0])[i] : ((float *)a[0])[i];
            double y = dt == EBMC_F64 ? ((double *)b[0])[i] : ((float *)b[0])[i];
            ck_assert_msg(fabs(x - y) <= (dt == EBMC_F64 ? 1e-12 : 1e-5) * fmax(1, fabs(y)),
                          "element %lld: %.17g (opset 17) vs %.17g (opset 13)", (long long)i, x, y);
        }
        for (int k = 0; k < MAX_IO; k++) {
            free(a[k]);
            free(b[k]);
        }
    }
    io_free(&io);
    ir_graph_free(g17);
    ir_graph_free(g13);
}
END_TEST

/* ---- gradients of the compositions ------------------------------------------------ */

#define FD_RTOL 1e-5

static const char *const GRAD_CASES[] = {
    "elu", "selu", "celu", "softplus", "mish", "gelu", "gelu_tanh", "hardswish", "hardsigmoid", "softsign",
    "sigmoid", "tanh", "erf", "leaky_relu", "prelu", "prelu_legacy", "pow_neg", "softmax11", "softmax13",
    "log_softmax11", "log_softmax13", "reduce_lse_attr", "reduce_lse_input", "reduce_l2_attr", "layernorm",
    "layernorm_op13", "instancenorm", "groupnorm18", "groupnorm21", "batchnorm", "global_avgpool",
};

/* L = sum_b sum_j seed[j] * y[b, j] for the forward value y (f64). */
static double weighted_sum(const double *y, int64_t count, const double *seed, int64_t per_sample)
{
    double l = 0;
    for (int64_t i = 0; i < count; i++)
        l += seed[i % per_sample] * y[i];
    return l;
}

typedef struct grad_run {
    ir_graph *g;
    case_io io;
    int64_t n_x, n_y, per_sample;
    double *x, *y, *dx, *seed;
} grad_run;

/* Runs the graph (outputs y and dx) on r->x in float64. */
static void grad_eval(grad_run *r)
{
    ebm_error err = {0};
    const void *in[1] = {r->x};
    void *out[2] = {r->y, r->dx};
    ck_assert_msg(ebmc_exec(r->g, r->io.in[0].shape[0], EBMC_F64, in, out, &err) == EBM_OK, "%s", err.msg);
}

/* The float32 run: every dL/dx must be finite there too (exp(100) is not). */
static void grad_check_f32(const char *name, grad_run *r)
{
    ebm_error err = {0};
    float *y = malloc((size_t)r->n_y * sizeof *y), *dx = malloc((size_t)r->n_x * sizeof *dx);
    ck_assert(y && dx);
    const void *in[1] = {r->io.in[0].data};
    void *out[2] = {y, dx};
    ck_assert_msg(ebmc_exec(r->g, r->io.in[0].shape[0], EBMC_F32, in, out, &err) == EBM_OK, "%s", err.msg);
    for (int64_t i = 0; i < r->n_x; i++)
        ck_assert_msg(isfinite(dx[i]), "%s: float32 dL/dx[%lld] = %g at x = %g", name, (long long)i, dx[i],
                      r->x[i]);
    free(y);
    free(dx);
}

/* g gets a second output dx = d(sum seed * y)/dx, seed [y's dims after N]. */
static void grad_setup(const char *name, grad_run *r)
{
    ebm_error err = {0};
    memset(r, 0, sizeof *r);
    r->g = must_import(name, 1);
    ck_assert_msg(load_io(name, &r->io, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(r->g->n_inputs, 1);
    ir_shape ys = r->g->nodes[r->g->outputs[0]].shape, seed_shape = ys;
    ck_assert_int_eq(ys.d[0], IR_DIM_N);
    seed_shape.rank--;
    memmove(seed_shape.d, seed_shape.d + 1, sizeof seed_shape.d[0] * (size_t)seed_shape.rank);
    r->per_sample = ir_shape_numel(&seed_shape, 0);
    r->n_x = ebm_array_numel(&r->io.in[0]);
    r->n_y = ebm_array_numel(&r->io.out[0]);
    r->x = malloc((size_t)r->n_x * sizeof *r->x);
    r->dx = malloc((size_t)r->n_x * sizeof *r->dx);
    r->y = malloc((size_t)r->n_y * sizeof *r->y);
    r->seed = malloc((size_t)r->per_sample * sizeof *r->seed);
    float *seed32 = malloc((size_t)r->per_sample * sizeof *seed32);
    ck_assert(r->x && r->dx && r->y && r->seed && seed32);
    tu_fill_uniform_f32(seed32, (size_t)r->per_sample, 7, -1, 1);
    for (int64_t i = 0; i < r->per_sample; i++)
        r->seed[i] = seed32[i];
    for (int64_t i = 0; i < r->n_x; i++)
        r->x[i] = ((const float *)r->io.in[0].data)[i];
    int seed = ir_add_const(r->g, "seed", seed_shape, seed32, 0, &err);
    free(seed32);
    int dx = -1;
    ck_assert_msg(seed >= 0 && ebmc_grad(r->g, r->g->outputs[0], seed, r->g->inputs, 1, &dx, &err) == EBM_OK &&
                      ir_add_output(r->g, dx, "dx", &err) == EBM_OK && ir_verify(r->g, &err) == EBM_OK,
                  "%s: %s", name, err.msg);
}

static void grad_free(grad_run *r)
{
    free(r->x);
    free(r->y);
    free(r->dx);
    free(r->seed);
    io_free(&r->io);
    ir_graph_free(r->g);
}

/* Every dx finite (also at +-100 and +-1000); away from kinks at 0, dx equals
 * the central difference of L. */
START_TEST(test_gradients_finite_and_match_fd)
{
    const char *name = GRAD_CASES[_i];
    grad_run r;
    grad_setup(name, &r);
    grad_check_f32(name, &r);
    grad_eval(&r);
    double *dx = malloc((size_t)r.n_x * sizeof *dx), scale = 0;
    ck_assert(dx != NULL);
    memcpy(dx, r.dx, (size_t)r.n_x * sizeof *dx);
    for (int64_t i = 0; i < r.n_x; i++) {
        ck_assert_msg(isfinite(dx[i]), "%s: dL/dx[%lld] = %g at x = %g", name, (long long)i, dx[i], r.x[i]);
        scale = fmax(scale, fabs(dx[i]));
    }
    for (int64_t i = 0; i < r.n_x; i++) {
        double x0 = r.x[i], h = 1e-6 * fmax(1, fabs(x0));
        if (fabs(x0) < 1e-3)
            continue;
        r.x[i] = x0 + h;
        grad_eval(&r);
        double lp = weighted_sum(r.y, r.n_y, r.seed, r.per_sample);
        r.x[i] = x0 - h;
        grad_eval(&r);
        double lm = weighted_sum(r.y, r.n_y, r.seed, r.per_sample);
        r.x[i] = x0;
        double fd = (lp - lm) / (2 * h);
        ck_assert_msg(fabs(fd - dx[i]) <= FD_RTOL * fmax(fabs(dx[i]), scale) + 1e-12,
                      "%s: dL/dx[%lld] = %.10g, finite difference %.10g (x = %g)", name, (long long)i, dx[i], fd,
                      x0);
    }
    free(dx);
    grad_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lowering");
    TCase *tc = tcase_create("lowering");
    tcase_add_test(tc, test_cases_match_reference);
    tcase_add_loop_test(tc, test_import_errors, 0, (int)(sizeof ERROR_CASES / sizeof *ERROR_CASES));
    tcase_add_test(tc, test_exponentials_cannot_overflow);
    tcase_add_test(tc, test_compositions_are_small);
    tcase_add_test(tc, test_shape_arithmetic_is_static);
    tcase_add_test(tc, test_batchnorm_statistics_not_trainable);
    tcase_add_test(tc, test_layernorm_matches_decomposition);
    tcase_add_loop_test(tc, test_gradients_finite_and_match_fd, 0,
                        (int)(sizeof GRAD_CASES / sizeof *GRAD_CASES));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nfailed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nfailed ? EXIT_FAILURE : EXIT_SUCCESS;
}
