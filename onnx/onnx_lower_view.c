/* onnx_lower_view.c — ONNX values whose dims merge the batch N (batch views).
 *
 * PyTorch's attention code reshapes [T, N, E] to [T, N*heads, d] and back
 * through [T*N, E], computing N*heads and T*N on the shape path.  ebmc's IR
 * keeps N an axis of its own (never merged), so each such ONNX value is held
 * as an IR value of the same memory layout whose shape splits the merged dim
 * into axes [a, N, b] (a dim 4·N after T is [N, 4]; T·N is [T, N]), with a
 * view recording how many IR axes each ONNX axis spans (onnx_internal.h).
 * Nothing past the importer sees views: the compiler gets canonical IR, and
 * per-sample independence holds by construction, because an op is translated
 * only when it leaves the merged axes alone (elementwise ops, softmax and
 * matmul on trailing axes), moves them whole (Transpose) or regroups them
 * without moving N in memory order (Reshape).  Every other op with a view
 * operand is refused, naming the node.
 *
 * The shape path carries k·N as static int64 sentinels (onnx_imp_sym); a
 * fixed-batch export writes N*heads as a number, which Reshape reads back as
 * a multiple of N (onnx_imp_file_batch).
 */
#include <string.h>

#include "onnx_internal.h"

/* The VIEW column of onnx_ops.def: what an op does with a view operand. */
typedef enum view_kind {
    VIEW_NONE,        /* refuses it */
    VIEW_SAME,        /* elementwise: operands broadcast on the unmerged trailing axes */
    VIEW_SOFTMAX,     /* along unmerged trailing axes */
    VIEW_MATMUL,
    VIEW_GEMM,
    VIEW_TRANSPOSE,
    VIEW_RESHAPE,
    VIEW_SHAPE
} view_kind;

static const struct view_row {
    const char *op_type;
    view_kind kind;
} view_ops[] = {
#define ONNX_OP(op_type, fn, note, view) {op_type, VIEW_##view},
#include "onnx_ops.def"
#undef ONNX_OP
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* "Reshape, Transpose, ..., and elementwise math": the ops that take views,
 * from the table (the elementwise ones summed up). */
static const char *view_ops_list(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < COUNT(view_ops) && used < size; i++)
        if (view_ops[i].kind != VIEW_NONE && view_ops[i].kind != VIEW_SAME)
            used += (size_t)snprintf(buf + used, size - used, "%s, ", view_ops[i].op_type);
    if (used < size)
        snprintf(buf + used, size - used, "elementwise math");
    return buf;
}

/* ---- helpers ------------------------------------------------------------------ */

/* Input k's view, or the identity view of its shape (spans all 1). */
static onnx_imp_view view_or_identity(onnx_imp_ctx *c, const onnx_imp_node *n, int k)
{
    const onnx_imp_view *v = onnx_imp_input_view(c, n, k);
    if (v)
        return *v;
    onnx_imp_view id;
    memset(&id, 0, sizeof id);
    const ir_shape *s = onnx_imp_input_shape(c, n, k);
    id.rank = s ? s->rank : 0;
    for (int i = 0; i < id.rank; i++)
        id.span[i] = 1;
    return id;
}

/* Number of trailing ONNX axes with span 1. */
static int view_tail(const onnx_imp_view *v)
{
    int t = 0;
    while (t < v->rank && v->span[v->rank - 1 - t] == 1)
        t++;
    return t;
}

/* The ONNX dims of a value seen through its view: products of the IR dims
 * each ONNX axis spans, k·N as the sentinel onnx_imp_sym(k). */
static void view_dims(const ir_shape *s, const onnx_imp_view *v, int64_t *od)
{
    int p = 0;
    for (int i = 0; i < v->rank; i++) {
        int64_t prod = 1;
        int has_n = 0;
        for (int j = 0; j < v->span[i]; j++, p++) {
            if (s->d[p] == IR_DIM_N)
                has_n = 1;
            else
                prod *= s->d[p];
        }
        od[i] = has_n ? onnx_imp_sym(prod) : prod;
    }
}

