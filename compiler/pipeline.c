/* pipeline.c — the front-end pass table and its runner (see pipeline.h). */
#include "pipeline.h"

#include <stdio.h>
#include <string.h>

const ebmc_pass ebmc_passes[EBMC_PASS_COUNT] = {
    [EBMC_PASS_ENERGY_HEAD] = {"energy head", ebmc_pass_energy_head, 0},
    [EBMC_PASS_FOLD_CONSTANTS] = {"fold_constants", ebmc_pass_fold_constants, 1},
    [EBMC_PASS_SIMPLIFY] = {"simplify", ebmc_pass_simplify, 1},
    [EBMC_PASS_DCE] = {"dce", ebmc_pass_dce, 0},
};

#ifdef NDEBUG
enum { VERIFY_ALWAYS = 0 };
#else
enum { VERIFY_ALWAYS = 1 };
#endif

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

ebm_status ebmc_pass_run(ebmc_pass_id id, ir_graph *g, const ebmc_options *o, ebm_error *err)
{
    if (id < 0 || id >= EBMC_PASS_COUNT)
        return ebm_fail(err, EBM_ERR_INTERNAL, "pipeline: no pass %d", (int)id);
    const ebmc_pass *p = &ebmc_passes[id];
    ebm_status st = p->run(g, o, err);
    if (st) {
        if (err && !starts_with(err->msg, p->name))
            ebm_error_prefix(err, "%s", p->name);
        return st;
    }
    if ((VERIFY_ALWAYS || (o && o->verify)) && (st = ir_verify(g, err)))
        ebm_error_prefix(err, "after %s", p->name);
    return st;
}

/* Pass messages name nodes but not the file (a graph need not come from one);
 * on the command line the file is the first thing the user needs. */
static ebm_status name_source(const ir_graph *g, ebm_status st, ebm_error *err)
{
    if (!st || !err || !g->source || strstr(err->msg, g->source))
        return st;
    char msg[EBM_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return ebm_fail(err, st, "%s: %s", g->source, msg);
}

ebm_status ebmc_front_end_run(ir_graph *g, const ebmc_front_end *fe, ebm_error *err)
{
    ebmc_options o = {.head = fe->head, .verify = fe->verify_each};
    ebm_status st = EBM_OK;
    for (int id = 0; id < EBMC_PASS_COUNT && !st; id++)
        if (fe->fold || !ebmc_passes[id].folding)
            st = ebmc_pass_run((ebmc_pass_id)id, g, &o, err);
    if (!st)
        st = ir_verify(g, err);
    return name_source(g, st, err);
}
