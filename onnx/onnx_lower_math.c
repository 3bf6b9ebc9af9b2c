/* onnx_lower_math.c — elementwise math, activations, Gemm/MatMul, reductions
 * and softmax, lowered to core ops.
 *
 * Compositions are written so that their derivatives stay finite: the graph is
 * differentiated later, and a SELECT whose unselected branch is inf still
 * poisons the gradient (0 * inf = NaN).  So an exponential of the negative
 * branch always sees MIN(x, 0), and softmax-like ops subtract the maximum.
 *
 * Add/Sub/Mul/Div on static operands are evaluated here, at import time: that
 * is how PyTorch's shape arithmetic (x.size(1) * x.size(2)) folds away.  The
 * batch size N survives only operations that leave it unchanged (N*1, N+0...).
 * Initializers are never folded: training must update the parameter itself,
 * not a constant computed from it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

/* ---- builder shorthands, shared with onnx_lower_nn.c ---------------------- */
/* Every IR node a lowering adds is named after its ONNX node (n->label), so
 * messages and printed graphs point back at the model.  A -1 operand gives -1
 * (the builder keeps the first error), so calls nest and are checked once. */


static int onnx_imp_k(onnx_imp_ctx *c, double v)
{
    return ir_add_scalar(onnx_imp_graph(c), v, onnx_imp_err(c));
}

static int onnx_imp_un(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int x)
{
    return ir_unary(onnx_imp_graph(c), op, x, n->label, onnx_imp_err(c));
}

int onnx_imp_bin(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int a, int b)
{
    return ir_binary(onnx_imp_graph(c), op, a, b, n->label, onnx_imp_err(c));
}

/* op(x, v) with v a scalar constant. */
int onnx_imp_bin_k(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int x, double v)
{
    if (x < 0)
        return -1;
    return onnx_imp_bin(c, n, op, x, onnx_imp_k(c, v));
}

/* A reduction that keeps dims; no axes = the value itself (a reduction over
 * nothing), which is what ONNX's noop_with_empty_axes and rank-0 inputs mean. */
static int onnx_imp_red(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int x, uint32_t axes)
{
    if (axes == 0 || x < 0)
        return x;
    return ir_reduce(onnx_imp_graph(c), op, x, axes, n->label, onnx_imp_err(c));
}

int onnx_imp_reshape(onnx_imp_ctx *c, const onnx_imp_node *n, int x, ir_shape s)
{
    return ir_reshape(onnx_imp_graph(c), x, s, n->label, onnx_imp_err(c));
}

/* The shape of a value (a copy: the node array moves as nodes are added). */
ir_shape onnx_imp_value_shape(onnx_imp_ctx *c, int id)
{
    ir_shape s;
    memset(&s, 0, sizeof s);
    if (id >= 0 && id < onnx_imp_graph(c)->n_nodes)
        s = onnx_imp_graph(c)->nodes[id].shape;
    return s;
}

/* Mean over axes (dims kept).  Dividing needs the element count, which is
 * unknown when the batch axis N is among the axes. */
int onnx_imp_mean(onnx_imp_ctx *c, const onnx_imp_node *n, int x, uint32_t axes, const char *what)
{
    if (x < 0)
        return -1;
    ir_shape s = onnx_imp_value_shape(c, x);
    double count = 1;
    for (int i = 0; i < s.rank; i++) {
        if (!(axes & (1u << i)))
            continue;
        if (s.d[i] == IR_DIM_N) {
            onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                          "%s averages over the batch axis N (axis %d), whose size is only known at run time",
                          what, i);
            return -1;
        }
        count *= (double)s.d[i];
    }
    /* a division by the count, not a product with 1/count: constants are
     * float32, and an integer count is exact where 1/count is not */
    return onnx_imp_bin_k(c, n, IR_OP_DIV, onnx_imp_red(c, n, IR_OP_RSUM, x, axes), count);
}

/* ---- small helpers -------------------------------------------------------- */

static ebm_status out0(onnx_imp_ctx *c, const onnx_imp_node *n, int value)
{
    return onnx_imp_set_output(c, n, 0, value);
}

/* SELECT(x > 0, pos, neg). */
static int where_pos(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int pos, int neg)
{
    int cond = onnx_imp_bin_k(c, n, IR_OP_GT, x, 0.0);
    return ir_select(onnx_imp_graph(c), cond, pos, neg, n->label, onnx_imp_err(c));
}

/* Fails unless `value`'s shape is x's shape: ONNX's unidirectional
 * broadcasting (PRelu slope, Gemm C, LayerNorm scale) may not grow x. */
int onnx_imp_keep_shape(onnx_imp_ctx *c, const onnx_imp_node *n, int value, const ir_shape *x, const char *what)
{
    if (value < 0)
        return -1;
    ir_shape s = onnx_imp_value_shape(c, value);
    if (ir_shape_eq(&s, x))
        return value;
    char b1[64], b2[64];
    onnx_imp_fail(c, n, EBM_ERR_SHAPE, "%s makes the result %s instead of %s", what,
                  ir_shape_str(&s, b1, sizeof b1), ir_shape_str(x, b2, sizeof b2));
    return -1;
}

/* consumed_inputs (opset < 6) was an in-place hint with no effect on values. */
#define LEGACY_ATTRS "consumed_inputs"

/* ---- Add, Sub, Mul, Div ------------------------------------------------------ */

/* Opset < 7 broadcasting: with broadcast=1 and an axis, B's dims line up with
 * A's starting at axis (B [3] + A [2,3,4] at axis 1 means B [1,3,1]).  Without
 * an axis it is suffix matching, which numpy broadcasting already does. */
static ebm_status legacy_align(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *a, ir_shape *b)
{
    if (n->opset >= 7 || !onnx_imp_attr_int(n, "broadcast", 0) || !onnx_imp_attr(n, "axis"))
        return EBM_OK;
    int64_t axis = onnx_imp_attr_int(n, "axis", 0);
    int ax = onnx_imp_norm_axis(axis, a->rank);
    if (ax < 0 || ax + b->rank > a->rank)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "broadcast axis %lld does not fit B (rank %d) into A (rank %d)",
                             (long long)axis, b->rank, a->rank);
    ir_shape t = ir_shape_make(0);
    t.rank = a->rank;
    for (int i = 0; i < t.rank; i++)
        t.d[i] = i >= ax && i < ax + b->rank ? b->d[i - ax] : 1;
    *b = t;
    return EBM_OK;
}

/* numpy broadcasting of two static shapes; -1 if they do not broadcast. */
static int broadcast_shapes(const ir_shape *a, const ir_shape *b, ir_shape *out)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    *out = ir_shape_make(0);
    out->rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        out->d[i] = da == 1 ? db : da;
    }
    return 0;
}

/* Offset in a tensor of shape s (right-aligned to the result) of result
 * coordinate idx; size-1 dims repeat. */
static int64_t broadcast_offset(const ir_shape *s, const int64_t *idx, int out_rank)
{
    int64_t off = 0;
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->d[i], k = idx[i + out_rank - s->rank];
        off = off * d + (d == 1 ? 0 : k);
    }
    return off;
}

typedef enum arith_result { ARITH_OK, ARITH_NEEDS_N, ARITH_DIV_ZERO } arith_result;

/* Arithmetic on the batch size that stays a multiple k·N of it (the
 * sentinels of onnx_imp_sym): k·N + 0, k·N - 0, k·N * m, m * k·N, k·N / m when
 * m divides k.  Anything else (N*N, N+1, N/2) is not static. */
static arith_result arith_batch(ir_op op, int64_t x, int64_t y, int64_t *r)
{
    int64_t kx = onnx_imp_sym_k(x), ky = onnx_imp_sym_k(y), k = 0;
    if (kx && !ky) {
        if ((op == IR_OP_ADD || op == IR_OP_SUB) && y == 0)
            k = kx;
        else if (op == IR_OP_MUL && y >= 1 && y <= ONNX_IMP_SYM_MAX_K / kx)
            k = kx * y;
        else if (op == IR_OP_DIV && y >= 1 && kx % y == 0)
            k = kx / y;
    } else if (ky && !kx) {
        if (op == IR_OP_ADD && x == 0)
            k = ky;
        else if (op == IR_OP_MUL && x >= 1 && x <= ONNX_IMP_SYM_MAX_K / ky)
            k = ky * x;
    }
    if (k < 1 || k > ONNX_IMP_SYM_MAX_K)
        return ARITH_NEEDS_N;
    *r = onnx_imp_sym(k);
    return ARITH_OK;
}