static const char *view_str(const ir_shape *s, const onnx_imp_view *v, char *buf, size_t size)
{
    int64_t od[IR_MAX_RANK];
    view_dims(s, v, od);
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < v->rank && len < size; i++) {
        int64_t k = onnx_imp_sym_k(od[i]);
        int w = k == 1 ? snprintf(buf + len, size - len, "%sN", i ? "," : "[")
              : k ? snprintf(buf + len, size - len, "%s%lld*N", i ? "," : "[", (long long)k)
                  : snprintf(buf + len, size - len, "%s%lld", i ? "," : "[", (long long)od[i]);
        len += w > 0 ? (size_t)w : 0;
    }
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

/* The first operand that is a view, for messages. */
static int first_view_input(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    for (int k = 0; k < onnx_imp_n_inputs(n); k++)
        if (onnx_imp_input_view(c, n, k))
            return k;
    return 0;
}

static ebm_status refuse(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *why)
{
    char b[96], list[256];
    const onnx_imp_view *v = onnx_imp_input_view(c, n, k);
    const ir_shape *s = onnx_imp_input_shape(c, n, k);
    if (v && s)
        view_str(s, v, b, sizeof b);
    else
        snprintf(b, sizeof b, "?");
    return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                         "input %d has shape %s, which merges the batch dimension N with other dimensions; %s "
                         "(ops that take such operands: %s, on axes that do not hold N; see docs/operators.md)",
                         k, b, why, view_ops_list(list, sizeof list));
}

/* ---- elementwise, softmax ------------------------------------------------------- */

/* Runs the op's own lowering on the IR values when every view operand has the
 * same view and IR shape and every other operand broadcasts within the
 * unmerged trailing axes; the output keeps that view. */
static ebm_status lower_same(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    int kv = first_view_input(c, n);
    const onnx_imp_view *v = onnx_imp_input_view(c, n, kv);
    const ir_shape *sv = onnx_imp_input_shape(c, n, kv);
    int tail = view_tail(v);
    for (int k = 0; k < onnx_imp_n_inputs(n); k++) {
        if (!onnx_imp_has_input(n, k) || k == kv)
            continue;
        const onnx_imp_view *w = onnx_imp_input_view(c, n, k);
        const ir_shape *s = onnx_imp_input_shape(c, n, k);
        if (w && (w->rank != v->rank || memcmp(w->span, v->span, sizeof w->span) != 0 || !ir_shape_eq(s, sv)))
            return refuse(c, n, k, "its operands merge N differently");
        if (!w && s && s->rank > tail)
            return refuse(c, n, kv, "another operand spans the merged axes (it may only broadcast along the "
                                    "axes after them)");
    }
    ebm_status st = onnx_imp_lowering(onnx_imp_str(n->p->op_type))(c, n);
    if (st != EBM_OK)
        return st;
    return onnx_imp_set_output_view(c, n, 0, v);
}

/* Softmax along axes that hold no N: the node is lowered with its axis
 * counted from the end, which is the same axis in the IR value. */
static ebm_status lower_softmax(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    const onnx_imp_view *v = onnx_imp_input_view(c, n, 0);
    int64_t axis = onnx_imp_attr_int(n, "axis", n->opset < 13 ? 1 : -1);
    int a = onnx_imp_norm_axis(axis, v->rank);
    if (a < 0)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "axis %lld is out of range for rank %d", (long long)axis,
                             v->rank);
    if (a < v->rank - view_tail(v))
        return refuse(c, n, 0, "the softmax would run along merged axes");
    /* a copy of the node whose axis attribute counts from the end */
    Onnx__AttributeProto axis_attr;
    onnx__attribute_proto__init(&axis_attr);
    axis_attr.name = (char *)"axis";
    axis_attr.has_type = 1;
    axis_attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    axis_attr.has_i = 1;
    axis_attr.i = a - v->rank;
    Onnx__AttributeProto *attrs[1] = {&axis_attr};
    Onnx__NodeProto p = *n->p;
    p.n_attribute = 1;
    p.attribute = attrs;
    for (size_t i = 0; i < n->p->n_attribute; i++)
        if (!n->p->attribute[i]->name || strcmp(n->p->attribute[i]->name, "axis") != 0)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "unknown attribute '%s'",
                                 onnx_imp_str(n->p->attribute[i]->name));
    onnx_imp_node run = {&p, n->label, n->opset};
    ebm_status st = onnx_imp_lowering(onnx_imp_str(n->p->op_type))(c, &run);
    return st == EBM_OK ? onnx_imp_set_output_view(c, n, 0, v) : st;
}

