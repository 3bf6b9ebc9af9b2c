/* test_codegen.c — compiled models (model.so) against the reference executor.
 *
 * Every fixture under tests/fixtures is compiled once (in the parent process,
 * before the tests fork) to a temporary .so, which is dlopen'ed and driven
 * through runtime/ebm_abi.h directly (not through libebm), tile by tile, as
 * the ABI says:
 *   - ENERGY, SCORE and PARAM_GRAD against ebmc_exec of the energy, score and
 *     param_grad programs in float32, for N = 1, 3, 64 and 131 (131 is prime:
 *     at least two whole tiles of any tile ebmc chooses, a power of two up to
 *     64, and a part tile; param_grad sums tiles): norm-wise rel <= 1e-5;
 *   - LANGEVIN for K = 1, 7, 60 against a step-by-step loop written here with
 *     the SCORE program and ebm_philox_normals (rel <= 1e-6), with gradient
 *     clipping and clamping both active (counted), trajectory frames and the
 *     final energies; different tile splits give the same noise bit for bit
 *     and the same samples to rounding (see TOL_SPLIT_X);
 *   - an analytic model E = 1/2 sum (a x)^2 (score, parameter gradient and
 *     noise-free Langevin in closed form; the update is the epilogue of a
 *     loop that reads x), a linear one (clipped, clamped Langevin in closed
 *     form; the update is a loop of its own), one with a number per sample
 *     (x [N]) and a model whose energy is NaN;
 *   - the fused loops' float exp against libm from -1000 to 1000 (2 ulp; 0,
 *     inf and NaN exact);
 *   - the compiler driver's errors: missing compiler, unwritable output.
 */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autodiff.h"
#include "clock.h"
#include "codegen.h"
#include "ebm_abi.h"
#include "ebm_philox.h"
#include "exec.h"
#include "zoo.h"
#include "passes.h"
#include "testutil.h"

#define MAX_FIXTURES 64
#define TOL_PROGRAM 1e-5
#define TOL_LANGEVIN 1e-6

/* ---- the compiled fixtures (built once, before the tests fork) --------------------- */

typedef struct compiled {
    char name[TU_NAME_MAX];
    ir_graph *energy;
    void *so;
    const ebm_abi_model *m;
    ebm_error err;   /* code != 0: compiling or loading failed */
    double seconds;
} compiled;

static char work_dir[4096];
static compiled models[MAX_FIXTURES];
static int n_models;

/* Compiles g to <work_dir>/<name>.so and loads it. */
static ebm_status compile_and_load(const ir_graph *g, const char *name, void **so, const ebm_abi_model **m,
                                   ebm_error *err)
{
    char path[4096 + 160];
    snprintf(path, sizeof path, "%s/%s.so", work_dir, name);
    ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output"};
    ebm_status st = ebmc_compile_model(g, &o, path, err);
    if (st)
        return st;
    *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*so)
        return ebm_fail(err, EBM_ERR_IO, "dlopen %s: %s", path, dlerror());
    *m = dlsym(*so, EBM_ABI_SYMBOL_NAME);
    if (!*m)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: no %s", path, EBM_ABI_SYMBOL_NAME);
    return EBM_OK;
}

static void compile_fixtures(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(work_dir, sizeof work_dir, "%s/ebmc-test-codegen-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(work_dir)) {
        work_dir[0] = 0;
        return;
    }
    static char names[MAX_FIXTURES][TU_NAME_MAX];
    char root[4096], dir[4096 + TU_NAME_MAX + 2];
    snprintf(root, sizeof root, "%s/tests/fixtures", tu_source_dir());
    n_models = tu_fixture_names(root, names, MAX_FIXTURES);
    for (int i = 0; i < n_models; i++) {
        compiled *c = &models[i];
        memcpy(c->name, names[i], sizeof c->name);
        snprintf(dir, sizeof dir, "%.3900s/%.127s", root, names[i]);
        double t0 = base_now_seconds();
        if (!tu_fixture_graph(dir, &c->energy, &c->err))
            compile_and_load(c->energy, c->name, &c->so, &c->m, &c->err);
        c->seconds = base_now_seconds() - t0;
    }
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' || (e->d_name[1] && strcmp(e->d_name, "..") != 0)) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            remove(p);   /* files, and the driver test's (empty) folders */
        }
    closedir(d);
    rmdir(path);
}

static void release_fixtures(void)
{
    for (int i = 0; i < n_models; i++) {
        if (models[i].so)
            dlclose(models[i].so);
        ir_graph_free(models[i].energy);
    }
    n_models = 0;
    if (work_dir[0])
        remove_dir(work_dir);
}

/* ---- calling programs tile by tile ---------------------------------------------------- */

static const ebm_abi_program *program(const ebm_abi_model *m, int kind)
{
    for (int k = 0; k < m->n_programs; k++)
        if (m->programs[k].kind == kind)
            return &m->programs[k];
    return NULL;
}

typedef struct io {
    float *x;               /* [n, D]; LANGEVIN updates it */
    float *energy, *score;  /* outputs */
    const float *sw;        /* PARAM_GRAD sample weights */
    float *grad;            /* PARAM_GRAD: accumulated */
    const ebm_abi_langevin *L;
    float *traj;            /* LANGEVIN trajectory [frames, n, D] */
} io;

/* Runs program `kind` over n samples in calls of at most `chunk` (<= tile);
 * returns the sum of the calls' non-finite counts. */
static int run(const ebm_abi_model *m, int kind, io *a, int64_t n, int64_t chunk)
{
    const ebm_abi_program *p = program(m, kind);
    ck_assert_ptr_nonnull(p);
    ck_assert(chunk >= 1 && chunk <= m->tile);
    int64_t d = m->sample_numel;
    size_t bytes = ((size_t)p->arena_bytes + 63) / 64 * 64 + 64;
    void *arena = aligned_alloc(64, bytes);
    ck_assert_ptr_nonnull(arena);
    int bad = 0;
    for (int64_t off = 0; off < n; off += chunk) {
        ebm_abi_call c;
        memset(&c, 0, sizeof c);
        c.n = n - off < chunk ? n - off : chunk;
        c.sample_offset = off;
        c.weights = m->weights;
        c.arena = arena;
        c.x = a->x + off * d;
        c.energy = a->energy ? a->energy + off : NULL;
        c.score = a->score ? a->score + off * d : NULL;
        c.sample_weights = a->sw ? a->sw + off : NULL;
        c.param_grad = a->grad;
        c.langevin = a->L;
        c.trajectory = a->traj ? a->traj + off * d : NULL;
        c.trajectory_stride = n * d;
        bad += p->run(&c);
    }
    free(arena);
    return bad;
}

/* max |a - b| / max |b|, float against float. */
static double rel_err(const float *a, const float *b, int64_t n)
{
    double scale = 1e-30, diff = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs((double)b[i]) > scale)
            scale = fabs((double)b[i]);
        double dd = fabs((double)a[i] - (double)b[i]);
        if (!(dd <= diff))
            diff = isnan(dd) ? INFINITY : dd;
    }
    return diff / scale;
}