/* int64 arithmetic as ONNX defines it: wraps on overflow (computed unsigned,
 * no UB), division truncates toward zero. */
static arith_result arith_i64(ir_op op, int64_t x, int64_t y, int64_t *r)
{
    if (onnx_imp_sym_k(x) || onnx_imp_sym_k(y))
        return arith_batch(op, x, y, r);
    uint64_t ux = (uint64_t)x, uy = (uint64_t)y;
    switch (op) {
    case IR_OP_ADD: *r = (int64_t)(ux + uy); break;
    case IR_OP_SUB: *r = (int64_t)(ux - uy); break;
    case IR_OP_MUL: *r = (int64_t)(ux * uy); break;
    default:
        if (y == 0)
            return ARITH_DIV_ZERO;
        *r = (x == INT64_MIN && y == -1) ? INT64_MIN : x / y;
        break;
    }
    return ARITH_OK;
}

static double arith_f64(ir_op op, double x, double y)
{
    switch (op) {
    case IR_OP_ADD: return x + y;
    case IR_OP_SUB: return x - y;
    case IR_OP_MUL: return x * y;
    default: return x / y;
    }
}

static const char *arith_sym(ir_op op)
{
    return op == IR_OP_ADD ? "+" : op == IR_OP_SUB ? "-" : op == IR_OP_MUL ? "*" : "/";
}

/* An int64 shape value for messages: the batch sentinel prints as N. */
static const char *int_str(int64_t v, char *buf, size_t size)
{
    int64_t k = onnx_imp_sym_k(v);
    if (k == 1)
        snprintf(buf, size, "N");
    else if (k)
        snprintf(buf, size, "%lld*N", (long long)k);
    else
        snprintf(buf, size, "%lld", (long long)v);
    return buf;
}

/* Element k of a static tensor as a float; the batch sentinel is an error. */
static int static_float(const ir_tensor *t, int64_t k, double *out)
{
    if (t->dtype == IR_DT_I64 && onnx_imp_sym_k(onnx_imp_tensor_get_i(t, k)))
        return -1;
    *out = onnx_imp_tensor_get_f(t, k);
    return 0;
}

static ebm_status arith_element(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, const ir_tensor *a, int64_t ia,
                                const ir_tensor *b, int64_t ib, ir_tensor *out, int64_t k)
{
    if (out->dtype == IR_DT_I64) {
        int64_t x = onnx_imp_tensor_get_i(a, ia), y = onnx_imp_tensor_get_i(b, ib);
        arith_result r = arith_i64(op, x, y, (int64_t *)out->data + k);
        if (r == ARITH_DIV_ZERO)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "integer division by zero (%lld / 0)", (long long)x);
        char bx[24], by[24];
        if (r == ARITH_NEEDS_N)
            return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                                 "uses the batch size N in arithmetic (%s %s %s); N is only known at run time, "
                                 "so shape computations may pass it through but not compute with it (e.g. "
                                 "write x.view(x.size(0), -1) rather than x.view(x.size(0) * k, -1))",
                                 int_str(x, bx, sizeof bx), arith_sym(op), int_str(y, by, sizeof by));
        return EBM_OK;
    }
    double x, y;
    if (static_float(a, ia, &x) || static_float(b, ib, &y))
        return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                             "uses the batch size N in floating-point arithmetic; N is only known at run time");
    double v = arith_f64(op, x, y);
    if (out->dtype == IR_DT_F32)
        ((float *)out->data)[k] = (float)v;
    else
        ((double *)out->data)[k] = v;
    return EBM_OK;
}

static ir_dtype arith_dtype(ir_dtype a, ir_dtype b)
{
    if (a == IR_DT_I64 && b == IR_DT_I64)
        return IR_DT_I64;
    return a == IR_DT_F64 || b == IR_DT_F64 ? IR_DT_F64 : IR_DT_F32;
}

/* The result of a binary op on two static tensors, seen with shapes sa, sb
 * (which may differ from the tensors' own by legacy alignment). */
static ebm_status static_binary(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, const ir_tensor *a,
                                const ir_shape *sa, const ir_tensor *b, const ir_shape *sb)
{
    ir_shape so;
    char b1[64], b2[64];
    if (broadcast_shapes(sa, sb, &so))
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "operands %s and %s do not broadcast",
                             ir_shape_str(sa, b1, sizeof b1), ir_shape_str(sb, b2, sizeof b2));
    ir_tensor out;
    ebm_status st = onnx_imp_tensor_alloc(c, &out, arith_dtype(a->dtype, b->dtype), &so);
    if (st != EBM_OK)   /* e.g. a broadcast too large to hold */
        return st;
    int64_t total = ir_shape_numel(&so, 0), idx[IR_MAX_RANK] = {0};
    for (int64_t k = 0; st == EBM_OK && k < total; k++) {
        st = arith_element(c, n, op, a, broadcast_offset(sa, idx, so.rank), b,
                           broadcast_offset(sb, idx, so.rank), &out, k);
        for (int i = so.rank - 1; i >= 0 && ++idx[i] == so.d[i]; i--)
            idx[i] = 0;
    }
    if (st != EBM_OK) {
        ir_tensor_free(&out);
        return st;
    }
    return onnx_imp_set_static_output(c, n, 0, &out);
}

static ebm_status lower_arith(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op)
{
    static const char *const known[] = {"broadcast", "axis", LEGACY_ATTRS, NULL};
    static const char *const none[] = {NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, n->opset < 7 ? known : none);
    if (st != EBM_OK)
        return st;
    const ir_tensor *ta = onnx_imp_static(c, n, 0), *tb = onnx_imp_static(c, n, 1);
    int fold = ta && tb && !onnx_imp_static_is_param(c, n, 0) && !onnx_imp_static_is_param(c, n, 1);
    int a = -1, b = -1;
    ir_shape sa, sb;
    if (fold) {
        sa = ta->shape;
        sb = tb->shape;
    } else {
        a = onnx_imp_input(c, n, 0);
        b = onnx_imp_input(c, n, 1);
        if (a < 0 || b < 0)
            return onnx_imp_err(c)->code;
        sa = onnx_imp_value_shape(c, a);
        sb = onnx_imp_value_shape(c, b);
    }
    ir_shape sb0 = sb;
    if ((st = legacy_align(c, n, &sa, &sb)) != EBM_OK)
        return st;
    if (fold)
        return static_binary(c, n, op, ta, &sa, tb, &sb);
    if (!ir_shape_eq(&sb, &sb0))
        b = onnx_imp_reshape(c, n, b, sb);
    return out0(c, n, onnx_imp_bin(c, n, op, a, b));
}

ebm_status onnx_imp_lower_add(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_arith(c, n, IR_OP_ADD); }
ebm_status onnx_imp_lower_sub(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_arith(c, n, IR_OP_SUB); }
ebm_status onnx_imp_lower_mul(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_arith(c, n, IR_OP_MUL); }
ebm_status onnx_imp_lower_div(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_arith(c, n, IR_OP_DIV); }

/* Max, Min, Sum, Mean: any number of inputs, broadcast together; folded
 * left to right into binary core ops (ties in Max/Min split the gradient). */
static ebm_status lower_variadic(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int mean)
{
    static const char *const known[] = {LEGACY_ATTRS, NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    int count = onnx_imp_n_inputs(n);
    if (st != EBM_OK)
        return st;
    if (count < 1)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "needs at least one input");
    int acc = onnx_imp_input(c, n, 0);
    for (int k = 1; k < count; k++)
        acc = onnx_imp_bin(c, n, op, acc, onnx_imp_input(c, n, k));
    if (mean && count > 1)
        acc = onnx_imp_bin_k(c, n, IR_OP_DIV, acc, count);
    if (count == 1 && acc >= 0)   /* a copy, so the output is a value of its own */
        acc = onnx_imp_bin_k(c, n, IR_OP_ADD, acc, 0.0);
    return out0(c, n, acc);
}

ebm_status onnx_imp_lower_max(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_variadic(c, n, IR_OP_MAX, 0); }
ebm_status onnx_imp_lower_min(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_variadic(c, n, IR_OP_MIN, 0); }
ebm_status onnx_imp_lower_sum(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_variadic(c, n, IR_OP_ADD, 0); }
ebm_status onnx_imp_lower_mean(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_variadic(c, n, IR_OP_ADD, 1); }