/* ---- MatMul, Gemm -------------------------------------------------------------- */

/* A [.., M, K] x B [.., K, F] where the matrices' axes hold no N, except A's
 * rows when B is a plain matrix (each row is then multiplied on its own). */
static ebm_status lower_matmul(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    onnx_imp_view va = view_or_identity(c, n, 0), vb = view_or_identity(c, n, 1);
    int am = onnx_imp_input_view(c, n, 0) != NULL, bm = onnx_imp_input_view(c, n, 1) != NULL;
    if (va.rank < 2 || vb.rank < 2)
        return refuse(c, n, am ? 0 : 1, "MatMul needs both operands of rank >= 2 here");
    if (va.span[va.rank - 1] != 1)
        return refuse(c, n, 0, "the contracted axis would hold N");
    onnx_imp_view out;
    memset(&out, 0, sizeof out);
    if (!bm && vb.rank == 2) {   /* rows of A times a matrix */
        out = va;
    } else {
        if (va.span[va.rank - 2] != 1 || vb.span[vb.rank - 1] != 1 || vb.span[vb.rank - 2] != 1)
            return refuse(c, n, am ? 0 : 1, "a matrix axis of a batched product would hold N");
        const ir_shape *sa = onnx_imp_input_shape(c, n, 0), *sb = onnx_imp_input_shape(c, n, 1);
        if (am && bm) {
            int same = va.rank == vb.rank && memcmp(va.span, vb.span, sizeof va.span) == 0 &&
                       sa->rank == sb->rank;
            for (int i = 0; same && i < sa->rank - 2; i++)
                same = sa->d[i] == sb->d[i];
            if (!same)
                return refuse(c, n, 1, "the batch axes of the two operands merge N differently");
            out = va;
        } else if (am ? vb.rank == 2 : va.rank == 2) {
            out = am ? va : vb;
        } else {
            return refuse(c, n, am ? 0 : 1, "the other operand's batch axes would have to broadcast against N");
        }
    }
    out.span[out.rank - 1] = 1;
    out.span[out.rank - 2] = am ? va.span[va.rank - 2] : 1;
    ebm_status st = onnx_imp_lower_matmul(c, n);
    return st == EBM_OK ? onnx_imp_set_output_view(c, n, 0, &out) : st;
}

/* Gemm with A [M, K] whose rows merge N (attention's [T*N, E] projection). */
static ebm_status lower_gemm(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"alpha", "beta", "transA", "transB", NULL};
    const onnx_imp_view *va = onnx_imp_input_view(c, n, 0);
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    if (!va || onnx_imp_input_view(c, n, 1) || onnx_imp_input_view(c, n, 2))
        return refuse(c, n, va ? (onnx_imp_input_view(c, n, 1) ? 1 : 2) : first_view_input(c, n),
                      "only Gemm's A may merge N");
    if (va->rank != 2 || va->span[1] != 1 || onnx_imp_attr_int(n, "transA", 0) != 0)
        return refuse(c, n, 0, "Gemm's A may merge N only in its rows, without transA");
    ir_graph *g = onnx_imp_graph(c);
    double alpha = onnx_imp_attr_float(n, "alpha", 1.0), beta = onnx_imp_attr_float(n, "beta", 1.0);
    int a = onnx_imp_input(c, n, 0), b = a < 0 ? -1 : onnx_imp_input(c, n, 1);
    ir_shape sb = onnx_imp_value_shape(c, b);
    if (b >= 0 && sb.rank != 2)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "input B must be a matrix");
    if (b >= 0 && onnx_imp_attr_int(n, "transB", 0) != 0) {
        static const int perm[2] = {1, 0};
        b = ir_transpose(g, b, perm, n->label, onnx_imp_err(c));
    }
    int y = ir_matmul(g, a, b, n->label, onnx_imp_err(c));
    if (alpha != 1)
        y = onnx_imp_bin_k(c, n, IR_OP_MUL, y, alpha);
    if (y >= 0 && onnx_imp_has_input(n, 2) && beta != 0) {
        const ir_shape *sc = onnx_imp_input_shape(c, n, 2);
        if (sc && (sc->rank > 2 || (sc->rank == 2 && sc->d[0] != 1)))
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                                 "C must broadcast along the rows of A, which merge the batch dimension N");
        int cc = onnx_imp_input(c, n, 2);
        if (beta != 1)
            cc = onnx_imp_bin_k(c, n, IR_OP_MUL, cc, beta);
        if (cc >= 0 && sc && sc->rank == 2)
            cc = onnx_imp_reshape(c, n, cc, ir_shape_make(1, (int)sc->d[1]));
        y = onnx_imp_bin(c, n, IR_OP_ADD, y, cc);
    }
    if (y < 0)
        return onnx_imp_err(c)->code;
    st = onnx_imp_set_output(c, n, 0, y);
    return st == EBM_OK ? onnx_imp_set_output_view(c, n, 0, va) : st;
}