static float *falloc(int64_t n)
{
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* The program graph's output named `name`. */
static int output_of(const ir_graph *g, const char *name)
{
    for (int j = 0; j < g->n_outputs; j++)
        if (strcmp(g->output_names[j], name) == 0)
            return j;
    return -1;
}

/* Runs program kind of the executor (float32) on x (and w); outputs[j] sized per output. */
static float **exec_program(const ir_graph *energy, ebmc_program kind, const float *x, const float *w, int64_t n,
                            ir_graph **prog)
{
    ebm_error err = {0};
    ck_assert_msg(ebmc_build_program(energy, kind, prog, &err) == EBM_OK, "%s", err.msg);
    const ir_graph *g = *prog;
    float **outs = calloc((size_t)g->n_outputs, sizeof *outs);
    ck_assert_ptr_nonnull(outs);
    for (int j = 0; j < g->n_outputs; j++)
        outs[j] = falloc(ir_shape_numel(&g->nodes[g->outputs[j]].shape, n));
    const void *in[2] = {x, w};
    ck_assert_msg(ebmc_exec(g, n, EBMC_F32, in, (void *const *)outs, &err) == EBM_OK, "%s", err.msg);
    return outs;
}

static void free_outputs(float **outs, ir_graph *g)
{
    for (int j = 0; g && j < g->n_outputs; j++)
        free(outs[j]);
    free(outs);
    ir_graph_free(g);
}

/* ---- energy, score, param_grad against the executor -------------------------------------- */

typedef struct prog_errs {
    double energy, score, grad;
} prog_errs;

static double check_param_grad(const compiled *c, float *x, const float *w, int64_t n)
{
    const ebm_abi_model *m = c->m;
    ir_graph *g = NULL;
    float **ref = exec_program(c->energy, EBMC_PROGRAM_PARAM_GRAD, x, w, n, &g);
    float *grad = falloc(m->weights_numel), *e = falloc(n);
    io a = {.x = x, .energy = e, .sw = w, .grad = grad};
    run(m, EBM_PROGRAM_PARAM_GRAD, &a, n, m->tile);
    double worst = rel_err(e, ref[output_of(g, "energy")], n);
    int trainable = 0;
    for (int k = 0; k < m->n_params; k++) {
        const ebm_abi_param *p = &m->params[k];
        char name[512];
        snprintf(name, sizeof name, "grad:%s", p->name);
        int j = output_of(g, name);
        ck_assert_msg((j >= 0) == (p->trainable != 0), "%s: parameter %s: trainable %d but grad output %d", c->name,
                      p->name, p->trainable, j);
        if (j < 0)
            continue;
        trainable++;
        double r = rel_err(grad + p->offset, ref[j], p->numel);
        worst = r > worst ? r : worst;
    }
    ck_assert_int_gt(trainable, 0);
    free(grad);
    free(e);
    free_outputs(ref, g);
    return worst;
}

static prog_errs check_programs(const compiled *c, int64_t n)
{
    const ebm_abi_model *m = c->m;
    int64_t d = m->sample_numel;
    prog_errs r = {0};
    float *x = falloc(n * d), *w = falloc(n), *e = falloc(n), *s = falloc(n * d);
    tu_fill_uniform_f32(x, (size_t)(n * d), 1000 + (uint64_t)n, -1, 1);
    tu_fill_uniform_f32(w, (size_t)n, 2000 + (uint64_t)n, 0.5, 1.5);

    ir_graph *g = NULL;
    float **ref = exec_program(c->energy, EBMC_PROGRAM_ENERGY, x, NULL, n, &g);
    io a = {.x = x, .energy = e};
    ck_assert_int_eq(run(m, EBM_PROGRAM_ENERGY, &a, n, m->tile), 0);
    r.energy = rel_err(e, ref[0], n);
    free_outputs(ref, g);

    ref = exec_program(c->energy, EBMC_PROGRAM_SCORE, x, NULL, n, &g);
    io b = {.x = x, .energy = e, .score = s};
    ck_assert_int_eq(run(m, EBM_PROGRAM_SCORE, &b, n, m->tile), 0);
    double re = rel_err(e, ref[output_of(g, "energy")], n);
    r.energy = re > r.energy ? re : r.energy;
    r.score = rel_err(s, ref[output_of(g, "score")], n * d);
    free_outputs(ref, g);

    r.grad = check_param_grad(c, x, w, n);
    free(x), free(w), free(e), free(s);
    return r;
}

/* The descriptor says what the graph says; the weights are the graph's. */
static void check_descriptor(const compiled *c)
{
    const ebm_abi_model *m = c->m;
    const ir_graph *g = c->energy;
    const ir_shape *xs = &g->nodes[g->inputs[0]].shape;
    ck_assert_uint_eq(m->magic, EBM_ABI_MAGIC);
    ck_assert_uint_eq(m->abi_version, EBM_ABI_VERSION);
    ck_assert_int_eq(m->input_rank, xs->rank);
    ck_assert_int_eq(m->input_shape[0], -1);
    for (int i = 1; i < xs->rank; i++)
        ck_assert_int_eq(m->input_shape[i], xs->d[i]);
    ck_assert_int_eq(m->sample_numel, ir_shape_numel(xs, 1));
    ck_assert_msg(m->tile == 64 || m->tile == 32 || m->tile == 16, "tile %lld", (long long)m->tile);   /* automatic */
    ck_assert_int_eq((intptr_t)m->weights % EBM_ABI_ALIGN, 0);
    int64_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *nd = &g->nodes[i];
        if (nd->op != IR_OP_CONST || !(nd->flags & IR_NODE_PARAM))
            continue;
        int found = 0;
        for (int k = 0; k < m->n_params && !found; k++) {
            const ebm_abi_param *p = &m->params[k];
            if (strcmp(p->name, nd->name) != 0)
                continue;
            found = 1;
            ck_assert_int_eq(p->numel, ir_shape_numel(&nd->shape, 0));
            ck_assert_int_eq(p->offset % (EBM_ABI_ALIGN / 4), 0);
            ck_assert(p->offset + p->numel <= m->weights_numel);
            ck_assert_int_eq(p->trainable, (nd->flags & IR_NODE_TRAINABLE) != 0);
            ck_assert_int_eq(memcmp(m->weights + p->offset, nd->data, (size_t)p->numel * sizeof(float)), 0);
        }
        ck_assert_msg(found, "%s: parameter %s missing from the descriptor", c->name, nd->name);
        total += ir_shape_numel(&nd->shape, 0);
    }
    ck_assert_int_eq(total, ir_graph_param_count(g, 0));
}

/* The automatic tile (codegen_c.c choose_tile): 64 for an MLP, whose
 * activations are small; for the mnist preset (28x28 images, 16-64
 * channels: 2.4 MB of score arena per 16 samples) halved to the Winograd
 * chunk of 16; an explicit --tile is kept.  Read from the descriptor in the
 * generated C. */
static int64_t emitted_tile_of(const zoo_spec *spec, int64_t tile)
{
    const char *preset = spec->name;
    zoo_spec s = *spec;
    ebm_error err = {0};
    ir_graph *g = NULL;
    ebm_status st = zoo_build(&s, 1, &g, &err);
    ebmc_options po = {.head = EBM_HEAD_OUTPUT};
    if (!st)
        st = ebmc_pass_energy_head(g, &po, &err);
    char *src = NULL;
    ebmc_compile_options o = {.opt_level = 2, .energy_head = "output", .tile = tile};
    if (!st)
        st = ebmc_emit_c(g, &o, &src, &err);
    ck_assert_msg(st == EBM_OK, "%s: %s", preset, err.msg);
    const char *at = strstr(src, ".tile = ");
    ck_assert_ptr_nonnull(at);
    int64_t got = strtoll(at + strlen(".tile = "), NULL, 10);
    free(src);
    ir_graph_free(g);
    return got;
}

