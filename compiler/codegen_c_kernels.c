/* codegen_c_kernels.c — one C function per node of a program.
 *
 * Every kernel computes one core op from dense C-order operands into a dense
 * result, with the semantics of the reference executor (compiler/exec.c) —
 * the oracle the generated code is tested against:
 *   - elementwise ops run as fused loops (groups chosen by fuse.c), one loop
 *     per group over its result shape, each member one call of
 *     ebmk_<op>(...), the float_expr column of ir/ops.def (the float form of
 *     the executor's scalar_expr, with exp as a vectorisable polynomial);
 *     the innermost loop carries `#pragma omp simd`;
 *   - reductions accumulate in float, a contiguous innermost run through a
 *     local accumulator the compiler may split into vector lanes;
 *   - MATMUL is cblas_sgemm (a transpose feeding it is folded into BLAS's
 *     transpose flag), or, for activations x weights, the generated GEMM of
 *     codegen_c_gemm.c; convolutions are im2col/col2im (or Winograd F(2x2,3x3)
 *     for 3x3 stride-1 layers) + a GEMM per chunk of samples and group, the
 *     generated one for the forward pass and the input gradient, sgemm for
 *     the filter gradient (1x1 stride-1 unpadded convolutions skip im2col:
 *     their chunks are staged copies of x and y, and their filter gradient
 *     is sgemm per sample);
 *   - movement ops and pooling are plain loops.
 *
 * Shapes are static except the batch size n, a parameter of the kernels that
 * need it.  Sizes and strides are polynomials in n (a shape may hold N more
 * than once, e.g. [N,N] in a parameter gradient), so every index expression
 * is exact for any n <= tile.  Loop nests merge axes that are contiguous in
 * every operand, so the usual elementwise op becomes one flat loop the C
 * compiler vectorises.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c.h"

/* ---- polynomials in n ----------------------------------------------------------- */

#define PDEG (IR_MAX_RANK + 1)

typedef struct poly {
    int64_t c[PDEG];   /* value = sum_k c[k] * n^k */
} poly;

static poly p_const(int64_t v)
{
    poly p;
    memset(&p, 0, sizeof p);
    p.c[0] = v;
    return p;
}

static poly p_dim(int64_t d)
{
    poly p = p_const(d == IR_DIM_N ? 0 : d);
    if (d == IR_DIM_N)
        p.c[1] = 1;
    return p;
}

static poly p_mul(poly a, poly b)
{
    poly r = p_const(0);
    for (int i = 0; i < PDEG; i++)
        for (int j = 0; i + j < PDEG; j++)
            r.c[i + j] += a.c[i] * b.c[j];
    return r;
}

static poly p_add(poly a, poly b)
{
    for (int i = 0; i < PDEG; i++)
        a.c[i] += b.c[i];
    return a;
}

static int p_eq(poly a, poly b)
{
    return memcmp(a.c, b.c, sizeof a.c) == 0;
}

static int p_is(poly a, int64_t v)
{
    return p_eq(a, p_const(v));
}

/* C text of p; parenthesised unless it is a single non-negative term. */
static const char *p_str(poly p, char *buf, size_t size)
{
    char tmp[256];
    size_t len = 0;
    int terms = 0, neg = 0;
    tmp[0] = 0;
    for (int k = 0; k < PDEG; k++) {
        int64_t c = p.c[k];
        if (!c)
            continue;
        const char *sep = terms ? (c < 0 ? " - " : " + ") : (c < 0 ? "-" : "");
        neg |= c < 0;
        int64_t m = c < 0 ? -c : c;
        len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%s", sep);
        if (k == 0 || m != 1)
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%lld%s", (long long)m, k ? "*" : "");
        for (int e = 0; e < k; e++)
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%sn", e ? "*" : "");
        terms++;
        if (len >= sizeof tmp)
            break;
    }
    if (!terms)
        snprintf(buf, size, "0");
    else if (terms == 1 && !neg)
        snprintf(buf, size, "%s", tmp);
    else
        snprintf(buf, size, "(%s)", tmp);
    return buf;
}

/* ---- shapes and views as polynomials ------------------------------------------- */

typedef struct pshape {
    int rank;
    poly d[IR_MAX_RANK];
} pshape;

static pshape ps_of(const ir_shape *s)
{
    pshape r;
    memset(&r, 0, sizeof r);
    r.rank = s->rank;
    for (int i = 0; i < s->rank; i++)
        r.d[i] = p_dim(s->d[i]);
    return r;
}

static poly ps_numel(const pshape *s)
{
    poly k = p_const(1);
    for (int i = 0; i < s->rank; i++)
        k = p_mul(k, s->d[i]);
    return k;
}

/* Element (i_0, ...) of an index space sits at base + sum_a i_a * stride[a]. */
typedef struct pview {
    poly base;
    poly stride[IR_MAX_RANK];
} pview;

static pview v_contiguous(const pshape *s)
{
    pview v;
    memset(&v, 0, sizeof v);
    poly k = p_const(1);
    for (int i = s->rank - 1; i >= 0; i--) {
        v.stride[i] = k;
        k = p_mul(k, s->d[i]);
    }
    return v;
}

/* The dense array src numpy-broadcast over the index space (right-aligned). */
static pview v_broadcast(const pshape *src, const pshape *space)
{
    pview c = v_contiguous(src), v;
    memset(&v, 0, sizeof v);
    int shift = space->rank - src->rank;
    for (int a = 0; a < space->rank; a++) {
        int sa = a - shift;
        v.stride[a] = (sa < 0 || p_is(src->d[sa], 1)) ? p_const(0) : c.stride[sa];
    }
    return v;
}

static pview v_transpose(const pshape *src, const int *perm, int rank)
{
    pview c = v_contiguous(src), v;
    memset(&v, 0, sizeof v);
    for (int a = 0; a < rank; a++)
        v.stride[a] = c.stride[perm[a]];
    return v;
}

/* The batch axis is never sliced (the shape rule enforces it). */
static pview v_slice(const ir_shape *src, const ir_slice_attr *s)
{
    pshape ps = ps_of(src);
    pview c = v_contiguous(&ps), v;
    memset(&v, 0, sizeof v);
    for (int a = 0; a < src->rank; a++) {
        int batch = src->d[a] == IR_DIM_N;
        v.base = p_add(v.base, p_mul(p_const(batch ? 0 : s->start[a]), c.stride[a]));
        v.stride[a] = p_mul(p_const(batch ? 1 : s->step[a]), c.stride[a]);
    }
    return v;
}

/* Where an operand lands inside a bigger result: at `begin` along each axis. */
static pview v_placement(const pshape *dst, const int64_t *begin)
{
    pview v = v_contiguous(dst);
    for (int a = 0; a < dst->rank; a++)
        v.base = p_add(v.base, p_mul(p_const(begin[a]), v.stride[a]));
    return v;
}

/* ---- loop nests ---------------------------------------------------------------------- */

#define NEST_MAX_VIEWS (2 * EBMC_FUSE_MAX_IO)

typedef struct nest {
    pshape space;
    int simd;                 /* `#pragma omp simd` on the innermost loop... */
    int simd_outer;           /* ...or on axis 0's */
    const char *simd_clause;  /* appended to that pragma (a reduction), or NULL */
    int keep_batch;           /* axis 0 (the batch) stays a loop of its own... */
    const char *open0;        /* ...with these lines first and last in its body */
    const char *close0;
    int nv;
    pview v[NEST_MAX_VIEWS];
} nest;

static void nest_drop_axis(nest *ns, int a)
{
    for (int b = a; b + 1 < ns->space.rank; b++) {
        ns->space.d[b] = ns->space.d[b + 1];
        for (int k = 0; k < ns->nv; k++)
            ns->v[k].stride[b] = ns->v[k].stride[b + 1];
    }
    ns->space.rank--;
}

/* Drops size-1 axes and merges neighbours that are contiguous in every view
 * (not axis 0 into axis 1 with keep_batch). */
static void nest_simplify(nest *ns)
{
    for (int a = ns->space.rank - 1; a >= (ns->keep_batch ? 1 : 0); a--)
        if (p_is(ns->space.d[a], 1))
            nest_drop_axis(ns, a);
    for (int a = ns->space.rank - 2; a >= (ns->keep_batch ? 1 : 0); a--) {
        int ok = 1;
        for (int k = 0; k < ns->nv && ok; k++)
            ok = p_eq(ns->v[k].stride[a], p_mul(ns->v[k].stride[a + 1], ns->space.d[a + 1]));
        if (!ok)
            continue;
        ns->space.d[a] = p_mul(ns->space.d[a], ns->space.d[a + 1]);
        for (int k = 0; k < ns->nv; k++)
            ns->v[k].stride[a] = ns->v[k].stride[a + 1];
        nest_drop_axis(ns, a + 1);
    }
}

#define IDX_MAX 320

/* "cur + i<axis>*stride" with the zero and one cases simplified. */
static void idx_step(char *out, const char *cur, int axis, poly stride)
{
    char s[256], term[300];
    if (p_is(stride, 0)) {
        snprintf(out, IDX_MAX, "%s", cur);
        return;
    }
    if (p_is(stride, 1))
        snprintf(term, sizeof term, "i%d", axis);
    else
        snprintf(term, sizeof term, "i%d*%s", axis, p_str(stride, s, sizeof s));
    if (strcmp(cur, "0") == 0)
        snprintf(out, IDX_MAX, "%s", term);
    else
        snprintf(out, IDX_MAX, "%s + %s", cur, term);
}

typedef void (*nest_body_fn)(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx);

static const char *indent_str(int level)
{
    static const char spaces[] = "                                        ";
    int k = 4 * level;
    return spaces + (k < (int)sizeof spaces - 1 ? (int)sizeof spaces - 1 - k : 0);
}

/* text's lines, each indented to level. */
static void emit_lines(ebmc_buf *b, const char *text, int level)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        int len = nl ? (int)(nl - text) : (int)strlen(text);
        ebmc_buf_printf(b, "%s%.*s\n", indent_str(level), len, text);
        text += len + (nl != NULL);
    }
}

