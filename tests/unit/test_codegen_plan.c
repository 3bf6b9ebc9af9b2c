/* test_codegen_plan.c — the scheduler and the memory planner.
 *
 *   - the memory-aware schedule of a two-branch graph runs each branch to its
 *     small result before starting the other (peak computed by hand);
 *   - the planner on hand-made live ranges: a chain reuses two slots, buffers
 *     live together never share bytes, and the checker catches a bad plan;
 *   - every program of every fixture: the plan passes the checker, the arena
 *     is at most the sum of the buffers, and the live ranges it was given are
 *     recomputed here from the graph (a value is born at the kernel that
 *     computes it, every reader's kernel runs inside its range; outputs and
 *     weight-only values live to the end); fused groups are runs of
 *     consecutive nodes ending at their kernel's node, and a value kept in
 *     registers is read by its own group only;
 *   - fusion on hand-made graphs: bias + SiLU + a sum over the last axis after
 *     a matmul becomes one loop storing only the sum (arena bytes counted by
 *     hand), and a node whose
 *     other operand depends on the group (a cycle through a matmul) stays out;
 *   - the Langevin update's place: in every fixture's score program, and in
 *     one whose last loop reads x itself, it is the epilogue of the loop that
 *     computes the score (the body's last kernel; the C has no separate
 *     update); a score that does not depend on x (a linear energy: computed
 *     once by the prologue) keeps the update as a loop of its own.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_c.h"
#include "passes.h"
#include "testutil.h"

#define MAX_FIXTURES 64

/* x [N,4] -> a1 = x Wa [N,256] -> a2 = rsum(a1) [N,1]; the same for b; out = a2 + b2.
 * Built breadth-first: a1, b1, a2, b2. */
static ir_graph *two_branches(void)
{
    static float wa[4 * 256], wb[4 * 256];
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 4), &err);
    int ca = ir_add_const(g, "Wa", ir_shape_make(2, 4, 256), wa, IR_NODE_PARAM, &err);
    int cb = ir_add_const(g, "Wb", ir_shape_make(2, 4, 256), wb, IR_NODE_PARAM, &err);
    int a1 = ir_matmul(g, x, ca, "a1", &err);
    int b1 = ir_matmul(g, x, cb, "b1", &err);
    int a2 = ir_reduce(g, IR_OP_RSUM, a1, 1u << 1, "a2", &err);
    int b2 = ir_reduce(g, IR_OP_RSUM, b1, 1u << 1, "b2", &err);
    int e = ir_reshape(g, ir_binary(g, IR_OP_ADD, a2, b2, "sum", &err), ir_shape_make(1, IR_DIM_N), "e", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    return g;
}

static int find_named(const ir_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return i;
    return -1;
}

START_TEST(schedule_runs_branches_depth_first)
{
    ir_graph *g = two_branches();
    const int64_t big = 64 * 256 * 4, small = 64 * 4;   /* bytes at n = 64 */
    /* breadth-first: a1 + b1 + a2 live when a2 is computed */
    ck_assert_int_eq(ebmc_schedule_peak_bytes(g, 64), 2 * big + small);
    ebm_error err = {0};
    ebmc_options o = {.verify = 1};
    ck_assert_msg(ebmc_pass_schedule(g, &o, &err) == EBM_OK, "%s", err.msg);
    /* depth-first: at worst one big buffer, its sum and the other branch's sum */
    ck_assert_int_eq(ebmc_schedule_peak_bytes(g, 64), big + 2 * small);
    int a1 = find_named(g, "a1"), a2 = find_named(g, "a2"), b1 = find_named(g, "b1"), b2 = find_named(g, "b2");
    ck_assert((a1 < a2 && a2 < b1) || (b1 < b2 && b2 < a1));
    (void)b2;
    ir_graph_free(g);
}
END_TEST

static ebmc_buffer buf(int64_t size, int first, int last)
{
    ebmc_buffer b;
    memset(&b, 0, sizeof b);
    b.size = size;
    b.first = first;
    b.last = last;
    return b;
}