static int64_t emitted_tile(const char *preset, int64_t tile)
{
    zoo_spec s;
    ebm_error err = {0};
    ck_assert_msg(zoo_preset(preset, &s, &err) == EBM_OK, "%s", err.msg);
    return emitted_tile_of(&s, tile);
}

START_TEST(default_tile_follows_activations)
{
    ck_assert_int_eq(emitted_tile("simple", 0), 64);
    /* a deep CNN on 28x28 (16, 32, 64, 64 channels, three stride-2 layers: the mnist preset until
     * December 2026) stops the halving at 32: below 64, above the 16-sample floor (EBMC_CACHE_TILE) */
    zoo_spec deep;
    ebm_error err = {0};
    ck_assert_int_eq(zoo_preset("cnn", &deep, &err), EBM_OK);
    static const int64_t widths[] = {16, 32, 64, 64};
    deep.kind = ZOO_DEEP;
    memcpy(deep.hidden, widths, sizeof widths);
    deep.n_hidden = 4;
    deep.norm_groups = 4;
    ck_assert_int_eq(emitted_tile_of(&deep, 0), 32);
    ck_assert_int_eq(emitted_tile_of(&deep, 40), 40);
    /* the mnist preset's U-Net keeps 16 and 32 channels at full and half resolution: the floor */
    ck_assert_int_eq(emitted_tile("mnist", 0), 16);
}
END_TEST

START_TEST(programs_match_executor)
{
    static const int64_t ns[] = {1, 3, 64, 131};
    ck_assert_msg(work_dir[0], "no work folder");
    ck_assert_int_gt(n_models, 0);
    int failed = 0;
    printf("%-26s %8s | %5s %9s %9s %9s\n", "fixture", "compile", "N", "energy", "score", "param_grad");
    for (int i = 0; i < n_models; i++) {
        const compiled *c = &models[i];
        ck_assert_msg(c->err.code == EBM_OK, "%s: %s", c->name, c->err.msg);
        check_descriptor(c);
        ck_assert_msg(2 * c->m->tile < ns[3], "%s: tile %lld: N = %lld is no longer two tiles and a part", c->name,
                      (long long)c->m->tile, (long long)ns[3]);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
            prog_errs r = check_programs(c, ns[k]);
            int ok = r.energy <= TOL_PROGRAM && r.score <= TOL_PROGRAM && r.grad <= TOL_PROGRAM;
            printf("%-26s %7.2fs | %5lld %9.2e %9.2e %9.2e%s\n", k ? "" : c->name, k ? 0.0 : c->seconds,
                   (long long)ns[k], r.energy, r.score, r.grad, ok ? "" : "  FAIL");
            failed += !ok;
        }
    }
    fflush(stdout);
    ck_assert_msg(failed == 0, "%d fixture/N pairs over tolerance %g (table above)", failed, TOL_PROGRAM);
}
END_TEST

/* ---- Langevin -------------------------------------------------------------------------- */

typedef struct active {
    long clipped, clamped;
} active;

/* DESIGN.md's update step by step with the SCORE program and ebm_philox_normals. */
static void reference_langevin(const ebm_abi_model *m, float *x, int64_t n, const ebm_abi_langevin *L,
                               float *traj, float *final_energy, active *act)
{
    int64_t d = m->sample_numel;
    float *e = falloc(n), *s = falloc(n * d), *eps = falloc(d);
    if (traj)
        memcpy(traj, x, (size_t)(n * d) * sizeof *x);
    for (int t = 0; t < L->steps; t++) {
        io a = {.x = x, .energy = e, .score = s};
        ck_assert_int_eq(run(m, EBM_PROGRAM_SCORE, &a, n, m->tile), 0);
        for (int64_t i = 0; i < n; i++) {
            ebm_philox_normals(L->seed, (uint64_t)i, L->step_offset + (uint64_t)t, eps, d);
            for (int64_t j = 0; j < d; j++) {
                float g = -s[i * d + j] / L->temperature;
                act->clipped += g < -L->grad_clip || g > L->grad_clip;
                g = g < -L->grad_clip ? -L->grad_clip : g > L->grad_clip ? L->grad_clip : g;
                float v = x[i * d + j] - L->step_size * g + L->noise_scale * eps[j];
                act->clamped += v < L->lo || v > L->hi;
                x[i * d + j] = v < L->lo ? L->lo : v > L->hi ? L->hi : v;
            }
        }
        if (traj && (t + 1) % L->trajectory_every == 0)
            memcpy(traj + (t + 1) / L->trajectory_every * n * d, x, (size_t)(n * d) * sizeof *x);
    }
    io a = {.x = x, .energy = final_energy};
    ck_assert_int_eq(run(m, EBM_PROGRAM_ENERGY, &a, n, m->tile), 0);
    free(e), free(s), free(eps);
}

typedef struct lv_errs {
    double x, energy, traj;   /* against the step-by-step loop */
    double split_x, split_e;  /* one call of 10 against calls of 3, 3, 3, 1 */
} lv_errs;

static void copy3(float *a, float *b, float *c, const float *src, int64_t count)
{
    memcpy(a, src, (size_t)count * sizeof *src);
    memcpy(b, src, (size_t)count * sizeof *src);
    memcpy(c, src, (size_t)count * sizeof *src);
}

/* max_ij |dE/dx_ij| at x. */
static float max_grad(const ebm_abi_model *m, float *x, int64_t n)
{
    float *e = falloc(n), *s = falloc(n * m->sample_numel), top = 0;
    io a = {.x = x, .energy = e, .score = s};
    ck_assert_int_eq(run(m, EBM_PROGRAM_SCORE, &a, n, m->tile), 0);
    for (int64_t i = 0; i < n * m->sample_numel; i++)
        top = fabsf(s[i]) > top ? fabsf(s[i]) : top;
    free(e), free(s);
    return top;
}

/* Gradients are clipped at half the largest one at the start, and states
 * clamped to [-0.9, 0.9] from a start in [-1, 1): both are active from the
 * first step (counted in *act). */
static lv_errs check_langevin(const compiled *c, int steps, active *act)
{
    const ebm_abi_model *m = c->m;
    const int64_t n = 10, d = m->sample_numel;
    ebm_abi_langevin L = {.steps = steps, .step_size = 0.01f, .noise_scale = 0.005f, .temperature = 0.5f, .clamp = 1, .lo = -0.9f, .hi = 0.9f, .seed = 0x5eed1234abcdull,
                          .step_offset = 5, .trajectory_every = 3};
    int64_t frames = 1 + steps / 3;
    float *x0 = falloc(n * d), *xr = falloc(n * d), *xa = falloc(n * d), *xb = falloc(n * d);
    float *er = falloc(n), *ea = falloc(n), *eb = falloc(n);
    float *tr = falloc(frames * n * d), *ta = falloc(frames * n * d);
    tu_fill_uniform_f32(x0, (size_t)(n * d), 77 + (uint64_t)steps, -1, 1);
    L.grad_clip = 0.5f * max_grad(m, x0, n) / L.temperature;   /* clips the largest gradients */
    ck_assert_float_gt(L.grad_clip, 0.0f);
    copy3(xr, xa, xb, x0, n * d);
    reference_langevin(m, xr, n, &L, tr, er, act);
    io a = {.x = xa, .energy = ea, .L = &L, .traj = ta};
    ck_assert_int_eq(run(m, EBM_PROGRAM_LANGEVIN, &a, n, n), 0);
    io b = {.x = xb, .energy = eb, .L = &L};
    ck_assert_int_eq(run(m, EBM_PROGRAM_LANGEVIN, &b, n, 3), 0);
    lv_errs r;
    r.x = rel_err(xa, xr, n * d);
    r.energy = rel_err(ea, er, n);
    r.traj = rel_err(ta, tr, frames * n * d);
    r.split_x = rel_err(xb, xa, n * d);
    r.split_e = rel_err(eb, ea, n);
    free(x0), free(xr), free(xa), free(xb), free(er), free(ea), free(eb), free(tr), free(ta);
    return r;
}

