/* quadratic_model.c — a hand-written "compiled model": runtime/ebm_abi.h
 * implemented by hand for the Gaussian energy
 *
 *     E(x) = 1/2 * inv_var * ||x - center||^2,   x of shape [N, 2, 2]
 *
 * with parameters inv_var (= 1/sigma^2, initially 1) and center (4 floats,
 * initially 0), so libebm can be tested without the code generator: its
 * values are known in closed form (score = -inv_var (x - center),
 * dE/dinv_var = 1/2 ||x - center||^2, dE/dcenter = -inv_var (x - center)).
 *
 * The entry points also check the ABI's promises to them (1 <= n <= tile,
 * 64-byte aligned buffers, the arena's full size is writable, ...) and count
 * broken promises in quad_contract_violations, which the tests read.
 *
 * Compile definitions make the variants the bad-input tests need:
 *   QUAD_TILE=n            samples per call (default 16)
 *   QUAD_INV_VAR=v         initial inv_var (default 1)
 *   QUAD_MAGIC=m           a wrong magic number
 *   QUAD_ABI_VERSION=v     a descriptor claiming another ABI version
 *   QUAD_SYMBOL=name       export the descriptor under another name
 *   QUAD_TINY_SYMBOL       export the descriptor's name (EBM_ABI_SYMBOL) as a 4-byte int
 *   QUAD_DEFECT=k          one corrupt descriptor field (see the list below)
 *   QUAD_META=k            another metadata table (see quad_meta)
 *   QUAD_ISA=mask          the CPU features it claims to need (default none)
 *   QUAD_CONSTRUCTOR       a constructor that creates the file $EBM_FAKE_CONSTRUCTOR_MARKER
 *                          (libebm must refuse the object before it could run)
 * This is test data, not product code.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ebm_abi.h"
#include "ebm_philox.h"

#define EXPORT __attribute__((visibility("default")))
/* QUAD_TINY_SYMBOL leaves the tables unused, QUAD_DEFECT=5 run_score. */
#define TABLE __attribute__((unused))
#define NUMEL 4
#define CENTER_OFFSET 16   /* floats: 64 bytes after inv_var, as ebmc aligns parameters */
#define WEIGHTS_NUMEL (CENTER_OFFSET + NUMEL)
#define ALIGNED(p) (((uintptr_t)(p) % EBM_ABI_ALIGN) == 0)

#ifndef QUAD_TILE
#define QUAD_TILE 16
#endif
#ifndef QUAD_INV_VAR
#define QUAD_INV_VAR 1.0f
#endif
#ifndef QUAD_MAGIC
#define QUAD_MAGIC EBM_ABI_MAGIC
#endif
#ifndef QUAD_ABI_VERSION
#define QUAD_ABI_VERSION EBM_ABI_VERSION
#endif
#ifndef QUAD_SYMBOL
#define QUAD_SYMBOL EBM_ABI_SYMBOL
#endif
#ifndef QUAD_DEFECT
#define QUAD_DEFECT 0
#endif
#ifndef QUAD_META
#define QUAD_META 0
#endif
#ifndef QUAD_ISA
#define QUAD_ISA 0u
#endif
/* QUAD_DEFECT values */
#define DEFECT_TILE0 1          /* tile = 0 */
#define DEFECT_PARAM_OOB 2      /* center's floats run past weights_numel */
#define DEFECT_RANK 3           /* input_rank = EBM_ABI_MAX_RANK + 3 */
#define DEFECT_NO_PROGRAMS 4    /* programs = NULL */
#define DEFECT_NULL_ENTRY 5     /* the score program has no entry point */
#define DEFECT_NUMEL 6          /* sample_numel disagrees with the input shape */
#define DEFECT_ENERGY_ONLY 7    /* valid, with only the energy program */
#define DEFECT_N_PARAMS 8       /* n_params far beyond the 2-entry parameter table */
#define DEFECT_WEIGHTS_NUMEL 9  /* weights_numel far beyond the 20-float blob */
#define DEFECT_ENTRY_IN_DATA 10 /* the energy program's entry point is the weights blob */
#define DEFECT_STRING_OUTSIDE 11 /* energy_head points 16 MiB past the blob, outside the object */
#define ARENA_BYTES ((int64_t)QUAD_TILE * NUMEL * (int64_t)sizeof(float))

