/* from_c.c: libebm from C (the README's example).  Energies of a batch, then
 * Langevin and MALA from it; a 2-D model is also trained 100 steps on toy data.
 *   cc from_c.c $(pkg-config --cflags --libs ebm) -o from_c
 *   ./from_c MODEL.so INPUT.npy          (INPUT: float32 [n, ...input dims]) */
#include <stdio.h>
#include <stdlib.h>

#include <ebm/ebm.h>
#include <ebm/npy.h>
#include <ebm/sampler.h>
#include <ebm/train.h>

static int fail(const ebm_error *err)
{
    fprintf(stderr, "from_c: %s\n", err->msg);
    return 1;
}

static double mean(const float *v, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += v[i];
    return s / (double)n;
}

int main(int argc, char **argv)
{
    ebm_error err;
    ebm_model *m;
    ebm_ctx *ctx;
    ebm_array in;   /* the batch x, [n, ...] */
    if (argc != 3)
        return fprintf(stderr, "usage: from_c MODEL.so INPUT.npy\n"), 2;
    if (ebm_model_open(argv[1], &m, &err) || ebm_npy_read(argv[2], &in, &err))
        return fail(&err);
    int64_t n = in.shape[0], numel = ebm_model_sample_numel(m);
    if (in.dtype != EBM_NPY_F32 || in.rank < 1 || ebm_array_numel(&in) != n * numel)
        return fprintf(stderr, "from_c: %s is not float32 [n, %lld]\n", argv[2], (long long)numel), 1;
    float *x = in.data, *energy = malloc((size_t)n * sizeof *energy);
    if (!energy || ebm_ctx_new(m, n, &ctx, &err) || ebm_energy(ctx, x, n, energy, &err))
        return fail(&err);
    for (int64_t i = 0; i < n; i++)
        printf("energy %lld %.9g\n", (long long)i, energy[i]);

    ebm_langevin_params p = ebm_langevin_defaults();   /* step 0.01, noise 0.005, clip 0.03, [-1,1] */
    p.steps = 200;
    if (ebm_langevin(ctx, x, n, &p, energy, NULL, &err))   /* x is updated in place */
        return fail(&err);
    printf("langevin: mean energy %.6f\n", mean(energy, n));

    ebm_sampler_params sp = ebm_sampler_defaults();     /* langevin | adaptive | mala */
    sp.kind = EBM_SAMPLER_MALA;
    sp.lv.steps = 500;
    sp.burn_in = 200;   /* the first 200 steps tune the step size */
    sp.lv.clamp = 0;
    ebm_sampler_stats st;
    if (ebm_sampler_run(ctx, x, n, &sp, energy, NULL, &st, &err))
        return fail(&err);
    printf("mala: mean energy %.6f, acceptance %.3f, step size %.5f\n", mean(energy, n), st.acceptance,
           st.step_size);

    if (numel == 2) {   /* persistent CD + Adam on the model's weights, in memory */
        ebm_train_config tc = ebm_train_defaults();
        ebm_train_data data = {.toy = "8gaussians"};   /* or .dataset = an ebm_dataset (data.h) */
        ebm_train_stats ts;
        ebm_trainer *t;
        if (ebm_trainer_new(m, &data, &tc, &t, &err))
            return fail(&err);
        for (int k = 0; k < 100; k++)
            if (ebm_trainer_step(t, &ts, &err))
                return fail(&err);
        printf("train: %lld steps, loss %.6f\n", (long long)ts.step, ts.loss);   /* ebm_trainer_save: a checkpoint */
        ebm_trainer_free(t);
    }
    free(energy);
    ebm_array_free(&in);
    ebm_ctx_free(ctx);
    ebm_model_close(m);
    return 0;
}