/* With step size 0 a state moves by noise only: x <- clamp(x + s*eps), bit
 * for bit what ebm_philox_normals gives, whatever the tile split. */
static int noise_is_split_invariant(const compiled *c)
{
    const ebm_abi_model *m = c->m;
    const int64_t n = 10, d = m->sample_numel;
    ebm_abi_langevin L = {.steps = 4, .step_size = 0.0f, .noise_scale = 0.25f, .temperature = 1.0f, .clamp = 1,
                          .lo = -0.9f, .hi = 0.9f, .seed = 99, .step_offset = 1000};
    float *x0 = falloc(n * d), *xa = falloc(n * d), *xb = falloc(n * d), *xr = falloc(n * d), *eps = falloc(d);
    tu_fill_uniform_f32(x0, (size_t)(n * d), 4242, -0.5, 0.5);
    copy3(xa, xb, xr, x0, n * d);
    io a = {.x = xa, .L = &L}, b = {.x = xb, .L = &L};
    run(m, EBM_PROGRAM_LANGEVIN, &a, n, n);
    run(m, EBM_PROGRAM_LANGEVIN, &b, n, 3);
    for (int t = 0; t < L.steps; t++)
        for (int64_t i = 0; i < n; i++) {
            ebm_philox_normals(L.seed, (uint64_t)i, L.step_offset + (uint64_t)t, eps, d);
            for (int64_t j = 0; j < d; j++) {
                float v = xr[i * d + j] - 0.0f * 0.0f + L.noise_scale * eps[j];
                xr[i * d + j] = v < L.lo ? L.lo : v > L.hi ? L.hi : v;
            }
        }
    int same = memcmp(xa, xb, (size_t)(n * d) * sizeof *xa) == 0 && memcmp(xa, xr, (size_t)(n * d) * sizeof *xa) == 0;
    free(x0), free(xa), free(xb), free(xr), free(eps);
    return same;
}

/* Splits agree to rounding, not bit for bit: OpenBLAS computes a GEMM row
 * with different kernels depending on how many rows (samples) the call has,
 * so the last bit of a network's output may change with the split.  The
 * noise does not (noise_is_split_invariant). */
#define TOL_SPLIT_X 1e-6
#define TOL_SPLIT_E 1e-5

START_TEST(langevin_matches_stepwise)
{
    static const int ks[] = {1, 7, 60};
    int failed = 0;
    printf("%-26s %3s | %9s %9s %9s | %9s %9s %5s | %8s %8s\n", "fixture", "K", "x", "energy", "traj", "split x",
           "split E", "noise", "clipped", "clamped");
    for (int i = 0; i < n_models; i++) {
        const compiled *c = &models[i];
        ck_assert_msg(c->err.code == EBM_OK, "%s: %s", c->name, c->err.msg);
        int noise_ok = noise_is_split_invariant(c);
        for (size_t k = 0; k < sizeof ks / sizeof ks[0]; k++) {
            active act = {0};
            lv_errs r = check_langevin(c, ks[k], &act);
            int ok = r.x <= TOL_LANGEVIN && r.energy <= TOL_LANGEVIN && r.traj <= TOL_LANGEVIN &&
                     r.split_x <= TOL_SPLIT_X && r.split_e <= TOL_SPLIT_E && noise_ok &&
                     (ks[k] < 7 || (act.clipped > 0 && act.clamped > 0));
            printf("%-26s %3d | %9.2e %9.2e %9.2e | %9.2e %9.2e %5s | %8ld %8ld%s\n", k ? "" : c->name, ks[k], r.x,
                   r.energy, r.traj, r.split_x, r.split_e, noise_ok ? "same" : "DIFF", act.clipped, act.clamped,
                   ok ? "" : "  FAIL");
            failed += !ok;
        }
    }
    fflush(stdout);
    ck_assert_msg(failed == 0, "%d fixture/K pairs failed (table above)", failed);
}
END_TEST

/* ---- analytic models -------------------------------------------------------------------- */

#define AD 5

/* E(x) = 1/2 sum_j (a_j x_j)^2 with a trainable a [AD]: score = -a^2 x,
 * dE/da_j = a_j x_j^2. */
static ir_graph *quadratic_graph(const float *a)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, AD), &err);
    int w = ir_add_const(g, "a", ir_shape_make(1, AD), a, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int ax = ir_binary(g, IR_OP_MUL, x, w, "ax", &err);
    int sq = ir_binary(g, IR_OP_MUL, ax, ax, "sq", &err);
    int s = ir_reduce(g, IR_OP_RSUM, sq, 1u << 1, "sum", &err);
    int e = ir_binary(g, IR_OP_MUL, s, ir_add_scalar(g, 0.5, &err), "half", &err);
    e = ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), "energy", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    return g;
}

START_TEST(analytic_quadratic)
{
    const float a[AD] = {0.5f, 1.0f, 1.5f, 2.0f, 3.0f};
    const int64_t n = 70, d = AD;   /* two tiles */
    ir_graph *g = quadratic_graph(a);
    void *so = NULL;
    const ebm_abi_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(compile_and_load(g, "quadratic", &so, &m, &err) == EBM_OK, "%s", err.msg);
    float *x = falloc(n * d), *e = falloc(n), *s = falloc(n * d), *w = falloc(n), *grad = falloc(m->weights_numel);
    tu_fill_uniform_f32(x, (size_t)(n * d), 5, -2, 2);
    tu_fill_uniform_f32(w, (size_t)n, 6, -1, 1);
    io io_s = {.x = x, .energy = e, .score = s};
    ck_assert_int_eq(run(m, EBM_PROGRAM_SCORE, &io_s, n, m->tile), 0);
    io io_g = {.x = x, .sw = w, .grad = grad};
    ck_assert_int_eq(run(m, EBM_PROGRAM_PARAM_GRAD, &io_g, n, m->tile), 0);
    double ga[AD] = {0};
    for (int64_t i = 0; i < n; i++) {
        double ei = 0;
        for (int j = 0; j < d; j++) {
            double xv = x[i * d + j], av = a[j];
            ei += 0.5 * av * av * xv * xv;
            ck_assert_double_le(fabs(s[i * d + j] + av * av * xv), 1e-5 * (1 + fabs(av * av * xv)));
            ga[j] += w[i] * av * xv * xv;
        }
        ck_assert_double_le(fabs(e[i] - ei), 1e-5 * (1 + ei));
    }
    ck_assert_int_eq(m->n_params, 1);
    for (int j = 0; j < d; j++)
        ck_assert_double_le(fabs(grad[m->params[0].offset + j] - ga[j]), 1e-4 * (1 + fabs(ga[j])));
    /* noise-free, unclipped, unclamped Langevin at T = 2: x_K = (1 - alpha a^2 / T)^K x_0 */
    ebm_abi_langevin L = {.steps = 20, .step_size = 0.05f, .temperature = 2.0f, .seed = 1};
    float *x0 = falloc(n * d);
    memcpy(x0, x, (size_t)(n * d) * sizeof *x);
    io io_l = {.x = x, .energy = e, .L = &L};
    ck_assert_int_eq(run(m, EBM_PROGRAM_LANGEVIN, &io_l, n, m->tile), 0);
    for (int64_t i = 0; i < n; i++) {
        double ei = 0;
        for (int j = 0; j < d; j++) {
            double want = pow(1.0 - 0.05 * a[j] * a[j] / 2.0, 20) * x0[i * d + j];
            ck_assert_double_le(fabs(x[i * d + j] - want), 1e-5);
            ei += 0.5 * a[j] * a[j] * (double)x[i * d + j] * x[i * d + j];
        }
        ck_assert_double_le(fabs(e[i] - ei), 1e-5 * (1 + ei));   /* energies of the returned x */
    }
    free(x), free(e), free(s), free(w), free(grad), free(x0);
    dlclose(so);
    ir_graph_free(g);
}
END_TEST