#if defined(QUAD_CONSTRUCTOR)
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void quad_constructor(void)
{
    const char *marker = getenv("EBM_FAKE_CONSTRUCTOR_MARKER");
    FILE *f = marker ? fopen(marker, "w") : NULL;
    if (f)
        fclose(f);
}
#endif

EXPORT long quad_contract_violations;
EXPORT long quad_calls;
EXPORT long quad_max_n;

static void count(long *counter, long v)
{
    __atomic_fetch_add(counter, v, __ATOMIC_RELAXED);
}

static void note_n(int64_t n)
{
    long seen = __atomic_load_n(&quad_max_n, __ATOMIC_RELAXED);
    while (n > seen && !__atomic_compare_exchange_n(&quad_max_n, &seen, (long)n, 0, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED)) {
    }
}

static int out_ok(const float *p)
{
    return p && ALIGNED(p);
}

/* The promises of ebm_abi.h to every program; the arena is filled to its full
 * size so a short allocation shows up under AddressSanitizer. */
static int contract_ok(const ebm_abi_call *c, ebm_abi_program_kind kind)
{
    count(&quad_calls, 1);
    if (!c || c->n < 1 || c->n > QUAD_TILE || c->sample_offset < 0 || !out_ok(c->weights) || !c->arena ||
        !ALIGNED(c->arena) || !out_ok(c->x) || !out_ok(c->energy))
        return 0;
    note_n(c->n);
    memset(c->arena, 0xA5, (size_t)ARENA_BYTES);
    if (kind == EBM_PROGRAM_SCORE && !out_ok(c->score))
        return 0;
    if (kind == EBM_PROGRAM_PARAM_GRAD && (!out_ok(c->sample_weights) || !out_ok(c->param_grad)))
        return 0;
    if (kind == EBM_PROGRAM_LANGEVIN) {
        const ebm_abi_langevin *L = c->langevin;
        if (!L || L->steps < 0 || L->trajectory_every < 0)
            return 0;
        if (L->trajectory_every > 0 && c->trajectory && c->trajectory_stride < c->n * NUMEL)
            return 0;
    }
    return 1;
}

static int refuse(void)
{
    count(&quad_contract_violations, 1);
    return 0;
}

/* d = x - center for the tile, into the arena (scratch, as a real program would). */
static float *deviation(const ebm_abi_call *c)
{
    float *d = c->arena;
    const float *center = c->weights + CENTER_OFFSET;
    for (int64_t i = 0; i < c->n; i++)
        for (int j = 0; j < NUMEL; j++)
            d[i * NUMEL + j] = c->x[i * NUMEL + j] - center[j];
    return d;
}

static float energy_of(const float *d, float inv_var)
{
    float s = 0.0f;
    for (int j = 0; j < NUMEL; j++)
        s += d[j] * d[j];
    return 0.5f * inv_var * s;
}

/* Energies of the tile into c->energy; returns how many are not finite. */
static int put_energies(const ebm_abi_call *c, const float *d)
{
    int bad = 0;
    for (int64_t i = 0; i < c->n; i++) {
        c->energy[i] = energy_of(d + i * NUMEL, c->weights[0]);
        bad += !isfinite(c->energy[i]);
    }
    return bad;
}

TABLE static int run_energy(const ebm_abi_call *c)
{
    if (!contract_ok(c, EBM_PROGRAM_ENERGY))
        return refuse();
    return put_energies(c, deviation(c));
}