/* Comparisons yield 1.0 / 0.0 floats (ebmc's booleans); `swap` compares b
 * with a, so Less(a, b) is GT(b, a). */
static ebm_status lower_compare(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int swap)
{
    static const char *const known[] = {NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    int a = onnx_imp_input(c, n, 0), b = onnx_imp_input(c, n, 1);
    return out0(c, n, swap ? onnx_imp_bin(c, n, op, b, a) : onnx_imp_bin(c, n, op, a, b));
}

ebm_status onnx_imp_lower_less(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_compare(c, n, IR_OP_GT, 1); }
ebm_status onnx_imp_lower_greater(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_compare(c, n, IR_OP_GT, 0); }
ebm_status onnx_imp_lower_less_or_equal(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_compare(c, n, IR_OP_GE, 1); }
ebm_status onnx_imp_lower_greater_or_equal(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_compare(c, n, IR_OP_GE, 0); }
ebm_status onnx_imp_lower_equal(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_compare(c, n, IR_OP_EQ, 0); }

/* A condition given as a static boolean/integer tensor becomes a 0/1 float constant. */
static int condition_input(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    const ir_tensor *t = onnx_imp_static(c, n, k);
    if (!t || t->dtype != IR_DT_I64)
        return onnx_imp_input(c, n, k);
    int64_t count = ir_shape_numel(&t->shape, 0);
    if (onnx_imp_charge(c, count) != EBM_OK)
        return -1;
    float *v = malloc((size_t)(count > 0 ? count : 1) * sizeof *v);
    if (!v) {
        onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < count; i++)
        v[i] = ((const int64_t *)t->data)[i] != 0;
    int id = ir_add_const(onnx_imp_graph(c), n->label, t->shape, v, 0, onnx_imp_err(c));
    free(v);
    return id;
}

ebm_status onnx_imp_lower_where(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    int cond = condition_input(c, n, 0), a = onnx_imp_input(c, n, 1), b = onnx_imp_input(c, n, 2);
    return out0(c, n, ir_select(onnx_imp_graph(c), cond, a, b, n->label, onnx_imp_err(c)));
}

/* ---- one-input activations ----------------------------------------------------- */

/* Reads input 0 after checking the attributes; -1 on error. */
static int unary_input(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known)
{
    if (onnx_imp_check_attrs(c, n, known) != EBM_OK)
        return -1;
    return onnx_imp_input(c, n, 0);
}

static const char *const legacy_only[] = {LEGACY_ATTRS, NULL};

/* Neg/Abs of a static integer tensor (shape plumbing such as ONNX's own
 * LayerNormalization function body) are computed at import time. */
static ebm_status static_int_unary(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, const ir_tensor *t)
{
    ir_tensor r;
    ebm_status st = onnx_imp_tensor_alloc(c, &r, IR_DT_I64, &t->shape);
    int64_t count = ir_shape_numel(&t->shape, 0);
    for (int64_t i = 0; st == EBM_OK && i < count; i++) {
        int64_t v = ((const int64_t *)t->data)[i];
        if (onnx_imp_sym_k(v) || v == INT64_MIN) {
            ir_tensor_free(&r);
            return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "uses the batch size N in arithmetic (%s N)",
                                 ir_op_get(op)->name);
        }
        ((int64_t *)r.data)[i] = op == IR_OP_NEG ? -v : (v < 0 ? -v : v);
    }
    return st == EBM_OK ? onnx_imp_set_static_output(c, n, 0, &r) : st;
}

static ebm_status lower_core_unary(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op)
{
    const ir_tensor *t = onnx_imp_static(c, n, 0);
    if (t && t->dtype == IR_DT_I64 && (op == IR_OP_NEG || op == IR_OP_ABS) &&
        onnx_imp_check_attrs(c, n, legacy_only) == EBM_OK)
        return static_int_unary(c, n, op, t);
    return out0(c, n, onnx_imp_un(c, n, op, unary_input(c, n, legacy_only)));
}

/* The one-operand core op whose onnx_type (ir/ops.def) is the node's op_type. */
ebm_status onnx_imp_lower_core_unary(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *info = ir_op_get((ir_op)op);
        if (info->arity == 1 && info->onnx_type && strcmp(info->onnx_type, n->p->op_type) == 0)
            return lower_core_unary(c, n, (ir_op)op);
    }
    return onnx_imp_fail(c, n, EBM_ERR_INTERNAL, "no core op of ir/ops.def is exported as %s", n->p->op_type);
}

ebm_status onnx_imp_lower_reciprocal(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int x = unary_input(c, n, legacy_only);
    return out0(c, n, x < 0 ? -1 : onnx_imp_bin(c, n, IR_OP_DIV, onnx_imp_k(c, 1.0), x));
}

/* ---- Tan, Asin, Acos: compositions of sin, cos and atan ------------------------ */

ebm_status onnx_imp_lower_tan(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int x = unary_input(c, n, legacy_only);
    if (x < 0)
        return onnx_imp_err(c)->code;
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_DIV, onnx_imp_un(c, n, IR_OP_SIN, x), onnx_imp_un(c, n, IR_OP_COS, x)));
}

/* asin x = atan(x / sqrt(1 - x^2)); NaN outside [-1, 1] as asin is. */
static int arcsine(onnx_imp_ctx *c, const onnx_imp_node *n, int x)
{
    int one_minus = onnx_imp_bin(c, n, IR_OP_SUB, onnx_imp_k(c, 1.0), onnx_imp_bin(c, n, IR_OP_MUL, x, x));
    return onnx_imp_un(c, n, IR_OP_ATAN, onnx_imp_bin(c, n, IR_OP_DIV, x, onnx_imp_un(c, n, IR_OP_SQRT, one_minus)));
}

ebm_status onnx_imp_lower_asin(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int x = unary_input(c, n, legacy_only);
    return x < 0 ? onnx_imp_err(c)->code : out0(c, n, arcsine(c, n, x));
}

ebm_status onnx_imp_lower_acos(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int x = unary_input(c, n, legacy_only);
    if (x < 0)
        return onnx_imp_err(c)->code;
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_SUB, onnx_imp_k(c, 1.5707963267948966), arcsine(c, n, x)));
}

/* x^p for a static p: the common exponents become cheaper core ops. */
static int power(onnx_imp_ctx *c, const onnx_imp_node *n, int x, double p)
{
    if (p == 1)
        return x;
    if (p == 2)
        return onnx_imp_bin(c, n, IR_OP_MUL, x, x);
    if (p == 0.5)
        return onnx_imp_un(c, n, IR_OP_SQRT, x);
    return ir_pows(onnx_imp_graph(c), x, p, n->label, onnx_imp_err(c));
}

#define POW_MAX_DISTINCT 8

/* A per-element static exponent whose values are all integers (at most
 * POW_MAX_DISTINCT distinct ones): one power per distinct value, chosen per
 * element by SELECT with a constant mask.  Exact for negative bases, and the
 * derivative is that of each power.  -1 with *fits = 0 if the exponent is not
 * of that kind (then the caller takes the general form). */
static int integer_powers(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const ir_tensor *t, int *fits)
{
    double vals[POW_MAX_DISTINCT];
    int nv = 0;
    int64_t count = ir_shape_numel(&t->shape, 0);
    *fits = 0;
    for (int64_t k = 0; k < count; k++) {
        double v;
        if (static_float(t, k, &v) || v != floor(v) || fabs(v) > 64)
            return -1;
        int seen = 0;
        for (int i = 0; i < nv; i++)
            seen |= vals[i] == v;
        if (!seen && nv == POW_MAX_DISTINCT)
            return -1;
        if (!seen)
            vals[nv++] = v;
    }
    *fits = 1;
    int acc = -1;
    for (int i = 0; i < nv; i++) {
        /* x^0 = 1 everywhere, 0^0 included (shaped like x) */
        int p = vals[i] == 0 ? onnx_imp_bin(c, n, IR_OP_ADD, onnx_imp_bin_k(c, n, IR_OP_MUL, x, 0.0), onnx_imp_k(c, 1.0))
                             : power(c, n, x, vals[i]);
        if (i == 0) {
            acc = p;
            continue;
        }
        if (onnx_imp_charge(c, count) != EBM_OK)
            return -1;
        float *mask = malloc(sizeof *mask * (size_t)(count > 0 ? count : 1));
        if (!mask) {
            onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
            return -1;
        }
        for (int64_t k = 0; k < count; k++)
            mask[k] = onnx_imp_tensor_get_f(t, k) == vals[i] ? 1.0f : 0.0f;
        int m = ir_add_const(onnx_imp_graph(c), n->label, t->shape, mask, 0, onnx_imp_err(c));
        free(mask);
        acc = m < 0 || p < 0 || acc < 0 ? -1 : ir_select(onnx_imp_graph(c), m, p, acc, n->label, onnx_imp_err(c));
    }
    if (acc >= 0 && nv == 1) {
        /* one value, but the exponent may still grow the shape: broadcast */
        ir_shape sx = onnx_imp_value_shape(c, acc), both;
        if (broadcast_shapes(&sx, &t->shape, &both) == 0 && !ir_shape_eq(&both, &sx))
            acc = onnx_imp_bin(c, n, IR_OP_ADD, acc, onnx_imp_bin_k(c, n, IR_OP_MUL, onnx_imp_input(c, n, 1), 0.0));
    }
    return acc;
}

