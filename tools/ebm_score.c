/* ebm_score.c — `ebm score`: how close samples are to a data set, measured on
 * the features of a classifier (tools/feature_net.h): the Frechet distance of
 * Gaussians fitted to both feature sets (FID) and, with a classifier's logits,
 * how many classes the samples cover. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "ebm_commands.h"
#include "feature_net.h"
#include "npy.h"

#define DEFAULT_MAX_DATA 10000

static const cli_opt score_opts[] = {
    {.name = "data", .metavar = "DATA", .help = "the reference data: IDX (gzipped or not), .npy or CSV, scaled "
                                                "as ebm train scales it (required)"},
    {.name = "features", .metavar = "NET.onnx", .help = "the feature network: one input, outputs 'features' "
                                                        "[N, F] and optionally 'logits' [N, C] (default: the "
                                                        "built-in Fashion-MNIST classifier, x [N, 1, 28, 28])"},
    {.name = "max-data", .metavar = "M", .help = "use at most M data samples, evenly spaced (default 10000)"},
    CLI_OPT_LAYOUT,
    {0},
};

const cli_cmd score_cmd = {
    .prog = "ebm score",
    .usage = "SAMPLES.npy --data DATA [--features NET.onnx] [--max-data M] [--layout nchw|nhwc]",
    .summary = "Scores samples against data: FID on a classifier's features, and class coverage.\n"
               "Lower FID is better; the README gives the built-in network's calibration.",
    .opts = score_opts,
    .min_positional = 1,
    .max_positional = 1,
    .positional_names = "SAMPLES.npy",
};

/* --layout nhwc: the data set [N, H, W, C] to the network's [N, C, H, W] (a
 * one-channel [N, H, W], as IDX files hold, is that already). */
static ebm_status data_layout(cli_layout l, const feature_net *f, const char *path, ebm_dataset *d, ebm_error *err)
{
    const ir_shape *want = &f->g->nodes[f->g->inputs[0]].shape;
    if (l == CLI_LAYOUT_NCHW || (want->rank == 4 && want->d[1] == 1 && d->rank == 3) || d->rank > EBM_NPY_MAX_RANK)
        return EBM_OK;
    ebm_status st = ebm_data_to_floats(d, err);   /* the layout change reads the whole array */
    if (st)
        return st;
    ebm_array x = {.dtype = EBM_NPY_F32, .rank = d->rank, .data = d->data};
    memcpy(x.shape, d->shape, sizeof x.shape[0] * (size_t)d->rank);
    st = cli_layout_read(l, f->label, want, path, &x, err);
    if (!st) {
        d->data = x.data;
        memcpy(d->shape, x.shape, sizeof x.shape[0] * (size_t)d->rank);
    }
    return st;
}

int run_score(const cli_args *a)
{
    ebm_error err = {0};
    const char *samples = a->positional[0], *data = cli_get(&score_cmd, a, "data"), *v;
    long long max_n = DEFAULT_MAX_DATA;
    if (!data) {
        ebm_fail(&err, EBM_ERR_INVALID, "missing required flag --data DATA (see 'ebm score --help')");
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    }
    if ((v = cli_get(&score_cmd, a, "max-data")) && cli_parse_int("--max-data", v, 2, INT32_MAX, &max_n, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    cli_layout layout;
    if (cli_layout_from_flag(cli_get(&score_cmd, a, "layout"), &layout, &err))
        return cli_fail("ebm", &err, CLI_EXIT_USAGE);
    feature_net f = {0};
    ebm_array x = {0};
    ebm_dataset d = {0};
    ebm_gauss ref = {0};
    feature_score s;
    int64_t used = 0, n = 0;
    ebm_status st = feature_net_open(cli_get(&score_cmd, a, "features"), &f, &err);
    if (!st)
        st = ebm_npy_read(samples, &x, &err);
    if (!st)
        st = cli_layout_read(layout, f.label, &f.g->nodes[f.g->inputs[0]].shape, samples, &x, &err);
    if (!st && x.dtype != EBM_NPY_F32)
        st = ebm_fail(&err, EBM_ERR_INVALID, "%s: expected float32 samples", samples);
    if (!st)
        st = ebm_array_check_finite(&x, samples, &err);
    if (!st) {
        n = x.rank > 0 ? x.shape[0] : 0;
        int64_t numel = n > 0 ? ebm_array_numel(&x) / n : 0;
        if (n < 2 || numel != f.numel)
            st = ebm_fail(&err, EBM_ERR_SHAPE, "%s: %lld samples of %lld values; %s takes %lld values per sample "
                          "and FID needs at least 2 samples", samples, (long long)n, (long long)numel, f.label,
                          (long long)f.numel);
    }
    if (!st)
        st = ebm_data_load_flags(data, EBM_DATA_KEEP_BYTES, &d, &err);   /* rows are gathered as floats */
    if (!st)
        st = data_layout(layout, &f, data, &d, &err);
    if (!st)
        st = feature_net_data_stats(&f, &d, data, max_n, &ref, &used, &err);
    if (!st)
        st = feature_net_score(&f, &ref, x.data, n, &s, &err);
    if (!st) {
        printf("FID %.3f  (%lld samples of %s against %lld of %s; features: %s)\n", s.fid, (long long)n, samples,
               (long long)used, data, f.label);
        if (s.covered >= 0) {
            printf("classes %d/%lld with >= %g%% of the samples; per class:", s.covered, (long long)f.classes,
                   100 * FEATURE_MIN_SHARE);
            for (int64_t c = 0; c < f.classes && c < 64; c++)
                printf(" %lld", (long long)s.counts[c]);
            printf("\n");
        }
    }
    ebm_gauss_free(&ref);
    ebm_dataset_free(&d);
    ebm_array_free(&x);
    feature_net_close(&f);
    return st ? cli_fail("ebm", &err, CLI_EXIT_ERROR) : CLI_EXIT_OK;
}
