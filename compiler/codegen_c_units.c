/* codegen_c_units.c — the kernels of a model's programs, once each, spread
 * over translation units the C compiler can run on side by side.
 *
 * The programs repeat one another: score holds the energy's forward pass and
 * param_grad the score's, so most forward kernels come out of the emitters
 * two or three times, letter for letter but for their names.  Each distinct
 * kernel is emitted once; a repeat becomes `#define repeat_name first_name`.
 * (gcc merged such twins itself within one file, but only after compiling
 * each; and across files it cannot.)
 *
 * The distinct kernels are then dealt to EBM_UNITS units by their estimated
 * compile cost, longest first, each to the unit with the least so far; unit
 * 0 also holds what calls them (constants, prologues and bodies, entry
 * points, descriptor: codegen_c.c).  The cost is what the C compiler spends,
 * measured on the mnist preset (gcc 12, -O3): a convolution's kernel, whose
 * constant geometry the inlined im2col/Winograd/GEMM helpers unfold, about
 * 1.2-1.4 s through im2col and 2.3 s through Winograd; a matrix product 0.6 s;
 * a fused loop, reduction or copy 0.05 s.
 * Every unit parses the shared part again (prelude, helpers, prototypes:
 * about 0.3 s), so a small model stays one unit.
 *
 * Kernels are EBM_SHARED: static when the file is compiled whole, hidden
 * functions of the shared object when it is compiled as units.
 */
#include <stdlib.h>
#include <string.h>

#include "cc.h"
#include "codegen_c.h"
#include "hash.h"
#include "model.h"

/* Relative costs (see above) and how much cost makes a unit worth its parse. */
enum {
    COST_WINOGRAD = 40,   /* the Winograd transforms unrolled on top of the GEMM: twice an im2col's */
    COST_IM2COL = 20,
    COST_POINTWISE = 10,
    COST_MATMUL = 8,
    COST_POOL = 4,
    COST_OTHER = 1,
    COST_MOST = COST_WINOGRAD,
    COST_GLUE = 48,       /* unit 0's own: the prologues and bodies, entry points, descriptor */
    COST_PER_UNIT = 96,
};

static int kernel_cost(const ebmc_cg_program *p, int id)
{
    switch (p->kern[id].variant) {
    case EBMC_KERNEL_FUSED:
        return COST_OTHER;
    case EBMC_KERNEL_CONV_WINOGRAD:
        return COST_WINOGRAD;
    case EBMC_KERNEL_CONV_IM2COL:
        return COST_IM2COL;
    case EBMC_KERNEL_CONV_POINTWISE:
        return COST_POINTWISE;
    default:
        break;
    }
    switch (ir_op_get(p->g->nodes[id].op)->kernel) {
    case IR_KERNEL_CONV:
        return COST_IM2COL;
    case IR_KERNEL_MATMUL:
        return COST_MATMUL;
    case IR_KERNEL_POOL:
        return COST_POOL;
    default:
        return COST_OTHER;
    }
}

/* The code after "EBM_SHARED void name" (parameters and body), or NULL. */
static const char *code_after_name(const char *text, const char *name)
{
    const char *at = strstr(text, "EBM_SHARED void ");
    size_t len = strlen(name);
    if (!at)
        return NULL;
    at += strlen("EBM_SHARED void ");
    return strncmp(at, name, len) == 0 && at[len] == '(' ? at + len : NULL;
}

static ebm_status add_kernel(ebmc_units *u, const ebmc_cg_program *p, int id, unsigned *helpers, ebm_error *err)
{
    if (u->n == u->cap) {
        int cap = u->cap ? 2 * u->cap : 64;
        ebmc_unit_kernel *k = realloc(u->k, (size_t)cap * sizeof *k);
        if (!k)
            return ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory for the kernel list");
        u->k = k, u->cap = cap;
    }
    ebmc_unit_kernel *k = &u->k[u->n];
    memset(k, 0, sizeof *k);
    ebmc_buf b = {0};
    ebm_status st = ebmc_emit_kernel(&b, p, id, helpers, err);
    if (!st && b.oom)
        st = ebm_fail(err, EBM_ERR_NOMEM, "codegen: out of memory writing the C source");
    if (st) {
        ebm_error_prefix(err, "%s program", p->prefix);
        free(b.s);
        return st;
    }
    k->text = b.s;
    ebmc_kernel_name(p, id, k->name, sizeof k->name);
    k->code = code_after_name(k->text, k->name);
    k->hash = k->code ? base_fnv1a(BASE_FNV1A_INIT, k->code, strlen(k->code)) : 0;
    k->alias = -1;
    k->cost = kernel_cost(p, id);
    for (int j = 0; j < u->n && k->code; j++)
        if (u->k[j].alias < 0 && u->k[j].code && u->k[j].hash == k->hash && strcmp(u->k[j].code, k->code) == 0) {
            k->alias = j;
            break;
        }
    u->n++;
    return EBM_OK;
}