/* Emits the loops of ns (already simplified) around body.  Offsets of outer
 * axes are hoisted into o<view>_<axis> constants.  open0 and close0 (lines,
 * each ending in a newline) go first and last into axis 0's loop. */
static void nest_emit(ebmc_buf *b, const nest *ns, int level, nest_body_fn body, const void *ctx)
{
    char cur[NEST_MAX_VIEWS][IDX_MAX], nxt[IDX_MAX], s[256];
    int r = ns->space.rank;
    for (int k = 0; k < ns->nv; k++)
        p_str(ns->v[k].base, cur[k], IDX_MAX);
    for (int a = 0; a < r; a++) {
        if (ns->simd && a == (ns->simd_outer ? 0 : r - 1))
            ebmc_buf_printf(b, "%s#pragma omp simd%s%s\n", indent_str(level + a), ns->simd_clause ? " " : "",
                            ns->simd_clause ? ns->simd_clause : "");
        ebmc_buf_printf(b, "%sfor (int64_t i%d = 0; i%d < %s; i%d++) {\n", indent_str(level + a), a, a,
                        p_str(ns->space.d[a], s, sizeof s), a);
        if (a == 0 && ns->open0)
            emit_lines(b, ns->open0, level + 1);
        if (a == r - 1)
            break;
        for (int k = 0; k < ns->nv; k++) {
            if (p_is(ns->v[k].stride[a], 0))
                continue;
            idx_step(nxt, cur[k], a, ns->v[k].stride[a]);
            ebmc_buf_printf(b, "%sconst int64_t o%d_%d = %s;\n", indent_str(level + a + 1), k, a, nxt);
            snprintf(cur[k], IDX_MAX, "o%d_%d", k, a);
        }
    }
    if (r > 0)
        for (int k = 0; k < ns->nv; k++) {
            idx_step(nxt, cur[k], r - 1, ns->v[k].stride[r - 1]);
            memcpy(cur[k], nxt, IDX_MAX);
        }
    body(b, (const char(*)[IDX_MAX])cur, indent_str(level + r), ctx);
    for (int a = r - 1; a >= 0; a--) {
        if (a == 0 && ns->close0)
            emit_lines(b, ns->close0, level + 1);
        ebmc_buf_printf(b, "%s}\n", indent_str(level + a));
    }
}

static void emit_fill(ebmc_buf *b, const char *ptr, poly count, const char *value, int level)
{
    char s[256];
    ebmc_buf_printf(b, "%sfor (int64_t i = 0; i < %s; i++)\n%s%s[i] = %s;\n", indent_str(level),
                    p_str(count, s, sizeof s), indent_str(level + 1), ptr, value);
}

/* ---- names and signatures -------------------------------------------------------------- */

static int expr_uses(const char *e, char var)
{
    for (const char *p = e; (p = strchr(p, var)) != NULL; p++) {
        int before = p > e && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                               (p[-1] >= '0' && p[-1] <= '9'));
        char c = p[1];
        int after = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!before && !after)
            return 1;
    }
    return 0;
}

void ebmc_kernel_name(const ebmc_cg_program *p, int id, char *buf, size_t size)
{
    const ir_node *nd = &p->g->nodes[id];
    char tail[48];
    size_t t = 0;
    int sep = 1;
    const char *name = nd->name ? nd->name : "";
    const char *paren = strstr(name, " (");   /* "/fc1/Gemm (Gemm)": the op type repeats */
    size_t len = paren ? (size_t)(paren - name) : strlen(name);
    for (size_t i = 0; i < len && t + 2 < sizeof tail; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum) {
            if (sep && t)
                tail[t++] = '_';
            tail[t++] = c;
            sep = 0;
        } else {
            sep = 1;
        }
    }
    tail[t] = 0;
    int fused = id > 0 && p->v[id - 1].kernel == id;
    snprintf(buf, size, "%s_k%d_%s%s%s", p->prefix, id, fused ? "fused" : ir_op_get(nd->op)->name, t ? "_" : "",
             tail);
}

void ebmc_value_ptr(const ebmc_cg_program *p, int id, char *buf, size_t size)
{
    int r = p->info.root[id];
    const ebmc_cg_value *v = &p->v[r];
    switch (v->store) {
    case EBMC_STORE_ARENA:
        snprintf(buf, size, "((float *)(A + %lld))", (long long)v->offset);
        break;
    case EBMC_STORE_INPUT:
        snprintf(buf, size, "%s", v->slot == 0 ? "X" : "SW");
        break;
    case EBMC_STORE_PARAM:
        snprintf(buf, size, "(W + %lld)", (long long)v->offset);
        break;
    case EBMC_STORE_CONST:
        if (v->offset >= 0)
            snprintf(buf, size, "(ebm_blob + %lld)", (long long)v->offset);
        else
            snprintf(buf, size, "%s_c%d", p->prefix, r);
        break;
    default:   /* never: an undeclared name makes the C compiler say so loudly */
        snprintf(buf, size, "ebmc_bug_no_storage_for_node_%d", id);
        break;
    }
}

/* The value a kernel reads as operand k: the source of a transpose folded
 * into a matmul. */
static int operand_src(const ebmc_cg_program *p, int id, int k)
{
    int x = p->g->nodes[id].in[k];
    return p->info.view[x] == EBMC_VIEW_MATMUL_T ? p->g->nodes[x].in[0] : x;
}

int ebmc_kernel_uses_n(const ebmc_cg_program *p, int id)
{
    int uses = 0;
    for (int j = id; j >= 0 && (j == id || p->v[j].kernel == id); j--) {
        const ir_node *nd = &p->g->nodes[j];
        uses |= ir_shape_has_batch(&nd->shape);
        for (int k = 0; k < nd->n_in; k++)
            uses |= ir_shape_has_batch(&p->g->nodes[nd->in[k]].shape);
    }
    return uses;
}

/* The comment above a kernel: the node in the text form of ir_print_text and
 * the nodes folded into it. */
static void emit_kernel_comment(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    char s[96];
    ebmc_buf_printf(b, "/* %%%d = %s(", id, ir_op_get(nd->op)->name);
    for (int k = 0; k < nd->n_in; k++)
        ebmc_buf_printf(b, "%s%%%d", k ? ", " : "", nd->in[k]);
    ebmc_buf_printf(b, ") : %s", ir_shape_str(&nd->shape, s, sizeof s));
    if (nd->name) {
        ebmc_buf_puts(b, "  \"");
        ebmc_buf_c_comment(b, nd->name);
        ebmc_buf_puts(b, "\"");
    }
    for (int k = 0; k < nd->n_in; k++) {
        int x = nd->in[k];
        if (p->info.view[x] == EBMC_VIEW_MATMUL_T)
            ebmc_buf_printf(b, "\n * covers %%%d = transpose(%%%d): read as %%%d with BLAS's transpose flag", x,
                            p->g->nodes[x].in[0], p->g->nodes[x].in[0]);
    }
    ebmc_buf_puts(b, " */\n");
}

static void emit_signature(ebmc_buf *b, const ebmc_cg_program *p, int id, int scratch)
{
    const ir_node *nd = &p->g->nodes[id];
    char name[160];
    ebmc_kernel_name(p, id, name, sizeof name);
    ebmc_buf_printf(b, "static void %s(", name);
    const char *sep = "";
    if (ebmc_kernel_uses_n(p, id)) {
        ebmc_buf_puts(b, "int64_t n");
        sep = ", ";
    }
    for (int k = 0; k < nd->n_in; k++) {
        ebmc_buf_printf(b, "%sconst float *restrict in%d", sep, k);
        sep = ", ";
    }
    ebmc_buf_printf(b, "%sfloat *restrict out%s%s)\n{\n", sep, scratch ? ", float *restrict tmp" : "",
                    p->v[id].pro_buffer >= 0 ? ", const float *restrict uw" : "");
}

/* ---- elementwise, reductions, movement ----------------------------------------------------- */

/* Node id's kernel is a fused loop: an elementwise group, or one ending in a
 * sum over its last axis (a sink, fuse.c). */
static int fused_kernel(const ebmc_cg_program *p, int id)
{
    if (ebmc_fusible(p->g, &p->info, id))
        return 1;
    return id > 0 && p->v[id - 1].kernel == id && ebmc_fuse_sink(p->g, &p->info, id);
}

static const char *const var_names[3] = {"x", "y", "z"};

/* A fused group: the members are the nodes L, L-1, ... whose kernel is L
 * (consecutive ids, fuse.c).  Its loop reads each external operand once per
 * element (broadcast as its shape says) and stores the members read outside. */
typedef struct fused_io {
    int first, last;               /* the first member and the last (the kernel's node) */
    int n_in, n_out;
    int in[EBMC_FUSE_MAX_IO];      /* external operands, in order of first use */
    int out[EBMC_FUSE_MAX_IO];     /* stored members, in id order */
    int sink;                      /* the last member if it is a sum over the last axis, else -1 */
    int space;                     /* the node whose shape the loop runs over: last, or the sink's summand */
} fused_io;

static void fused_io_of(const ebmc_cg_program *p, int last, fused_io *io)
{
    memset(io, 0, sizeof *io);
    io->first = io->last = last;
    io->sink = ebmc_fusible(p->g, &p->info, last) ? -1 : last;
    io->space = io->sink >= 0 ? p->g->nodes[last].in[0] : last;
    while (io->first > 0 && p->v[io->first - 1].kernel == last)
        io->first--;
    for (int j = io->first; j <= last; j++) {
        const ir_node *nd = &p->g->nodes[j];
        for (int k = 0; k < nd->n_in; k++) {
            int q = nd->in[k], seen = q >= io->first && q <= last;
            for (int e = 0; e < io->n_in && !seen; e++)
                seen = io->in[e] == q;
            if (!seen && io->n_in < EBMC_FUSE_MAX_IO)
                io->in[io->n_in++] = q;
        }
        if (p->v[j].store == EBMC_STORE_ARENA && io->n_out < EBMC_FUSE_MAX_IO)
            io->out[io->n_out++] = j;
    }
}