/* Pow(x, y):
 *   static y, one value p      -> power(x, p) (pows, or mul/sqrt);
 *   static y, integer values   -> integer_powers (exact for negative x);
 *   otherwise (dynamic or non-integer y) -> exp(y * log x): NaN for x < 0,
 *   as a real power with a non-integer exponent is. */
ebm_status onnx_imp_lower_pow(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"broadcast", "axis", NULL};
    static const char *const none[] = {NULL};
    int x = unary_input(c, n, n->opset < 7 ? known : none);
    if (x < 0)
        return onnx_imp_err(c)->code;
    const ir_tensor *t = onnx_imp_static(c, n, 1);
    if (t) {
        int fits = 0;
        int y = integer_powers(c, n, x, t, &fits);
        if (fits)
            return out0(c, n, y);
        int64_t count = ir_shape_numel(&t->shape, 0);
        double p = 0, v = 0;
        int same = count > 0;
        for (int64_t k = 0; same && k < count; k++) {
            if (static_float(t, k, &v))
                return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "the exponent of Pow is the batch size N");
            same = k == 0 || v == p;
            p = v;
        }
        ir_shape sx = onnx_imp_value_shape(c, x), both;
        if (same && broadcast_shapes(&sx, &t->shape, &both) == 0 && ir_shape_eq(&both, &sx))
            return out0(c, n, power(c, n, x, p));
    }
    int y = onnx_imp_input(c, n, 1);
    return out0(c, n, y < 0 ? -1 : onnx_imp_un(c, n, IR_OP_EXP, onnx_imp_bin(c, n, IR_OP_MUL, y, onnx_imp_un(c, n, IR_OP_LOG, x))));
}

ebm_status onnx_imp_lower_leaky_relu(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", LEGACY_ATTRS, NULL};
    int x = unary_input(c, n, known);
    double alpha = onnx_imp_attr_float(n, "alpha", 0.01);
    return out0(c, n, where_pos(c, n, x, x, onnx_imp_bin_k(c, n, IR_OP_MUL, x, alpha)));
}

/* Opset < 7 PRelu: a 1-D slope of C values is per channel (axis 1), not
 * numpy-aligned with the last axis as from opset 7 on. */
static int prelu_slope(onnx_imp_ctx *c, const onnx_imp_node *n, const ir_shape *x)
{
    int s = onnx_imp_input(c, n, 1);
    ir_shape ss = onnx_imp_value_shape(c, s);
    if (s < 0 || n->opset >= 7 || ss.rank != 1 || x->rank < 3 || ss.d[0] != x->d[1] || ss.d[0] == 1)
        return s;
    ir_shape t = ir_shape_make(0);
    t.rank = x->rank - 1;
    for (int i = 0; i < t.rank; i++)
        t.d[i] = i == 0 ? ss.d[0] : 1;
    return onnx_imp_reshape(c, n, s, t);
}

ebm_status onnx_imp_lower_prelu(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {LEGACY_ATTRS, NULL};
    int x = unary_input(c, n, known);
    if (x < 0)
        return onnx_imp_err(c)->code;
    ir_shape sx = onnx_imp_value_shape(c, x);
    int neg = onnx_imp_bin(c, n, IR_OP_MUL, x, prelu_slope(c, n, &sx));
    return out0(c, n, onnx_imp_keep_shape(c, n, where_pos(c, n, x, x, neg), &sx, "the slope's shape"));
}

static int clamp01(onnx_imp_ctx *c, const onnx_imp_node *n, int x)
{
    return onnx_imp_bin_k(c, n, IR_OP_MAX, onnx_imp_bin_k(c, n, IR_OP_MIN, x, 1.0), 0.0);
}

/* max(0, min(1, alpha*x + beta)) */
ebm_status onnx_imp_lower_hard_sigmoid(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", "beta", LEGACY_ATTRS, NULL};
    int x = unary_input(c, n, known);
    double alpha = onnx_imp_attr_float(n, "alpha", 0.2), beta = onnx_imp_attr_float(n, "beta", 0.5);
    int lin = onnx_imp_bin_k(c, n, IR_OP_ADD, onnx_imp_bin_k(c, n, IR_OP_MUL, x, alpha), beta);
    return out0(c, n, clamp01(c, n, lin));
}

/* x * max(0, min(1, x/6 + 1/2)); x/6 rather than x*(1/6), which float32
 * constants cannot hold exactly */
ebm_status onnx_imp_lower_hard_swish(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int x = unary_input(c, n, NULL);
    int lin = onnx_imp_bin_k(c, n, IR_OP_ADD, onnx_imp_bin_k(c, n, IR_OP_DIV, x, 6.0), 0.5);
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_MUL, x, clamp01(c, n, lin)));
}

/* x > alpha ? x : 0 */
ebm_status onnx_imp_lower_thresholded_relu(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", NULL};
    int x = unary_input(c, n, known);
    int keep = onnx_imp_bin_k(c, n, IR_OP_GT, x, onnx_imp_attr_float(n, "alpha", 1.0));
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_MUL, x, keep));
}

/* x * sigmoid(alpha x) (opset 24; SiLU for alpha = 1) */
ebm_status onnx_imp_lower_swish(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", NULL};
    int x = unary_input(c, n, known);
    double alpha = onnx_imp_attr_float(n, "alpha", 1.0);
    int ax = alpha == 1.0 ? x : onnx_imp_bin_k(c, n, IR_OP_MUL, x, alpha);
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_MUL, x, onnx_imp_un(c, n, IR_OP_SIGMOID, ax)));
}

ebm_status onnx_imp_lower_softsign(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int x = unary_input(c, n, NULL);
    int den = onnx_imp_bin_k(c, n, IR_OP_ADD, onnx_imp_un(c, n, IR_OP_ABS, x), 1.0);
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_DIV, x, den));
}

/* x > 0 ? x : alpha*(exp(x/inner) - 1), with exp seeing MIN(x, 0) so that
 * neither branch (nor its derivative) overflows for large positive x. */
static int elu_like(onnx_imp_ctx *c, const onnx_imp_node *n, int x, double alpha, double inner)
{
    int neg = onnx_imp_bin_k(c, n, IR_OP_MIN, x, 0.0);
    if (inner != 1)
        neg = onnx_imp_bin_k(c, n, IR_OP_DIV, neg, inner);
    int em1 = onnx_imp_bin_k(c, n, IR_OP_SUB, onnx_imp_un(c, n, IR_OP_EXP, neg), 1.0);
    return where_pos(c, n, x, x, onnx_imp_bin_k(c, n, IR_OP_MUL, em1, alpha));
}

ebm_status onnx_imp_lower_elu(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", LEGACY_ATTRS, NULL};
    int x = unary_input(c, n, known);
    return out0(c, n, elu_like(c, n, x, onnx_imp_attr_float(n, "alpha", 1.0), 1.0));
}

ebm_status onnx_imp_lower_selu(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", "gamma", LEGACY_ATTRS, NULL};
    int x = unary_input(c, n, known);
    double alpha = onnx_imp_attr_float(n, "alpha", 1.67326319217681884765625);
    double gamma = onnx_imp_attr_float(n, "gamma", 1.05070102214813232421875);
    return out0(c, n, onnx_imp_bin_k(c, n, IR_OP_MUL, elu_like(c, n, x, alpha, 1.0), gamma));
}

