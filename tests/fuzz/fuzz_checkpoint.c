/* fuzz_checkpoint.c — libFuzzer target for training checkpoints
 * (ebm_trainer_load, runtime/train_ckpt.c).
 *
 * The bytes are a checkpoint file, loaded into a trainer on the hand-written
 * fake model (tests/data/runtime/quadratic.so: E = 1/2 inv_var |x - center|^2
 * on [N, 2, 2]; no code generator, so an iteration takes microseconds).
 * Findings besides crashes, sanitizer reports, leaks and hangs:
 *   - a refused load changed the trainer (parameters, EMA, step, lr, buffer);
 *   - an accepted load left a state that a training step fails on with
 *     anything but a numeric divergence, or that does not save and load again.
 *
 * EBMC_FUZZ_SEED_DIR=DIR: LLVMFuzzerInitialize first writes valid checkpoints
 * of this trainer into DIR (after 0, 1, 3 and 7 steps: an empty, a partly
 * filled and a wrapped buffer), the seeds tests/fuzz/run_fuzz.sh starts from.
 *
 * Built only with -DEBMC_FUZZ=ON (clang); tests/fuzz/run_fuzz.sh runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebm.h"
#include "train.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DATA_N 32
#define NUMEL 4

static ebm_model *model;
static ebm_trainer *trainer;
static ebm_dataset dataset;
static char work[512], input_path[600], resave_path[600];

static void die(const char *what, const ebm_error *err)
{
    fprintf(stderr, "fuzz_checkpoint: %s: %s\n", what, err ? err->msg : "");
    abort();
}

/* The fake model next to this binary: <build>/bin/../testdata/runtime/quadratic.so. */
static void model_path(char *out, size_t size)
{
    char self[512];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        die("readlink /proc/self/exe", NULL);
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = 0;
    snprintf(out, size, "%s/../testdata/runtime/quadratic.so", self);
}

static void step_or_die(void)
{
    ebm_error err = {0};
    ebm_train_stats s;
    if (ebm_trainer_step(trainer, &s, &err) != EBM_OK)
        die("a training step on the seed trainer", &err);
}

static void write_seeds(const char *dir)
{
    static const int at[] = {0, 1, 3, 7};
    for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
        while (ebm_trainer_steps_done(trainer) < at[k])
            step_or_die();
        char path[600];
        snprintf(path, sizeof path, "%s/seed-ckpt-%d", dir, at[k]);
        ebm_error err = {0};
        if (ebm_trainer_save(trainer, path, &err) != EBM_OK)
            die("writing a seed", &err);
    }
}

/* libFuzzer ends with exit(): the scratch folder goes with it. */
static void cleanup(void)
{
    unlink(input_path);
    unlink(resave_path);
    rmdir(work);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* every input goes through a file: memory-backed /dev/shm when there is one */
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0])
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(work, sizeof work, "%s/ebmc-fuzz-ckpt-XXXXXX", tmp);
    if (!mkdtemp(work))
        die("mkdtemp", NULL);
    snprintf(input_path, sizeof input_path, "%s/input.ckpt", work);
    snprintf(resave_path, sizeof resave_path, "%s/resave.ckpt", work);
    atexit(cleanup);
    char path[600];
    model_path(path, sizeof path);
    ebm_error err = {0};
    if (ebm_model_open(path, &model, &err) != EBM_OK)
        die("opening the fake model (build the ebm_fake_models target)", &err);
    dataset = (ebm_dataset){.rank = 3, .shape = {DATA_N, 2, 2}};
    dataset.data = malloc(DATA_N * NUMEL * sizeof(float));
    if (!dataset.data)
        die("out of memory", NULL);
    for (int i = 0; i < DATA_N * NUMEL; i++)
        dataset.data[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    ebm_train_config c = ebm_train_defaults();
    c.batch = 4;
    c.buffer_capacity = 8;
    c.lr = 1e-2;
    c.ema = 0.9;
    c.sampler.lv.steps = 2;
    c.sampler.lv.step_size = 0.05f;
    c.snapshot_every = 2;
    c.seed = 11;
    ebm_train_data td = {.dataset = &dataset};
    if (ebm_trainer_new(model, &td, &c, &trainer, &err) != EBM_OK)
        die("a trainer on the fake model", &err);
    const char *seeds = getenv("EBMC_FUZZ_SEED_DIR");
    if (seeds && seeds[0])
        write_seeds(seeds);
    return 0;
}

/* What a refused load must leave as it was. */
typedef struct state {
    int64_t step, count;
    double lr;
    float w[32], p[32];
    float first, last;   /* the buffer's oldest and newest first values */
} state;

static state state_now(void)
{
    state s;
    memset(&s, 0, sizeof s);
    const int64_t wn = ebm_model_desc(model)->weights_numel;
    const size_t bytes = (size_t)(wn < 32 ? wn : 32) * sizeof(float);
    s.step = ebm_trainer_steps_done(trainer);
    s.lr = ebm_trainer_lr(trainer);
    memcpy(s.w, ebm_model_weights(model), bytes);
    memcpy(s.p, ebm_trainer_params(trainer), bytes);
    ebm_buffer *b = ebm_trainer_buffer(trainer);
    s.count = ebm_buffer_count(b);
    if (s.count > 0) {
        s.first = ebm_buffer_sample(b, 0)[0];
        s.last = ebm_buffer_sample(b, s.count - 1)[0];
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(input_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        die("writing the input file", NULL);
    const state before = state_now();
    ebm_error err = {0};
    if (ebm_trainer_load(trainer, input_path, &err) != EBM_OK) {
        const state after = state_now();
        if (memcmp(&before, &after, sizeof before) != 0)
            die("a refused load changed the trainer", &err);
        return 0;
    }
    /* accepted: the state trains on and round-trips */
    ebm_train_stats s;
    ebm_status st = ebm_trainer_step(trainer, &s, &err);
    if (st != EBM_OK && st != EBM_ERR_NUMERIC)
        die("a step after an accepted load", &err);
    if (ebm_trainer_save(trainer, resave_path, &err) != EBM_OK)
        die("saving after an accepted load", &err);
    if (ebm_trainer_load(trainer, resave_path, &err) != EBM_OK)
        die("loading what the trainer saved after an accepted load", &err);
    return 0;
}