static int fused_in_index(const fused_io *io, int q)
{
    for (int e = 0; e < io->n_in; e++)
        if (io->in[e] == q)
            return e;
    return -1;
}

typedef struct fused_ctx {
    const ebmc_cg_program *p;
    const fused_io *io;
    poly inner[NEST_MAX_VIEWS];   /* with a sink: each view's stride along the summed axis */
    char len[256];                /* and that axis's length */
    int lv_score;                 /* Langevin kernel: the member holding the score, else -1 */
    int lv_view;                  /* and the view of x (the state it updates) */
} fused_ctx;

/* view k: outputs 0..n_out-1, then the inputs */
static void fused_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    const fused_ctx *c = ctx;
    const fused_io *io = c->io;
    const ir_graph *g = c->p->g;
    for (int e = 0; e < io->n_in; e++)
        ebmc_buf_printf(b, "%sconst float a%d = in%d[%s];\n", ind, e, e, idx[io->n_out + e]);
    for (int j = io->first; j <= io->last - (io->sink >= 0); j++) {
        const ir_node *nd = &g->nodes[j];
        ebmc_buf_printf(b, "%sconst float v%d = ", ind, j);
        if (nd->op == IR_OP_BROADCAST) {
            ebmc_buf_printf(b, "a%d;\n", fused_in_index(io, nd->in[0]));
            continue;
        }
        ebmc_buf_printf(b, "ebmk_%s(", ir_op_get(nd->op)->name);
        for (int k = 0; k < nd->n_in; k++) {
            int q = nd->in[k];
            if (q >= io->first && q < j)
                ebmc_buf_printf(b, "%sv%d", k ? ", " : "", q);
            else
                ebmc_buf_printf(b, "%sa%d", k ? ", " : "", fused_in_index(io, q));
        }
        if (expr_uses(ir_op_get(nd->op)->float_expr, 'P')) {
            char lit[64];
            ebmc_buf_printf(b, ", %s", ebmc_float_literal((float)nd->attr.f, lit, sizeof lit));
        }
        ebmc_buf_puts(b, ");\n");
    }
    for (int o = 0; o < io->n_out; o++)
        if (io->out[o] != io->sink)
            ebmc_buf_printf(b, "%sout%d[%s] = v%d;\n", ind, o, idx[o], io->out[o]);
    if (io->sink >= 0)
        ebmc_buf_printf(b, "%sacc += v%d;\n", ind, g->nodes[io->sink].in[0]);
    if (c->lv_score >= 0) {   /* the update of ebm_langevin_step, statement for statement */
        const char *xi = idx[c->lv_view];
        ebmc_buf_printf(b, "%sfloat g = -v%d / l_temp;\n", ind, c->lv_score);
        ebmc_buf_printf(b, "%snf |= !(fabsf(g) <= FLT_MAX);\n", ind);
        ebmc_buf_printf(b, "%sg = g < -l_clip ? -l_clip : g > l_clip ? l_clip : g;\n", ind);
        ebmc_buf_printf(b, "%sfloat u = lx[%s] - l_alpha * g + l_sigma * leps[%s];\n", ind, xi, xi);
        ebmc_buf_printf(b, "%su = u < l_lo ? l_lo : u > l_hi ? l_hi : u;\n", ind);
        ebmc_buf_printf(b, "%snf |= !(fabsf(u) <= FLT_MAX);\n", ind);
        ebmc_buf_printf(b, "%slx[%s] = u;\n", ind, xi);
    }
}

/* A group ending in a sum over the last axis: per element of the sum, a
 * loop over that axis computes the members, stores those read elsewhere and
 * accumulates the summand (the lanes' order depends on the length alone). */
static void fused_sink_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    const fused_ctx *c = ctx;
    const fused_io *io = c->io;
    char inner[NEST_MAX_VIEWS][IDX_MAX], ind2[64];
    int nv = io->n_out + io->n_in, sink_view = -1;
    for (int k = 0; k < nv; k++) {
        if (k < io->n_out && io->out[k] == io->sink)
            sink_view = k;
        char s[256];
        if (p_is(c->inner[k], 0))
            snprintf(inner[k], IDX_MAX, "%s", idx[k]);
        else if (p_is(c->inner[k], 1))
            snprintf(inner[k], IDX_MAX, "%s + k", idx[k]);
        else
            snprintf(inner[k], IDX_MAX, "%s + k*%s", idx[k], p_str(c->inner[k], s, sizeof s));
    }
    snprintf(ind2, sizeof ind2, "%s    ", ind);
    ebmc_buf_printf(b, "%sfloat acc = 0.0f;\n%s#pragma omp simd reduction(+ : acc)\n%sfor (int64_t k = 0; k < %s; k++) {\n",
                    ind, ind, ind, c->len);
    fused_body(b, (const char(*)[IDX_MAX])inner, ind2, ctx);
    ebmc_buf_printf(b, "%s}\n%sout%d[%s] = acc;\n", ind, ind, sink_view, idx[sink_view]);
}

static void emit_fused_comment(ebmc_buf *b, const ebmc_cg_program *p, const fused_io *io, int last)
{
    char s[96];
    ebmc_buf_printf(b, "/* fused loop over %s: %d nodes, %d stored",
                    ir_shape_str(&p->g->nodes[io->space].shape, s, sizeof s), last - io->first + 1, io->n_out);
    for (int j = io->first; j <= last; j++) {
        const ir_node *nd = &p->g->nodes[j];
        ebmc_buf_printf(b, "\n *   %s%%%d = %s(", p->v[j].store == EBMC_STORE_ARENA ? "" : "(reg) ", j,
                        ir_op_get(nd->op)->name);
        for (int k = 0; k < nd->n_in; k++)
            ebmc_buf_printf(b, "%s%%%d", k ? ", " : "", nd->in[k]);
        ebmc_buf_puts(b, ")");
        if (nd->name) {
            ebmc_buf_puts(b, "  \"");
            ebmc_buf_c_comment(b, nd->name);
            ebmc_buf_puts(b, "\"");
        }
    }
    ebmc_buf_puts(b, " */\n");
}

/* The loop nest of a fused group over its space (not simplified): views
 * 0..n_out-1 its stored members (the sink's broadcast along the summed axis),
 * then its inputs, each broadcast as its shape says. */
static void fused_nest(const ebmc_cg_program *p, const fused_io *io, nest *ns)
{
    memset(ns, 0, sizeof *ns);
    ns->space = ps_of(&p->g->nodes[io->space].shape);
    ns->nv = io->n_out + io->n_in;
    for (int o = 0; o < io->n_out; o++) {
        pshape out = ps_of(&p->g->nodes[io->out[o]].shape);
        ns->v[o] = io->out[o] == io->sink ? v_broadcast(&out, &ns->space) : v_contiguous(&ns->space);
    }
    for (int e = 0; e < io->n_in; e++) {
        pshape in = ps_of(&p->g->nodes[io->in[e]].shape);
        ns->v[io->n_out + e] = v_broadcast(&in, &ns->space);
    }
}

static void emit_fused(ebmc_buf *b, const ebmc_cg_program *p, int last)
{
    fused_io io;
    fused_io_of(p, last, &io);
    emit_fused_comment(b, p, &io, last);
    char name[160];
    ebmc_kernel_name(p, last, name, sizeof name);
    ebmc_buf_printf(b, "static void %s(", name);
    const char *sep = "";
    if (ebmc_kernel_uses_n(p, last)) {
        ebmc_buf_puts(b, "int64_t n");
        sep = ", ";
    }
    for (int e = 0; e < io.n_in; e++, sep = ", ")
        ebmc_buf_printf(b, "%sconst float *restrict in%d", sep, e);
    for (int o = 0; o < io.n_out; o++, sep = ", ")
        ebmc_buf_printf(b, "%sfloat *restrict out%d", sep, o);
    ebmc_buf_puts(b, ")\n{\n");
    nest ns;
    fused_nest(p, &io, &ns);
    nest_simplify(&ns);
    fused_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p, c.io = &io, c.lv_score = -1;
    if (io.sink < 0) {
        ns.simd = 1;
        nest_emit(b, &ns, 1, fused_body, &c);
        return;
    }
    /* the summed axis (last; the sink's view does not move along it, so it
     * stays an axis of its own) becomes the body's inner loop */
    int r = ns.space.rank;
    for (int k = 0; k < ns.nv; k++)
        c.inner[k] = ns.v[k].stride[r - 1];
    p_str(ns.space.d[r - 1], c.len, sizeof c.len);
    ns.space.rank--;
    nest_emit(b, &ns, 1, fused_sink_body, &c);
}

static void emit_fused_call(ebmc_buf *b, const ebmc_cg_program *p, int last)
{
    fused_io io;
    fused_io_of(p, last, &io);
    char name[160], ptr[128];
    ebmc_kernel_name(p, last, name, sizeof name);
    ebmc_buf_printf(b, "    %s(", name);
    const char *sep = "";
    if (ebmc_kernel_uses_n(p, last)) {
        ebmc_buf_puts(b, "n");
        sep = ", ";
    }
    for (int e = 0; e < io.n_in; e++, sep = ", ") {
        ebmc_value_ptr(p, io.in[e], ptr, sizeof ptr);
        ebmc_buf_printf(b, "%s%s", sep, ptr);
    }
    for (int o = 0; o < io.n_out; o++, sep = ", ") {
        ebmc_value_ptr(p, io.out[o], ptr, sizeof ptr);
        ebmc_buf_printf(b, "%s%s", sep, ptr);
    }
    ebmc_buf_puts(b, ");\n");
}

/* ---- the Langevin update as the epilogue of the score's loop ------------------------------ */

/* Whether group input e is x itself (the program's input, read through any alias). */
static int reads_x(const ebmc_cg_program *p, const fused_io *io, int e)
{
    return p->info.root[io->in[e]] == p->g->inputs[0];
}