/* E(x) = sum_j w_j x_j: the score -w does not depend on x (the prologue
 * computes it), so the update runs as a loop of its own (ebm_langevin_step,
 * not the epilogue of a score loop).  Noise-free, clipped and clamped, from
 * x_0 inside [lo, hi]: every step moves x by c = alpha clip(w / T), so
 * x_K = clamp(x_0 - K c); with noise and neither, x_K adds the steps' noise. */
START_TEST(analytic_linear_langevin)
{
    static const float w[AD] = {0.5f, -1.0f, 1.5f, -2.0f, 3.0f};
    const int64_t n = 70, d = AD;
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int in = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, AD), &err);
    int cw = ir_add_const(g, "w", ir_shape_make(1, AD), w, IR_NODE_PARAM | IR_NODE_TRAINABLE, &err);
    int e = ir_reduce(g, IR_OP_RSUM, ir_binary(g, IR_OP_MUL, in, cw, "wx", &err), 1u << 1, "sum", &err);
    e = ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), "energy", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    void *so = NULL;
    const ebm_abi_model *m = NULL;
    ck_assert_msg(compile_and_load(g, "linear", &so, &m, &err) == EBM_OK, "%s", err.msg);
    float *x = falloc(n * d), *x0 = falloc(n * d), *en = falloc(n);
    tu_fill_uniform_f32(x0, (size_t)(n * d), 8, -0.9, 0.9);
    memcpy(x, x0, (size_t)(n * d) * sizeof *x);
    ebm_abi_langevin L = {.steps = 25, .step_size = 0.02f, .temperature = 0.5f, .grad_clip = 4.0f, .clamp = 1,
                          .lo = -1.0f, .hi = 1.0f, .seed = 11};
    io a = {.x = x, .energy = en, .L = &L};
    ck_assert_int_eq(run(m, EBM_PROGRAM_LANGEVIN, &a, n, m->tile), 0);
    int clipped = 0, clamped = 0;
    for (int64_t i = 0; i < n; i++) {
        double ei = 0;
        for (int j = 0; j < d; j++) {
            double g1 = w[j] / 0.5, c = 0.02 * (g1 > 4 ? 4 : g1 < -4 ? -4 : g1);
            double want = x0[i * d + j] - 25 * c;
            clipped += fabs(g1) > 4, clamped += want < -1 || want > 1;
            want = want < -1 ? -1 : want > 1 ? 1 : want;
            ck_assert_double_le(fabs(x[i * d + j] - want), 1e-5);
            ei += w[j] * (double)x[i * d + j];
        }
        ck_assert_double_le(fabs(en[i] - ei), 1e-5 * (1 + fabs(ei)));   /* energies of the returned x */
    }
    ck_assert(clipped > 0 && clamped > 0);
    /* with noise, no clip or clamp: x_K = x_0 - K alpha w / T + sigma sum_t eps_t,
       eps_t of global sample i at step 3 + t (two tiles: samples 64.. start the second) */
    ebm_abi_langevin N = {.steps = 4, .step_size = 0.02f, .noise_scale = 0.1f, .temperature = 0.5f, .seed = 11,
                          .step_offset = 3};
    memcpy(x, x0, (size_t)(n * d) * sizeof *x);
    io b = {.x = x, .energy = en, .L = &N};
    ck_assert_int_eq(run(m, EBM_PROGRAM_LANGEVIN, &b, n, m->tile), 0);
    float eps[AD];
    for (int64_t i = 0; i < n; i++) {
        double want[AD];
        for (int j = 0; j < d; j++)
            want[j] = x0[i * d + j] - 4 * 0.02 * w[j] / 0.5;
        for (int t = 0; t < 4; t++) {
            ebm_philox_normals(11, (uint64_t)i, 3 + (uint64_t)t, eps, d);
            for (int j = 0; j < d; j++)
                want[j] += 0.1 * eps[j];
        }
        for (int j = 0; j < d; j++)
            ck_assert_double_le(fabs(x[i * d + j] - want[j]), 1e-5);
    }
    free(x), free(x0), free(en);
    dlclose(so);
    ir_graph_free(g);
}
END_TEST

/* x of rank 1 ([N]: one number per sample), E = x^2 / 2: the update's loop
 * runs over the samples alone.  Noise-free at T = 2: x_K = (1 - alpha / T)^K x_0;
 * the energies returned are those of x_K. */
