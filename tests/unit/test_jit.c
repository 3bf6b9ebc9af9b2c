/* test_jit.c — the in-process JIT backend (compiler/jit.h) and libebm's
 * opening of in-process code (runtime/ebm_code.h).
 *
 *   - PyTorch-exported fixtures compiled by the JIT: energy and score of
 *     input.npy against PyTorch's float64 values (energy_f64.npy,
 *     score_f64.npy), |err| <= 1e-4 * max(1, |ref|);
 *   - the JIT against the AOT shared object (the system C compiler, same
 *     options) on the same inputs: energy, score and one Langevin step are
 *     the same bits (the same C, compiled by clang instead of gcc: the C
 *     orders every float sum itself);
 *   - the compiled kernels (jit_kernels.c, kernels/ebmk_linked.c): -O0 code
 *     calling them gives the AOT bits too; every table is whole; C whose
 *     check of their vector path fails is compiled with its own kernels;
 *   - two tiers (jit_tier.c): a model opened on -O0 code computes the same
 *     bits before and after it moves to its -O2 code, also for a Langevin
 *     call the move happens during; closing a model whose optimised compile
 *     still runs leaves no child process; ebm_model_upgrade_code refuses
 *     another model's code;
 *   - bad input: C that does not compile gives clang's message and no model;
 *     a descriptor outside the given memory ranges, or entry points outside
 *     the code ranges, are refused by the checks every loaded model passes,
 *     and the JIT is released exactly once either way.
 *
 * Built without LLVM (EBMC_JIT=OFF or not found), it says so and exits 77
 * (skipped).
 */
#include <stdio.h>
#include <stdlib.h>

#ifndef EBMC_HAVE_JIT
int main(void)
{
    printf("test_jit: SKIPPED: this build has no JIT (configured without LLVM 14+ and clang's libraries, or with "
           "-DEBMC_JIT=OFF)\n");
    return 77;
}
#else

#include <check.h>
#include <math.h>
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codegen.h"
#include "ebm.h"
#include "ebm_code.h"
#include "jit.h"
#include "kernels/ebmk_linked.h"
#include "npy.h"
#include "schedule.h"   /* EBMC_ALIGN */
#include "testutil.h"

#define TOL_TORCH 1e-4

static int released;

static void count_release(void *j)
{
    released++;
    ebmc_jit_release(j);
}

/* The model's C and blob, as tools/model_cache.c makes them. */
static ebm_status model_job(const ir_graph *g, const char *name, ebmc_jit_job *job, ebm_error *err)
{
    ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output"};
    char *c = NULL;
    float *blob = NULL;
    int64_t blob_floats = 0;
    int units = 1;
    ebm_status st = ebmc_emit_model(g, &o, &c, &blob, &blob_floats, &units, err);
    *job = (ebmc_jit_job){.name = name, .c_source = c, .units = units, .blob = blob, .blob_floats = blob_floats,
                          .blob_align = EBMC_ALIGN, .opt_level = 2, .symbol = EBM_ABI_SYMBOL_NAME};
    return st;
}

static void free_job(ebmc_jit_job *job)
{
    free((char *)job->c_source);
    free((float *)job->blob);
}

/* Compiles job and opens it through libebm, as `ebm --backend jit` does
 * (tools/model_cache.c).  drop_code: leave the code ranges out. */
static ebm_status open_job(const ebmc_jit_job *job, int drop_code, ebm_model **out, ebm_error *err)
{
    ebmc_jit *j = NULL;
    ebm_status st = ebmc_jit_compile(job, &j, err);
    if (st)
        return st;
    ebm_code_region regions[64];
    int n = 0;
    for (int k = 0; k < ebmc_jit_region_count(j) && n < 64; k++) {
        ebmc_jit_region(j, k, &regions[n].start, &regions[n].size, &regions[n].executable);
        n += !(drop_code && regions[n].executable);
    }
    ebm_code code = {.desc = ebmc_jit_descriptor(j), .regions = regions, .n_regions = n, .owner = j,
                     .release = count_release};
    return ebm_model_open_code(job->name, &code, out, err);
}

/* g compiled at -O2 by the JIT and opened. */
static ebm_status open_jit(const ir_graph *g, const char *name, int drop_code, ebm_model **out, ebm_error *err)
{
    ebmc_jit_job job;
    ebm_status st = model_job(g, name, &job, err);
    if (!st)
        st = open_job(&job, drop_code, out, err);
    free_job(&job);
    return st;
}