int ebmc_langevin_kernel(const ebmc_cg_program *p, int score)
{
    const ir_graph *g = p->g;
    const ebmc_graph_info *gi = &p->info;
    const int r = gi->root[score], k = p->v[r].kernel;
    if (k < 0 || gi->invariant[k] || !ebmc_fusible(g, gi, k))
        return -1;
    const ir_shape *sp = &g->nodes[k].shape;
    const int64_t numel = ir_shape_numel(&g->nodes[g->inputs[0]].shape, 1);
    if (sp->rank < 1 || sp->d[0] != IR_DIM_N || ir_shape_numel(sp, 1) != numel ||
        ir_shape_numel(&g->nodes[r].shape, 1) != numel)
        return -1;
    for (int a = 1; a < sp->rank; a++)
        if (sp->d[a] == IR_DIM_N)
            return -1;
    for (int j = k + 1; j < g->n_nodes; j++)   /* x changes in it: nothing may run after */
        if (p->v[j].kernel == j && !gi->invariant[j])
            return -1;
    fused_io io;
    fused_io_of(p, k, &io);
    for (int j = io.first; j <= k; j++)   /* the energy, read after the loop, is not in it */
        if (j != r && gi->output[j])
            return -1;
    pshape space = ps_of(sp);
    pview c = v_contiguous(&space);
    for (int e = 0; e < io.n_in; e++) {   /* x read where it is written, or not at all */
        if (!reads_x(p, &io, e))
            continue;
        pshape in = ps_of(&g->nodes[io.in[e]].shape);
        pview v = v_broadcast(&in, &space);
        int same = p_eq(v.base, c.base);
        for (int a = 0; a < space.rank; a++)
            same &= p_eq(v.stride[a], c.stride[a]);
        if (!same)
            return -1;
    }
    return k;
}

/* The fused group without the score among its stored members. */
static void langevin_io(const ebmc_cg_program *p, int k, int score, fused_io *io)
{
    fused_io_of(p, k, io);
    int n = 0;
    for (int o = 0; o < io->n_out; o++)
        if (io->out[o] != p->info.root[score])
            io->out[n++] = io->out[o];
    io->n_out = n;
}

static void langevin_kernel_name(const ebmc_cg_program *p, int k, char *buf, size_t size)
{
    char name[160];
    ebmc_kernel_name(p, k, name, sizeof name);
    snprintf(buf, size, "%s_langevin", name);
}

void ebmc_emit_langevin_kernel(ebmc_buf *b, const ebmc_cg_program *p, int k, int score)
{
    fused_io io;
    langevin_io(p, k, score, &io);
    char name[176];
    langevin_kernel_name(p, k, name, sizeof name);
    ebmc_buf_printf(b,
                    "/* The loop of %%%d with one Langevin update as its epilogue: instead of storing\n"
                    " * the score %%%d it moves x (lx) by it, as ebm_langevin_step would, reading the\n"
                    " * noise leps; returns the number of samples whose energy (le), gradient or new\n"
                    " * state is not finite. */\n"
                    "static int %s(int64_t n",
                    k, p->info.root[score], name);
    for (int e = 0; e < io.n_in; e++)
        if (!reads_x(p, &io, e))
            ebmc_buf_printf(b, ", const float *restrict in%d", e);
    for (int o = 0; o < io.n_out; o++)
        ebmc_buf_printf(b, ", float *restrict out%d", o);
    ebmc_buf_puts(b, ", float *restrict lx, const float *restrict leps, const float *restrict le, const ebm_lv *lv)\n{\n");
    for (int e = 0; e < io.n_in; e++)
        if (reads_x(p, &io, e))
            ebmc_buf_printf(b, "    const float *const in%d = lx;   /* x, read before it is written */\n", e);
    ebmc_buf_puts(b, "    const float l_alpha = lv->alpha, l_sigma = lv->sigma, l_temp = lv->temp;\n"
                     "    const float l_clip = lv->clip, l_lo = lv->lo, l_hi = lv->hi;\n"
                     "    int bad = 0;\n");
    nest ns;
    fused_nest(p, &io, &ns);
    ns.v[ns.nv++] = v_contiguous(&ns.space);   /* x and the noise */
    ns.keep_batch = 1;   /* i0 is the sample: its flags are counted after its loop */
    nest_simplify(&ns);
    ns.simd = 1;
    /* rows of a few elements (toy data): vectorise over samples, the row's
       loop unrolled (tabular 2-64-64-1: 1% of a step) */
    for (int64_t len = 1; len <= 8 && ns.space.rank == 2; len++)
        ns.simd_outer |= p_is(ns.space.d[1], len);
    ns.simd_clause = ns.space.rank > 1 && !ns.simd_outer ? "reduction(| : nf)" : "reduction(+ : bad)";
    ns.open0 = "int nf = 0;\n";
    ns.close0 = "bad += nf | !isfinite(le[i0]);\n";
    fused_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p, c.io = &io, c.lv_score = p->info.root[score], c.lv_view = ns.nv - 1;
    nest_emit(b, &ns, 1, fused_body, &c);
    ebmc_buf_puts(b, "    return bad;\n}\n\n");
}

void ebmc_emit_langevin_call(ebmc_buf *b, const ebmc_cg_program *p, int k, int score, int energy)
{
    fused_io io;
    langevin_io(p, k, score, &io);
    char name[176], ptr[128];
    langevin_kernel_name(p, k, name, sizeof name);
    ebmc_buf_printf(b, "    return %s(n", name);
    for (int e = 0; e < io.n_in; e++)
        if (!reads_x(p, &io, e)) {
            ebmc_value_ptr(p, io.in[e], ptr, sizeof ptr);
            ebmc_buf_printf(b, ", %s", ptr);
        }
    for (int o = 0; o < io.n_out; o++) {
        ebmc_value_ptr(p, io.out[o], ptr, sizeof ptr);
        ebmc_buf_printf(b, ", %s", ptr);
    }
    ebmc_value_ptr(p, energy, ptr, sizeof ptr);
    ebmc_buf_printf(b, ", X, eps, %s, lv);\n", ptr);
}

/* ---- the float forms of the scalar expressions ------------------------------------------- */

/* pows with the exponents GroupNorm, LayerNorm and their derivatives make
 * (var^-0.5, its derivative's ^-1.5, squares, square roots): sqrtf, a
 * division, products, which vectorise, instead of a powf call per element.
 * Each is within 2 ulp of pow (test_codegen pows_matches_pow) and keeps
 * pow's special values: x = -0 gives +0 or +inf (sqrtf(-0) + 0 is +0),
 * x = -inf gives +inf or +0, x < 0 NaN.  Other exponents call powf. */
static const char pows_body[] =
    "static inline __attribute__((always_inline)) float ebmk_pows(float x, float P)\n"
    "{\n"
    "    if (P == 1.0f)\n"
    "        return x;\n"
    "    if (P == 2.0f)\n"
    "        return x * x;\n"
    "    if (P == -1.0f)\n"
    "        return 1.0f / x;\n"
    "    const float s = sqrtf(x) + 0.0f, r = 1.0f / s;\n"
    "    if (P == 0.5f)\n"
    "        return x == -INFINITY ? INFINITY : s;\n"
    "    if (P == -0.5f)\n"
    "        return x == -INFINITY ? 0.0f : r;\n"
    "    if (P == -1.5f)\n"
    "        return x == -INFINITY ? 0.0f : r / (x + 0.0f);\n"
    "    if (P == 1.5f)\n"
    "        return x == -INFINITY ? INFINITY : x * s + 0.0f;\n"
    "    return powf(x, P);\n"
    "}\n";

/* The float_expr column of ops.def: an expression, or statements (each
 * ending in "; ") of which the last returns. */
static void emit_float_body(ebmc_buf *b, const char *e)
{
    if (!strchr(e, ';')) {
        ebmc_buf_printf(b, "    return %s;\n", e);
        return;
    }
    for (const char *end; (end = strchr(e, ';')) != NULL; e = end[1] == ' ' ? end + 2 : end + 1)
        ebmc_buf_printf(b, "    %.*s\n", (int)(end + 1 - e), e);
}

void ebmc_emit_float_ops(ebmc_buf *b)
{
    ebmc_buf_puts(b, "/* The elementwise ops of ir/ops.def in float, for the fused loops. */\n");
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *info = ir_op_get((ir_op)op);
        if (!info->elementwise)
            continue;
        if (op == IR_OP_POWS) {   /* P is a literal at every call: the select folds away */
            ebmc_buf_puts(b, pows_body);
            continue;
        }
        ebmc_buf_printf(b, "static inline float ebmk_%s(", info->name);
        for (int k = 0; k < info->arity; k++)
            ebmc_buf_printf(b, "%sfloat %s", k ? ", " : "", var_names[k]);
        if (expr_uses(info->float_expr, 'P'))
            ebmc_buf_puts(b, ", float P");
        ebmc_buf_puts(b, ")\n{\n");
        emit_float_body(b, info->float_expr);
        ebmc_buf_puts(b, "}\n");
    }
    ebmc_buf_puts(b, "\n");
}

static void sum_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b, "%sout[%s] += in0[%s];\n", ind, idx[0], idx[1]);
}

/* A NaN anywhere makes the max NaN (as in the executor). */
static void max_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b, "%sconst float v = in0[%s];\n%sif (v > out[%s] || isnan(v))\n%s    out[%s] = v;\n", ind,
                    idx[1], ind, idx[0], ind, idx[0]);
}

/* A sum over a contiguous innermost axis of length `len`: a local
 * accumulator the C compiler may split into vector lanes (the order of the
 * additions then depends only on the axis length, never on the batch). */
static void sum_run_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b,
                    "%sfloat acc = 0.0f;\n%s#pragma omp simd reduction(+ : acc)\n"
                    "%sfor (int64_t k = 0; k < %s; k++)\n%s    acc += in0[%s + k];\n%sout[%s] += acc;\n",
                    ind, ind, ind, (const char *)ctx, ind, idx[1], ind, idx[0]);
}