TABLE static int run_score(const ebm_abi_call *c)
{
    if (!contract_ok(c, EBM_PROGRAM_SCORE))
        return refuse();
    const float *d = deviation(c);
    int bad = 0;
    for (int64_t i = 0; i < c->n; i++) {
        c->energy[i] = energy_of(d + i * NUMEL, c->weights[0]);
        int ok = isfinite(c->energy[i]);
        for (int j = 0; j < NUMEL; j++) {
            c->score[i * NUMEL + j] = -c->weights[0] * d[i * NUMEL + j];
            ok &= isfinite(c->score[i * NUMEL + j]) != 0;
        }
        bad += !ok;
    }
    return bad;
}

static int run_param_grad(const ebm_abi_call *c)
{
    if (!contract_ok(c, EBM_PROGRAM_PARAM_GRAD))
        return refuse();
    const float *d = deviation(c);
    int bad = put_energies(c, d);
    for (int64_t i = 0; i < c->n; i++) {
        const float w = c->sample_weights[i];
        float sq = 0.0f;
        for (int j = 0; j < NUMEL; j++) {
            sq += d[i * NUMEL + j] * d[i * NUMEL + j];
            c->param_grad[CENTER_OFFSET + j] += w * -c->weights[0] * d[i * NUMEL + j];
        }
        c->param_grad[0] += w * 0.5f * sq;
    }
    return bad;
}

/* One update of DESIGN.md's rule for sample i of the tile at global step t;
 * returns 1 if the sample's energy, gradient or new state is not finite. */
static int langevin_update(const ebm_abi_call *c, int64_t i, uint64_t t, float energy, const float *d)
{
    const ebm_abi_langevin *L = c->langevin;
    float eps[NUMEL] = {0};
    if (L->noise_scale != 0.0f)
        ebm_philox_normal4(L->seed, (uint64_t)(c->sample_offset + i), t, 0, eps);
    int bad = !isfinite(energy);
    for (int j = 0; j < NUMEL; j++) {
        float g = c->weights[0] * d[j] / L->temperature;   /* dE/dx / T */
        bad |= !isfinite(g);
        if (L->grad_clip > 0.0f)
            g = g < -L->grad_clip ? -L->grad_clip : g > L->grad_clip ? L->grad_clip : g;
        float v = c->x[i * NUMEL + j] - L->step_size * g + L->noise_scale * eps[j];
        if (L->clamp)
            v = v < L->lo ? L->lo : v > L->hi ? L->hi : v;
        bad |= !isfinite(v);
        c->x[i * NUMEL + j] = v;
    }
    return bad;
}

static void store_frame(const ebm_abi_call *c, int64_t f)
{
    memcpy(c->trajectory + f * c->trajectory_stride, c->x, (size_t)(c->n * NUMEL) * sizeof(float));
}

static int run_langevin(const ebm_abi_call *c)
{
    if (!contract_ok(c, EBM_PROGRAM_LANGEVIN))
        return refuse();
    const ebm_abi_langevin *L = c->langevin;
    const int32_t every = c->trajectory ? L->trajectory_every : 0;
    if (every > 0)
        store_frame(c, 0);
    for (int32_t t = 0; t < L->steps; t++) {
        const float *d = deviation(c);
        int bad = 0;
        for (int64_t i = 0; i < c->n; i++) {
            c->energy[i] = energy_of(d + i * NUMEL, c->weights[0]);
            bad += langevin_update(c, i, L->step_offset + (uint64_t)t, c->energy[i], d + i * NUMEL);
        }
        if (bad)
            return bad;
        if (every > 0 && (t + 1) % every == 0)
            store_frame(c, (t + 1) / every);
    }
    return put_energies(c, deviation(c));
}

/* ---- the descriptor -------------------------------------------------------- */

TABLE static const float quad_blob[WEIGHTS_NUMEL] __attribute__((aligned(EBM_ABI_ALIGN))) = {QUAD_INV_VAR};

