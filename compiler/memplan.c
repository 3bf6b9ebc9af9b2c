/* memplan.c — static memory planning: one arena, every intermediate at a
 * fixed offset, bytes reused once their value is dead.
 *
 * All live ranges are known before placing anything (the schedule is fixed),
 * so the planner sees them at once, like Glow's and TFLite's "greedy by size"
 * planners: buffers are placed largest first, each in the smallest gap left
 * between the already-placed buffers whose live ranges overlap its own (or
 * after the last of them).  Placing the big ones first keeps them from being
 * fragmented by many small ones.  O(B^2 log B) for B buffers, which is fine
 * for the few thousand values of a large program.
 */
#include <stdlib.h>

#include "plan.h"

static int time_overlap(const ebmc_buffer *a, const ebmc_buffer *b)
{
    return a->first <= b->last && b->first <= a->last;
}

/* Sort records carry their keys, so the comparators need no global state. */
typedef struct by_size_rec {
    int64_t size;
    int first, idx;
} by_size_rec;

typedef struct span {
    int64_t offset, size;
} span;

/* Larger first; among equals, the earlier-born first (a stable, reproducible plan). */
static int by_size_desc(const void *pa, const void *pb)
{
    const by_size_rec *a = pa, *b = pb;
    if (a->size != b->size)
        return a->size > b->size ? -1 : 1;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a->idx - b->idx;
}

static int by_offset(const void *pa, const void *pb)
{
    const span *a = pa, *b = pb;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* The offset for a buffer of `size` bytes: the smallest gap among `near`
 * (placed buffers whose live range meets its own, sorted by offset) that
 * holds it, else the end of the last of them. */
static int64_t best_gap(int64_t size, const span *near, int n_near)
{
    int64_t at = 0, best = -1, best_slack = 0;
    for (int k = 0; k < n_near; k++) {
        if (near[k].offset >= at + size) {
            int64_t slack = near[k].offset - at - size;
            if (best < 0 || slack < best_slack) {
                best = at;
                best_slack = slack;
            }
        }
        if (near[k].offset + near[k].size > at)
            at = near[k].offset + near[k].size;
    }
    return best >= 0 ? best : at;
}

ebm_status ebmc_memplan_place(ebmc_buffer *b, int nb, int64_t *arena_bytes, ebm_error *err)
{
    by_size_rec *order = malloc(((size_t)nb + 1) * sizeof *order);
    span *near = malloc(((size_t)nb + 1) * sizeof *near);
    if (!order || !near) {
        free(order);
        free(near);
        return ebm_fail(err, EBM_ERR_NOMEM, "memory plan: out of memory");
    }
    for (int i = 0; i < nb; i++)
        order[i] = (by_size_rec){b[i].size, b[i].first, i};
    qsort(order, (size_t)nb, sizeof *order, by_size_desc);
    int64_t arena = 0;
    for (int k = 0; k < nb; k++) {
        ebmc_buffer *cur = &b[order[k].idx];
        int n_near = 0;
        for (int j = 0; j < k; j++) {
            const ebmc_buffer *o = &b[order[j].idx];
            if (time_overlap(cur, o))
                near[n_near++] = (span){o->offset, o->size};
        }
        qsort(near, (size_t)n_near, sizeof *near, by_offset);
        cur->offset = best_gap(cur->size, near, n_near);
        if (cur->offset + cur->size > arena)
            arena = cur->offset + cur->size;
    }
    free(order);
    free(near);
    *arena_bytes = arena;
    return EBM_OK;
}

ebm_status ebmc_memplan_check(const ebmc_buffer *b, int nb, int64_t arena_bytes, ebm_error *err)
{
    for (int i = 0; i < nb; i++) {
        if (b[i].offset < 0 || b[i].size < 0 || b[i].offset % EBMC_ALIGN || b[i].size % EBMC_ALIGN ||
            b[i].offset + b[i].size > arena_bytes || b[i].first > b[i].last)
            return ebm_fail(err, EBM_ERR_INTERNAL,
                            "memory plan: buffer %d (node %%%d) at [%lld, +%lld) live %d..%d is misaligned, "
                            "empty-ranged or outside the arena of %lld bytes",
                            i, b[i].node, (long long)b[i].offset, (long long)b[i].size, b[i].first, b[i].last,
                            (long long)arena_bytes);
        for (int j = 0; j < i; j++)
            if (time_overlap(&b[i], &b[j]) && b[i].offset < b[j].offset + b[j].size &&
                b[j].offset < b[i].offset + b[i].size && b[i].size && b[j].size)
                return ebm_fail(err, EBM_ERR_INTERNAL,
                                "memory plan: buffers of nodes %%%d and %%%d are live together (%d..%d, %d..%d) "
                                "and overlap in memory ([%lld, +%lld) and [%lld, +%lld))",
                                b[i].node, b[j].node, b[i].first, b[i].last, b[j].first, b[j].last,
                                (long long)b[i].offset, (long long)b[i].size, (long long)b[j].offset,
                                (long long)b[j].size);
    }
    return EBM_OK;
}