START_TEST(planner_reuses_dead_buffers)
{
    /* a chain: each value is read by the next node only */
    ebmc_buffer b[5] = {buf(1024, 0, 1), buf(1024, 1, 2), buf(1024, 2, 3), buf(1024, 3, 4), buf(1024, 4, 5)};
    int64_t arena = 0;
    ck_assert_int_eq(ebmc_memplan_place(b, 5, &arena, NULL), EBM_OK);
    ck_assert_int_eq(arena, 2048);
    ck_assert_int_eq(ebmc_memplan_check(b, 5, arena, NULL), EBM_OK);
    /* a big buffer live throughout, small ones come and go around it */
    ebmc_buffer c[4] = {buf(4096, 0, 9), buf(64, 0, 2), buf(128, 3, 5), buf(64, 6, 9)};
    ck_assert_int_eq(ebmc_memplan_place(c, 4, &arena, NULL), EBM_OK);
    ck_assert_int_eq(arena, 4096 + 128);
    ck_assert_int_eq(ebmc_memplan_check(c, 4, arena, NULL), EBM_OK);
    /* the checker rejects overlap in time and memory, and buffers past the arena */
    ebm_error err = {0};
    ebmc_buffer bad[2] = {buf(128, 0, 3), buf(128, 2, 5)};
    bad[1].offset = 64;
    ck_assert_int_ne(ebmc_memplan_check(bad, 2, 256, &err), EBM_OK);
    ck_assert_msg(strstr(err.msg, "overlap") != NULL, "%s", err.msg);
    bad[1].offset = 128;
    ck_assert_int_eq(ebmc_memplan_check(bad, 2, 256, NULL), EBM_OK);
    ck_assert_int_ne(ebmc_memplan_check(bad, 2, 192, NULL), EBM_OK);
}
END_TEST

/* The live ranges recomputed from the program graph. */
static void check_live_ranges(const ebmc_cg_program *p, const char *fixture)
{
    const ir_graph *g = p->g;
    for (int i = 0; i < g->n_nodes; i++) {
        int at = p->v[i].kernel;
        if (at >= 0) {
            ck_assert_msg(at >= i && (at == i || p->v[i + 1].kernel == at), "%s %s: %%%d: group of %%%d is not contiguous",
                          fixture, p->prefix, i, at);
            for (int k = 0; k < g->nodes[i].n_in; k++) {   /* every reader, stored or not */
                int r = p->info.root[g->nodes[i].in[k]];
                if (p->v[r].store == EBMC_STORE_ARENA)
                    ck_assert_msg(p->bufs[p->v[r].buffer].last >= at, "%s %s: %%%d read by %%%d after its range ends",
                                  fixture, p->prefix, r, i);
            }
        }
        if (p->v[i].store == EBMC_STORE_REG) {
            ck_assert(!p->info.output[i] && at > i);
            for (int u = p->info.user_start[i]; u < p->info.user_start[i + 1]; u++)
                ck_assert_int_eq(p->v[p->info.users[u]].kernel, at);
        }
        if (p->v[i].store != EBMC_STORE_ARENA)
            continue;
        const ebmc_buffer *own = &p->bufs[p->v[i].buffer];
        ck_assert_int_eq(own->first, at);
        ck_assert_int_eq(own->size, ebmc_value_bytes(&g->nodes[i].shape, p->tile));
        if (p->kern[i].scratch_floats > 0) {
            const ebmc_buffer *s = &p->bufs[p->v[i].scratch_buffer];
            ck_assert(s->first <= i && s->last >= i && s->size >= p->kern[i].scratch_floats * 4);
        }
        if (p->info.invariant[i])
            ck_assert_int_eq(own->last, g->n_nodes);
    }
    for (int j = 0; j < g->n_outputs; j++) {
        int r = p->info.root[g->outputs[j]];
        if (p->v[r].store == EBMC_STORE_ARENA)
            ck_assert_int_eq(p->bufs[p->v[r].buffer].last, g->n_nodes);
    }
}