/* Unit of each distinct kernel: longest first to the least loaded unit (ties:
 * the lower unit; equal costs keep their order), unit 0 starting with the glue. */
static void deal(ebmc_units *u)
{
    int total = COST_GLUE;
    for (int i = 0; i < u->n; i++)
        if (u->k[i].alias < 0)
            total += u->k[i].cost;
    u->units = total / COST_PER_UNIT;
    u->units = u->units < 1 ? 1 : u->units > EBMC_CC_MAX_UNITS ? EBMC_CC_MAX_UNITS : u->units;
    int load[EBMC_CC_MAX_UNITS] = {COST_GLUE};
    for (int cost = COST_MOST; cost >= 1; cost--)
        for (int i = 0; i < u->n; i++) {
            ebmc_unit_kernel *k = &u->k[i];
            if (k->alias >= 0 || k->cost != cost)
                continue;
            int best = 0;
            for (int j = 1; j < u->units; j++)
                if (load[j] < load[best])
                    best = j;
            k->unit = k->code ? best : 0;   /* a kernel whose signature was not found stays with its callers */
            load[k->unit] += cost;
        }
}

ebm_status ebmc_units_collect(const ebmc_model *m, ebmc_units *u, unsigned *helpers, ebm_error *err)
{
    memset(u, 0, sizeof *u);
    for (int k = 0; k < m->n_prog; k++) {
        const ebmc_cg_program *p = m->prog[k];
        if (k == EBMC_CG_PARAM_GRAD && m->o->no_param_grad)
            continue;
        for (int i = 0; i < p->g->n_nodes; i++) {
            if (p->v[i].kernel != i)
                continue;
            ebm_status st = add_kernel(u, p, i, helpers, err);
            if (st) {
                ebmc_units_free(u);
                return st;
            }
        }
    }
    deal(u);
    return EBM_OK;
}

void ebmc_units_emit_shared(ebmc_buf *b, const ebmc_units *u)
{
    int dup = 0;
    for (int i = 0; i < u->n; i++)
        dup += u->k[i].alias >= 0;
    ebmc_buf_printf(b, "/* ==== the kernels: %d, of which %d distinct, in %d unit%s ==== */\n\n", u->n, u->n - dup,
                    u->units, u->units > 1 ? "s" : "");
    for (int i = 0; i < u->n; i++) {
        const ebmc_unit_kernel *k = &u->k[i];
        const char *close = k->alias < 0 && k->code ? strstr(k->code, ")\n{") : NULL;
        if (close)
            ebmc_buf_printf(b, "EBM_SHARED void %s%.*s);\n", k->name, (int)(close - k->code), k->code);
    }
    if (dup)
        ebmc_buf_puts(b, "\n/* kernels letter for letter the same as one above */\n");
    for (int i = 0; i < u->n; i++)
        if (u->k[i].alias >= 0)
            ebmc_buf_printf(b, "#define %s %s\n", u->k[i].name, u->k[u->k[i].alias].name);
    ebmc_buf_puts(b, "\n");
}

void ebmc_units_emit_unit(ebmc_buf *b, const ebmc_units *u, int unit)
{
    for (int i = 0; i < u->n; i++)
        if (u->k[i].alias < 0 && u->k[i].unit == unit)
            ebmc_buf_puts(b, u->k[i].text);
}

void ebmc_units_free(ebmc_units *u)
{
    for (int i = 0; i < u->n; i++)
        free(u->k[i].text);
    free(u->k);
    memset(u, 0, sizeof *u);
}
