/* sampler.c — Langevin, adaptive Langevin and MALA (sampler.h) on top of the
 * compute calls of ebm.h, and the initial states every sampler starts from.
 *
 * Langevin and adaptive Langevin run the compiled fused program
 * (ebm_langevin) in segments: a segment ends at a progress report, at an
 * adaptation window's end, or at a trajectory frame.  Because the program's
 * noise is keyed by the global step (step_offset), running K steps in
 * segments gives the same bits as one call.  MALA needs the energy and score
 * at both the state and the proposal, so it drives ebm_score and does the
 * accept/reject here, in double.
 */
#include "sampler.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm_philox.h"

/* Keys derived from the seed, so initial states and MALA's uniforms are not
 * the Langevin noise (which uses the seed itself). */
#define INIT_KEY_TWEAK 0x696e69745f737461ull   /* "init_sta" */
#define MALA_KEY_TWEAK 0x6d616c615f616363ull   /* "mala_acc" */

#define PROGRESS_SEGMENTS 100   /* progress reports per run, at most */
#define ANNEAL_LEVELS 100       /* temperatures of an annealed run, at most */

const char *ebm_sampler_name(ebm_sampler_kind k)
{
    switch (k) {
    case EBM_SAMPLER_LANGEVIN: return "langevin";
    case EBM_SAMPLER_ADAPTIVE: return "adaptive";
    case EBM_SAMPLER_MALA: return "mala";
    }
    return "?";
}

int ebm_sampler_parse(const char *name, ebm_sampler_kind *out)
{
    for (int k = EBM_SAMPLER_LANGEVIN; k <= EBM_SAMPLER_MALA; k++)
        if (name && strcmp(name, ebm_sampler_name((ebm_sampler_kind)k)) == 0) {
            *out = (ebm_sampler_kind)k;
            return 0;
        }
    return -1;
}

ebm_sampler_params ebm_sampler_defaults(void)
{
    return (ebm_sampler_params){
        .kind = EBM_SAMPLER_LANGEVIN,
        .lv = ebm_langevin_defaults(),
        .target_rate = 0.574,
    };
}

void ebm_init_states(ebm_init_kind kind, float lo, float hi, uint64_t seed, uint64_t stream, int64_t first,
                     float *x, int64_t n, int64_t numel)
{
    const uint64_t key = seed ^ INIT_KEY_TWEAK;
    if (kind == EBM_INIT_NORMAL) {
        ebm_philox_normals_rows(key, (uint64_t)first, n, stream, x, numel);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const uint64_t s = (uint64_t)(first + i);
        float *xi = x + i * numel;
        for (int64_t b = 0; b * 4 < numel; b++) {
            uint32_t c[4] = {(uint32_t)b, (uint32_t)s, (uint32_t)(s >> 32), (uint32_t)stream};
            ebm_philox4x32_10(c, (uint32_t)key, (uint32_t)(key >> 32));
            for (int k = 0; k < 4 && b * 4 + k < numel; k++)
                xi[b * 4 + k] = (float)(lo + (hi - lo) * ebm_philox_uniform(c[k]));
        }
    }
}

void ebm_init_states_sd(ebm_init_kind kind, float lo, float hi, float sd, uint64_t seed, uint64_t stream,
                        int64_t first, float *x, int64_t n, int64_t numel)
{
    ebm_init_states(kind, lo, hi, seed, stream, first, x, n, numel);
    for (int64_t i = 0; kind == EBM_INIT_NORMAL && sd > 0 && sd != 1 && i < n * numel; i++)
        x[i] *= sd;
}

/* ---- shared state of one run ----------------------------------------------------- */

typedef struct run {
    ebm_ctx *ctx;
    const ebm_sampler_params *p;
    const char *path;       /* the model's file, for messages */
    int64_t n, numel;
    float *x, *energy;      /* the chains and their current energies [n] */
    float *trajectory;      /* or NULL */
    int32_t every;
    float alpha;            /* the current step size */
    float temp, noise;      /* langevin: the current temperature and (fixed) noise scale */
    ebm_sampler_stats st;
    double phase_acc, phase_prop;   /* MALA: acceptance in the current phase, for progress */
    int in_burn_in;
} run;

static double mean_of(const float *v, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0;
}

static void frame(run *r, int64_t step)
{
    if (r->every > 0 && step % r->every == 0) {
        const size_t floats = (size_t)(r->n * r->numel);
        memcpy(r->trajectory + (size_t)(step / r->every) * floats, r->x, floats * sizeof(float));
    }
}