TABLE static const ebm_abi_param quad_params[2] = {
    {"inv_var", 0, {0}, 0, 1, 1},
#if QUAD_DEFECT == DEFECT_PARAM_OOB
    {"center", 2, {2, 2}, CENTER_OFFSET + 1, NUMEL, 1},
#else
    {"center", 2, {2, 2}, CENTER_OFFSET, NUMEL, 1},
#endif
};

#if QUAD_META == 1
/* Values the command line must refuse, naming the key. */
TABLE static const ebm_abi_meta quad_meta[] = {
    {"ebm.sampler.steps", "many"},
};
#else
/* Sampler defaults unlike DESIGN.md's, so a test can see they are used. */
TABLE static const ebm_abi_meta quad_meta[] = {
    {"ebm.sampler.steps", "5"},
    {"ebm.sampler.step_size", "0.1"},
    {"ebm.sampler.noise_scale", "0"},
    {"ebm.sampler.grad_clip", "0"},
    {"ebm.sampler.clamp", "none"},
    {"ebm.sampler.temperature", "1"},
    {"ebm.preset", "quadratic-test"},
};
#endif

TABLE static const ebm_abi_program quad_programs[] = {
#if QUAD_DEFECT == DEFECT_ENTRY_IN_DATA
    {EBM_PROGRAM_ENERGY, ARENA_BYTES, (ebm_abi_entry)(const void *)quad_blob},
#else
    {EBM_PROGRAM_ENERGY, ARENA_BYTES, run_energy},
#endif
#if QUAD_DEFECT == DEFECT_NULL_ENTRY
    {EBM_PROGRAM_SCORE, ARENA_BYTES, NULL},
#else
    {EBM_PROGRAM_SCORE, ARENA_BYTES, run_score},
#endif
    {EBM_PROGRAM_PARAM_GRAD, ARENA_BYTES, run_param_grad},
    {EBM_PROGRAM_LANGEVIN, ARENA_BYTES, run_langevin},
};

#if defined(QUAD_TINY_SYMBOL)
EXPORT const int EBM_ABI_SYMBOL = (int)EBM_ABI_MAGIC;
#else
EXPORT const ebm_abi_model QUAD_SYMBOL = {
    .magic = QUAD_MAGIC,
    .abi_version = QUAD_ABI_VERSION,
    .code_hash = 0,      /* written after linking (seal_model.c) */
    .weights_hash = 0,
    .blob_bytes = sizeof quad_blob,
    .isa_features = QUAD_ISA,
    .isa = "generic",
    .compiler_version = "hand-written",
    .source_hash = "none",
#if QUAD_DEFECT == DEFECT_RANK
    .input_rank = EBM_ABI_MAX_RANK + 3,
#else
    .input_rank = 3,
#endif
    .input_shape = {-1, 2, 2},
#if QUAD_DEFECT == DEFECT_NUMEL
    .sample_numel = 5,
#else
    .sample_numel = NUMEL,
#endif
#if QUAD_DEFECT == DEFECT_STRING_OUTSIDE
    .energy_head = (const char *)quad_blob + (1 << 24),
#else
    .energy_head = "output",
#endif
#if QUAD_DEFECT == DEFECT_TILE0
    .tile = 0,
#else
    .tile = QUAD_TILE,
#endif
#if QUAD_DEFECT == DEFECT_N_PARAMS
    .n_params = 100000,
#else
    .n_params = 2,
#endif
    .params = quad_params,
#if QUAD_DEFECT == DEFECT_WEIGHTS_NUMEL
    .weights_numel = WEIGHTS_NUMEL + (1 << 24),
#else
    .weights_numel = WEIGHTS_NUMEL,
#endif
    .weights = quad_blob,
    .n_meta = (int32_t)(sizeof quad_meta / sizeof quad_meta[0]),
    .meta = quad_meta,
#if QUAD_DEFECT == DEFECT_ENERGY_ONLY
    .n_programs = 1,
#else
    .n_programs = 4,
#endif
#if QUAD_DEFECT == DEFECT_NO_PROGRAMS
    .programs = NULL,
#else
    .programs = quad_programs,
#endif
};
#endif