ebm_status onnx_imp_lower_celu(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", NULL};
    int x = unary_input(c, n, known);
    double alpha = onnx_imp_attr_float(n, "alpha", 1.0);
    if (x >= 0 && alpha == 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute alpha must not be 0 (Celu divides by it)");
    return out0(c, n, elu_like(c, n, x, alpha, alpha));
}

#define SQRT_2_OVER_PI 0.79788456080286535588

/* 0.5 x (1 + erf(x / sqrt 2)), or with the tanh approximation
 * 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))). */
ebm_status onnx_imp_lower_gelu(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"approximate", NULL};
    char buf[32];
    int x = unary_input(c, n, known);
    const char *approx = onnx_imp_attr_string(n, "approximate", buf, sizeof buf, "none");
    int inner;
    if (x < 0)
        return onnx_imp_err(c)->code;
    if (strcmp(approx, "none") == 0) {
        inner = onnx_imp_un(c, n, IR_OP_ERF, onnx_imp_bin_k(c, n, IR_OP_MUL, x, 1 / sqrt(2.0)));
    } else if (strcmp(approx, "tanh") == 0) {
        int x2 = onnx_imp_bin(c, n, IR_OP_MUL, x, x);
        int poly = onnx_imp_bin_k(c, n, IR_OP_ADD, onnx_imp_bin_k(c, n, IR_OP_MUL, x2, 0.044715), 1.0);
        int arg = onnx_imp_bin_k(c, n, IR_OP_MUL, onnx_imp_bin(c, n, IR_OP_MUL, x, poly), SQRT_2_OVER_PI);
        inner = onnx_imp_un(c, n, IR_OP_TANH, arg);
    } else {
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "attribute approximate = '%s' is not supported "
                             "(expected 'none' or 'tanh')", approx);
    }
    int half_x = onnx_imp_bin_k(c, n, IR_OP_MUL, x, 0.5);
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_MUL, half_x, onnx_imp_bin_k(c, n, IR_OP_ADD, inner, 1.0)));
}

ebm_status onnx_imp_lower_mish(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int x = unary_input(c, n, NULL);
    int t = onnx_imp_un(c, n, IR_OP_TANH, onnx_imp_un(c, n, IR_OP_SOFTPLUS, x));
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_MUL, x, t));
}

/* ---- Clip ------------------------------------------------------------------- */

/* One bound of Clip: an attribute before opset 11, an optional static scalar
 * input from then on.  *has = 0 when the bound is absent. */
static ebm_status clip_bound(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *name, double *v, int *has)
{
    *has = 0;
    if (n->opset < 11) {
        *has = onnx_imp_attr(n, name) != NULL;
        *v = onnx_imp_attr_float(n, name, 0);
        return EBM_OK;
    }
    if (!onnx_imp_has_input(n, k))
        return EBM_OK;
    *has = 1;
    return onnx_imp_static_scalar(c, n, k, k == 1 ? "the min of Clip" : "the max of Clip", v);
}

ebm_status onnx_imp_lower_clip(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"min", "max", LEGACY_ATTRS, NULL};
    static const char *const none[] = {NULL};
    int x = unary_input(c, n, n->opset < 11 ? known : none);
    double lo = 0, hi = 0;
    int has_lo, has_hi;
    ebm_status st = x < 0 ? onnx_imp_err(c)->code : clip_bound(c, n, 1, "min", &lo, &has_lo);
    if (st == EBM_OK)
        st = clip_bound(c, n, 2, "max", &hi, &has_hi);
    if (st != EBM_OK)
        return st;
    /* max first, then min: with min > max every element becomes max, as ONNX says */
    if (has_lo)
        x = onnx_imp_bin_k(c, n, IR_OP_MAX, x, lo);
    if (has_hi)
        x = onnx_imp_bin_k(c, n, IR_OP_MIN, x, hi);
    return out0(c, n, x);
}

/* ---- Gemm, MatMul --------------------------------------------------------------- */

static int transpose2(onnx_imp_ctx *c, const onnx_imp_node *n, int x)
{
    static const int perm[2] = {1, 0};
    return ir_transpose(onnx_imp_graph(c), x, perm, n->label, onnx_imp_err(c));
}

/* Input k of Gemm, which must be a matrix; transposed when `trans`. */
static int gemm_operand(onnx_imp_ctx *c, const onnx_imp_node *n, int k, int trans)
{
    int v = onnx_imp_input(c, n, k);
    ir_shape s = onnx_imp_value_shape(c, v);
    char b1[64];
    if (v >= 0 && s.rank != 2) {
        onnx_imp_fail(c, n, EBM_ERR_INVALID, "input %c must be a matrix, its shape is %s", "AB"[k],
                      ir_shape_str(&s, b1, sizeof b1));
        return -1;
    }
    return trans ? transpose2(c, n, v) : v;
}

ebm_status onnx_imp_lower_gemm(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", "beta", "transA", "transB", "broadcast", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    double alpha = onnx_imp_attr_float(n, "alpha", 1.0), beta = onnx_imp_attr_float(n, "beta", 1.0);
    int a = gemm_operand(c, n, 0, onnx_imp_attr_int(n, "transA", 0) != 0);
    int b = a < 0 ? -1 : gemm_operand(c, n, 1, onnx_imp_attr_int(n, "transB", 0) != 0);
    int y = ir_matmul(onnx_imp_graph(c), a, b, n->label, onnx_imp_err(c));
    if (alpha != 1)
        y = onnx_imp_bin_k(c, n, IR_OP_MUL, y, alpha);
    if (y >= 0 && onnx_imp_has_input(n, 2) && beta != 0) {
        ir_shape sy = onnx_imp_value_shape(c, y);
        int cc = onnx_imp_input(c, n, 2);
        if (beta != 1)
            cc = onnx_imp_bin_k(c, n, IR_OP_MUL, cc, beta);
        y = onnx_imp_keep_shape(c, n, onnx_imp_bin(c, n, IR_OP_ADD, y, cc), &sy, "C's shape");
    }
    return out0(c, n, y);
}

/* Drops axis `ax` (of size 1) from x's shape. */
static int squeeze_axis(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int ax)
{
    ir_shape s = onnx_imp_value_shape(c, x);
    if (x < 0)
        return -1;
    for (int i = ax; i + 1 < s.rank; i++)
        s.d[i] = s.d[i + 1];
    s.rank--;
    return onnx_imp_reshape(c, n, x, s);
}

static ir_shape matrix_shape(int64_t rows, int64_t cols)
{
    ir_shape s = ir_shape_make(0);
    s.rank = 2;
    s.d[0] = rows;
    s.d[1] = cols;
    return s;
}

/* numpy matmul: a 1-D operand is a row (left) or column (right) vector whose
 * unit axis is dropped from the result; batch axes broadcast. */
ebm_status onnx_imp_lower_matmul(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    ebm_status st = onnx_imp_check_attrs(c, n, NULL);
    int a = st == EBM_OK ? onnx_imp_input(c, n, 0) : -1;
    int b = a < 0 ? -1 : onnx_imp_input(c, n, 1);
    if (b < 0)
        return onnx_imp_err(c)->code;
    ir_shape sa = onnx_imp_value_shape(c, a), sb = onnx_imp_value_shape(c, b);
    if (sa.rank == 0 || sb.rank == 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "MatMul operands must have rank >= 1, not 0");
    if (sa.rank == 1)
        a = onnx_imp_reshape(c, n, a, matrix_shape(1, sa.d[0]));
    if (sb.rank == 1)
        b = onnx_imp_reshape(c, n, b, matrix_shape(sb.d[0], 1));
    int y = ir_matmul(onnx_imp_graph(c), a, b, n->label, onnx_imp_err(c));
    int r = onnx_imp_value_shape(c, y).rank;
    if (sb.rank == 1)
        y = squeeze_axis(c, n, y, r - 1);
    if (sa.rank == 1)
        y = squeeze_axis(c, n, y, r - 2);
    return out0(c, n, y);
}

/* ---- reductions ------------------------------------------------------------------- */

typedef enum red_kind {
    RED_SUM, RED_MEAN, RED_MAX, RED_SUM_SQUARE, RED_LOG_SUM_EXP, RED_L2, RED_MIN, RED_L1, RED_LOG_SUM, RED_PROD
} red_kind;