static void report(run *r, int64_t step)
{
    if (!r->p->progress)
        return;
    ebm_progress pr = {
        .step = step,
        .total = r->p->lv.steps,
        .mean_energy = mean_of(r->energy, r->n),
        .acceptance = r->phase_prop > 0 ? r->phase_acc / r->phase_prop : -1,
        .step_size = r->alpha,
        .burn_in = r->in_burn_in,
    };
    r->p->progress(&pr, r->p->progress_user);
}

/* The window of adaptation: min(50, max(1, steps / 10)). */
static int64_t window_of(int64_t steps)
{
    int64_t w = steps / 10;
    return w < 1 ? 1 : w > 50 ? 50 : w;
}

/* The step size after a window whose rate was `rate`. */
static float adapt(float alpha, double rate, double target)
{
    return rate > target ? alpha * 1.05f : alpha * 0.95f;
}

/* ---- Langevin and adaptive Langevin -------------------------------------------- */

/* Steps [from, to) of the compiled Langevin update at the current step size,
 * cut at trajectory frames; leaves the energies at the final state. */
static ebm_status langevin_segment(run *r, int64_t from, int64_t to, ebm_error *err)
{
    ebm_langevin_params lp = r->p->lv;
    lp.step_size = r->alpha;
    lp.temperature = r->temp;
    lp.noise_scale = r->p->noise_auto ? sqrtf(2.0f * r->alpha) : r->noise;
    lp.trajectory_every = 0;
    for (int64_t s = from; s < to;) {
        int64_t next = to;
        if (r->every > 0 && (s / r->every + 1) * r->every < next)
            next = (s / r->every + 1) * r->every;
        lp.steps = (int32_t)(next - s);
        lp.step_offset = r->p->lv.step_offset + (uint64_t)s;
        ebm_status st = ebm_langevin(r->ctx, r->x, r->n, &lp, r->energy, NULL, err);
        if (st) {
            ebm_error_prefix(err, "%s sampler, steps %lld..%lld of %d", ebm_sampler_name(r->p->kind),
                             (long long)s + 1, (long long)next, (int)r->p->lv.steps);
            return st;
        }
        s = next;
        frame(r, s);
    }
    return EBM_OK;
}

static ebm_status run_langevin(run *r, ebm_error *err)
{
    const int64_t K = r->p->lv.steps;
    const int adaptive = r->p->kind == EBM_SAMPLER_ADAPTIVE;
    int64_t seg = adaptive ? window_of(K) : r->p->progress ? (K + PROGRESS_SEGMENTS - 1) / PROGRESS_SEGMENTS : K;
    if (seg < 1)
        seg = 1;
    float *before = NULL;
    if (adaptive && !(before = malloc((size_t)r->n * sizeof *before)))
        return ebm_fail(err, EBM_ERR_NOMEM, "adaptive sampler: out of memory for %lld energies", (long long)r->n);
    ebm_status st = EBM_OK;
    if (adaptive || K == 0 || r->p->progress)
        st = ebm_energy(r->ctx, r->x, r->n, r->energy, err);
    if (!st)
        report(r, 0);
    for (int64_t s = 0; s < K && !st; s += seg) {
        const int64_t to = s + seg < K ? s + seg : K;
        if (adaptive)
            memcpy(before, r->energy, (size_t)r->n * sizeof *before);
        st = langevin_segment(r, s, to, err);
        if (!st && adaptive) {
            int64_t down = 0;
            for (int64_t i = 0; i < r->n; i++)
                down += r->energy[i] < before[i];
            r->st.acceptance = (double)down / (double)r->n;
            r->alpha = adapt(r->alpha, r->st.acceptance, r->p->target_rate);
        }
        if (!st)
            report(r, to);
    }
    free(before);
    return st;
}

/* Annealed Langevin: the first H = round(hold K) steps (at most K - 1) at T0,
 * then the other K - H in L = min(K - H, ANNEAL_LEVELS) levels of about
 * (K - H)/L steps; at level l the temperature is T0 (T/T0)^(l/(L-1)), the step
 * size alpha (T_l/T)^2 and the fixed noise sigma T_l/T (auto: sqrt(2 alpha_l)),
 * so each level is DESIGN.md's update for exp(-E/T_l) and the last is the
 * configured one.  The hold lets chains started from a broad normal settle at
 * the highest noise level before the temperature falls. */
static void set_level(run *r, double Tl)
{
    const double T = r->p->lv.temperature;
    r->temp = (float)Tl;
    r->alpha = (float)(r->p->lv.step_size * (Tl / T) * (Tl / T));
    r->noise = (float)(r->p->lv.noise_scale * (Tl / T));
}