/* max |a - ref| / max(1, |ref|) */
static double max_err(const float *a, const double *ref, int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - ref[i]) / fmax(1.0, fabs(ref[i]));
        worst = isnan(e) ? INFINITY : fmax(worst, e);
    }
    return worst;
}

static double max_err_f32(const float *a, const float *b, int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        worst = isnan(e) ? INFINITY : fmax(worst, e);
    }
    return worst;
}

static int64_t numel(const ebm_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++)
        n *= a->shape[i];
    return n;
}

/* tests/fixtures/<name>: its graph, and its input.npy when x is not NULL. */
static void load_fixture(const char *name, ir_graph **g, ebm_array *x)
{
    ebm_error err = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tu_path("%s/tests/fixtures/%s", tu_source_dir(), name));
    ck_assert_msg(tu_fixture_graph(dir, g, &err) == EBM_OK, "%s: %s", name, err.msg);
    if (x)
        ck_assert_msg(ebm_npy_read(tu_path("%s/input.npy", dir), x, &err) == EBM_OK, "%s: %s", name, err.msg);
}

static const char *const fixtures[] = {"mlp_silu", "cnn_strided_silu", "resnet_groupnorm", "transformer_bf1_op17"};

START_TEST(fixtures_match_torch)
{
    ebm_error err = {0};
    int failed = 0;
    printf("%-24s %9s %9s\n", "fixture (JIT)", "energy", "score");
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        const char *dir = tu_path("%s/tests/fixtures/%s", tu_source_dir(), fixtures[f]);
        char dir_copy[4096];
        snprintf(dir_copy, sizeof dir_copy, "%s", dir);
        ir_graph *g = NULL;
        ebm_model *m = NULL;
        ebm_ctx *ctx = NULL;
        ebm_array x = {0}, e_ref = {0}, s_ref = {0};
        ck_assert_msg(tu_fixture_graph(dir_copy, &g, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(open_jit(g, fixtures[f], 0, &m, &err) == EBM_OK, "%s: %s", fixtures[f], err.msg);
        ck_assert_msg(ebm_npy_read(tu_path("%s/input.npy", dir_copy), &x, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebm_npy_read(tu_path("%s/energy_f64.npy", dir_copy), &e_ref, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebm_npy_read(tu_path("%s/score_f64.npy", dir_copy), &s_ref, &err) == EBM_OK, "%s", err.msg);
        ck_assert(x.dtype == EBM_NPY_F32 && e_ref.dtype == EBM_NPY_F64 && s_ref.dtype == EBM_NPY_F64);
        const int64_t n = x.shape[0], xn = numel(&x);
        ck_assert_int_eq(numel(&e_ref), n);
        ck_assert_int_eq(numel(&s_ref), xn);
        float *energy = malloc((size_t)n * sizeof *energy), *score = malloc((size_t)xn * sizeof *score);
        ck_assert_msg(ebm_ctx_new(m, n, &ctx, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebm_score(ctx, x.data, n, energy, score, &err) == EBM_OK, "%s", err.msg);
        const double ee = max_err(energy, e_ref.data, n), es = max_err(score, s_ref.data, xn);
        const int ok = ee <= TOL_TORCH && es <= TOL_TORCH;
        printf("%-24s %9.2e %9.2e%s\n", fixtures[f], ee, es, ok ? "" : "  FAIL");
        failed += !ok;
        free(energy);
        free(score);
        free(x.data);
        free(e_ref.data);
        free(s_ref.data);
        ebm_ctx_free(ctx);
        ebm_model_close(m);
        ir_graph_free(g);
    }
    fflush(stdout);
    ck_assert_msg(failed == 0, "%d fixtures over %g of PyTorch's float64 values (table above)", failed, TOL_TORCH);
}
END_TEST

/* The same graph through the C compiler (a sealed .so in a scratch folder). */
static ebm_status open_aot(const ir_graph *g, const char *name, ebm_model **out, ebm_error *err)
{
    ebmc_compile_options o = {.opt_level = 2, .target_cpu = "native", .energy_head = "output"};
    const char *path = tu_scratch_file(name);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    ebm_status st = ebmc_compile_model(g, &o, copy, err);
    return st ? st : ebm_model_open(copy, out, err);
}

/* The JIT's -O2 code and its -O0 code calling the compiled kernels (the
 * quick tier's), each against the AOT shared object. */
START_TEST(jit_matches_aot)
{
    /* convolutions (im2col, col2im, Winograd; GroupNorm's sums over 4 units), pooling */
    static const char *const pair[] = {"cnn_strided_silu", "resnet_groupnorm", "batchnorm_pool"};
    static const char *const kind[] = {"JIT -O2", "JIT -O0 + compiled kernels"};
    ebm_error err = {0};
    const ebmk_linked_kernels *lk = ebmc_jit_host_kernels();
    printf("compiled kernels for this CPU: %s\n", lk ? lk->path : "none (the -O0 code compiles its own)");
    tu_scratch_make("jit");
    printf("%-24s %-28s %9s %9s %9s\n", "fixture", "against AOT", "energy", "score", "langevin");
    int failed = 0;
    for (size_t f = 0; f < sizeof pair / sizeof pair[0]; f++) {
        ir_graph *g = NULL;
        ebm_model *m[3] = {NULL, NULL, NULL};   /* the two JIT codes, then AOT */
        ebm_array x = {0};
        load_fixture(pair[f], &g, &x);
        ebmc_jit_job job;
        ck_assert_msg(model_job(g, pair[f], &job, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(open_job(&job, 0, &m[0], &err) == EBM_OK, "%s", err.msg);
        job.opt_level = 0;
        job.linked_kernels = 1;
        ck_assert_msg(open_job(&job, 0, &m[1], &err) == EBM_OK, "%s", err.msg);
        free_job(&job);
        ck_assert_msg(open_aot(g, pair[f], &m[2], &err) == EBM_OK, "%s", err.msg);
        const int64_t n = x.shape[0], xn = numel(&x);
        float *e[3], *s[3], *lx[3];
        for (int k = 0; k < 3; k++) {
            ck_assert_int_eq(ebm_model_desc(m[k])->tile, ebm_model_desc(m[2])->tile);
            e[k] = malloc((size_t)n * sizeof(float));
            s[k] = malloc((size_t)xn * sizeof(float));
            lx[k] = malloc((size_t)xn * sizeof(float));
            ebm_ctx *ctx = NULL;
            ck_assert_msg(ebm_ctx_new(m[k], n, &ctx, &err) == EBM_OK, "%s", err.msg);
            ck_assert_msg(ebm_score(ctx, x.data, n, e[k], s[k], &err) == EBM_OK, "%s", err.msg);
            memcpy(lx[k], x.data, (size_t)xn * sizeof(float));
            ebm_langevin_params p = ebm_langevin_defaults();
            p.steps = 1;
            p.grad_clip = 0;   /* the whole gradient in the step */
            p.seed = 7;
            ck_assert_msg(ebm_langevin(ctx, lx[k], n, &p, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
            ebm_ctx_free(ctx);
        }
        /* the step moved the samples (a real update was compared, not x twice) */
        ck_assert(max_err_f32(lx[2], x.data, xn) > 1e-4);
        for (int k = 0; k < 2; k++) {
            const double de = max_err_f32(e[k], e[2], n), ds = max_err_f32(s[k], s[2], xn),
                         dl = max_err_f32(lx[k], lx[2], xn);
            const int ok = de == 0 && ds == 0 && dl == 0;   /* the same bits */
            printf("%-24s %-28s %9.2e %9.2e %9.2e%s\n", pair[f], kind[k], de, ds, dl, ok ? "" : "  FAIL");
            failed += !ok;
        }
        for (int k = 0; k < 3; k++) {
            free(e[k]);
            free(s[k]);
            free(lx[k]);
            ebm_model_close(m[k]);
        }
        free(x.data);
        ir_graph_free(g);
    }
    tu_scratch_remove();
    fflush(stdout);
    ck_assert_msg(failed == 0, "%d comparisons: JIT and AOT differ (table above)", failed);
}
END_TEST

/* Every table of compiled kernels is whole, under the names the C calls. */
START_TEST(linked_tables_whole)
{
    const ebmk_linked_kernels *lk = ebmc_jit_host_kernels();
    if (!lk) {
        printf("linked_tables_whole: SKIPPED: no compiled kernels for this CPU's vector path\n");
        return;
    }
    ck_assert(lk->isa >= 0 && lk->isa <= (EBMK_ISA_AVX512F | EBMK_ISA_AVX | EBMK_ISA_FMA));
    for (int k = 0; k < EBMK_LINKED_COUNT; k++) {
        ck_assert_ptr_nonnull(lk->fn[k]);
        ck_assert_ptr_nonnull(ebmc_jit_linked_name(k));
        ck_assert_msg(strncmp(ebmc_jit_linked_name(k), "ebmk_linked_", 12) == 0, "%s", ebmc_jit_linked_name(k));
    }
    ck_assert_str_eq(ebmc_jit_linked_name(EBMK_LINKED_gemm_nn), "ebmk_linked_gemm_nn");
    ck_assert_ptr_null(ebmc_jit_linked_name(EBMK_LINKED_COUNT));
    ck_assert_ptr_null(ebmc_jit_linked_name(-1));
}
END_TEST

/* C whose check of the kernels' vector path fails (as when clang's view of
 * the CPU differs from jit_kernels.c's) is compiled again with its own
 * kernels: the model opens and computes the -O2 code's energies. */
START_TEST(linked_check_falls_back)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ebm_array x = {0};
    load_fixture("cnn_strided_silu", &g, &x);
    ebmc_jit_job job;
    ebm_model *m[2] = {NULL, NULL};
    ck_assert_msg(model_job(g, "cnn_strided_silu", &job, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(open_job(&job, 0, &m[0], &err) == EBM_OK, "%s", err.msg);
    static const char refuse[] = "#ifdef EBMK_LINKED_ISA\n#error \"EBMK_LINKED_ISA: not this path\"\n#endif\n";
    char *c = malloc(sizeof refuse + strlen(job.c_source));
    ck_assert_ptr_nonnull(c);
    memcpy(c, refuse, sizeof refuse - 1);
    strcpy(c + sizeof refuse - 1, job.c_source);
    free((char *)job.c_source);
    job.c_source = c;
    job.opt_level = 0;
    job.linked_kernels = 1;
    ck_assert_msg(open_job(&job, 0, &m[1], &err) == EBM_OK, "%s", err.msg);
    free_job(&job);
    const int64_t n = x.shape[0];
    float *e[2];
    for (int k = 0; k < 2; k++) {
        ebm_ctx *ctx = NULL;
        e[k] = malloc((size_t)n * sizeof(float));
        ck_assert_msg(ebm_ctx_new(m[k], n, &ctx, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebm_energy(ctx, x.data, n, e[k], &err) == EBM_OK, "%s", err.msg);
        ebm_ctx_free(ctx);
    }
    ck_assert_msg(memcmp(e[0], e[1], (size_t)n * sizeof(float)) == 0, "energies of the fallback differ");
    for (int k = 0; k < 2; k++) {
        free(e[k]);
        ebm_model_close(m[k]);
    }
    free(x.data);
    ir_graph_free(g);
}
END_TEST

START_TEST(bad_c_is_an_error)
{
    ebm_error err = {0};
    ebmc_jit *j = NULL;
    const float blob[1] = {0};
    ebmc_jit_job job = {.name = "bad.onnx", .c_source = "int f(void) { return 1 +; }\n", .blob = blob,
                        .blob_floats = 1, .blob_align = EBMC_ALIGN, .opt_level = 2, .symbol = EBM_ABI_SYMBOL_NAME};
    ck_assert_int_ne(ebmc_jit_compile(&job, &j, &err), EBM_OK);
    ck_assert_ptr_null(j);
    ck_assert_msg(strstr(err.msg, "bad.onnx") && strstr(err.msg, "clang cannot compile") &&
                  strstr(err.msg, "expected expression"), "%s", err.msg);
    /* C that compiles but has no descriptor */
    job.c_source = "int f(void) { return 1; }\n";
    ck_assert_int_ne(ebmc_jit_compile(&job, &j, &err), EBM_OK);
    ck_assert_ptr_null(j);
    ck_assert_msg(strstr(err.msg, "cannot link") && strstr(err.msg, EBM_ABI_SYMBOL_NAME), "%s", err.msg);
    job.opt_level = 4;
    ck_assert_int_eq(ebmc_jit_compile(&job, &j, &err), EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "-O4"), "%s", err.msg);
}
END_TEST

START_TEST(descriptor_checked_against_regions)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ebm_model *m = NULL;
    load_fixture("mlp_silu", &g, NULL);
    /* the code ranges left out: every entry point lies outside the model's code */
    released = 0;
    ck_assert_int_eq(open_jit(g, "mlp_silu", 1, &m, &err), EBM_ERR_FORMAT);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(released, 1);
    ck_assert_msg(strstr(err.msg, "mlp_silu") && strstr(err.msg, "entry point lies outside the model's code"), "%s",
                  err.msg);
    /* no ranges at all, and a descriptor outside the ranges given */
    static const ebm_code_region one = {.start = fixtures, .size = sizeof fixtures, .executable = 0};
    static const char not_a_descriptor[512];
    ebm_code code = {.desc = (const ebm_abi_model *)(const void *)not_a_descriptor, .regions = &one, .n_regions = 1};
    ck_assert_int_eq(ebm_model_open_code("fake", &code, &m, &err), EBM_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "fake") && strstr(err.msg, "outside the model's data"), "%s", err.msg);
    code.n_regions = 0;
    ck_assert_int_eq(ebm_model_open_code("fake", &code, &m, &err), EBM_ERR_INVALID);
    ck_assert_ptr_null(m);
    /* and a good one opens, and its JIT is released once, on close */
    released = 0;
    ck_assert_msg(open_jit(g, "mlp_silu", 0, &m, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(released, 0);
    ebm_model_close(m);
    ck_assert_int_eq(released, 1);
    ir_graph_free(g);
}
END_TEST

/* energy, score and a Langevin chain of `steps` from x, on a fresh context */
static void run_model(ebm_model *m, const ebm_array *x, int steps, float *e, float *s, float *lx)
{
    ebm_error err = {0};
    ebm_ctx *ctx = NULL;
    const int64_t n = x->shape[0];
    ck_assert_msg(ebm_ctx_new(m, n, &ctx, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebm_score(ctx, x->data, n, e, s, &err) == EBM_OK, "%s", err.msg);
    memcpy(lx, x->data, (size_t)numel(x) * sizeof(float));
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = steps;
    p.grad_clip = 0;
    p.seed = 11;
    ck_assert_msg(ebm_langevin(ctx, lx, n, &p, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
    ebm_ctx_free(ctx);
}

static int same_bits(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

START_TEST(tiers_same_bits)
{
    static const char *const pair[] = {"resnet_groupnorm"};   /* GroupNorm's sums, 4 units */
    ebm_error err = {0};
    for (size_t f = 0; f < sizeof pair / sizeof pair[0]; f++) {
        ir_graph *g = NULL;
        ebm_array x = {0};
        load_fixture(pair[f], &g, &x);
        const int64_t n = x.shape[0], xn = numel(&x);
        float *e[2], *s[2], *lx[2], *chain[2];   /* [0] on the -O0 code, [1] on the -O2 code */
        for (int k = 0; k < 2; k++) {
            e[k] = malloc((size_t)n * sizeof(float));
            s[k] = malloc((size_t)xn * sizeof(float));
            lx[k] = malloc((size_t)xn * sizeof(float));
            chain[k] = malloc((size_t)xn * sizeof(float));
            memcpy(chain[k], x.data, (size_t)xn * sizeof(float));
        }
        ebm_langevin_params p = ebm_langevin_defaults();
        p.steps = 40;
        p.seed = 5;
        /* at once on -O0 code, with a 40-step chain that may move mid-call */
        ebmc_jit_job job;
        ebm_model *mt = NULL;
        ebmc_jit_tiered *tier = NULL;
        ebm_ctx *ctx = NULL;
        ck_assert_msg(model_job(g, pair[f], &job, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebmc_jit_open_tiered(&job, &mt, &tier, &err) == EBM_OK, "%s", err.msg);
        free_job(&job);
        run_model(mt, &x, 3, e[0], s[0], lx[0]);
        ck_assert_msg(ebm_ctx_new(mt, n, &ctx, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebm_langevin(ctx, chain[0], n, &p, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
        ebm_ctx_free(ctx);
        /* then on the -O2 code (jit_matches_aot compares that with the AOT code) */
        double seconds = -1;
        ck_assert_msg(ebmc_jit_tier_wait(tier, &seconds, &err) == EBM_OK, "%s", err.msg);
        ck_assert(seconds > 0);
        run_model(mt, &x, 3, e[1], s[1], lx[1]);
        ck_assert_msg(ebm_ctx_new(mt, n, &ctx, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebm_langevin(ctx, chain[1], n, &p, NULL, NULL, &err) == EBM_OK, "%s", err.msg);
        ebm_ctx_free(ctx);
        printf("%-24s the -O2 code compiled in %.2f s\n", pair[f], seconds);
        ck_assert_msg(same_bits(e[0], e[1], n), "%s: energies of the two tiers differ", pair[f]);
        ck_assert_msg(same_bits(s[0], s[1], xn), "%s: scores of the two tiers differ", pair[f]);
        ck_assert_msg(same_bits(lx[0], lx[1], xn), "%s: Langevin steps of the two tiers differ", pair[f]);
        ck_assert_msg(same_bits(chain[0], chain[1], xn), "%s: the 40-step chains differ", pair[f]);
        ck_assert(!same_bits(lx[1], x.data, xn));   /* the steps moved the samples */
        ebm_model_close(mt);
        for (int k = 0; k < 2; k++) {
            free(e[k]);
            free(s[k]);
            free(lx[k]);
            free(chain[k]);
        }
        free(x.data);
        ir_graph_free(g);
    }
}
END_TEST

START_TEST(close_stops_the_compile)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    load_fixture("resnet_groupnorm", &g, NULL);
    ebmc_jit_job job;
    ebm_model *m = NULL;
    ck_assert_msg(model_job(g, "resnet_groupnorm", &job, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebmc_jit_open_tiered(&job, &m, NULL, &err) == EBM_OK, "%s", err.msg);
    free_job(&job);
    ebm_model_close(m);   /* while the child compiles: it is killed and reaped */
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    ir_graph_free(g);
}
END_TEST

START_TEST(upgrade_refuses_another_model)
{
    ebm_error err = {0};
    ir_graph *g[2] = {NULL, NULL};
    ebm_model *m[2] = {NULL, NULL};
    const char *names[2] = {"mlp_silu", "cnn_strided_silu"};
    for (int k = 0; k < 2; k++) {
        load_fixture(names[k], &g[k], NULL);
        ck_assert_msg(open_jit(g[k], names[k], 0, &m[k], &err) == EBM_OK, "%s", err.msg);
    }
    ebmc_jit_job job;
    ebmc_jit *j = NULL;
    ck_assert_msg(model_job(g[1], names[1], &job, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebmc_jit_compile(&job, &j, &err) == EBM_OK, "%s", err.msg);
    free_job(&job);
    ebm_code_region regions[64];
    int n = 0;
    for (int k = 0; k < ebmc_jit_region_count(j) && n < 64; k++, n++)
        ebmc_jit_region(j, k, &regions[n].start, &regions[n].size, &regions[n].executable);
    ebm_code code = {.desc = ebmc_jit_descriptor(j), .regions = regions, .n_regions = n};
    ck_assert_int_eq(ebm_model_upgrade_code(m[0], &code, &err), EBM_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "mlp_silu") && strstr(err.msg, "does not describe the same model"), "%s", err.msg);
    ck_assert_msg(ebm_model_upgrade_code(m[1], &code, &err) == EBM_OK, "%s", err.msg);   /* its own: taken */
    code.n_regions = 1;   /* only the first range: the descriptor's checks fail */
    ebm_status st = ebm_model_upgrade_code(m[1], &code, &err);
    ck_assert_int_eq(st, EBM_ERR_FORMAT);
    for (int k = 0; k < 2; k++) {
        ebm_model_close(m[k]);
        ir_graph_free(g[k]);
    }
    ebmc_jit_free(j);   /* after m[1], whose programs it held */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jit");
    TCase *tc = tcase_create("jit");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, fixtures_match_torch);
    tcase_add_test(tc, jit_matches_aot);
    tcase_add_test(tc, linked_tables_whole);
    tcase_add_test(tc, linked_check_falls_back);
    tcase_add_test(tc, bad_c_is_an_error);
    tcase_add_test(tc, descriptor_checked_against_regions);
    tcase_add_test(tc, tiers_same_bits);
    tcase_add_test(tc, close_stops_the_compile);
    tcase_add_test(tc, upgrade_refuses_another_model);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
#endif