/* ---- Transpose, Shape ------------------------------------------------------------ */

/* A permutation of ONNX axes moves each axis' IR axes as a block. */
static ebm_status lower_transpose(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"perm", NULL};
    const onnx_imp_view *v = onnx_imp_input_view(c, n, 0);
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    int64_t perm[IR_MAX_RANK];
    int k = onnx_imp_attr_ints(n, "perm", perm, IR_MAX_RANK);
    if (k >= 0 && k != v->rank)
        return onnx_imp_fail(c, n, EBM_ERR_INVALID, "perm has %d entries for rank %d", k, v->rank);
    int first[IR_MAX_RANK], seen[IR_MAX_RANK] = {0};
    for (int i = 0, p = 0; i < v->rank; p += v->span[i++])
        first[i] = p;
    onnx_imp_view out;
    memset(&out, 0, sizeof out);
    out.rank = v->rank;
    int ir_perm[IR_MAX_RANK], r = 0;
    for (int i = 0; i < v->rank; i++) {
        int64_t p = k < 0 ? v->rank - 1 - i : perm[i];
        if (p < 0 || p >= v->rank || seen[p]++)
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "perm is not a permutation of 0..%d", v->rank - 1);
        out.span[i] = v->span[p];
        for (int j = 0; j < v->span[p]; j++)
            ir_perm[r++] = first[p] + j;
    }
    int y = ir_transpose(onnx_imp_graph(c), onnx_imp_input(c, n, 0), ir_perm, n->label, onnx_imp_err(c));
    st = onnx_imp_set_output(c, n, 0, y);
    return st == EBM_OK ? onnx_imp_set_output_view(c, n, 0, &out) : st;
}

static ebm_status lower_shape(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"start", "end", NULL};
    const onnx_imp_view *v = onnx_imp_input_view(c, n, 0);
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    int64_t od[IR_MAX_RANK], r = v->rank;
    view_dims(onnx_imp_input_shape(c, n, 0), v, od);
    int64_t start = onnx_imp_attr_int(n, "start", 0), end = onnx_imp_attr_int(n, "end", r);
    start = onnx_imp_clamp64(start < 0 ? start + r : start, 0, r);
    end = onnx_imp_clamp64(end < 0 ? end + r : end, 0, r);
    ir_shape vs = ir_shape_make(1, 0);
    vs.d[0] = end > start ? end - start : 0;
    ir_tensor t;
    st = onnx_imp_tensor_alloc(c, &t, IR_DT_I64, &vs);
    if (st != EBM_OK)
        return st;
    for (int64_t i = start; i < end; i++)
        ((int64_t *)t.data)[i - start] = od[i];
    return onnx_imp_set_static_output(c, n, 0, &t);
}

/* ---- Reshape --------------------------------------------------------------------- */

/* Product of s's static dims (those before N only, if before_n); -1 on overflow. */
static int64_t static_product(const ir_shape *s, int before_n)
{
    int64_t p = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] == IR_DIM_N) {
            if (before_n)
                break;
            continue;
        }
        if (__builtin_mul_overflow(p, s->d[i], &p))
            return -1;
    }
    return p;
}