START_TEST(fixture_plans_are_sound)
{
    static char names[MAX_FIXTURES][TU_NAME_MAX];
    static const ebmc_program kinds[] = {EBMC_PROGRAM_ENERGY, EBMC_PROGRAM_SCORE, EBMC_PROGRAM_PARAM_GRAD};
    char root[4096], dir[4096 + TU_NAME_MAX + 2];
    snprintf(root, sizeof root, "%s/tests/fixtures", tu_source_dir());
    int nf = tu_fixture_names(root, names, MAX_FIXTURES);
    ck_assert_int_gt(nf, 0);
    printf("%-26s %-10s %5s %7s | %12s %12s %6s | %12s\n", "fixture", "program", "nodes", "buffers", "arena B",
           "sum B", "ratio", "peak (sched)");
    for (int i = 0; i < nf; i++) {
        ebm_error err = {0};
        ir_graph *e = NULL;
        snprintf(dir, sizeof dir, "%.3900s/%.127s", root, names[i]);
        ck_assert_msg(tu_fixture_graph(dir, &e, &err) == EBM_OK, "%s: %s", names[i], err.msg);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            ebmc_cg_program *p = NULL;
            ck_assert_msg(ebmc_cg_program_build(e, kinds[k], 64, &p, &err) == EBM_OK, "%s: %s", names[i], err.msg);
            ck_assert_msg(ebmc_memplan_check(p->bufs, p->n_bufs, p->arena_bytes, &err) == EBM_OK, "%s: %s", names[i],
                          err.msg);
            ck_assert_int_le(p->arena_bytes, p->sum_bytes);
            check_live_ranges(p, names[i]);
            /* the schedule's peak counts every value in the arena; fusion keeps
               some in registers, so the plan may only be smaller */
            int64_t peak = ebmc_schedule_peak_bytes(p->g, 64);
            printf("%-26s %-10s %5d %7d | %12lld %12lld %5.1f%% | %12lld\n", k ? "" : names[i], p->prefix, p->g->n_nodes,
                   p->n_bufs, (long long)p->arena_bytes, (long long)p->sum_bytes,
                   100.0 * (double)p->arena_bytes / (double)p->sum_bytes, (long long)peak);
            ebmc_cg_program_free(p);
        }
        ir_graph_free(e);
    }
    fflush(stdout);
}
END_TEST

/* x [N,8] -> z = x W + b -> s = z * sigmoid(z) -> e = rsum(s) [N,1]: the
 * bias, SiLU and the sum over the last axis are one loop after the matmul,
 * the sum its last node (a sink, fuse.c), so nothing of it but the sum is
 * stored. */
START_TEST(fusion_bias_silu_sum_one_loop)
{
    static float w[8 * 32], bias[32];
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 8), &err);
    int cw = ir_add_const(g, "W", ir_shape_make(2, 8, 32), w, IR_NODE_PARAM, &err);
    int cb = ir_add_const(g, "b", ir_shape_make(1, 32), bias, IR_NODE_PARAM, &err);
    int z = ir_binary(g, IR_OP_ADD, ir_matmul(g, x, cw, "mm", &err), cb, "bias", &err);
    int s = ir_binary(g, IR_OP_MUL, z, ir_unary(g, IR_OP_SIGMOID, z, "sig", &err), "silu", &err);
    int e = ir_reshape(g, ir_reduce(g, IR_OP_RSUM, s, 1u << 1, "sum", &err), ir_shape_make(1, IR_DIM_N), "e", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    ebmc_cg_program *p = NULL;
    ck_assert_msg(ebmc_cg_program_build(g, EBMC_PROGRAM_ENERGY, 64, &p, &err) == EBM_OK, "%s", err.msg);
    int stored = 0, regs = 0, sum = -1;
    for (int i = 0; i < p->g->n_nodes; i++) {
        const ir_node *nd = &p->g->nodes[i];
        if (nd->name && strcmp(nd->name, "sum") == 0)
            sum = i;
        if (nd->op == IR_OP_ADD || nd->op == IR_OP_SIGMOID || nd->op == IR_OP_MUL) {
            regs += p->v[i].store == EBMC_STORE_REG;
            stored += p->v[i].store == EBMC_STORE_ARENA;
        }
    }
    ck_assert_int_ge(sum, 0);
    ck_assert_int_eq(regs, 3);     /* bias, sigmoid and silu */
    ck_assert_int_eq(stored, 0);
    ck_assert_int_eq(p->v[sum].store, EBMC_STORE_ARENA);
    for (int i = 0; i < p->g->n_nodes; i++) {
        ir_op op = p->g->nodes[i].op;
        if (op == IR_OP_ADD || op == IR_OP_SIGMOID || op == IR_OP_MUL || op == IR_OP_RSUM)
            ck_assert_int_eq(p->v[i].kernel, sum);
    }
    /* live at once at most: mm [64,32] (8 KiB), read by the loop, and the sum
       [64] (256 bytes) it writes */
    ck_assert_int_eq(p->arena_bytes, 64 * 32 * 4 + 64 * 4);
    ebmc_cg_program_free(p);
    ir_graph_free(g);
}
END_TEST