int64_t ebm_sampler_hold_steps(int64_t steps, float anneal_hold)
{
    const int64_t h = (int64_t)llround((double)anneal_hold * (double)steps);
    return h < steps ? h : steps > 0 ? steps - 1 : 0;
}

static ebm_status run_annealed(run *r, ebm_error *err)
{
    const int64_t K = r->p->lv.steps, H = ebm_sampler_hold_steps(K, r->p->anneal_hold);
    const int64_t L = K - H < ANNEAL_LEVELS ? K - H : ANNEAL_LEVELS;
    const double T = r->p->lv.temperature, T0 = r->p->anneal_from;
    ebm_status st = EBM_OK;
    if (K == 0 || r->p->progress)
        st = ebm_energy(r->ctx, r->x, r->n, r->energy, err);
    if (!st)
        report(r, 0);
    if (!st && H > 0) {
        set_level(r, T0);
        st = langevin_segment(r, 0, H, err);
        if (!st && r->p->progress)
            report(r, H);
    }
    for (int64_t l = 0; l < L && !st; l++) {
        const int64_t from = H + l * (K - H) / L, to = H + (l + 1) * (K - H) / L;
        set_level(r, L > 1 ? T0 * pow(T / T0, (double)l / (double)(L - 1)) : T);
        st = langevin_segment(r, from, to, err);
        if (!st && r->p->progress && (l + 1) % ((L + PROGRESS_SEGMENTS - 1) / PROGRESS_SEGMENTS) == 0)
            report(r, to);
    }
    return st;
}

/* The noiseless last step x <- clamp(x - d dE/dx), and the energies there. */
static ebm_status run_denoise(run *r, ebm_error *err)
{
    const ebm_langevin_params *lv = &r->p->lv;
    const int64_t count = r->n * r->numel;
    float *score = malloc((size_t)count * sizeof *score);
    if (!score)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: denoising step: out of memory for %lld samples", r->path,
                        (long long)r->n);
    ebm_status st = ebm_score(r->ctx, r->x, r->n, r->energy, score, err);
    if (!st) {
        for (int64_t j = 0; j < count; j++) {
            float v = r->x[j] + r->p->denoise * score[j];
            r->x[j] = lv->clamp ? (v < lv->lo ? lv->lo : v > lv->hi ? lv->hi : v) : v;
        }
        st = ebm_energy(r->ctx, r->x, r->n, r->energy, err);
    }
    free(score);
    if (st)
        ebm_error_prefix(err, "%s sampler, the denoising step after step %d", ebm_sampler_name(r->p->kind),
                         (int)lv->steps);
    return st;
}

/* ---- MALA ------------------------------------------------------------------------ */

typedef struct mala {
    float *y;          /* proposals [n, numel] */
    float *dx, *dy;    /* drifts clip(dE/dx, +-c) / T at x and y */
    float *ey;         /* energies at y [n] */
    float *eps;        /* one sample's noise [numel] */
    unsigned char *outside;   /* [n]: the proposal left the clamp range */
} mala;

/* drift = clip(-score, +-c) / T in place over score (c = 0: no clip), the
 * clip ebm_langevin gives the compiled program (run.c's clip_over_t). */
static void drift_from_score(float *d, int64_t count, float T, float c)
{
    for (int64_t j = 0; j < count; j++) {
        float g = -d[j];
        if (c > 0)
            g = g > c ? c : g < -c ? -c : g;
        d[j] = g / T;
    }
}

static int row_finite(const float *v, int64_t count)
{
    for (int64_t j = 0; j < count; j++)
        if (!isfinite(v[j]))
            return 0;
    return 1;
}

/* E and drift at the points v (into e, d); a NaN/Inf result is a failure only
 * when `strict` (the chain's own state), else left for the caller to reject. */
static ebm_status energy_drift(run *r, const float *v, float *e, float *d, int strict, ebm_error *err)
{
    const ebm_langevin_params *lv = &r->p->lv;
    ebm_status st = ebm_score(r->ctx, v, r->n, e, d, err);
    if (st && !(st == EBM_ERR_NUMERIC && !strict))
        return st;
    drift_from_score(d, r->n * r->numel, lv->temperature, lv->grad_clip);
    return EBM_OK;
}

/* One MALA step at global step t: propose, evaluate, accept or reject per
 * sample.  Returns the number accepted in *acc. */
