/* codegen_c_nest.c — loop nests for the C kernels (codegen_c_nest.h): a nest
 * merges axes that are contiguous in every operand, so the usual elementwise
 * op becomes one flat loop the C compiler vectorises.
 */
#include <stdio.h>
#include <string.h>

#include "codegen_c_nest.h"

static void nest_drop_axis(nest *ns, int a)
{
    for (int b = a; b + 1 < ns->space.rank; b++) {
        ns->space.d[b] = ns->space.d[b + 1];
        for (int k = 0; k < ns->nv; k++)
            ns->v[k].stride[b] = ns->v[k].stride[b + 1];
    }
    ns->space.rank--;
}

void ebmc_nest_simplify(nest *ns)
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

void ebmc_nest_emit(ebmc_buf *b, const nest *ns, int level, nest_body_fn body, const void *ctx)
{
    char cur[NEST_MAX_VIEWS][IDX_MAX], nxt[IDX_MAX], s[256];
    int r = ns->space.rank;
    for (int k = 0; k < ns->nv; k++)
        p_str(ns->v[k].base, cur[k], IDX_MAX);
    for (int a = 0; a < r; a++) {
        if (ns->simd && a == (ns->simd_outer ? 0 : r - 1))
            ebmc_buf_printf(b, "%s#pragma omp simd%s%s\n", indent_str(level + a), ns->simd_clause ? " " : "",
                            ns->simd_clause ? ns->simd_clause : "");
        else if (ns->simd && !ns->simd_outer)   /* (the prelude, codegen_c.c) */
            ebmc_buf_printf(b, "%sEBM_OUTER_LOOP\n", indent_str(level + a));
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

void ebmc_emit_fill(ebmc_buf *b, const char *ptr, poly count, const char *value, int level)
{
    char s[256];
    ebmc_buf_printf(b, "%sfor (int64_t i = 0; i < %s; i++)\n%s%s[i] = %s;\n", indent_str(level),
                    p_str(count, s, sizeof s), indent_str(level + 1), ptr, value);
}
