/* codegen_c_kernels.c — one C function per kernel of a program: names,
 * signatures, calls, the float forms of the elementwise ops, and the dispatch
 * to the kernel families, each in a file of its own:
 *   codegen_c_fused.c    fused elementwise loops (and the Langevin epilogue)
 *   codegen_c_loops.c    reductions and movement ops
 *   codegen_c_matmul.c   MATMUL (cblas_sgemm or the generated GEMM, codegen_c_gemm.c)
 *   codegen_c_conv.c     convolutions (im2col, Winograd, pointwise)
 *   codegen_c_pool.c     pooling
 * over the loop nests of codegen_c_nest.c.
 *
 * Every kernel computes one core op (or a fused group) from dense C-order
 * operands into a dense result, with the semantics of the reference executor
 * (compiler/exec.c) — the oracle the generated code is tested against.
 * Elementwise members call ebmk_<op>(...), the float_expr column of
 * ir/ops.def (the float form of the executor's scalar_expr, with exp as a
 * vectorisable polynomial).
 *
 * Shapes are static except the batch size n, a parameter of the kernels that
 * need it; sizes and strides are polynomials in n (poly.h), so every index
 * expression is exact for any n <= tile.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

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

const char *ebmc_emit_kernel_open(ebmc_buf *b, const ebmc_cg_program *p, int id, int call)
{
    char name[160];
    ebmc_kernel_name(p, id, name, sizeof name);
    ebmc_buf_printf(b, call ? "    %s(" : "EBM_SHARED void %s(", name);
    if (!ebmc_kernel_uses_n(p, id))
        return "";
    ebmc_buf_puts(b, call ? "n" : "int64_t n");
    return ", ";
}

static void emit_signature(ebmc_buf *b, const ebmc_cg_program *p, int id, int scratch)
{
    const ir_node *nd = &p->g->nodes[id];
    const char *sep = ebmc_emit_kernel_open(b, p, id, 0);
    for (int k = 0; k < nd->n_in; k++) {
        ebmc_buf_printf(b, "%sconst float *restrict in%d", sep, k);
        sep = ", ";
    }
    ebmc_buf_printf(b, "%sfloat *restrict out%s%s)\n{\n", sep, scratch ? ", float *restrict tmp" : "",
                    p->v[id].pro_buffer >= 0 ? ", const float *restrict uw" : "");
}

static const char *const var_names[3] = {"x", "y", "z"};

int ebmc_float_op_takes_p(ir_op op)
{
    return expr_uses(ir_op_get(op)->float_expr, 'P');
}

/* ---- the float forms of the scalar expressions ------------------------------------------- */

/* pows with the exponents GroupNorm, LayerNorm and their derivatives make
 * (var^-0.5, its derivative's ^-1.5, squares, square roots): sqrtf, a
 * division, products, which vectorise, instead of a powf call per element.
 * Each is within 2 ulp of pow (test_codegen pows_matches_pow) and keeps
 * pow's special values: x = -0 gives +0 or +inf (sqrtf(-0) + 0 is +0),
 * x = -inf gives +inf or +0, x < 0 NaN.  Other exponents call powf. */
static const char pows_body[] =
    "EBMK_INLINE float ebmk_pows(float x, float P)\n"
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
        /* forced inline at -O0 too: a call per element and op was most of the
         * JIT's quick tier's time (jit.h); the optimised code inlines them anyway */
        ebmc_buf_printf(b, "static inline __attribute__((always_inline)) float ebmk_%s(", info->name);
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

/* ---- dispatch ----------------------------------------------------------------------------------- */

ebm_status ebmc_emit_kernel(ebmc_buf *b, const ebmc_cg_program *p, int id, unsigned *helpers, ebm_error *err)
{
    const ir_node *nd = &p->g->nodes[id];
    ir_op op = nd->op;
    if (p->kern[id].variant == EBMC_KERNEL_FUSED) {
        *helpers |= EBMC_HELP_FLOAT;
        ebmc_emit_fused(b, p, id);
        ebmc_buf_puts(b, "}\n\n");
        return EBM_OK;
    }
    emit_kernel_comment(b, p, id);
    emit_signature(b, p, id, p->kern[id].scratch_floats > 0);
    ebm_status st = EBM_OK;
    {
        switch (ir_op_get(op)->kernel) {   /* the KERNEL column of ops.def */
        case IR_KERNEL_REDUCE:
            ebmc_emit_reduce(b, p, id);
            break;
        case IR_KERNEL_MATMUL:
            if (ebmc_emit_matmul(b, p, id))
                *helpers |= EBMC_HELP_GEMM;
            break;
        case IR_KERNEL_CONV:
            *helpers |= EBMC_HELP_CONV | EBMC_HELP_GEMM;
            ebmc_emit_conv(b, p, id);
            break;
        case IR_KERNEL_POOL:
            *helpers |= EBMC_HELP_POOL;
            ebmc_emit_pool(b, p, id);
            break;
        case IR_KERNEL_MOVEMENT:   /* RESHAPE never gets here: it is a view (EBMC_VIEW_ALIAS) */
            ebmc_emit_movement(b, p, id);
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
    if (p->kern[id].variant == EBMC_KERNEL_FUSED) {
        ebmc_emit_fused_call(b, p, id);
        return;
    }
    const ir_node *nd = &p->g->nodes[id];
    char ptr[128];
    const char *sep = ebmc_emit_kernel_open(b, p, id, 1);
    for (int k = 0; k < nd->n_in; k++) {
        ebmc_value_ptr(p, ebmc_operand_src(p->g, &p->info, id, k), ptr, sizeof ptr);
        ebmc_buf_printf(b, "%s%s", sep, ptr);
        sep = ", ";
    }
    ebmc_value_ptr(p, id, ptr, sizeof ptr);
    ebmc_buf_printf(b, "%s%s", sep, ptr);
    if (p->kern[id].scratch_floats > 0)
        ebmc_buf_printf(b, ", (float *)(A + %lld)", (long long)p->bufs[p->v[id].scratch_buffer].offset);
    if (p->v[id].pro_buffer >= 0)
        ebmc_buf_printf(b, ", (const float *)(A + %lld)", (long long)p->bufs[p->v[id].pro_buffer].offset);
    ebmc_buf_puts(b, ");\n");
}