static ebm_status mala_step(run *r, mala *w, int64_t t, int64_t *acc, ebm_error *err)
{
    const ebm_langevin_params *lv = &r->p->lv;
    const int64_t n = r->n, numel = r->numel;
    const uint64_t step = lv->step_offset + (uint64_t)t;
    const double a = r->alpha, sd = sqrt(2.0 * a), T = lv->temperature;
    unsigned char *outside = w->outside;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = r->x + i * numel, *di = w->dx + i * numel;
        float *yi = w->y + i * numel;
        ebm_philox_normals(lv->seed, (uint64_t)i, step, w->eps, numel);
        outside[i] = 0;
        for (int64_t j = 0; j < numel; j++) {
            yi[j] = (float)(xi[j] - a * di[j] + sd * w->eps[j]);
            if (lv->clamp && (yi[j] < lv->lo || yi[j] > lv->hi))
                outside[i] = 1;
        }
    }
    ebm_status st = energy_drift(r, w->y, w->ey, w->dy, 0, err);
    if (st)
        return st;
    const uint64_t ukey = lv->seed ^ MALA_KEY_TWEAK;
    *acc = 0;
    for (int64_t i = 0; i < n; i++) {
        float *xi = r->x + i * numel, *yi = w->y + i * numel, *dxi = w->dx + i * numel, *dyi = w->dy + i * numel;
        if (outside[i]) {
            r->st.rejected_outside++;
            continue;
        }
        /* y itself too: a ReLU can give a NaN proposal a finite energy */
        if (!isfinite(w->ey[i]) || !row_finite(dyi, numel) || !row_finite(yi, numel)) {
            r->st.rejected_nonfinite++;
            continue;
        }
        /* log q(y|x) - log q(x|y), with q(b|a) = N(b; a - alpha d(a), 2 alpha) */
        double fwd = 0, bwd = 0;
        for (int64_t j = 0; j < numel; j++) {
            double f = (double)yi[j] - xi[j] + a * dxi[j], b = (double)xi[j] - yi[j] + a * dyi[j];
            fwd += f * f;
            bwd += b * b;
        }
        double log_a = -((double)w->ey[i] - r->energy[i]) / T - bwd / (4 * a) + fwd / (4 * a);
        uint32_t c[4] = {0, (uint32_t)i, (uint32_t)((uint64_t)i >> 32), (uint32_t)step};
        ebm_philox4x32_10(c, (uint32_t)ukey, (uint32_t)(ukey >> 32));
        if (log(ebm_philox_uniform(c[0])) < log_a) {
            memcpy(xi, yi, (size_t)numel * sizeof(float));
            memcpy(dxi, dyi, (size_t)numel * sizeof(float));
            r->energy[i] = w->ey[i];
            (*acc)++;
        }
    }
    return EBM_OK;
}

static ebm_status run_mala(run *r, ebm_error *err)
{
    const int64_t K = r->p->lv.steps, B = r->p->burn_in, n = r->n, numel = r->numel;
    const size_t batch = (size_t)(n * numel) * sizeof(float);
    mala w = {
        .y = malloc(batch),
        .dx = malloc(batch),
        .dy = malloc(batch),
        .ey = malloc((size_t)n * sizeof(float)),
        .eps = malloc((size_t)numel * sizeof(float)),
        .outside = malloc((size_t)n),
    };
    ebm_status st = EBM_OK;
    if (!w.y || !w.dx || !w.dy || !w.ey || !w.eps || !w.outside)
        st = ebm_fail(err, EBM_ERR_NOMEM, "%s: mala sampler: out of memory for %lld samples of %lld values",
                      r->path, (long long)n, (long long)numel);
    if (!st && (st = energy_drift(r, r->x, r->energy, w.dx, 1, err)))
        ebm_error_prefix(err, "mala sampler, the initial state");
    const int64_t every = K > PROGRESS_SEGMENTS ? K / PROGRESS_SEGMENTS : 1;
    r->in_burn_in = B > 0;
    if (!st)
        report(r, 0);
    for (int64_t t = 0; t < K && !st; t++) {
        int64_t acc = 0;
        if ((st = mala_step(r, &w, t, &acc, err))) {
            ebm_error_prefix(err, "mala sampler, step %lld of %lld", (long long)t + 1, (long long)K);
            break;
        }
        frame(r, t + 1);
        r->phase_acc += (double)acc;
        r->phase_prop += (double)n;
        if (t < B) {   /* burn-in adapts after every step, on the whole batch's acceptance */
            r->alpha = adapt(r->alpha, (double)acc / (double)n, r->p->target_rate);
            if (t + 1 == B && B < K) {   /* frozen from here: count the exact chain's acceptance anew */
                r->in_burn_in = 0;
                r->phase_acc = r->phase_prop = 0;
            }
        }
        if ((t + 1) % every == 0 || t + 1 == K)
            report(r, t + 1);
    }
    if (!st) {
        r->st.accepted = (int64_t)r->phase_acc;
        r->st.proposed = (int64_t)r->phase_prop;
        r->st.acceptance = r->phase_prop > 0 ? r->phase_acc / r->phase_prop : -1;
    }
    free(w.y);
    free(w.dx);
    free(w.dy);
    free(w.ey);
    free(w.eps);
    free(w.outside);
    return st;
}