#define MAX_AXES 16

/* The axes of a reduction as a bit mask: an attribute before `input_opset`
 * (13 for ReduceSum, 18 for the others), an optional input from then on.  No
 * axes means all of them, or none with noop_with_empty_axes. */
static ebm_status reduce_axes(onnx_imp_ctx *c, const onnx_imp_node *n, int rank, int64_t input_opset,
                              uint32_t *mask)
{
    int64_t ax[MAX_AXES];
    int k = -1;
    *mask = 0;
    if (n->opset < input_opset) {
        k = onnx_imp_attr_ints(n, "axes", ax, MAX_AXES);
        if (k == -2)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "attribute axes has more than %d entries", MAX_AXES);
    } else if (onnx_imp_has_input(n, 1)) {
        k = onnx_imp_static_ints(c, n, 1, "the axes of the reduction", ax, MAX_AXES);
        if (k < 0)
            return onnx_imp_err(c)->code;
    }
    if (k <= 0) {
        int noop = n->opset >= input_opset && onnx_imp_attr_int(n, "noop_with_empty_axes", 0) != 0;
        *mask = noop || rank == 0 ? 0 : (1u << rank) - 1;
        return EBM_OK;
    }
    for (int i = 0; i < k; i++) {
        int a = onnx_imp_norm_axis(ax[i], rank);
        if (a < 0 || (*mask & (1u << a)))
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld is out of range for rank %d or repeated",
                                 (long long)ax[i], rank);
        *mask |= 1u << a;
    }
    return EBM_OK;
}

/* log(sum(exp(x))) over axes, with the maximum subtracted first so that
 * inputs of +-1000 neither overflow nor lose every digit. */
static int log_sum_exp(onnx_imp_ctx *c, const onnx_imp_node *n, int x, uint32_t axes)
{
    int m = onnx_imp_red(c, n, IR_OP_RMAX, x, axes);
    int e = onnx_imp_un(c, n, IR_OP_EXP, onnx_imp_bin(c, n, IR_OP_SUB, x, m));
    return onnx_imp_bin(c, n, IR_OP_ADD, m, onnx_imp_un(c, n, IR_OP_LOG, onnx_imp_red(c, n, IR_OP_RSUM, e, axes)));
}

/* x[..., lo:hi, ...] along axis `ax`. */
static int slice_range(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int ax, int64_t lo, int64_t hi)
{
    ir_shape s = onnx_imp_value_shape(c, x);
    ir_attr a;
    memset(&a, 0, sizeof a);
    for (int d = 0; d < s.rank; d++) {
        a.slice.start[d] = d == ax ? lo : 0;
        a.slice.end[d] = d == ax ? hi : s.d[d] == IR_DIM_N ? INT64_MAX : s.d[d];   /* N: all of it */
        a.slice.step[d] = 1;
    }
    return x < 0 ? -1 : ir_add_node(onnx_imp_graph(c), IR_OP_SLICE, &x, 1, &a, n->label, onnx_imp_err(c));
}

/* The product over axes as a product of slices (the core IR has no product
 * reduction): an axis of length d takes d - 1 muls, pairing the halves so the
 * chain is log2(d) deep.  The length must be static, so a product over the
 * batch axis N is refused. */
static int reduce_prod(onnx_imp_ctx *c, const onnx_imp_node *n, int x, uint32_t axes)
{
    ir_shape s = onnx_imp_value_shape(c, x);
    for (int ax = 0; x >= 0 && ax < s.rank; ax++) {
        if (!(axes & (1u << ax)))
            continue;
        if (s.d[ax] == IR_DIM_N) {
            onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                          "ReduceProd over the batch axis N (axis %d) is not supported (only static axes)", ax);
            return -1;
        }
        for (int64_t len = s.d[ax]; x >= 0 && len > 1;) {
            int64_t half = len / 2;
            int p = onnx_imp_bin(c, n, IR_OP_MUL, slice_range(c, n, x, ax, 0, half),
                                 slice_range(c, n, x, ax, half, 2 * half));
            if (len % 2 && p >= 0) {
                int parts[2] = {p, slice_range(c, n, x, ax, len - 1, len)};
                p = parts[1] < 0 ? -1 : ir_concat(onnx_imp_graph(c), parts, 2, ax, n->label, onnx_imp_err(c));
            }
            x = p;
            len -= half;
        }
    }
    return x;
}

static int reduce_value(onnx_imp_ctx *c, const onnx_imp_node *n, red_kind kind, int x, uint32_t axes)
{
    switch (kind) {
    case RED_MIN: return onnx_imp_un(c, n, IR_OP_NEG, onnx_imp_red(c, n, IR_OP_RMAX, onnx_imp_un(c, n, IR_OP_NEG, x), axes));
    case RED_L1: return onnx_imp_red(c, n, IR_OP_RSUM, onnx_imp_un(c, n, IR_OP_ABS, x), axes);
    case RED_LOG_SUM: return onnx_imp_un(c, n, IR_OP_LOG, onnx_imp_red(c, n, IR_OP_RSUM, x, axes));
    case RED_PROD: return reduce_prod(c, n, x, axes);
    case RED_SUM: return onnx_imp_red(c, n, IR_OP_RSUM, x, axes);
    case RED_MEAN: return onnx_imp_mean(c, n, x, axes, "ReduceMean");
    case RED_MAX: return onnx_imp_red(c, n, IR_OP_RMAX, x, axes);
    case RED_SUM_SQUARE: return onnx_imp_red(c, n, IR_OP_RSUM, onnx_imp_bin(c, n, IR_OP_MUL, x, x), axes);
    case RED_LOG_SUM_EXP: return log_sum_exp(c, n, x, axes);
    default: return onnx_imp_un(c, n, IR_OP_SQRT, onnx_imp_red(c, n, IR_OP_RSUM, onnx_imp_bin(c, n, IR_OP_MUL, x, x), axes));
    }
}

/* keepdims = 0: the reduced axes (size 1 now) leave the shape. */
static int drop_axes(onnx_imp_ctx *c, const onnx_imp_node *n, int y, uint32_t axes)
{
    ir_shape s = onnx_imp_value_shape(c, y), t = ir_shape_make(0);
    if (y < 0 || axes == 0)
        return y;
    for (int i = 0; i < s.rank; i++)
        if (!(axes & (1u << i)))
            t.d[t.rank++] = s.d[i];
    return onnx_imp_reshape(c, n, y, t);
}

/* ReduceProd/Sum/Min/Max of a static int64 tensor (shape plumbing: what
 * torch.var's unbiased count and numel() export to), computed at import. */
static ebm_status static_reduce(onnx_imp_ctx *c, const onnx_imp_node *n, red_kind kind, const ir_tensor *t,
                                uint32_t axes)
{
    ir_shape rs = t->shape, keep = t->shape;
    for (int i = 0; i < rs.rank; i++)
        if (axes & (1u << i))
            keep.d[i] = 1;
    ir_tensor r;
    ebm_status st = onnx_imp_tensor_alloc(c, &r, IR_DT_I64, &keep);
    if (st != EBM_OK)
        return st;
    int64_t count = ir_shape_numel(&keep, 0), total = ir_shape_numel(&rs, 0);
    int64_t *out = r.data;
    char *seen = calloc((size_t)(count > 0 ? count : 1), 1);
    if (!seen) {
        ir_tensor_free(&r);
        return onnx_imp_fail(c, n, EBM_ERR_NOMEM, "out of memory");
    }
    for (int64_t k = 0; k < total; k++) {
        int64_t rest = k, o = 0, stride = 1;
        for (int i = rs.rank - 1; i >= 0; i--) {
            int64_t idx = rest % rs.d[i];
            rest /= rs.d[i];
            if (!(axes & (1u << i)))
                o += idx * stride;
            stride *= keep.d[i];
        }
        int64_t v = onnx_imp_tensor_get_i(t, k);
        int keep_n = 0;   /* N combined with the identity of the reduction (or with N for min/max) */
        if ((onnx_imp_sym_k(v) > 1 || (seen[o] && onnx_imp_sym_k(out[o]) > 1))) {
            free(seen);
            ir_tensor_free(&r);
            return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC, "a multiple of the batch size N in a static %s",
                                 n->p->op_type);
        }
        if (seen[o] && (v == ONNX_IMP_SYM_N || out[o] == ONNX_IMP_SYM_N)) {
            int64_t other = v == ONNX_IMP_SYM_N ? out[o] : v;
            keep_n = kind == RED_PROD ? other == 1 : kind == RED_SUM ? other == 0 : other == ONNX_IMP_SYM_N;
            if (!keep_n) {
                free(seen);
                ir_tensor_free(&r);
                return onnx_imp_fail(c, n, EBM_ERR_NOT_STATIC,
                                     "combines the batch size N with other sizes in a static %s", n->p->op_type);
            }
        }
        if (!seen[o] || keep_n)
            out[o] = seen[o] ? ONNX_IMP_SYM_N : v;
        else if (kind == RED_PROD)
            out[o] = (int64_t)((uint64_t)out[o] * (uint64_t)v);
        else if (kind == RED_SUM)
            out[o] = (int64_t)((uint64_t)out[o] + (uint64_t)v);
        else if ((kind == RED_MIN) == (v < out[o]))
            out[o] = v;
        seen[o] = 1;
    }
    for (int64_t o = 0; o < count; o++)
        if (!seen[o])   /* an empty axis: the identity of the reduction */
            out[o] = kind == RED_PROD ? 1 : kind == RED_SUM ? 0 : kind == RED_MIN ? INT64_MAX : INT64_MIN;
    free(seen);
    if (onnx_imp_attr_int(n, "keepdims", 1) == 0) {
        ir_shape t2 = ir_shape_make(0);
        for (int i = 0; i < keep.rank; i++)
            if (!(axes & (1u << i)))
                t2.d[t2.rank++] = keep.d[i];
        r.shape = t2;
    }
    return onnx_imp_set_static_output(c, n, 0, &r);
}

