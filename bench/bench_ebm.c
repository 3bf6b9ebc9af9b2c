/* bench_ebm.c — the ebmc side of the benchmark (bench/run_bench.py): loads a
 * compiled model through libebm and times its calls on command, so the
 * harness can alternate it with PyTorch in the same run.
 *
 *   bench_ebm MODEL.so X.npy THREADS
 *
 * prints one line "ready {json}" (threads, tile, arena and weight bytes),
 * then reads commands from stdin, one per line, and answers each with one
 * line of JSON:
 *   step R         R calls of ebm_langevin with steps = 1: seconds per call
 *   steps K R      R calls with steps = K: seconds per step (call / K)
 *   energy R       R calls of ebm_energy: seconds per call
 *   gemm FLOPS R T R calls of a square cblas_sgemm of about FLOPS flops on T
 *                  OpenBLAS threads (the roofline): seconds per call, and
 *                  the size used
 *   check OUT      energies of X and one noise-free Langevin step from X
 *                  (to OUT.energy.npy, OUT.step.npy) for the harness to
 *                  compare with torch
 *   quit
 * (Peak RSS is measured on `ebm sample` by the harness, not here: a process
 * started from the python harness inherits its RSS high-water mark.)
 * Each timed call starts from X again (copied outside the timing), with
 * DESIGN.md's sampler defaults (step 0.01, noise 0.005, clip 0.03, [-1, 1]).
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebm.h"
#include "npy.h"

void openblas_set_num_threads(int);
int openblas_get_num_threads(void);

#define MAX_REPS 100000

typedef struct bench {
    ebm_model *m;
    ebm_ctx *ctx;
    int64_t n, numel;
    float *x0, *x, *energy;
} bench;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(const char *what, const ebm_error *err)
{
    fprintf(stderr, "bench_ebm: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

static void print_times(const double *t, int reps)
{
    printf("{\"times\": [");
    for (int r = 0; r < reps; r++)
        printf("%s%.9g", r ? ", " : "", t[r]);
    printf("]}\n");
}

/* R Langevin calls of K steps from x0: seconds per step. */
static void time_langevin(bench *b, int steps, int reps, double *t)
{
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = steps;
    ebm_error err = {0};
    for (int r = 0; r < reps; r++) {
        memcpy(b->x, b->x0, (size_t)(b->n * b->numel) * sizeof(float));
        p.seed = (uint64_t)r;
        double t0 = now();
        if (ebm_langevin(b->ctx, b->x, b->n, &p, b->energy, NULL, &err))
            die("ebm_langevin", &err);
        t[r] = (now() - t0) / steps;
    }
}

static void time_energy(bench *b, int reps, double *t)
{
    ebm_error err = {0};
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (ebm_energy(b->ctx, b->x0, b->n, b->energy, &err))
            die("ebm_energy", &err);
        t[r] = now() - t0;
    }
}

/* The roofline: a square sgemm of about `flops` flops (2 n^3). */
static void time_gemm(double flops, int reps, int threads, double *t)
{
    int n = (int)ceil(cbrt(flops / 2));
    n = n < 1 ? 1 : n;
    float *a = calloc((size_t)n * n, sizeof(float)), *bm = calloc((size_t)n * n, sizeof(float));
    float *c = calloc((size_t)n * n, sizeof(float));
    if (!a || !bm || !c)
        die("out of memory for the gemm", NULL);
    for (int i = 0; i < n * n; i++)
        a[i] = bm[i] = (float)((i % 7) - 3) * 0.1f;
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, bm, n, 0.0f, c, n);   /* warm */
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, bm, n, 0.0f, c, n);
        t[r] = now() - t0;
    }
    openblas_set_num_threads(saved);
    printf("{\"n\": %d, \"flops\": %.17g, \"times\": [", n, 2.0 * n * n * n);
    for (int r = 0; r < reps; r++)
        printf("%s%.9g", r ? ", " : "", t[r]);
    printf("]}\n");
    free(a), free(bm), free(c);
}

static void write_f32(const char *path, const float *v, int rank, const int64_t *shape)
{
    ebm_error err = {0};
    if (ebm_npy_write(path, EBM_NPY_F32, rank, shape, v, &err))
        die("writing", &err);
}