/* ---- entry ------------------------------------------------------------------------ */

static ebm_status check_params(int64_t n, const ebm_sampler_params *p, const float *x, const float *trajectory,
                               ebm_error *err)
{
    if (!p)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: params is NULL (start from ebm_sampler_defaults())");
    if (p->kind < EBM_SAMPLER_LANGEVIN || p->kind > EBM_SAMPLER_MALA)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: unknown sampler kind %d (expected langevin, "
                        "adaptive or mala)", (int)p->kind);
    if (n < 0 || (n > 0 && !x))
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: n = %lld with x %s: expected n >= 0 and x non-NULL",
                        (long long)n, x ? "set" : "NULL");
    if (p->burn_in < 0 || p->burn_in > p->lv.steps)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: burn_in = %d: expected 0 <= burn_in <= steps (%d)",
                        (int)p->burn_in, (int)p->lv.steps);
    if (!(p->target_rate > 0 && p->target_rate < 1))
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: target_rate = %g: expected 0 < rate < 1",
                        p->target_rate);
    if (!(p->anneal_from >= 0 && isfinite(p->anneal_from)) || !(p->denoise >= 0 && isfinite(p->denoise)))
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: anneal_from = %g, denoise = %g: expected finite "
                        "values >= 0 (0 = off)", p->anneal_from, p->denoise);
    if (!(p->anneal_hold >= 0 && p->anneal_hold < 1))
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: anneal_hold = %g: expected a share of the steps "
                        "in [0, 1)", p->anneal_hold);
    if (p->anneal_from > 0 && p->kind != EBM_SAMPLER_LANGEVIN)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: annealing (anneal_from %g) is for the langevin "
                        "sampler, not %s", p->anneal_from, ebm_sampler_name(p->kind));
    if (p->lv.trajectory_every > 0 && !trajectory)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: trajectory_every = %d but trajectory is NULL",
                        (int)p->lv.trajectory_every);
    return EBM_OK;
}

ebm_status ebm_sampler_run(ebm_ctx *ctx, float *x, int64_t n, const ebm_sampler_params *p, float *energy,
                           float *trajectory, ebm_sampler_stats *stats, ebm_error *err)
{
    if (!ctx)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_sampler_run: context is NULL");
    ebm_status st = check_params(n, p, x, trajectory, err);
    if (st)
        return st;
    /* the Langevin parameters' own checks (step size > 0, clamp range, ...) */
    ebm_langevin_params zero = p->lv;
    zero.steps = 0;
    zero.trajectory_every = 0;
    if (n > 0 && (st = ebm_langevin(ctx, x, 0, &zero, NULL, NULL, err)))
        return st;
    run r = {
        .ctx = ctx,
        .p = p,
        .path = ebm_model_path(ebm_ctx_model(ctx)),
        .n = n,
        .x = x,
        .trajectory = p->lv.trajectory_every > 0 ? trajectory : NULL,
        .every = p->lv.trajectory_every,
        .alpha = p->lv.step_size,
        .temp = p->lv.temperature,
        .noise = p->lv.noise_scale,
        .st = {.acceptance = -1},
    };
    if (n > 0) {
        /* the numel from the context's model */
        r.numel = ebm_model_sample_numel(ebm_ctx_model(ctx));
        r.energy = malloc((size_t)n * sizeof(float));
        if (!r.energy)
            return ebm_fail(err, EBM_ERR_NOMEM, "ebm_sampler_run: out of memory for %lld energies", (long long)n);
        frame(&r, 0);
        st = p->kind == EBM_SAMPLER_MALA ? run_mala(&r, err) : p->anneal_from > 0 ? run_annealed(&r, err)
                                                                                 : run_langevin(&r, err);
        if (!st && p->denoise > 0)
            st = run_denoise(&r, err);
        if (!st && energy)
            memcpy(energy, r.energy, (size_t)n * sizeof(float));
        free(r.energy);
    }
    r.st.step_size = r.alpha;
    if (stats)
        *stats = r.st;
    return st;
}