static void emit_reduce(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    pshape out = ps_of(&nd->shape);
    int is_max = nd->op == IR_OP_RMAX;
    emit_fill(b, "out", ps_numel(&out), is_max ? "-INFINITY" : "0.0f", 1);
    nest ns;
    memset(&ns, 0, sizeof ns);
    ns.space = ps_of(&p->g->nodes[nd->in[0]].shape);
    ns.nv = 2;
    ns.v[0] = v_broadcast(&out, &ns.space);
    ns.v[1] = v_contiguous(&ns.space);
    nest_simplify(&ns);
    int r = ns.space.rank;
    if (!is_max && r > 0 && p_is(ns.v[0].stride[r - 1], 0) && p_is(ns.v[1].stride[r - 1], 1)) {
        char len[256];
        p_str(ns.space.d[r - 1], len, sizeof len);
        ns.space.rank--;
        nest_emit(b, &ns, 1, sum_run_body, len);
        return;
    }
    nest_emit(b, &ns, 1, is_max ? max_body : sum_body, NULL);
}

typedef struct copy_ctx {
    int src;   /* operand index */
} copy_ctx;

static void copy_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    ebmc_buf_printf(b, "%sout[%s] = in%d[%s];\n", ind, idx[0], ((const copy_ctx *)ctx)->src, idx[1]);
}

/* out[dst(i)] = in<src>[srcv(i)] over the index space. */
static void emit_copy(ebmc_buf *b, const pshape *space, pview dst, pview src, int operand)
{
    nest ns;
    memset(&ns, 0, sizeof ns);
    ns.space = *space;
    ns.nv = 2;
    ns.v[0] = dst;
    ns.v[1] = src;
    nest_simplify(&ns);
    copy_ctx c = {operand};
    nest_emit(b, &ns, 1, copy_body, &c);
}

static void emit_movement(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    const ir_attr *a = &nd->attr;
    const ir_shape *in0 = &p->g->nodes[nd->in[0]].shape;
    pshape out = ps_of(&nd->shape), src = ps_of(in0);
    char val[64];
    int64_t at[IR_MAX_RANK] = {0};
    switch (nd->op) {
    case IR_OP_TRANSPOSE:
        emit_copy(b, &out, v_contiguous(&out), v_transpose(&src, a->perm, out.rank), 0);
        break;
    case IR_OP_BROADCAST:
        emit_copy(b, &out, v_contiguous(&out), v_broadcast(&src, &out), 0);
        break;
    case IR_OP_SLICE:
        emit_copy(b, &out, v_contiguous(&out), v_slice(in0, &a->slice), 0);
        break;
    case IR_OP_SLICE_BWD:
        emit_fill(b, "out", ps_numel(&out), "0.0f", 1);
        emit_copy(b, &src, v_slice(&nd->shape, &a->slice), v_contiguous(&src), 0);
        break;
    case IR_OP_PAD:
        ebmc_float_literal((float)a->pad.value, val, sizeof val);
        emit_fill(b, "out", ps_numel(&out), val, 1);
        emit_copy(b, &src, v_placement(&out, a->pad.begin), v_contiguous(&src), 0);
        break;
    default:   /* CONCAT */
        for (int k = 0; k < nd->n_in; k++) {
            pshape in = ps_of(&p->g->nodes[nd->in[k]].shape);
            emit_copy(b, &in, v_placement(&out, at), v_contiguous(&in), k);
            at[a->axis] += p->g->nodes[nd->in[k]].shape.d[a->axis];
        }
        break;
    }
}

/* ---- matmul ----------------------------------------------------------------------------- */

typedef struct gemm_ctx {
    int ta, tb;
    char m[128], nn[128], k[128], lda[128], ldb[128];
    ebmc_gemm_form form;   /* BLAS, or the generated kernel (codegen_c_gemm.c) */
    int64_t kc, nc;        /* k and nn, constants for the generated kernel */
} gemm_ctx;

static void gemm_body(ebmc_buf *b, const char idx[][IDX_MAX], const char *ind, const void *ctx)
{
    const gemm_ctx *c = ctx;
    if (c->form != EBMC_GEMM_BLAS) {
        char a[IDX_MAX + 16], w[IDX_MAX + 16], o[IDX_MAX + 16];
        snprintf(a, sizeof a, "in0 + %s", idx[1]);
        snprintf(w, sizeof w, "in1 + %s", idx[2]);
        snprintf(o, sizeof o, "out + %s", idx[0]);
        ebmc_emit_gemm_call(b, ind, c->form, c->m, c->kc, c->nc, a, w, o);
        return;
    }
    ebmc_buf_printf(b,
                    "%scblas_sgemm(CblasRowMajor, %s, %s, (int)%s, (int)%s, (int)%s, 1.0f, in0 + %s, (int)%s,\n"
                    "%s            in1 + %s, (int)%s, 0.0f, out + %s, (int)%s);\n",
                    ind, c->ta ? "CblasTrans" : "CblasNoTrans", c->tb ? "CblasTrans" : "CblasNoTrans", c->m, c->nn,
                    c->k, idx[1], c->lda, ind, idx[2], c->ldb, idx[0], c->nn);
}

/* Batch axes of a matmul operand all of size 1 (or absent): one matrix for every result. */
static int batch_is_broadcast(const ir_shape *s)
{
    for (int i = 0; i < s->rank - 2; i++)
        if (s->d[i] != 1)
            return 0;
    return 1;
}

/* Activations x weights: A not transposed, B weight-only, K and N constants;
 * then the form codegen_c_gemm.c picks for the shape. */
static ebmc_gemm_form own_gemm_form(const ebmc_cg_program *p, int id, const gemm_ctx *c, poly k, poly nn)
{
    if (c->ta || !p->info.invariant[operand_src(p, id, 1)])
        return EBMC_GEMM_BLAS;
    poly kc = p_const(k.c[0]), nc = p_const(nn.c[0]);
    if (!p_eq(k, kc) || !p_eq(nn, nc))
        return EBMC_GEMM_BLAS;
    return ebmc_gemm_form_of(k.c[0], nn.c[0], c->tb);
}

/* [.., M, K] x [.., K, N]: one sgemm (or generated GEMM) per result matrix,
 * batch axes broadcast; when B is the same matrix for every batch index and A
 * is dense over them, the batch folds into M and one call does it all.
 * Returns whether the generated GEMM is used. */
static int emit_matmul(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    const ir_shape *as = &p->g->nodes[nd->in[0]].shape, *bs = &p->g->nodes[nd->in[1]].shape;
    gemm_ctx c;
    memset(&c, 0, sizeof c);
    c.ta = p->info.view[nd->in[0]] == EBMC_VIEW_MATMUL_T;
    c.tb = p->info.view[nd->in[1]] == EBMC_VIEW_MATMUL_T;
    poly m = p_dim(as->d[as->rank - 2]), k = p_dim(as->d[as->rank - 1]), nn = p_dim(bs->d[bs->rank - 1]);
    pshape out = ps_of(&nd->shape), batch = out, ab = ps_of(as), bb = ps_of(bs);
    batch.rank -= 2;
    ab.rank -= 2;
    bb.rank -= 2;
    if (p_is(m, 0) || p_is(nn, 0))
        return 0;
    if (p_is(k, 0)) {   /* an empty sum; BLAS rejects zero leading dimensions */
        emit_fill(b, "out", ps_numel(&out), "0.0f", 1);
        return 0;
    }
    c.form = own_gemm_form(p, id, &c, k, nn);
    c.kc = k.c[0];
    c.nc = nn.c[0];
    p_str(k, c.k, sizeof c.k);
    p_str(nn, c.nn, sizeof c.nn);
    p_str(c.ta ? m : k, c.lda, sizeof c.lda);
    p_str(c.tb ? k : nn, c.ldb, sizeof c.ldb);
    nest ns;
    memset(&ns, 0, sizeof ns);
    ns.nv = 3;
    if (batch.rank > 0 && !c.ta && batch_is_broadcast(bs) && ab.rank == batch.rank &&
        p_eq(ps_numel(&ab), ps_numel(&batch))) {
        m = p_mul(m, ps_numel(&batch));
    } else {
        ns.space = batch;
        ns.v[0] = v_broadcast(&batch, &batch);
        ns.v[1] = v_broadcast(&ab, &batch);
        ns.v[2] = v_broadcast(&bb, &batch);
        for (int a = 0; a < batch.rank; a++) {
            ns.v[0].stride[a] = p_mul(ns.v[0].stride[a], p_mul(m, nn));
            ns.v[1].stride[a] = p_mul(ns.v[1].stride[a], p_mul(m, k));
            ns.v[2].stride[a] = p_mul(ns.v[2].stride[a], p_mul(k, nn));
        }
        nest_simplify(&ns);
    }
    p_str(m, c.m, sizeof c.m);
    nest_emit(b, &ns, 1, gemm_body, &c);
    return c.form != EBMC_GEMM_BLAS;
}

/* ---- convolution ---------------------------------------------------------------------------- */

typedef struct conv_geom {
    const ir_shape *x, *w, *y;   /* x [B,C,H,W], w [O,C/g,kh,kw], y [B,O,ho,wo] */
    const ir_conv_attr *a;
    int64_t c, h, wd, o, kh, kw, ho, wo, group, cg, og, krows, hw_in, hw_out;
    int64_t hq, wq, planes;   /* the helpers' phase planes: hq x wq, floats per sample and channel */
} conv_geom;

static conv_geom conv_geom_of(const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    const ir_shape *s0 = &p->g->nodes[nd->in[0]].shape, *s1 = &p->g->nodes[nd->in[1]].shape;
    conv_geom gm;
    memset(&gm, 0, sizeof gm);
    gm.a = &nd->attr.conv;
    if (nd->op == IR_OP_CONV2D)
        gm.x = s0, gm.w = s1, gm.y = &nd->shape;
    else if (nd->op == IR_OP_CONV2D_BWD_DATA)
        gm.y = s0, gm.w = s1, gm.x = &nd->shape;
    else
        gm.x = s0, gm.y = s1, gm.w = &nd->shape;
    gm.c = gm.x->d[1], gm.h = gm.x->d[2], gm.wd = gm.x->d[3];
    gm.o = gm.w->d[0], gm.kh = gm.w->d[2], gm.kw = gm.w->d[3];
    gm.ho = gm.y->d[2], gm.wo = gm.y->d[3];
    gm.group = gm.a->group > 0 ? gm.a->group : 1;
    gm.cg = gm.w->d[1];
    gm.og = gm.o / gm.group;
    gm.krows = gm.cg * gm.kh * gm.kw;
    gm.hw_in = gm.h * gm.wd;
    gm.hw_out = gm.ho * gm.wo;
    gm.hq = gm.ho + (gm.kh - 1) * gm.a->dilation[0] / gm.a->stride[0];
    gm.wq = gm.wo + (gm.kw - 1) * gm.a->dilation[1] / gm.a->stride[1];
    gm.planes = gm.a->stride[0] * gm.a->stride[1] * gm.hq * gm.wq;
    return gm;
}