START_TEST(analytic_scalar_samples)
{
    const int64_t n = 100;
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int in = ir_add_input(g, "x", ir_shape_make(1, IR_DIM_N), &err);
    int e = ir_binary(g, IR_OP_MUL, ir_binary(g, IR_OP_MUL, in, in, "sq", &err), ir_add_scalar(g, 0.5, &err),
                      "energy", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    void *so = NULL;
    const ebm_abi_model *m = NULL;
    ck_assert_msg(compile_and_load(g, "scalar", &so, &m, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(m->sample_numel, 1);
    float *x = falloc(n), *x0 = falloc(n), *en = falloc(n);
    tu_fill_uniform_f32(x0, (size_t)n, 12, -3, 3);
    memcpy(x, x0, (size_t)n * sizeof *x);
    ebm_abi_langevin L = {.steps = 30, .step_size = 0.1f, .temperature = 2.0f, .seed = 5};
    io a = {.x = x, .energy = en, .L = &L};
    ck_assert_int_eq(run(m, EBM_PROGRAM_LANGEVIN, &a, n, m->tile), 0);
    for (int64_t i = 0; i < n; i++) {
        double want = pow(1.0 - 0.1 / 2.0, 30) * x0[i];
        ck_assert_double_le(fabs(x[i] - want), 1e-5);
        ck_assert_double_le(fabs(en[i] - 0.5 * (double)x[i] * x[i]), 1e-6);
    }
    free(x), free(x0), free(en);
    dlclose(so);
    ir_graph_free(g);
}
END_TEST

/* E(x) = sum log(x): a sample with a negative element has a NaN energy. */
START_TEST(nonfinite_detected)
{
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int in = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
    int e = ir_reduce(g, IR_OP_RSUM, ir_unary(g, IR_OP_LOG, in, "log", &err), 1u << 1, "sum", &err);
    e = ir_reshape(g, e, ir_shape_make(1, IR_DIM_N), "energy", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    void *so = NULL;
    const ebm_abi_model *m = NULL;
    ck_assert_msg(compile_and_load(g, "nan", &so, &m, &err) == EBM_OK, "%s", err.msg);
    float x[4 * 3] = {1, 2, 3, 1, -1, 1, 0.5f, 0.5f, 0.5f, 2, 2, -2};
    float en[4], x0[12];
    memcpy(x0, x, sizeof x);
    io a = {.x = x, .energy = en};
    ck_assert_int_eq(run(m, EBM_PROGRAM_ENERGY, &a, 4, 4), 2);
    ck_assert(isnan(en[1]) && isnan(en[3]));
    ck_assert_float_eq_tol(en[0], logf(6.0f), 1e-6);
    ebm_abi_langevin L = {.steps = 5, .step_size = 0.01f, .temperature = 1.0f, .seed = 3};
    io b = {.x = x, .energy = en, .L = &L};
    ck_assert_int_eq(run(m, EBM_PROGRAM_LANGEVIN, &b, 4, 4), 2);   /* stops at step 0 */
    ck_assert(isnan(en[1]) && isnan(en[3]));
    /* the finite samples took exactly one step: x - alpha * (1/x) */
    ck_assert_float_eq_tol(x[0], x0[0] - 0.01f * (1.0f / x0[0]), 1e-7);
    dlclose(so);
    ir_graph_free(g);
}
END_TEST

/* E(x) = exp(x) for x [N,1]: fused loops compute exp in float with a
 * polynomial (ebmk_expf); against libm's double exp rounded to float it is
 * within 2 ulp for normal results, exact at the ends (0, inf) and NaN stays NaN. */
START_TEST(float_exp_matches_libm)
{
    static const float xs[] = {-1000.0f, -104.5f, -100.0f, -87.5f, -20.0f, -1.0f, -1e-3f, 0.0f, 1e-3f, 0.5f, 1.0f,
                               3.14159f, 10.0f, 50.0f, 88.0f, 88.72f, 88.73f, 89.0f, 1000.0f};
    const int64_t n = sizeof xs / sizeof xs[0];
    ebm_error err = {0};
    ir_graph *g = ir_graph_new();
    int in = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 1), &err);
    int e = ir_reshape(g, ir_unary(g, IR_OP_EXP, in, "exp", &err), ir_shape_make(1, IR_DIM_N), "energy", &err);
    ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
    void *so = NULL;
    const ebm_abi_model *m = NULL;
    ck_assert_msg(compile_and_load(g, "exp", &so, &m, &err) == EBM_OK, "%s", err.msg);
    float x[sizeof xs / sizeof xs[0]], en[sizeof xs / sizeof xs[0]];
    memcpy(x, xs, sizeof xs);
    io a = {.x = x, .energy = en};
    int inf = 0;
    for (int64_t i = 0; i < n; i++)
        inf += isinf((float)exp((double)xs[i]));
    ck_assert_int_eq(run(m, EBM_PROGRAM_ENERGY, &a, n, m->tile), inf);   /* overflows count as non-finite */
    for (int64_t i = 0; i < n; i++) {
        float want = (float)exp((double)xs[i]);
        if (isinf(want) || want == 0.0f)
            ck_assert_msg(en[i] == want, "exp(%g) = %g, want %g", xs[i], en[i], want);
        else if (want < FLT_MIN)   /* subnormal: absolute error of a few of its units */
            ck_assert_msg(fabsf(en[i] - want) <= 4e-45f, "exp(%g) = %g, want %g", xs[i], en[i], want);
        else
            ck_assert_msg(fabs((double)en[i] - want) <= 2.5e-7 * want, "exp(%g) = %.9g, want %.9g", xs[i], en[i], want);
    }
    x[0] = NAN;
    ck_assert_int_eq(run(m, EBM_PROGRAM_ENERGY, &a, 1, 1), 1);
    ck_assert(isnan(en[0]));
    dlclose(so);
    ir_graph_free(g);
}
END_TEST

/* The lane order of a sum (codegen_c_nest.h): lane l adds the terms
 * k = l mod 16 in k order, from 0.0f, then the lanes fold in halves. */
static float lane_sum(const float *v, int64_t len)
{
    float acc[16] = {0.0f};
    for (int64_t k = 0; k < len; k++)
        acc[k % 16] += v[k];
    for (int h = 8; h > 0; h /= 2)
        for (int l = 0; l < h; l++)
            acc[l] += acc[l + h];
    return acc[0];
}

/* A sum over a last axis of constant length K, unfused: for K < 16 the
 * kernel writes the lanes' folds out (an upsampling's gradient sums runs of
 * 2), for K >= 16 it loops over the lanes; both give lane_sum's bits
 * exactly, on values of mixed magnitude and sign and with -0 terms (a lane
 * that starts at +0 makes -0 +0), and inf and NaN pass through. */
START_TEST(short_sums_keep_the_lane_order)
{
    static const int64_t lens[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 33};
    enum { N = 5 };
    ebm_error err = {0};
    for (size_t t = 0; t < sizeof lens / sizeof lens[0]; t++) {
        const int64_t K = lens[t];
        ir_graph *g = ir_graph_new();
        int in = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, K), &err);
        int e = ir_reshape(g, ir_reduce(g, IR_OP_RSUM, in, 1u << 1, "sum", &err), ir_shape_make(1, IR_DIM_N), "e",
                           &err);
        ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
        char *c = NULL;
        ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output"};
        ck_assert_msg(ebmc_emit_c(g, &o, &c, &err) == EBM_OK, "%s", err.msg);
        if (K > 1)   /* a sum of one term is simplified away */
            ck_assert_msg((strstr(c, "the lane sum's folds, written out") != NULL) == (K < 16),
                          "K = %lld: the short form %s", (long long)K, K < 16 ? "is missing" : "is used");
        free(c);
        char name[32];
        snprintf(name, sizeof name, "sum%lld", (long long)K);
        void *so = NULL;
        const ebm_abi_model *m = NULL;
        ck_assert_msg(compile_and_load(g, name, &so, &m, &err) == EBM_OK, "%s", err.msg);
        float x[N * 33], en[N];
        for (int64_t i = 0; i < N * K; i++)   /* magnitudes 1e-3 .. 1e5, both signs: the order shows */
            x[i] = (float)((i % 3 ? 1 : -1) * pow(10.0, (double)(i * 7 % 9) - 3.0) * (1.0 + 0.1 * (double)i));
        for (int64_t j = 0; j < K; j++)
            x[1 * K + j] = -0.0f;          /* row 1: all -0 (the sum is +0) */
        x[2 * K + K / 2] = INFINITY;       /* row 2: an inf */
        x[3 * K + K - 1] = NAN;            /* row 3: a NaN */
        io a = {.x = x, .energy = en};
        ck_assert_int_eq(run(m, EBM_PROGRAM_ENERGY, &a, N, m->tile), 2);   /* inf and NaN are non-finite */
        for (int64_t i = 0; i < N; i++) {
            const float want = lane_sum(x + i * K, K);
            if (isnan(want))
                ck_assert_msg(isnan(en[i]), "K = %lld, row %lld: %g, want NaN", (long long)K, (long long)i, en[i]);
            else
                ck_assert_msg(memcmp(&en[i], &want, sizeof want) == 0, "K = %lld, row %lld: %.9g, lane order %.9g",
                              (long long)K, (long long)i, en[i], want);
        }
        dlclose(so);
        ir_graph_free(g);
    }
    printf("short sums: K = 1..33, the same bits as the 16 lanes' order\n");
}
END_TEST

