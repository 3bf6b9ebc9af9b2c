/* sampler_settings.h — the sampler settings `ebm sample` and `ebm train`
 * share: each from its flag, else the model's ebm.* metadata (the keys are
 * listed in ebm.c's header), else DESIGN.md's default.  (ebm_sample.c) */
#ifndef EBMC_SAMPLER_SETTINGS_H
#define EBMC_SAMPLER_SETTINGS_H

#include "cli_common.h"
#include "ebm.h"

typedef enum { INIT_UNIFORM, INIT_NORMAL, INIT_FILE } init_kind;

typedef struct sample_settings {
    ebm_langevin_params p;
    int noise_auto;
    init_kind init;
    float init_sd;          /* INIT_NORMAL: the standard deviation ("normal:S"; 1 for "normal") */
    const char *init_file;
    double reinit;          /* buffer re-init probability */
    int64_t capacity;       /* buffer capacity */
    float anneal;           /* langevin: the first step's temperature, annealed to p.temperature (0 = off) */
    float anneal_hold;      /* annealed: the share of the steps held at `anneal` first, in [0, 1) */
    float denoise;          /* the last noiseless step's size (0 = off) */
    int anneal_given, denoise_given;   /* by a flag or the metadata */
} sample_settings;

sample_settings sample_settings_default(void);

/* Fresh states as s->init says (INIT_UNIFORM in [lo, hi], INIT_NORMAL with
 * s->init_sd), sample i a function of (seed, i) alone: ebm_init_states with
 * stream 0, a normal scaled by init_sd. */
void sample_settings_fresh(const sample_settings *s, float lo, float hi, uint64_t seed, float *x, int64_t n,
                           int64_t numel);

/* The flags alone (before the model is read; usage errors).  steps_flag names
 * the flag of the step count ("steps" for sample, "mcmc-steps" for train);
 * cmd must have every other settings flag: step-size, noise, grad-clip,
 * clamp, temperature, anneal, anneal-hold, denoise, init, reinit. */
ebm_status sample_settings_flags(const cli_cmd *cmd, const cli_args *a, const char *steps_flag, sample_settings *s,
                                 ebm_error *err);
/* Flag, else metadata, else default, for every setting (errors name the flag
 * or the model and key).  With `training`, the training chains' own keys
 * (ebm.train.mcmc_steps, .step_size, .noise_scale, .grad_clip, .init) are
 * read before the sampler's: a trained model keeps the chains it was trained
 * with apart from the settings that draw its best samples. */
ebm_status sample_settings_resolve(const cli_cmd *cmd, const cli_args *a, const char *steps_flag, int training,
                                   const char *model, const ebm_model *m, sample_settings *s, ebm_error *err);

#endif /* EBMC_SAMPLER_SETTINGS_H */