/* 1x1, stride 1, no padding: the im2col matrix is the input itself. */
static int conv_pointwise(const conv_geom *gm)
{
    const ir_conv_attr *a = gm->a;
    return gm->kh == 1 && gm->kw == 1 && a->stride[0] == 1 && a->stride[1] == 1 && !a->pad[0] && !a->pad[1] &&
           !a->pad[2] && !a->pad[3];
}

/* Scratch a chunk of samples may use: the im2col matrices of all its samples
 * side by side (one GEMM for the chunk instead of one per sample, which for
 * the small images of EBMs is mostly call overhead), the staging copy of y or
 * dy in [og][sample][ho*wo] order and the phase planes of x or dx.  A chunk
 * is CONV_CHUNK_FLOATS (256 KiB, so that what im2col writes is still in L2
 * when the GEMM reads it), but at least CONV_CHUNK_COLUMNS GEMM columns:
 * OpenBLAS packs the weights once per call, which on narrow GEMMs costs as
 * much as the product (cifar's 4x4 images with 2304-row im2col matrices:
 * ~10% of a step at one sample per GEMM). */
#define CONV_CHUNK_FLOATS ((int64_t)1 << 16)
#define CONV_CHUNK_COLUMNS 256

static int64_t conv_per_sample(const conv_geom *gm)
{
    if (conv_pointwise(gm))   /* x and y staged, no im2col */
        return (gm->cg + gm->og) * gm->hw_out;
    return (gm->krows + gm->og) * gm->hw_out + gm->cg * gm->planes;
}

/* Samples per GEMM (at most the tile). */
static int64_t conv_chunk(const conv_geom *gm, int64_t tile)
{
    int64_t per = conv_per_sample(gm);
    int64_t s = per > 0 ? CONV_CHUNK_FLOATS / per : tile;
    int64_t wide = gm->hw_out > 0 ? (CONV_CHUNK_COLUMNS + gm->hw_out - 1) / gm->hw_out : 1;
    s = s > wide ? s : wide;
    return s < 1 ? 1 : s > tile ? tile : s;
}

/* Winograd F(2x2, 3x3) or F(4x4, 3x3) (the helpers' ebmk_wino_* and
 * ebmk_wino4_*; wino_r picks) for CONV2D and its transpose CONV2D_BWD_DATA
 * when both are 3x3 stride-1 convolutions padded by 1 on every side,
 * ungrouped, with enough channels that the 16 (36) GEMMs over channels
 * outweigh the tile transforms: 2.25x (4x) fewer multiply-adds. */
#define WINO_MIN_CHANNELS 16

static int conv_winograd(const conv_geom *gm, ir_op op)
{
    const ir_conv_attr *a = gm->a;
    return (op == IR_OP_CONV2D || op == IR_OP_CONV2D_BWD_DATA) && gm->kh == 3 && gm->kw == 3 && a->stride[0] == 1 &&
           a->stride[1] == 1 && a->dilation[0] == 1 && a->dilation[1] == 1 && a->pad[0] == 1 && a->pad[1] == 1 &&
           a->pad[2] == 1 && a->pad[3] == 1 && gm->group == 1 && gm->c >= WINO_MIN_CHANNELS &&
           gm->o >= WINO_MIN_CHANNELS && gm->ho == gm->h && gm->wo == gm->wd;
}

/* Samples per chunk of the transformed tiles v [n, c, T] and m [n, o, T]:
 * the transforms run over a tile's samples, so a chunk is one AVX-512 vector
 * of them.  Measured per call on Zen 5 (tile 32 / 16): 16 samples against 4
 * and 8 is 25-40% faster on 4x4 and 8x8 images with 64-256 channels and
 * 7x7 with 32-64, and still 20% faster on 16x16 with 32 channels (1024
 * columns per GEMM, v 2 MiB). */
#define WINO_CHUNK 16

/* The floats between cells of v and m: the helpers' EBMK_WINO_GAP. */
#define WINO_GAP 16

static int64_t wino_chunk(int64_t tile)
{
    return tile < WINO_CHUNK ? tile : WINO_CHUNK;
}

/* Output tiles per sample of F(r x r, 3x3), r = 2 or 4. */
static int64_t wino_tiles(const conv_geom *gm, int r)
{
    return ((gm->h + r - 1) / r) * ((gm->wd + r - 1) / r);
}

/* F(4x4, 3x3) (36 products per 16 outputs, against 64 for F(2x2, 3x3)) when
 * a chunk has at least WINO4_MIN_COLUMNS columns (tiles x samples): fewer
 * leave the GEMMs too narrow to hide the fma latency (4x4 images on tiles of
 * 16 samples stay F(2x2, 3x3)); and only up to WINO4_MAX_CHANNELS channels
 * on either side: its float32 error grows with the GEMMs' depth.  Norm-wise
 * relative error of test_codegen_conv's score (a convolution and its input
 * gradient) against the float64 executor: F(2x2, 3x3) 2-5e-7 at 16-32
 * channels; F(4x4, 3x3) 3.4e-6 at 32, 4.9e-6 at 64, 8.4e-6 at 128 and
 * 1.1e-5 at 256 (over the tests' 1e-5). */
#define WINO4_MIN_COLUMNS 64
#define WINO4_MAX_CHANNELS 64

static int wino_r(const conv_geom *gm, int64_t tile)
{
    return gm->c <= WINO4_MAX_CHANNELS && gm->o <= WINO4_MAX_CHANNELS &&
                   wino_chunk(tile) * wino_tiles(gm, 4) >= WINO4_MIN_COLUMNS
               ? 4
               : 2;
}

/* The input gradient's product runs as ebmk_gemm_nn on W^T, every group's
 * W_g^T copied into the front of the scratch once per call; the other
 * products need none. */
static int64_t conv_wt_floats(const conv_geom *gm, ir_op op)
{
    return op == IR_OP_CONV2D_BWD_DATA ? gm->o * gm->krows : 0;
}

static int64_t wino_scratch(const conv_geom *gm, int64_t tile)
{
    /* per sample: the transformed tiles and a padded plane, (r*th+2) x (r*tw+2) */
    int r = wino_r(gm, tile);
    int64_t cells = (r + 2) * (r + 2), th = (gm->h + r - 1) / r, tw = (gm->wd + r - 1) / r;
    int64_t per = cells * (gm->c + gm->o) * wino_tiles(gm, r) + (r * th + 2) * (r * tw + 2);
    return cells * gm->c * gm->o + wino_chunk(tile) * per + 2 * cells * WINO_GAP;
}

int64_t ebmc_kernel_scratch_floats(const ebmc_cg_program *p, int id)
{
    ir_op op = p->g->nodes[id].op;
    if (op != IR_OP_CONV2D && op != IR_OP_CONV2D_BWD_DATA && op != IR_OP_CONV2D_BWD_FILTER)
        return 0;
    conv_geom gm = conv_geom_of(p, id);
    if (conv_pointwise(&gm) && op == IR_OP_CONV2D_BWD_FILTER)
        return 0;
    int64_t tile = ir_shape_has_batch(gm.x) ? p->tile : 1;
    if (conv_winograd(&gm, op))
        return wino_scratch(&gm, tile) - ebmc_kernel_prologue_floats(p, id);
    return conv_wt_floats(&gm, op) + conv_chunk(&gm, tile) * conv_per_sample(&gm);
}

/* A Winograd convolution of weights the call cannot change (parameters, or
 * values of them) has its kernels transformed by the prologue, once per
 * call, not at every run of the body: for cifar's 256-channel 4x4 layer,
 * 4 MiB of transformed kernels per 16-sample tile and step. */
int64_t ebmc_kernel_prologue_floats(const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    if ((nd->op != IR_OP_CONV2D && nd->op != IR_OP_CONV2D_BWD_DATA) || p->info.invariant[id] ||
        !p->info.invariant[p->info.root[nd->in[1]]])
        return 0;
    conv_geom gm = conv_geom_of(p, id);
    if (conv_pointwise(&gm) || !conv_winograd(&gm, nd->op))
        return 0;
    int r = wino_r(&gm, ir_shape_has_batch(gm.x) ? p->tile : 1);
    return (int64_t)(r + 2) * (r + 2) * gm.c * gm.o;
}

void ebmc_emit_kernel_prologue(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    conv_geom gm = conv_geom_of(p, id);
    int bwd = nd->op == IR_OP_CONV2D_BWD_DATA, r = wino_r(&gm, ir_shape_has_batch(gm.x) ? p->tile : 1);
    long long ci = bwd ? gm.o : gm.c, co = bwd ? gm.c : gm.o;
    char w[128];
    ebmc_value_ptr(p, operand_src(p, id, 1), w, sizeof w);
    ebmc_buf_printf(b,
                    "    {   /* %%%d's kernels, F(%dx%d, 3x3) */\n"
                    "        static const ebmk_wino wg = {%lld, %lld, %lld, %lld, %lld, %lld};\n"
                    "        float kt[%lld];\n"
                    "        ebmk_wino_weights(&wg, %s, %d, %d, kt, (float *)(A + %lld));\n"
                    "    }\n",
                    id, r, r, ci, co, (long long)gm.h, (long long)gm.wd, (long long)((gm.h + r - 1) / r),
                    (long long)((gm.wd + r - 1) / r), 9 * ci, w, bwd, r,
                    (long long)p->bufs[p->v[id].pro_buffer].offset);
}

/* The geometry as a comment, and (unless no_helpers) as the constant the
 * im2col helpers read. */