/* Every elementwise op of ops.def, compiled (its float_expr in a fused loop)
 * against the executor (its scalar_expr in double) on [-4, 4] and at 0, -0
 * and +-inf: within 4 units in the last place (the float polynomials are
 * tested more closely below), NaN where the executor gives NaN.  Operand k
 * of an op is x scaled by 1 - 0.3 k, so binary ops meet x < y, x = y
 * (at 0) and x > y; pows has P = 3.  A new row is compiled here without an
 * edit. */
START_TEST(every_elementwise_op_matches_executor)
{
    enum { NPTS = 805 };
    float *x = malloc(NPTS * sizeof *x), *en = malloc(NPTS * sizeof *en);
    double *xd = malloc(NPTS * sizeof *xd), *want = malloc(NPTS * sizeof *want);
    ck_assert(x && en && xd && want);
    for (int i = 0; i < 801; i++)
        x[i] = (float)(i - 400) * 0.01f;
    x[801] = -0.0f, x[802] = INFINITY, x[803] = -INFINITY, x[804] = 1e-30f;
    for (int i = 0; i < NPTS; i++)
        xd[i] = x[i];
    int tested = 0;
    double t0 = base_now_seconds();
    for (int op = 0; op < IR_OP_COUNT; op++) {
        const ir_op_info *info = ir_op_get((ir_op)op);
        if (!info->elementwise)
            continue;
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int in[3];
        in[0] = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 1), &err);
        for (int k = 1; k < info->arity; k++)
            in[k] = ir_binary(g, IR_OP_MUL, in[0], ir_add_scalar(g, 1.0 - 0.3 * k, &err), NULL, &err);
        ir_attr a;
        memset(&a, 0, sizeof a);
        a.f = 3.0;
        int y = ir_add_node(g, (ir_op)op, in, info->arity, info->attr == IR_ATTR_F ? &a : NULL, info->name, &err);
        int e = ir_reshape(g, y, ir_shape_make(1, IR_DIM_N), "energy", &err);
        ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s: %s", info->name, err.msg);
        const void *ins[1] = {xd};
        void *outs[1] = {want};
        ck_assert_msg(ebmc_exec(g, NPTS, EBMC_F64, ins, outs, &err) == EBM_OK, "%s: %s", info->name, err.msg);
        void *so = NULL;
        const ebm_abi_model *m = NULL;
        char name[64];
        snprintf(name, sizeof name, "ewise_%s", info->name);
        ck_assert_msg(compile_and_load(g, name, &so, &m, &err) == EBM_OK, "%s: %s", info->name, err.msg);
        io io_ = {.x = x, .energy = en};
        run(m, EBM_PROGRAM_ENERGY, &io_, NPTS, m->tile);
        for (int i = 0; i < NPTS; i++) {
            const float w = (float)want[i];
            if (isnan(w) || isinf(w) || w == 0.0f) {
                ck_assert_msg(memcmp(&en[i], &w, sizeof w) == 0 || (isnan(w) && isnan(en[i])) ||
                                  (w == 0.0f && en[i] == 0.0f),
                              "%s(%g) = %g, want %g", info->name, (double)x[i], (double)en[i], (double)w);
                continue;
            }
            const double ulp = nextafterf(fabsf(w), INFINITY) - fabsf(w);
            ck_assert_msg(fabs((double)en[i] - want[i]) <= 4 * ulp, "%s(%.9g) = %.9g, want %.9g", info->name,
                          (double)x[i], (double)en[i], want[i]);
        }
        dlclose(so);
        ir_graph_free(g);
        tested++;
    }
    printf("elementwise: %d ops compiled and checked in %.1f s\n", tested, base_now_seconds() - t0);
    ck_assert_int_gt(tested, 0);
    free(x), free(en), free(xd), free(want);
}
END_TEST

/* log, tanh, erf, softplus, exp and sigmoid in the fused loops are float
 * polynomials too (ebmk_logf, ebmk_tanhf, ebmk_erff, ebmk_log1pf, ebmk_expf,
 * ebmk_expf_nonpos); against libm's double functions rounded to float they
 * are within 4 ulp (worst measured printed) over a sweep of both
 * signs, 1e-30 to 1e38 and a fine grid on [-10, 10], exact at 0, +-1 (log)
 * and the infinities, and NaN stays NaN. */
static double softplus_ref(double x)
{
    return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x)));
}

static double sigmoid_ref(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

START_TEST(float_functions_match_libm)
{
    static const struct {
        ir_op op;
        double (*ref)(double);
        int positive_only;
    } fns[] = {{IR_OP_LOG, log, 1},         {IR_OP_TANH, tanh, 0}, {IR_OP_ERF, erf, 0},
               {IR_OP_SOFTPLUS, softplus_ref, 0}, {IR_OP_EXP, exp, 0},   {IR_OP_SIGMOID, sigmoid_ref, 0}};
    enum { MAXN = 60000 };
    float *xs = malloc(MAXN * sizeof *xs), *x = malloc(MAXN * sizeof *x), *en = malloc(MAXN * sizeof *en);
    ck_assert(xs && x && en);
    for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
        int64_t n = 0;
        for (int k = -4000; k <= 3800; k++) {   /* 1e-40 .. 1e38, both signs */
            float v = (float)pow(10.0, k / 100.0);
            xs[n++] = v;
            if (!fns[f].positive_only)
                xs[n++] = -v;
        }
        for (int k = -20000; k <= 20000; k++) {   /* [-10, 10] by 5e-4, and 1 +- k ulp */
            if (!fns[f].positive_only || k > 0)
                xs[n++] = (float)k * 5e-4f;
        }
        for (int k = 1; k <= 200; k++) {
            xs[n++] = 1.0f + (float)k * 1.1920929e-7f;
            xs[n++] = 1.0f - (float)k * 5.9604645e-8f;
        }
        const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, FLT_MIN, FLT_MAX, 1e-45f};
        for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++)
            xs[n++] = specials[k];
        ck_assert(n <= MAXN);
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int in = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 1), &err);
        int e = ir_reshape(g, ir_unary(g, fns[f].op, in, "f", &err), ir_shape_make(1, IR_DIM_N), "energy", &err);
        ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
        void *so = NULL;
        const ebm_abi_model *m = NULL;
        ck_assert_msg(compile_and_load(g, ir_op_get(fns[f].op)->name, &so, &m, &err) == EBM_OK, "%s", err.msg);
        memcpy(x, xs, (size_t)n * sizeof *x);
        io a = {.x = x, .energy = en};
        run(m, EBM_PROGRAM_ENERGY, &a, n, m->tile);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            const float want = (float)fns[f].ref((double)xs[i]);
            const char *name = ir_op_get(fns[f].op)->name;
            if (isnan(want)) {
                ck_assert_msg(isnan(en[i]), "%s(%g) = %g, want NaN", name, (double)xs[i], (double)en[i]);
            } else if (isinf(want) || want == 0.0f || fabsf(want) == 1.0f) {
                ck_assert_msg(en[i] == want || fabsf(en[i] - want) <= 6e-8f * fabsf(want),
                              "%s(%.9g) = %.9g, want %.9g", name, (double)xs[i], (double)en[i], (double)want);
            } else if (fabsf(want) < FLT_MIN) {   /* subnormal: a few of its units */
                ck_assert_msg(fabsf(en[i] - want) <= 8e-45f, "%s(%g) = %g, want %g", name, (double)xs[i],
                              (double)en[i], (double)want);
            } else {
                const double ulp = nextafterf(fabsf(want), INFINITY) - fabsf(want);
                const double u = fabs((double)en[i] - want) / ulp;
                worst = u > worst ? u : worst;
                ck_assert_msg(u <= 4, "%s(%.9g) = %.9g, want %.9g (%.1f ulp)", name, (double)xs[i], (double)en[i],
                              (double)want, u);
            }
        }
        printf("float %s: %lld points, worst %.2f ulp\n", ir_op_get(fns[f].op)->name, (long long)n, worst);
        dlclose(so);
        ir_graph_free(g);
    }
    free(xs), free(x), free(en);
}
END_TEST