static ebm_status lower_reduce(onnx_imp_ctx *c, const onnx_imp_node *n, red_kind kind, int64_t input_opset)
{
    static const char *const old_attrs[] = {"axes", "keepdims", NULL};
    static const char *const new_attrs[] = {"keepdims", "noop_with_empty_axes", NULL};
    const ir_tensor *t = onnx_imp_static(c, n, 0);
    if (t && t->dtype == IR_DT_I64 &&
        (kind == RED_PROD || kind == RED_SUM || kind == RED_MIN || kind == RED_MAX)) {
        uint32_t axes = 0;
        ebm_status st = onnx_imp_check_attrs(c, n, n->opset < input_opset ? old_attrs : new_attrs);
        if (st == EBM_OK)
            st = reduce_axes(c, n, t->shape.rank, input_opset, &axes);
        return st != EBM_OK ? st : static_reduce(c, n, kind, t, axes);
    }
    int x = unary_input(c, n, n->opset < input_opset ? old_attrs : new_attrs);
    uint32_t axes = 0;
    ebm_status st = x < 0 ? onnx_imp_err(c)->code
                          : reduce_axes(c, n, onnx_imp_value_shape(c, x).rank, input_opset, &axes);
    if (st != EBM_OK)
        return st;
    int y = reduce_value(c, n, kind, x, axes);
    if (onnx_imp_attr_int(n, "keepdims", 1) == 0)
        y = drop_axes(c, n, y, axes);
    return out0(c, n, y);
}

ebm_status onnx_imp_lower_reduce_sum(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_reduce(c, n, RED_SUM, 13); }
ebm_status onnx_imp_lower_reduce_mean(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_reduce(c, n, RED_MEAN, 18); }
ebm_status onnx_imp_lower_reduce_max(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_reduce(c, n, RED_MAX, 18); }
ebm_status onnx_imp_lower_reduce_sum_square(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    return lower_reduce(c, n, RED_SUM_SQUARE, 18);
}
ebm_status onnx_imp_lower_reduce_log_sum_exp(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    return lower_reduce(c, n, RED_LOG_SUM_EXP, 18);
}
ebm_status onnx_imp_lower_reduce_l2(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_reduce(c, n, RED_L2, 18); }
ebm_status onnx_imp_lower_reduce_min(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_reduce(c, n, RED_MIN, 18); }
ebm_status onnx_imp_lower_reduce_l1(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_reduce(c, n, RED_L1, 18); }
ebm_status onnx_imp_lower_reduce_log_sum(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    return lower_reduce(c, n, RED_LOG_SUM, 18);
}
ebm_status onnx_imp_lower_reduce_prod(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_reduce(c, n, RED_PROD, 18); }

/* ---- Softmax, LogSoftmax -------------------------------------------------------- */

/* Before opset 13 the input is read as a matrix [d0*..*d(axis-1), d(axis)*..]
 * and normalised along its rows, i.e. over all axes from `axis` on; that is
 * a reduction over those axes, so no reshape is needed (and N may stay). */
static ebm_status softmax_axes(onnx_imp_ctx *c, const onnx_imp_node *n, int rank, uint32_t *mask)
{
    int64_t axis = onnx_imp_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    int a = onnx_imp_norm_axis(axis, rank);
    if (a < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis, rank);
    *mask = n->opset < 13 ? ((1u << rank) - 1) & ~((1u << a) - 1) : 1u << a;
    return EBM_OK;
}

static ebm_status lower_softmax(onnx_imp_ctx *c, const onnx_imp_node *n, int log)
{
    static const char *const known[] = {"axis", NULL};
    int x = unary_input(c, n, known);
    uint32_t axes = 0;
    ebm_status st = x < 0 ? onnx_imp_err(c)->code : softmax_axes(c, n, onnx_imp_value_shape(c, x).rank, &axes);
    if (st != EBM_OK)
        return st;
    int shifted = onnx_imp_bin(c, n, IR_OP_SUB, x, onnx_imp_red(c, n, IR_OP_RMAX, x, axes));
    int e = onnx_imp_un(c, n, IR_OP_EXP, shifted);
    int sum = onnx_imp_red(c, n, IR_OP_RSUM, e, axes);
    if (log)
        return out0(c, n, onnx_imp_bin(c, n, IR_OP_SUB, shifted, onnx_imp_un(c, n, IR_OP_LOG, sum)));
    return out0(c, n, onnx_imp_bin(c, n, IR_OP_DIV, e, sum));
}

ebm_status onnx_imp_lower_softmax(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_softmax(c, n, 0); }
ebm_status onnx_imp_lower_log_softmax(onnx_imp_ctx *c, const onnx_imp_node *n) { return lower_softmax(c, n, 1); }

/* ---- Einsum ------------------------------------------------------------------------ */

/* One or two operands, each a string of distinct letters (no ellipsis, no
 * repeated letter: traces and diagonals are refused), explicit "->out" or
 * the implicit output (letters seen once, in alphabetical order).  Letters
 * of one operand only and not in the output are summed first (rsum).  For
 * two operands every letter is then a batch letter (both operands and the
 * output), kept (one operand and the output) or contracted (both operands,
 * not the output), and the product is one matmul:
 *     A -> [batch..., keptA..., K]           (transpose, reshape)
 *     B -> [batch..., 1..., K, keptB merged] (transpose, reshape)
 * whose result [batch..., keptA..., keptB] is reshaped and transposed into
 * the output's order.  The batch axis N may be a batch letter or a kept
 * letter of A; merged into K or keptB with other axes it is refused. */

#define EINSUM_MAX 2

typedef struct einsum_term {
    char l[IR_MAX_RANK + 1];
    int rank;
} einsum_term;

static ebm_status einsum_parse(onnx_imp_ctx *c, const onnx_imp_node *n, const char *eq, int n_in,
                               einsum_term *in, einsum_term *out)
{
    int k = 0, explicit_out = 0, count[128] = {0};
    memset(in, 0, sizeof *in * EINSUM_MAX);
    memset(out, 0, sizeof *out);
    einsum_term *cur = &in[0];
    for (const char *p = eq; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == ' ')
            continue;
        if (ch == ',' && !explicit_out && k + 1 < EINSUM_MAX) {
            cur = &in[++k];
        } else if (ch == '-' && p[1] == '>' && !explicit_out) {
            explicit_out = 1;
            cur = out;
            p++;
        } else if (((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) && cur->rank < IR_MAX_RANK &&
                   !strchr(cur->l, ch)) {
            cur->l[cur->rank++] = (char)ch;
            if (cur != out)
                count[ch]++;
        } else {
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "equation '%s' is not supported: only 1 or 2 operands of distinct letters "
                                 "(no '...', no repeated letter: traces and diagonals), rank <= %d", eq, IR_MAX_RANK);
        }
    }
    if (k + 1 != n_in)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "equation '%s' names %d operands, the node has %d", eq, k + 1,
                             n_in);
    if (!explicit_out)
        for (int ch = 0; ch < 128; ch++)
            if (count[ch] == 1)
                out->l[out->rank++] = (char)ch;
    for (int i = 0; i < out->rank; i++)
        if (!count[(unsigned char)out->l[i]])
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "equation '%s': output letter %c is in no operand", eq,
                                 out->l[i]);
    return EBM_OK;
}