static ebm_status mixes(onnx_imp_ctx *c, const onnx_imp_node *n, const char *xs, const char *why)
{
    return onnx_imp_fail(c, n, EBM_ERR_SHAPE,
                         "reshaping %s this way would mix samples of the batch dimension N (%s); the batch may "
                         "merge with other dimensions only where it keeps its place in memory order",
                         xs, why);
}

ebm_status onnx_imp_view_reshape(onnx_imp_ctx *c, const onnx_imp_node *n, const int64_t *spec, int k,
                                 int allowzero)
{
    const ir_shape *xs = onnx_imp_input_shape(c, n, 0);
    onnx_imp_view xv = view_or_identity(c, n, 0);
    int64_t od[IR_MAX_RANK], t[IR_MAX_RANK];
    char b1[96];
    view_dims(xs, &xv, od);
    view_str(xs, &xv, b1, sizeof b1);
    int64_t sx = static_product(xs, 0), bx = static_product(xs, 1);
    if (sx <= 0 || bx <= 0 || !ir_shape_has_batch(xs))
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "input %s: expected a batched, non-empty input of bounded size",
                             b1);
    /* 1. the ONNX target: 0 copies, -1 infers, k·N sentinels */
    int infer = -1, sym = -1;
    int64_t st_prod = 1;
    for (int i = 0; i < k; i++) {
        int64_t d = spec[i];
        if (d == 0 && !allowzero) {
            if (i >= xv.rank)
                return onnx_imp_fail(c, n, EBM_ERR_INVALID, "shape entry %d is 0 (copy) but the input has rank %d",
                                     i, xv.rank);
            d = od[i];
        }
        if (d == -1) {
            if (infer >= 0)
                return onnx_imp_fail(c, n, EBM_ERR_INVALID, "the shape has more than one -1");
            infer = i;
            d = 1;
        } else if (onnx_imp_sym_k(d)) {
            if (sym >= 0)
                return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "the target of %s has more than one batch "
                                     "dimension", b1);
            sym = i;
        } else if (d < 0 || d > ONNX_IMP_MAX_DIM) {
            return onnx_imp_fail(c, n, EBM_ERR_INVALID, "shape entry %d is %lld", i, (long long)d);
        } else if (__builtin_mul_overflow(st_prod, d, &st_prod)) {
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "the target's element count overflows");
        }
        t[i] = d;
    }
    int64_t ksym = sym >= 0 ? onnx_imp_sym_k(t[sym]) : 0;
    /* a fixed-batch export's all-static target means that shape at the declared batch */
    int64_t fb = onnx_imp_file_batch(c), all;
    int fixed = sym < 0 && fb > 0 && !__builtin_mul_overflow(sx, fb, &all);
    if (infer >= 0 && fixed) {
        if (st_prod == 0 || all % st_prod != 0)
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "cannot infer the -1 entry: %s at the declared batch %lld "
                                 "does not split by %lld", b1, (long long)fb, (long long)st_prod);
        t[infer] = all / st_prod;
        st_prod = all;
        infer = -1;
    }
    if (infer >= 0) {
        int64_t div = st_prod;
        if ((sym >= 0 && __builtin_mul_overflow(st_prod, ksym, &div)) || div == 0 || sx % div != 0)
            return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "cannot infer the -1 entry: %s does not split by %lld",
                                 b1, (long long)div);
        if (sym >= 0) {
            t[infer] = sx / div;
            st_prod *= t[infer];
        } else {
            if (sx / div > ONNX_IMP_SYM_MAX_K)
                return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "the -1 entry would be %lld*N", (long long)(sx / div));
            t[infer] = onnx_imp_sym(sx / div);
            sym = infer;
            ksym = sx / div;
        }
    }
    /* 2. a fixed-batch export writes N*heads as a number: a target dim at N's place
     * in memory order that is a multiple of the declared batch B holds N.  Where
     * several can (N at the boundary of two dims; with B = 1 often), the one equal
     * to B wins, then the last but the innermost axis: attention's [T, B*H, d] and
     * [T*B, E] (an innermost N*E would leave no unmerged axis to compute along). */
    if (fixed && st_prod == all) {
        int64_t p = 1, m;
        int cand[IR_MAX_RANK], nc = 0, pick = -1;
        for (int i = 0; i < k && p > 0 && p <= bx; i++) {
            if (bx % p == 0 && !__builtin_mul_overflow(bx / p, fb, &m) && t[i] % m == 0)
                cand[nc++] = i;
            if (__builtin_mul_overflow(p, t[i], &p))
                break;
        }
        for (int j = 0; j < nc && pick < 0; j++)
            pick = t[cand[j]] == fb ? cand[j] : -1;
        for (int j = nc - 1; j >= 0 && pick < 0; j--)
            pick = cand[j] < k - 1 || j == 0 ? cand[j] : -1;
        if (pick >= 0) {
            sym = pick;
            ksym = t[pick] / fb;
            st_prod /= t[pick];
            t[pick] = onnx_imp_sym(ksym);
        }
    }
    if (sym < 0)
        return mixes(c, n, b1, "the target has no dimension that holds N");
    int64_t total;
    if (__builtin_mul_overflow(st_prod, ksym, &total) || sx != total)
        return onnx_imp_fail(c, n, EBM_ERR_SHAPE, "cannot reshape %s: element counts differ", b1);
    /* 3. N keeps its place: the target's static dims before it times a equal x's */
    int64_t p = 1;
    for (int i = 0; i < sym; i++)
        p *= t[i];
    if (p == 0 || bx % p != 0 || ksym % (bx / p) != 0)
        return mixes(c, n, b1, "N would move relative to the other elements");
    int64_t a = bx / p, b = ksym / a;
    ir_shape ts = ir_shape_make(0);
    onnx_imp_view tv;
    memset(&tv, 0, sizeof tv);
    tv.rank = k;
    for (int i = 0; i < k; i++) {
        int64_t dims[3];
        int m = 0;
        if (i != sym) {
            dims[m++] = t[i];
        } else {
            if (a > 1)
                dims[m++] = a;
            dims[m++] = IR_DIM_N;
            if (b > 1)
                dims[m++] = b;
        }
        if (ts.rank + m > IR_MAX_RANK)
            return onnx_imp_fail(c, n, EBM_ERR_UNSUPPORTED, "reshaping %s needs more than %d axes in ebmc's layout",
                                 b1, IR_MAX_RANK);
        for (int j = 0; j < m; j++)
            ts.d[ts.rank++] = dims[j];
        tv.span[i] = (int8_t)m;
    }
    int y = onnx_imp_reshape(c, n, onnx_imp_input(c, n, 0), ts);
    ebm_status st = onnx_imp_set_output(c, n, 0, y);
    return st == EBM_OK ? onnx_imp_set_output_view(c, n, 0, &tv) : st;
}