/* pows with the exponents normalisation layers make runs as sqrtf and
 * products in the fused loops (codegen_c_kernels.c pows_body); against pow
 * in double rounded to float: within 2 ulp (worst measured printed) over
 * 1e-30 .. 1e30, and pow's values at +-0, +-inf, negative x and NaN. */
START_TEST(pows_matches_pow)
{
    static const float ps[] = {2.0f, -1.0f, 0.5f, -0.5f, -1.5f, 1.5f, 3.0f};
    enum { MAXN = 8000 };
    float *xs = malloc(MAXN * sizeof *xs), *x = malloc(MAXN * sizeof *x), *en = malloc(MAXN * sizeof *en);
    ck_assert(xs && x && en);
    int64_t n = 0;
    for (int k = -3000; k <= 3000; k++)
        xs[n++] = (float)pow(10.0, k / 100.0);
    const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, -2.5f, INFINITY, -INFINITY, NAN, FLT_MIN, 1e-45f};
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++)
        xs[n++] = specials[k];
    ck_assert(n <= MAXN);
    for (size_t f = 0; f < sizeof ps / sizeof ps[0]; f++) {
        ebm_error err = {0};
        ir_graph *g = ir_graph_new();
        int in = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 1), &err);
        int e = ir_reshape(g, ir_pows(g, in, ps[f], "p", &err), ir_shape_make(1, IR_DIM_N), "energy", &err);
        ck_assert_msg(e >= 0 && ir_add_output(g, e, "energy", &err) == EBM_OK, "%s", err.msg);
        void *so = NULL;
        const ebm_abi_model *m = NULL;
        ck_assert_msg(compile_and_load(g, "pows", &so, &m, &err) == EBM_OK, "%s", err.msg);
        memcpy(x, xs, (size_t)n * sizeof *x);
        io a = {.x = x, .energy = en};
        run(m, EBM_PROGRAM_ENERGY, &a, n, m->tile);
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            const float want = (float)pow((double)xs[i], (double)ps[f]);
            if (isnan(want)) {
                ck_assert_msg(isnan(en[i]), "pow(%g, %g) = %g, want NaN", (double)xs[i], (double)ps[f], (double)en[i]);
            } else if (isinf(want) || want == 0.0f) {
                ck_assert_msg(en[i] == want && signbit(en[i]) == signbit(want), "pow(%g, %g) = %g, want %g",
                              (double)xs[i], (double)ps[f], (double)en[i], (double)want);
            } else if (fabsf(want) < FLT_MIN) {
                ck_assert_msg(fabsf(en[i] - want) <= 8e-45f, "pow(%g, %g) = %g, want %g", (double)xs[i],
                              (double)ps[f], (double)en[i], (double)want);
            } else {
                const double ulp = nextafterf(fabsf(want), INFINITY) - fabsf(want);
                const double u = fabs((double)en[i] - want) / ulp;
                worst = u > worst ? u : worst;
                ck_assert_msg(u <= 2, "pow(%.9g, %g) = %.9g, want %.9g (%.1f ulp)", (double)xs[i], (double)ps[f],
                              (double)en[i], (double)want, u);
            }
        }
        printf("float pows p=%g: %lld points, worst %.2f ulp\n", (double)ps[f], (long long)n, worst);
        dlclose(so);
        ir_graph_free(g);
    }
    free(xs), free(x), free(en);
}
END_TEST

/* ---- the compiler driver's errors ------------------------------------------------------- */

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n == 0;
}

START_TEST(driver_errors_are_clear)
{
    const float a[AD] = {1, 1, 1, 1, 1};
    ir_graph *g = quadratic_graph(a);
    char dest[4096 + 16], tmp[4096 + 16], out[8300];
    snprintf(dest, sizeof dest, "%s/dest", work_dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", work_dir);
    ck_assert_int_eq(mkdir(dest, 0755), 0);
    ck_assert_int_eq(mkdir(tmp, 0755), 0);
    setenv("TMPDIR", tmp, 1);
    snprintf(out, sizeof out, "%s/model.so", dest);
    ebm_error err = {0};
    ebmc_compile_options o = {.opt_level = 2, .cc = "/nonexistent/cc"};
    ck_assert_int_ne(ebmc_compile_model(g, &o, out, &err), EBM_OK);
    ck_assert_msg(strstr(err.msg, "/nonexistent/cc") && strstr(err.msg, "--cc"), "%s", err.msg);
    ck_assert(dir_is_empty(dest) && dir_is_empty(tmp));

    snprintf(out, sizeof out, "%s/no/such/dir/model.so", dest);
    o.cc = NULL;
    memset(&err, 0, sizeof err);
    ck_assert_int_ne(ebmc_compile_model(g, &o, out, &err), EBM_OK);
    ck_assert_msg(strstr(err.msg, out) && strstr(err.msg, "cannot write"), "%s", err.msg);
    ck_assert(dir_is_empty(dest) && dir_is_empty(tmp));

    o.target_cpu = "x86-64; rm -rf";
    snprintf(out, sizeof out, "%s/model.so", dest);
    ck_assert_int_ne(ebmc_compile_model(g, &o, out, &err), EBM_OK);
    ck_assert_msg(strstr(err.msg, "--target 'x86-64; rm -rf'"), "%s", err.msg);
    ck_assert(dir_is_empty(dest) && dir_is_empty(tmp));
    ir_graph_free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codegen");
    TCase *tc = tcase_create("compiled");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, compile_fixtures, release_fixtures);
    tcase_add_test(tc, programs_match_executor);
    tcase_add_test(tc, langevin_matches_stepwise);
    tcase_add_test(tc, analytic_linear_langevin);
    tcase_add_test(tc, analytic_scalar_samples);
    tcase_add_test(tc, analytic_quadratic);
    tcase_add_test(tc, nonfinite_detected);
    tcase_add_test(tc, float_exp_matches_libm);
    tcase_add_test(tc, short_sums_keep_the_lane_order);
    tcase_add_test(tc, float_functions_match_libm);
    tcase_add_test(tc, every_elementwise_op_matches_executor);
    tcase_add_test(tc, pows_matches_pow);
    tcase_add_test(tc, driver_errors_are_clear);
    tcase_add_test(tc, default_tile_follows_activations);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