/* x (letters t->l) transposed to the letters `want` (a permutation of them). */
static int einsum_permute(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const einsum_term *t, const char *want)
{
    int perm[IR_MAX_RANK], same = 1;
    for (int i = 0; i < t->rank; i++) {
        perm[i] = (int)(strchr(t->l, want[i]) - t->l);
        same &= perm[i] == i;
    }
    return same || x < 0 ? x : ir_transpose(onnx_imp_graph(c), x, perm, n->label, onnx_imp_err(c));
}

/* Drops the letters of t not in `keep` by summing over them. */
static int einsum_sum_out(onnx_imp_ctx *c, const onnx_imp_node *n, int x, einsum_term *t, const char *keep)
{
    uint32_t axes = 0;
    einsum_term r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < t->rank; i++) {
        if (strchr(keep, t->l[i]))
            r.l[r.rank++] = t->l[i];
        else
            axes |= 1u << i;
    }
    if (axes == 0 || x < 0)
        return x;
    ir_shape s = onnx_imp_value_shape(c, x), d = ir_shape_make(0);
    for (int i = 0; i < s.rank; i++) {
        if (!(axes & (1u << i)))
            d.d[d.rank++] = s.d[i];
        else if (s.d[i] == IR_DIM_N) {
            onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "sums over the batch axis N (letter %c): samples are independent",
                          t->l[i]);
            return -1;
        }
    }
    *t = r;
    return onnx_imp_reshape(c, n, onnx_imp_red(c, n, IR_OP_RSUM, x, axes), d);
}

/* Size of letter ch in operand x (letters t). */
static int64_t einsum_dim(onnx_imp_ctx *c, int x, const einsum_term *t, char ch)
{
    return onnx_imp_value_shape(c, x).d[strchr(t->l, ch) - t->l];
}

/* The product of the sizes of `letters`; N only alone. */
static int einsum_merge(onnx_imp_ctx *c, const onnx_imp_node *n, int x, const einsum_term *t, const char *letters,
                        int64_t *out)
{
    int len = (int)strlen(letters);
    *out = 1;
    for (int i = 0; i < len; i++) {
        int64_t d = einsum_dim(c, x, t, letters[i]);
        if (d == IR_DIM_N && len > 1)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "the batch axis N (letter %c) would merge with other axes into one", letters[i]);
        *out = d == IR_DIM_N ? IR_DIM_N : *out * d;
    }
    return EBM_OK;
}

/* Appends ch to s (room for IR_MAX_RANK letters). */
static void append_letter(char *s, char ch)
{
    size_t len = strlen(s);
    if (len < IR_MAX_RANK) {
        s[len] = ch;
        s[len + 1] = 0;
    }
}

ebm_status onnx_imp_lower_einsum(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"equation", NULL};
    char eq[128];
    einsum_term t[EINSUM_MAX], o;
    int n_in = onnx_imp_n_inputs(n);
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    onnx_imp_attr_string(n, "equation", eq, sizeof eq, "");
    if (n_in < 1 || n_in > EINSUM_MAX)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "Einsum of %d operands is not supported (1 or 2)", n_in);
    if ((st = einsum_parse(c, n, eq, n_in, t, &o)) != EBM_OK)
        return st;
    int x[EINSUM_MAX];
    for (int k = 0; k < n_in; k++) {
        x[k] = onnx_imp_input(c, n, k);
        if (x[k] < 0)
            return onnx_imp_err(c)->code;
        if (onnx_imp_value_shape(c, x[k]).rank != t[k].rank)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "operand %d has rank %d, equation '%s' gives it %d letters", k,
                                 onnx_imp_value_shape(c, x[k]).rank, eq, t[k].rank);
    }
    /* letters needed after the first step: the output's and the other operand's */
    for (int k = 0; k < n_in; k++) {
        char keep[2 * IR_MAX_RANK + 1];
        snprintf(keep, sizeof keep, "%s%s", o.l, n_in == 2 ? t[1 - k].l : "");
        x[k] = einsum_sum_out(c, n, x[k], &t[k], keep);
        if (x[k] < 0)   /* t[k] keeps the letters summed away: stop before they are looked up */
            return onnx_imp_err(c)->code;
    }
    if (n_in == 1)
        return out0(c, n, einsum_permute(c, n, x[0], &t[0], o.l));
    char batch[IR_MAX_RANK + 1] = "", ka[IR_MAX_RANK + 1] = "", kb[IR_MAX_RANK + 1] = "", con[IR_MAX_RANK + 1] = "";
    for (int i = 0; i < o.rank; i++) {
        int in_a = strchr(t[0].l, o.l[i]) != NULL, in_b = strchr(t[1].l, o.l[i]) != NULL;
        append_letter(in_a && in_b ? batch : in_a ? ka : kb, o.l[i]);
    }
    for (int i = 0; i < t[0].rank; i++)
        if (!strchr(o.l, t[0].l[i]))
            append_letter(con, t[0].l[i]);
    int nb = (int)strlen(batch), na = (int)strlen(ka);
    for (int i = 0; i < nb + (int)strlen(con); i++) {
        char ch = i < nb ? batch[i] : con[i - nb];
        if (einsum_dim(c, x[0], &t[0], ch) != einsum_dim(c, x[1], &t[1], ch))
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "letter %c has different sizes in the two operands "
                                 "(broadcasting in Einsum is not supported)", ch);
    }
    if (nb + (na ? na : 1) + 1 > IR_MAX_RANK)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "equation '%s' needs more than %d axes", eq, IR_MAX_RANK);
    int64_t kdim, bdim;
    if ((st = einsum_merge(c, n, x[0], &t[0], con, &kdim)) != EBM_OK ||
        (st = einsum_merge(c, n, x[1], &t[1], kb, &bdim)) != EBM_OK)
        return st;
    if (kdim == IR_DIM_N)
        return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "contracts the batch axis N: samples are independent");
    /* A -> [batch..., keptA... (or 1), K] */
    char wa[IR_MAX_RANK + 1], wb[IR_MAX_RANK + 1];
    snprintf(wa, sizeof wa, "%s%s%s", batch, ka, con);
    snprintf(wb, sizeof wb, "%s%s%s", batch, con, kb);
    ir_shape sa = ir_shape_make(0), sb = ir_shape_make(0), sy = ir_shape_make(0);
    for (int i = 0; i < nb; i++) {
        int64_t d = einsum_dim(c, x[0], &t[0], batch[i]);
        sa.d[sa.rank++] = sb.d[sb.rank++] = sy.d[sy.rank++] = d;
    }
    for (int i = 0; i < na; i++) {
        int64_t d = einsum_dim(c, x[0], &t[0], ka[i]);
        sa.d[sa.rank++] = sy.d[sy.rank++] = d;
        if (i + 1 < na)
            sb.d[sb.rank++] = 1;
    }
    if (na == 0)
        sa.d[sa.rank++] = 1;
    sa.d[sa.rank++] = kdim;
    sb.d[sb.rank++] = kdim;
    sb.d[sb.rank++] = bdim;
    for (int i = 0; kb[i]; i++)
        sy.d[sy.rank++] = einsum_dim(c, x[1], &t[1], kb[i]);
    int a = onnx_imp_reshape(c, n, einsum_permute(c, n, x[0], &t[0], wa), sa);
    int b = onnx_imp_reshape(c, n, einsum_permute(c, n, x[1], &t[1], wb), sb);
    int y = onnx_imp_reshape(c, n, ir_matmul(onnx_imp_graph(c), a, b, n->label, onnx_imp_err(c)), sy);
    einsum_term ty;
    memset(&ty, 0, sizeof ty);
    snprintf(ty.l, sizeof ty.l, "%s%s%s", batch, ka, kb);
    ty.rank = o.rank;
    return out0(c, n, einsum_permute(c, n, y, &ty, o.l));
}