static void check(bench *b, const char *out)
{
    ebm_error err = {0};
    char path[4200];
    if (ebm_energy(b->ctx, b->x0, b->n, b->energy, &err))
        die("ebm_energy", &err);
    int64_t n = b->n;
    snprintf(path, sizeof path, "%s.energy.npy", out);
    write_f32(path, b->energy, 1, &n);
    ebm_langevin_params p = ebm_langevin_defaults();
    p.steps = 1;
    p.noise_scale = 0;
    memcpy(b->x, b->x0, (size_t)(b->n * b->numel) * sizeof(float));
    if (ebm_langevin(b->ctx, b->x, b->n, &p, b->energy, NULL, &err))
        die("ebm_langevin", &err);
    int64_t shape[2] = {b->n, b->numel};
    snprintf(path, sizeof path, "%s.step.npy", out);
    write_f32(path, b->x, 2, shape);
    printf("{\"ok\": 1}\n");
}

static void load(bench *b, const char *so, const char *xpath, int threads)
{
    ebm_error err = {0};
    if (ebm_model_open(so, &b->m, &err))
        die("loading the model", &err);
    ebm_array a = {0};
    if (ebm_npy_read(xpath, &a, &err))
        die("reading the input", &err);
    if (a.dtype != EBM_NPY_F32 || a.rank < 1)
        die(xpath, &(ebm_error){.msg = "expected float32 [N, ...]"});
    b->n = a.shape[0];
    b->numel = ebm_model_sample_numel(b->m);
    if (ebm_array_numel(&a) != b->n * b->numel)
        die(xpath, &(ebm_error){.msg = "the input does not match the model's sample size"});
    b->x0 = a.data;
    b->x = malloc((size_t)(b->n * b->numel) * sizeof(float));
    b->energy = malloc((size_t)b->n * sizeof(float));
    if (!b->x || !b->energy)
        die("out of memory", NULL);
    if (ebm_ctx_new_threads(b->m, b->n, threads, &b->ctx, &err))
        die("ebm_ctx_new_threads", &err);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_ebm MODEL.so X.npy THREADS (then commands on stdin)\n");
        return 2;
    }
    bench b = {0};
    load(&b, argv[1], argv[2], atoi(argv[3]));
    const ebm_abi_model *d = ebm_model_desc(b.m);
    int64_t arena = 0;
    for (int k = 0; k < d->n_programs; k++)
        arena = d->programs[k].arena_bytes > arena ? d->programs[k].arena_bytes : arena;
    printf("ready {\"n\": %lld, \"threads\": %d, \"tile\": %lld, \"arena_bytes\": %lld, \"weight_bytes\": %lld}\n",
           (long long)b.n, ebm_ctx_threads(b.ctx), (long long)d->tile, (long long)arena,
           (long long)(d->weights_numel * 4));
    fflush(stdout);
    static double t[MAX_REPS];
    char line[4096], out[4096];
    while (fgets(line, sizeof line, stdin)) {
        int k, r, th;
        double flops;
        if (sscanf(line, "steps %d %d", &k, &r) == 2 && k > 0 && r > 0 && r <= MAX_REPS) {
            time_langevin(&b, k, r, t);
            print_times(t, r);
        } else if (sscanf(line, "step %d", &r) == 1 && r > 0 && r <= MAX_REPS) {
            time_langevin(&b, 1, r, t);
            print_times(t, r);
        } else if (sscanf(line, "energy %d", &r) == 1 && r > 0 && r <= MAX_REPS) {
            time_energy(&b, r, t);
            print_times(t, r);
        } else if (sscanf(line, "gemm %lf %d %d", &flops, &r, &th) == 3 && r > 0 && r <= MAX_REPS) {
            time_gemm(flops, r, th, t);
        } else if (sscanf(line, "check %4095s", out) == 1) {
            check(&b, out);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        } else {
            printf("{\"error\": \"unknown command\"}\n");
        }
        fflush(stdout);
    }
    ebm_ctx_free(b.ctx);
    ebm_model_close(b.m);
    free(b.x0), free(b.x), free(b.energy);
    return 0;
}