static void emit_conv_geometry(ebmc_buf *b, const conv_geom *gm, const char *batch, int no_helpers)
{
    const ir_conv_attr *a = gm->a;
    ebmc_buf_printf(b,
                    "    /* x [%s,%lld,%lld,%lld], w [%lld,%lld,%lld,%lld], y [%s,%lld,%lld,%lld]; group %lld, "
                    "stride %lldx%lld, pad %lld,%lld,%lld,%lld, dilation %lldx%lld */\n",
                    batch, (long long)gm->c, (long long)gm->h, (long long)gm->wd, (long long)gm->o, (long long)gm->cg,
                    (long long)gm->kh, (long long)gm->kw, batch, (long long)gm->o, (long long)gm->ho, (long long)gm->wo,
                    (long long)gm->group, (long long)a->stride[0], (long long)a->stride[1], (long long)a->pad[0],
                    (long long)a->pad[1], (long long)a->pad[2], (long long)a->pad[3], (long long)a->dilation[0],
                    (long long)a->dilation[1]);
    if (no_helpers)
        return;
    ebmc_buf_printf(b,
                    "    static const ebmk_conv geom = {%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, "
                    "%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld};\n",
                    (long long)gm->cg, (long long)gm->h, (long long)gm->wd, (long long)gm->kh, (long long)gm->kw,
                    (long long)gm->ho, (long long)gm->wo, (long long)a->stride[0], (long long)a->stride[1],
                    (long long)a->pad[0], (long long)a->pad[1], (long long)a->dilation[0], (long long)a->dilation[1],
                    (long long)gm->c * gm->hw_in, (long long)gm->o * gm->hw_out, (long long)gm->og, (long long)gm->hq,
                    (long long)gm->wq);
}

/* 1x1 stride-1 unpadded convolutions, x_g itself being the im2col matrix of
 * group g, W_g its [og, cg] block.  The forward pass and the input gradient
 * run per chunk of ns samples, X and Y the chunk's x_g and y_g staged as
 * [cg, ns*hw] and [og, ns*hw] (one sample: x_g and y_g in place), with
 * ebmk_gemm_nn (one product for the chunk: cifar's 4x4 images gave sgemm 16
 * columns per call):
 *   CONV2D             Y  = W_g . X
 *   CONV2D_BWD_DATA    X  = W_g^T . Y    (W^T copied once per call)
 * and the filter gradient per sample with sgemm:
 *   CONV2D_BWD_FILTER  dW_g += dy_g . x_g^T */
static void emit_conv_pointwise(ebmc_buf *b, ir_op op, const conv_geom *gm, const char *bs, int64_t chunk)
{
    long long og = gm->og, cg = gm->cg, hw = gm->hw_out, c = gm->c, o = gm->o;
    if (op == IR_OP_CONV2D_BWD_FILTER) {
        ebmc_buf_printf(b,
                        "    for (int64_t b = 0; b < %s; b++)\n"
                        "        for (int64_t g = 0; g < %lld; g++)\n"
                        "            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, %lld, %lld, %lld, 1.0f, "
                        "in1 + (b * %lld + g * %lld) * %lld, %lld, in0 + (b * %lld + g * %lld) * %lld, %lld, 1.0f, "
                        "out + g * %lld, %lld);\n",
                        bs, (long long)gm->group, og, cg, hw, o, og, hw, hw, c, cg, hw, hw, og * cg, cg);
        return;
    }
    int bwd = op == IR_OP_CONV2D_BWD_DATA;
    /* the product's output: rows and their source (the kernel's operands) */
    long long ro = bwd ? cg : og, ri = bwd ? og : cg;   /* rows of the result, rows of the right operand */
    long long co = bwd ? c : o, ci = bwd ? o : c;        /* channels of the result and the right operand's tensor */
    ebmc_buf_printf(b,
                    "    float *restrict wt = tmp, *restrict xin = tmp + %lld, *restrict xout = xin + %lld;\n"
                    "    (void)wt;\n",
                    bwd ? o * cg : 0LL, (long long)chunk * ri * hw);
    if (bwd)
        ebmc_buf_printf(b,
                        "    for (int64_t g = 0; g < %lld; g++)\n"
                        "        ebmk_conv_transpose(%lld, %lld, in1 + g * %lld, wt + g * %lld);\n",
                        (long long)gm->group, og, cg, og * cg, og * cg);
    ebmc_buf_printf(b,
                    "    for (int64_t s0 = 0; s0 < %s; s0 += %lld) {\n"
                    "        const int64_t ns = %s - s0 < %lld ? %s - s0 : %lld, ld = ns * %lld;\n"
                    "        for (int64_t g = 0; g < %lld; g++) {\n"
                    "            const float *wg = %s + g * %lld;\n"
                    "            const float *src = in0 + (s0 * %lld + g * %lld) * %lld;\n"
                    "            float *dst = out + (s0 * %lld + g * %lld) * %lld;\n"
                    "            if (ns == 1) {\n"
                    "                ebmk_gemm_nn(%lld, %lld, %lld, wg, src, dst);\n"
                    "                continue;\n"
                    "            }\n"
                    "            ebmk_stage_planes(%lld, %lld, %lld, (float *)in0 + g * %lld, s0, ns, xin, 1);\n"
                    "            ebmk_gemm_nn(%lld, %lld, ld, wg, xin, xout);\n"
                    "            ebmk_stage_planes(%lld, %lld, %lld, out + g * %lld, s0, ns, xout, 0);\n"
                    "        }\n"
                    "    }\n",
                    bs, (long long)chunk, bs, (long long)chunk, bs, (long long)chunk, hw, (long long)gm->group,
                    bwd ? "wt" : "in1", og * cg, ci, ri, hw, co, ro, hw, ro, ri, hw, ri, hw, ci * hw, ri * hw, ro, ri,
                    ro, hw, co * hw, ro * hw);
}

/* Chunks of ns samples s0.., per group g, with W_g the group's [og, krows]
 * block, COL the chunk's im2col matrices side by side [krows, ns*ho*wo], Y
 * the chunk's y (or dy) staged as [og, ns*ho*wo] and PAD the phase planes of
 * the chunk's x (or dx):
 *   CONV2D             PAD = x, COL = im2col(PAD), Y = W_g . COL, then y = Y
 *   CONV2D_BWD_DATA    COL = W_g^T . Y, PAD = col2im(COL), then dx = PAD
 *   CONV2D_BWD_FILTER  PAD = x, COL = im2col(PAD), dW_g += Y . COL^T
 * the executor's per-sample products, with the samples of a chunk in one GEMM:
 * ebmc's own (codegen_c_gemm.c) for the first two, OpenBLAS for the filter
 * gradient (param_grad only). */
static void emit_conv_chunked(ebmc_buf *b, ir_op op, const conv_geom *gm, const char *bs, int64_t chunk)
{
    long long og = gm->og, kr = gm->krows, hw = gm->hw_out;
    const char *x = op == IR_OP_CONV2D_BWD_DATA ? "out" : "in0";
    const char *y = op == IR_OP_CONV2D ? "out" : op == IR_OP_CONV2D_BWD_DATA ? "in0" : "in1";
    const char *w = op == IR_OP_CONV2D_BWD_FILTER ? "out" : "in1";
    ebmc_buf_printf(b,
                    "    float *restrict wt = tmp, *restrict col = tmp + %lld;   /* wt: W^T for the input gradient */\n"
                    "    float *restrict stage = col + %lld, *restrict pad = stage + %lld;\n"
                    "    (void)wt;\n",
                    (long long)conv_wt_floats(gm, op), (long long)(chunk * kr * hw), (long long)(chunk * og * hw));
    if (op == IR_OP_CONV2D_BWD_DATA)
        ebmc_buf_printf(b,
                        "    for (int64_t g = 0; g < %lld; g++)\n"
                        "        ebmk_conv_transpose(%lld, %lld, %s + g * %lld, wt + g * %lld);\n",
                        (long long)gm->group, og, kr, w, og * kr, og * kr);
    ebmc_buf_printf(b,
                    "    for (int64_t s0 = 0; s0 < %s; s0 += %lld) {\n"
                    "        const int64_t ns = %s - s0 < %lld ? %s - s0 : %lld, ld = ns * %lld;\n"
                    "        for (int64_t g = 0; g < %lld; g++) {\n",
                    bs, (long long)chunk, bs, (long long)chunk, bs, (long long)chunk, hw, (long long)gm->group);
    if (op != IR_OP_CONV2D_BWD_DATA)
        ebmc_buf_printf(b, "            ebmk_pad_in(&geom, %s, s0, ns, g, pad);\n"
                        "            ebmk_im2col_chunk(&geom, pad, ns, col);\n", x);
    /* one sample: its y_g (or dy_g) is the staged matrix itself */
    ebmc_buf_printf(b, "            float *yg = ns == 1 ? (float *)%s + s0 * %lld + g * %lld : stage;\n",
                    y, (long long)gm->o * hw, og * hw);
    if (op != IR_OP_CONV2D)
        ebmc_buf_printf(b, "            if (ns > 1)\n"
                        "                ebmk_stage(&geom, (float *)%s, s0, ns, g, stage, 1);\n", y);
    if (op == IR_OP_CONV2D)
        ebmc_buf_printf(b, "            ebmk_gemm_nn(%lld, %lld, ld, %s + g * %lld, col, yg);\n"
                        "            if (ns > 1)\n"
                        "                ebmk_stage(&geom, %s, s0, ns, g, stage, 0);\n", og, kr, w, og * kr, y);
    else if (op == IR_OP_CONV2D_BWD_DATA)
        ebmc_buf_printf(b, "            ebmk_gemm_nn(%lld, %lld, ld, wt + g * %lld, yg, col);\n"
                        "            ebmk_col2im_chunk(&geom, col, ns, pad);\n"
                        "            ebmk_pad_out(&geom, pad, s0, ns, g, %s);\n", kr, og, og * kr, x);
    else
        ebmc_buf_printf(b, "            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, %lld, %lld, (int)ld, 1.0f, "
                        "yg, (int)ld, col, (int)ld, 1.0f, %s + g * %lld, %lld);\n", og, kr, w, og * kr, kr);
    ebmc_buf_puts(b, "        }\n    }\n");
}