static ebm_status lower_reshape(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    static const char *const known[] = {"allowzero", NULL};
    ebm_status st = onnx_imp_check_attrs(c, n, known);
    if (st != EBM_OK)
        return st;
    if (n->opset < 5)
        return refuse(c, n, 0, "Reshape before opset 5 is not translated");
    int64_t spec[IR_MAX_RANK];
    int k = onnx_imp_static_ints(c, n, 1, "the shape of Reshape", spec, IR_MAX_RANK);
    if (k < 0)
        return onnx_imp_err(c)->code;
    return onnx_imp_view_reshape(c, n, spec, k, (int)onnx_imp_attr_int(n, "allowzero", 0));
}

/* ---- dispatch ------------------------------------------------------------------ */

ebm_status onnx_imp_lower_view(onnx_imp_ctx *c, const onnx_imp_node *n)
{
    const char *op = onnx_imp_str(n->p->op_type);
    for (size_t i = 0; i < COUNT(view_ops); i++) {
        if (strcmp(view_ops[i].op_type, op) != 0)
            continue;
        switch (view_ops[i].kind) {
        case VIEW_NONE: break;
        case VIEW_SAME: return lower_same(c, n);
        case VIEW_SOFTMAX: return lower_softmax(c, n);
        case VIEW_MATMUL: return lower_matmul(c, n);
        case VIEW_GEMM: return lower_gemm(c, n);
        case VIEW_TRANSPOSE: return lower_transpose(c, n);
        case VIEW_RESHAPE: return lower_reshape(c, n);
        case VIEW_SHAPE: return lower_shape(c, n);
        }
    }
    char why[96];
    snprintf(why, sizeof why, "%s cannot take it", op);
    return refuse(c, n, first_view_input(c, n), why);
}