/* a = exp(x); m = a W; c = a + m: c cannot join a's loop (m runs between), so
 * a is stored and c is in a loop of its own (which the sum of c ends). */
START_TEST(fusion_refuses_cycles)
{
    static float w[16 * 16];
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 16), &err);
    int cw = ir_add_const(g, "W", ir_shape_make(2, 16, 16), w, IR_NODE_PARAM, &err);
    int a = ir_unary(g, IR_OP_EXP, x, "a", &err);
    int c = ir_binary(g, IR_OP_ADD, a, ir_matmul(g, a, cw, "m", &err), "c", &err);
    int e = ir_reshape(g, ir_reduce(g, IR_OP_RSUM, c, 1u << 1, "sum", &err), ir_shape_make(1, IR_DIM_N), "e", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    ebmc_cg_program *p = NULL;
    ck_assert_msg(ebmc_cg_program_build(g, EBMC_PROGRAM_ENERGY, 64, &p, &err) == EBM_OK, "%s", err.msg);
    int ia = -1, ic = -1;
    for (int i = 0; i < p->g->n_nodes; i++) {
        const char *nm = p->g->nodes[i].name;
        ia = nm && strcmp(nm, "a") == 0 ? i : ia;
        ic = nm && strcmp(nm, "c") == 0 ? i : ic;
    }
    ck_assert(ia >= 0 && ic > ia);
    ck_assert_int_eq(p->v[ia].kernel, ia);
    ck_assert_int_gt(p->v[ic].kernel, ia);   /* c's loop (with the sum after it) */
    ck_assert_int_ne(p->v[ic].kernel, p->v[ia].kernel);
    ck_assert_int_eq(p->v[ia].store, EBMC_STORE_ARENA);
    ebmc_cg_program_free(p);
    ir_graph_free(g);
}
END_TEST

/* a = exp(rsum x) [N,4,1]; loop B = {b = sigmoid x, c1 = b*a, c2 = b*x, d = sum
 * of c2 over the last axis}; f = d*a.  f cannot join a's loop: B reads a (c1)
 * and f reads B (d), though no path of single nodes runs from a to f (c1 is
 * not on the way to d).  The shape of LayerNorm's backward pass over
 * [N,T,E]; the check once looked at nodes only, and the groups then depended
 * on each other in a cycle ("fuse: ... cycle"). */
START_TEST(fusion_refuses_cycles_through_groups)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(3, IR_DIM_N, 4, 16), &err);
    int a = ir_unary(g, IR_OP_EXP, ir_reduce(g, IR_OP_RSUM, x, 1u << 2, "m", &err), "a", &err);
    int b = ir_unary(g, IR_OP_SIGMOID, x, "b", &err);
    int c1 = ir_binary(g, IR_OP_MUL, b, a, "c1", &err);
    int c2 = ir_binary(g, IR_OP_MUL, b, x, "c2", &err);
    int d = ir_reduce(g, IR_OP_RSUM, c2, 1u << 2, "d", &err);
    int f = ir_binary(g, IR_OP_MUL, d, a, "f", &err);
    int s = ir_binary(g, IR_OP_ADD, ir_reduce(g, IR_OP_RSUM, f, 3u << 1, "sf", &err),
                      ir_reduce(g, IR_OP_RSUM, c1, 3u << 1, "sc", &err), "s", &err);
    int e = ir_reshape(g, s, ir_shape_make(1, IR_DIM_N), "e", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    ebmc_cg_program *p = NULL;
    ck_assert_msg(ebmc_cg_program_build(g, EBMC_PROGRAM_ENERGY, 64, &p, &err) == EBM_OK, "%s", err.msg);
    int ia = find_named(p->g, "a"), i_f = find_named(p->g, "f"), id = find_named(p->g, "d");
    ck_assert(ia >= 0 && i_f >= 0 && id >= 0);
    ck_assert_int_ne(p->v[i_f].kernel, p->v[ia].kernel);
    ck_assert_int_lt(p->v[id].kernel, i_f);   /* d's loop runs before f */
    ebmc_cg_program_free(p);
    ir_graph_free(g);
}
END_TEST

/* The score program's "score" output node. */
static int score_output(const ebmc_cg_program *p)
{
    for (int j = 0; j < p->g->n_outputs; j++)
        if (p->g->output_names[j] && strcmp(p->g->output_names[j], "score") == 0)
            return p->g->outputs[j];
    ck_abort_msg("the score program has no score output");
    return -1;
}

