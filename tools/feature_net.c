/* feature_net.c — see feature_net.h. */
#include "feature_net.h"

#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "exec.h"
#include "onnx.h"
#include "pipeline.h"

/* tools/fid/fmnist_features.onnx, embedded by CMakeLists.txt (a NUL follows the bytes) */
extern const char ebmc_blob_fmnist_features[];
extern const unsigned long ebmc_blob_fmnist_features_size;

#define BUILTIN_LABEL "the built-in Fashion-MNIST classifier"

void feature_net_close(feature_net *f)
{
    ir_graph_free(f->g);
    memset(f, 0, sizeof *f);
}

static int output_named(const ir_graph *g, const char *name)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->output_names && g->output_names[i] && strcmp(g->output_names[i], name) == 0)
            return i;
    return -1;
}

/* Floats per sample of a value of shape s (N first). */
static int64_t per_sample(const ir_shape *s)
{
    int64_t k = 1;
    for (int i = 1; i < s->rank; i++)
        k *= s->d[i];
    return k;
}

ebm_status feature_net_open(const char *path, feature_net *f, ebm_error *err)
{
    memset(f, 0, sizeof *f);
    f->label = path ? path : BUILTIN_LABEL;
    ir_import_options opt = {.batch_symbolic = 1};
    ebm_status st = path ? ir_onnx_import_file(path, &opt, &f->g, err)
                         : ir_onnx_import_buffer(ebmc_blob_fmnist_features, ebmc_blob_fmnist_features_size,
                                                 BUILTIN_LABEL, &opt, &f->g, err);
    ebmc_options o = {0};
    if (!st)
        st = ebmc_pass_run(EBMC_PASS_FOLD_CONSTANTS, f->g, &o, err);
    if (!st)
        st = ebmc_pass_run(EBMC_PASS_DCE, f->g, &o, err);
    if (!st)
        st = ir_verify(f->g, err);
    if (st) {
        if (path && !strstr(err ? err->msg : "", path))
            ebm_error_prefix(err, "%s", path);
        feature_net_close(f);
        return st;
    }
    const ir_graph *g = f->g;
    f->feat_out = output_named(g, "features");
    f->logit_out = output_named(g, "logits");
    if (f->feat_out < 0 && g->n_outputs == 1)
        f->feat_out = 0;
    if (g->n_inputs != 1 || f->feat_out < 0) {
        st = ebm_fail(err, EBM_ERR_INVALID, "%s: a feature network needs one input and an output named 'features' "
                      "[N, F] (and optionally 'logits' [N, C]); this one has %d inputs and %d outputs", f->label,
                      g->n_inputs, g->n_outputs);
        feature_net_close(f);
        return st;
    }
    f->numel = per_sample(&g->nodes[g->inputs[0]].shape);
    f->dim = per_sample(&g->nodes[g->outputs[f->feat_out]].shape);
    f->classes = f->logit_out >= 0 ? per_sample(&g->nodes[g->outputs[f->logit_out]].shape) : 0;
    if (f->dim < 1 || f->dim > 4096) {
        st = ebm_fail(err, EBM_ERR_INVALID, "%s: %lld features per sample; expected 1..4096", f->label,
                      (long long)f->dim);
        feature_net_close(f);
    }
    return st;
}

ebm_status feature_net_run(const feature_net *f, const float *x, int64_t n, double *features, int *labels,
                           ebm_error *err)
{
    const ir_graph *g = f->g;
    const int64_t chunk = n < FEATURE_NET_CHUNK ? n : FEATURE_NET_CHUNK;
    size_t outs = (size_t)g->n_outputs;
    float **buf = calloc(outs, sizeof *buf);
    if (!buf)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", f->label);
    ebm_status st = EBM_OK;
    for (size_t k = 0; k < outs && !st; k++)
        if (!(buf[k] = malloc((size_t)(chunk * per_sample(&g->nodes[g->outputs[k]].shape)) * sizeof(float) + 1)))
            st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %lld samples", f->label, (long long)chunk);
    for (int64_t i = 0; i < n && !st; i += chunk) {
        int64_t m = n - i < chunk ? n - i : chunk;
        const void *in[1] = {x + i * f->numel};
        st = ebmc_exec(g, m, EBMC_F32, in, (void *const *)buf, err);
        for (int64_t r = 0; r < m && !st; r++) {
            for (int64_t j = 0; j < f->dim; j++)
                features[(i + r) * f->dim + j] = buf[f->feat_out][r * f->dim + j];
            if (labels && f->logit_out >= 0) {
                const float *l = buf[f->logit_out] + r * f->classes;
                int best = 0;
                for (int64_t c = 1; c < f->classes; c++)
                    if (l[c] > l[best])
                        best = (int)c;
                labels[i + r] = best;
            }
        }
    }
    if (st)
        ebm_error_prefix(err, "%s", f->label);
    for (size_t k = 0; k < outs; k++)
        free(buf[k]);
    free(buf);
    return st;
}