/* Winograd F(r x r, 3x3) with n = (r+2)^2 cells: u = the transformed kernels
 * [n, co, ci] (once per call), then per chunk v = input tiles [n, ci, T], n
 * GEMMs m_k = u_k . v_k, and the output tiles from m.  CONV2D_BWD_DATA is
 * the same convolution of dy with the kernels transposed and rotated
 * (ci = o, co = c). */
static void emit_conv_winograd(ebmc_buf *b, ir_op op, const conv_geom *gm, const char *bs, int64_t tile, int pro)
{
    int bwd = op == IR_OP_CONV2D_BWD_DATA, r = wino_r(gm, tile);
    long long ci = bwd ? gm->o : gm->c, co = bwd ? gm->c : gm->o, tiles = wino_tiles(gm, r);
    long long n = (r + 2) * (r + 2), chunk = wino_chunk(tile);
    const char *f = r == 4 ? "wino4" : "wino";
    char head[256], wts[256];
    if (pro) {   /* u: transformed by the prologue (ebmc_emit_kernel_prologue) */
        snprintf(head, sizeof head,
                 "    const float *restrict u = uw;   /* in1's kernels, transformed */\n"
                 "    float *restrict v = tmp, *restrict m = v + %lld;\n    (void)in1;\n",
                 chunk * n * ci * tiles + n * WINO_GAP);
        wts[0] = 0;
    } else {
        snprintf(head, sizeof head, "    float *restrict u = tmp, *restrict v = tmp + %lld, *restrict m = v + %lld;\n",
                 n * ci * co, chunk * n * ci * tiles + n * WINO_GAP);
        snprintf(wts, sizeof wts, "    ebmk_wino_weights(&wg, in1, %d, %d, v, u);   /* v: room for the kernels' taps [9, ci] */\n",
                 bwd, r);
    }
    ebmc_buf_printf(b,
                    "    static const ebmk_wino wg = {%lld, %lld, %lld, %lld, %lld, %lld};   /* F(%dx%d, 3x3) */\n"
                    "%s"
                    "%s"
                    "    for (int64_t s0 = 0; s0 < %s; s0 += %lld) {\n"
                    "        const int64_t ns = %s - s0 < %lld ? %s - s0 : %lld, ld = ns * %lld;\n"
                    "        ebmk_%s_in(&wg, in0, s0, ns, m + %lld * (%lld * ld + EBMK_WINO_GAP), v);\n"
                    "        for (int64_t k = 0; k < %lld; k++)\n"
                    "            ebmk_gemm_nn(%lld, %lld, ld, u + k * %lld, v + k * (%lld * ld + EBMK_WINO_GAP),\n"
                    "                         m + k * (%lld * ld + EBMK_WINO_GAP));\n"
                    "        ebmk_%s_out(&wg, m, s0, ns, m + %lld * (%lld * ld + EBMK_WINO_GAP), out);\n"
                    "    }\n",
                    ci, co, (long long)gm->h, (long long)gm->wd, (long long)((gm->h + r - 1) / r),
                    (long long)((gm->wd + r - 1) / r), r, r, head, wts, bs, chunk,
                    bs, chunk, bs, chunk, tiles, f, n, co, n, co, ci, co * ci, ci, co, f, n, co);
}

static void emit_conv(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    ir_op op = p->g->nodes[id].op;
    conv_geom gm = conv_geom_of(p, id);
    int pw = conv_pointwise(&gm);
    char bs[128];
    p_str(p_dim(gm.x->d[0]), bs, sizeof bs);
    emit_conv_geometry(b, &gm, bs, pw || conv_winograd(&gm, op));
    if (op == IR_OP_CONV2D_BWD_FILTER) {   /* accumulated into; the other ops write every element */
        pshape out = ps_of(&p->g->nodes[id].shape);
        emit_fill(b, "out", ps_numel(&out), "0.0f", 1);
    }
    int64_t tile = ir_shape_has_batch(gm.x) ? p->tile : 1;
    if (pw)
        emit_conv_pointwise(b, op, &gm, bs, conv_chunk(&gm, tile));
    else if (conv_winograd(&gm, op))
        emit_conv_winograd(b, op, &gm, bs, tile, p->v[id].pro_buffer >= 0);
    else
        emit_conv_chunked(b, op, &gm, bs, conv_chunk(&gm, tile));
}

/* ---- pooling ---------------------------------------------------------------------------------- */

static void emit_pool(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    const ir_node *nd = &p->g->nodes[id];
    ir_op op = nd->op;
    const ir_pool_attr *a = &nd->attr.pool;
    int fwd = op == IR_OP_MAXPOOL2D || op == IR_OP_AVGPOOL2D || op == IR_OP_MAXPOOL2D_GATHER;
    const ir_shape *xs = op == IR_OP_AVGPOOL2D_BWD ? &nd->shape : &p->g->nodes[nd->in[0]].shape;
    const ir_shape *ys = fwd ? &nd->shape : &p->g->nodes[nd->in[nd->n_in - 1]].shape;
    char planes[128];
    p_str(p_mul(p_dim(xs->d[0]), p_dim(xs->d[1])), planes, sizeof planes);
    ebmc_buf_printf(b,
                    "    static const ebmk_pool geom = {%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, "
                    "%lld, %lld, %lld, %lld, %d};\n",
                    (long long)xs->d[2], (long long)xs->d[3], (long long)ys->d[2], (long long)ys->d[3],
                    (long long)a->kernel[0], (long long)a->kernel[1], (long long)a->stride[0],
                    (long long)a->stride[1], (long long)a->dilation[0], (long long)a->dilation[1],
                    (long long)a->pad[0], (long long)a->pad[1], (long long)a->pad[2], (long long)a->pad[3],
                    a->count_include_pad ? 1 : 0);
    switch (op) {
    case IR_OP_MAXPOOL2D:
        ebmc_buf_printf(b, "    ebmk_maxpool(&geom, %s, in0, NULL, out);\n", planes);
        break;
    case IR_OP_MAXPOOL2D_GATHER:
        ebmc_buf_printf(b, "    ebmk_maxpool(&geom, %s, in0, in1, out);\n", planes);
        break;
    case IR_OP_MAXPOOL2D_BWD:
        ebmc_buf_printf(b, "    ebmk_maxpool_bwd(&geom, %s, in0, in1, out);\n", planes);
        break;
    case IR_OP_AVGPOOL2D:
        ebmc_buf_printf(b, "    ebmk_avgpool(&geom, %s, in0, out);\n", planes);
        break;
    default:
        ebmc_buf_printf(b, "    ebmk_avgpool_bwd(&geom, %s, in0, out);\n", planes);
        break;
    }
}

/* ---- dispatch ----------------------------------------------------------------------------------- */

ebm_status ebmc_emit_kernel(ebmc_buf *b, const ebmc_cg_program *p, int id, unsigned *helpers, ebm_error *err)
{
    const ir_node *nd = &p->g->nodes[id];
    ir_op op = nd->op;
    if (fused_kernel(p, id)) {
        *helpers |= EBMC_HELP_FLOAT;
        emit_fused(b, p, id);
        ebmc_buf_puts(b, "}\n\n");
        return EBM_OK;
    }
    emit_kernel_comment(b, p, id);
    emit_signature(b, p, id, p->v[id].scratch_floats > 0);
    ebm_status st = EBM_OK;
    {
        switch (ir_op_get(op)->kernel) {   /* the KERNEL column of ops.def */
        case IR_KERNEL_REDUCE:
            emit_reduce(b, p, id);
            break;
        case IR_KERNEL_MATMUL:
            if (emit_matmul(b, p, id))
                *helpers |= EBMC_HELP_GEMM;
            break;
        case IR_KERNEL_CONV:
            *helpers |= EBMC_HELP_CONV | EBMC_HELP_GEMM;
            emit_conv(b, p, id);
            break;
        case IR_KERNEL_POOL:
            *helpers |= EBMC_HELP_POOL;
            emit_pool(b, p, id);
            break;
        case IR_KERNEL_MOVEMENT:   /* RESHAPE never gets here: it is a view (EBMC_VIEW_ALIAS) */
            emit_movement(b, p, id);
            break;
        default: {
            char lb[256];
            st = ebm_fail(err, EBM_ERR_UNSUPPORTED, "codegen: %s: op %s has no kernel in the C backend",
                          ir_node_label(p->g, id, lb, sizeof lb), ir_op_get(op)->name);
            break;
        }
        }
    }
    ebmc_buf_puts(b, "}\n\n");
    return st;
}

/* Writes the call of node id's kernel (one line of a prologue or body). */
void ebmc_emit_kernel_call(ebmc_buf *b, const ebmc_cg_program *p, int id)
{
    if (fused_kernel(p, id)) {
        emit_fused_call(b, p, id);
        return;
    }
    const ir_node *nd = &p->g->nodes[id];
    char name[160], ptr[128];
    ebmc_kernel_name(p, id, name, sizeof name);
    ebmc_buf_printf(b, "    %s(", name);
    const char *sep = "";
    if (ebmc_kernel_uses_n(p, id)) {
        ebmc_buf_puts(b, "n");
        sep = ", ";
    }
    for (int k = 0; k < nd->n_in; k++) {
        ebmc_value_ptr(p, operand_src(p, id, k), ptr, sizeof ptr);
        ebmc_buf_printf(b, "%s%s", sep, ptr);
        sep = ", ";
    }
    ebmc_value_ptr(p, id, ptr, sizeof ptr);
    ebmc_buf_printf(b, "%s%s", sep, ptr);
    if (p->v[id].scratch_floats > 0)
        ebmc_buf_printf(b, ", (float *)(A + %lld)", (long long)p->bufs[p->v[id].scratch_buffer].offset);
    if (p->v[id].pro_buffer >= 0)
        ebmc_buf_printf(b, ", (const float *)(A + %lld)", (long long)p->bufs[p->v[id].pro_buffer].offset);
    ebmc_buf_puts(b, ");\n");
}