/* The kernel the update fuses into for energy graph e (-1: none); checks it
 * is the body's last kernel and that the C calls the update where it says. */
static int langevin_kernel_of(const ir_graph *e, const char *what)
{
    ebm_error err = {0};
    ebmc_cg_program *p = NULL;
    ck_assert_msg(ebmc_cg_program_build(e, EBMC_PROGRAM_SCORE, 64, &p, &err) == EBM_OK, "%s: %s", what, err.msg);
    int k = ebmc_langevin_kernel(p, score_output(p));
    if (k >= 0) {
        ck_assert_int_eq(p->v[k].kernel, k);
        for (int j = k + 1; j < p->g->n_nodes; j++)
            ck_assert_msg(p->v[j].kernel != j || p->info.invariant[j], "%s: kernel %d runs after %d", what, j, k);
    }
    char *src = NULL;
    ebmc_compile_options o = {.opt_level = 2, .energy_head = "output"};
    ck_assert_msg(ebmc_emit_c(e, &o, &src, &err) == EBM_OK, "%s: %s", what, err.msg);
    int fused_call = strstr(src, "return score_k") != NULL && strstr(src, "_langevin(n, ") != NULL;
    int step_call = strstr(src, "ebm_langevin_step(&lv, ") != NULL;
    ck_assert_msg(fused_call == (k >= 0) && step_call == (k < 0), "%s: kernel %d, fused call %d, step call %d", what,
                  k, fused_call, step_call);
    printf("%-26s %s\n", what, k >= 0 ? ir_op_get(p->g->nodes[k].op)->name : "(own loop)");
    free(src);
    ebmc_cg_program_free(p);
    return k;
}

/* E = 1/2 sum (a x)^2 (score -a^2 x: its loop reads x), or E = sum w x (score -w). */
static ir_graph *small_energy(int quadratic)
{
    static const float w[5] = {0.5f, 1.0f, -1.5f, 2.0f, 3.0f};
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 5), &err);
    int cw = ir_add_const(g, "w", ir_shape_make(1, 5), w, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int t = ir_binary(g, IR_OP_MUL, x, cw, "wx", &err);
    if (quadratic)
        t = ir_binary(g, IR_OP_MUL, t, t, "sq", &err);
    int e = ir_reshape(g, ir_reduce(g, IR_OP_RSUM, t, 1u << 1, "sum", &err), ir_shape_make(1, IR_DIM_N), "e", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    return g;
}

START_TEST(langevin_update_fuses_into_score_loop)
{
    static char names[MAX_FIXTURES][TU_NAME_MAX];
    char root[4096], dir[4096 + TU_NAME_MAX + 2];
    snprintf(root, sizeof root, "%s/tests/fixtures", tu_source_dir());
    int nf = tu_fixture_names(root, names, MAX_FIXTURES);
    ck_assert_int_gt(nf, 0);
    printf("%-26s %s\n", "energy", "Langevin update fused into");
    for (int i = 0; i < nf; i++) {
        ebm_error err = {0};
        ir_graph *e = NULL;
        snprintf(dir, sizeof dir, "%.3900s/%.127s", root, names[i]);
        ck_assert_msg(tu_fixture_graph(dir, &e, &err) == EBM_OK, "%s: %s", names[i], err.msg);
        ck_assert_int_ge(langevin_kernel_of(e, names[i]), 0);
        ir_graph_free(e);
    }
    ir_graph *q = small_energy(1), *l = small_energy(0);
    ck_assert_int_ge(langevin_kernel_of(q, "quadratic (reads x)"), 0);
    ck_assert_int_eq(langevin_kernel_of(l, "linear (score constant)"), -1);
    ir_graph_free(q);
    ir_graph_free(l);
    fflush(stdout);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codegen_plan");
    TCase *tc = tcase_create("plan");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, schedule_runs_branches_depth_first);
    tcase_add_test(tc, planner_reuses_dead_buffers);
    tcase_add_test(tc, fixture_plans_are_sound);
    tcase_add_test(tc, fusion_bias_silu_sum_one_loop);
    tcase_add_test(tc, fusion_refuses_cycles);
    tcase_add_test(tc, fusion_refuses_cycles_through_groups);
    tcase_add_test(tc, langevin_update_fuses_into_score_loop);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