ebm_status feature_net_stats(const feature_net *f, const float *x, int64_t n, ebm_gauss *stats, int *labels,
                             ebm_error *err)
{
    double *feat = malloc((size_t)(n * f->dim) * sizeof *feat);
    if (!feat)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for the features of %lld samples", f->label,
                        (long long)n);
    ebm_status st = feature_net_run(f, x, n, feat, labels, err);
    if (!st)
        st = ebm_gauss_fit(feat, n, f->dim, stats, err);
    free(feat);
    return st;
}

ebm_status feature_net_score_features(const feature_net *f, const ebm_gauss *ref, const double *features,
                                      const int *labels, int64_t n, feature_score *out, ebm_error *err)
{
    memset(out, 0, sizeof *out);
    out->covered = -1;
    ebm_gauss s = {0};
    ebm_status st = ebm_gauss_fit(features, n, f->dim, &s, err);
    if (!st)
        st = ebm_frechet_distance(&s, ref, &out->fid, err);
    if (!st && f->classes > 0 && labels) {
        int classes = f->classes < 64 ? (int)f->classes : 64;
        out->covered = ebm_class_coverage(labels, n, classes, FEATURE_MIN_SHARE, out->counts);
    }
    ebm_gauss_free(&s);
    return st;
}

ebm_status feature_net_score(const feature_net *f, const ebm_gauss *ref, const float *x, int64_t n,
                             feature_score *out, ebm_error *err)
{
    memset(out, 0, sizeof *out);
    out->covered = -1;
    int *labels = malloc((size_t)n * sizeof *labels);
    double *feat = malloc((size_t)(n * f->dim) * sizeof *feat);
    ebm_status st = labels && feat ? feature_net_run(f, x, n, feat, labels, err)
                                   : ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for the features of %lld "
                                              "samples", f->label, (long long)n);
    if (!st)
        st = feature_net_score_features(f, ref, feat, labels, n, out, err);
    free(feat);
    free(labels);
    return st;
}

ebm_status feature_net_data_pick(const feature_net *f, const ebm_dataset *d, const char *label, int64_t max_n,
                                 float **x, int64_t *n, ebm_error *err)
{
    *x = NULL;
    *n = 0;
    const int64_t numel = ebm_dataset_sample_numel(d), total = d->shape[0];
    if (numel != f->numel)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: %lld values per sample, but %s takes %lld", label,
                        (long long)numel, f->label, (long long)f->numel);
    const int64_t m = total < max_n ? total : max_n;
    if (m < 2)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %lld samples; FID needs at least 2", label, (long long)m);
    float *p = malloc((size_t)(m * numel) * sizeof *p);
    if (!p)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %lld samples", label, (long long)m);
    for (int64_t i = 0; i < m; i++) {
        const int64_t row = i * total / m;
        ebm_status st = ebm_data_gather(d, &row, 1, p + i * numel, err);   /* floats, or bytes converted */
        if (st) {
            free(p);
            return st;
        }
    }
    *x = p;
    *n = m;
    return EBM_OK;
}

ebm_status feature_net_data_stats(const feature_net *f, const ebm_dataset *d, const char *label, int64_t max_n,
                                  ebm_gauss *out, int64_t *used, ebm_error *err)
{
    float *x;
    ebm_status st = feature_net_data_pick(f, d, label, max_n, &x, used, err);
    if (!st)
        st = feature_net_stats(f, x, *used, out, NULL, err);
    free(x);
    return st;
}
