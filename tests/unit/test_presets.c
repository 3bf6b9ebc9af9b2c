/* test_presets.c — the network builder, initialisation, presets and JSON
 * configurations (ir/nn.c, zoo/presets.c, zoo/config.c).
 *
 * Expected values come from outside the code under test: splitmix64's
 * published outputs; the moments of a uniform distribution; parameter counts
 * written out by hand from the architecture table of issue 5; PyTorch's
 * energies for the presets (tests/data/presets/gen_presets.py rebuilds each
 * architecture in torch from the table, with the file's weights); and
 * direct loops in double for the layers (GroupNorm, convolution, the
 * activations by their textbook formulas).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen.h"
#include "ebm.h"
#include "exec.h"
#include "zoo.h"
#include "npy.h"
#include "onnx.h"
#include "pipeline.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------ */

static ir_graph *build_preset(const char *name, uint64_t seed)
{
    ebm_error err = {0};
    zoo_spec s;
    ck_assert_msg(zoo_preset(name, &s, &err) == EBM_OK, "%s", err.msg);
    ir_graph *g = NULL;
    ck_assert_msg(zoo_build(&s, seed, &g, &err) == EBM_OK, "%s: %s", name, err.msg);
    return g;
}

static ir_graph *build_spec(const zoo_spec *s, uint64_t seed)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ck_assert_msg(zoo_build(s, seed, &g, &err) == EBM_OK, "%s", err.msg);
    return g;
}

static const char *config_path(const char *name)
{
    return tu_path("%s/tests/data/configs/%s.json", tu_source_dir(), name);
}

static const ir_node *find_node(const ir_graph *g, const char *name)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0)
            return &g->nodes[i];
    return NULL;
}

static ir_node *param_node(ir_graph *g, const char *name)
{
    const ir_node *n = find_node(g, name);
    ck_assert_msg(n && (n->flags & IR_NODE_PARAM), "no parameter %s", name);
    return (ir_node *)n;
}

/* Runs a one-input graph on x (n samples) in double; outputs concatenated. */
static double *run_f64(const ir_graph *g, const double *x, int64_t n)
{
    size_t total = 0;
    for (int j = 0; j < g->n_outputs; j++)
        total += (size_t)ir_shape_numel(&g->nodes[g->outputs[j]].shape, n);
    double *all = malloc(total * sizeof *all + 1);
    void *outs[16];
    size_t at = 0;
    ck_assert(g->n_outputs <= 16);
    for (int j = 0; j < g->n_outputs; j++) {
        outs[j] = all + at;
        at += (size_t)ir_shape_numel(&g->nodes[g->outputs[j]].shape, n);
    }
    const void *in[1] = {x};
    ebm_error err = {0};
    ck_assert_msg(ebmc_exec(g, n, EBMC_F64, in, outs, &err) == EBM_OK, "exec: %s", err.msg);
    return all;
}

static ir_graph *finish(ir_nn *nn)
{
    ebm_error err = {0};
    ir_graph *g = ir_nn_finish(nn, &err);
    ck_assert_msg(g, "%s", err.msg);
    return g;
}

/* ---- initialisation ------------------------------------------------------------------ */

/* Vigna's splitmix64 from state 0: the published first outputs. */
START_TEST(test_splitmix64_known_answer)
{
    uint64_t s = 0;
    ck_assert_uint_eq(ir_nn_splitmix64(&s), 0xe220a8397b1dcdafu);
    ck_assert_uint_eq(ir_nn_splitmix64(&s), 0x6e789e6aa1b965f4u);
    ck_assert_uint_eq(ir_nn_splitmix64(&s), 0x06c45d188009454fu);
    ck_assert_uint_eq(ir_nn_splitmix64(&s), 0xf88bb8a8724c81ecu);
}
END_TEST

/* U(-b, b): inside the bounds, reaching them, mean 0 and variance b^2/3
 * within 5 standard errors. */
START_TEST(test_uniform_moments)
{
    enum { N = 200704 };   /* a 784 x 256 weight */
    static float v[N];
    double b = 1.0 / sqrt(784.0);
    ir_nn_fill_uniform(3, "fc1.weight", b, v, N);
    double sum = 0, sq = 0, lo = 0, hi = 0;
    for (int i = 0; i < N; i++) {
        ck_assert(fabs(v[i]) <= b);
        sum += v[i];
        sq += (double)v[i] * v[i];
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    double mean = sum / N, var = sq / N - mean * mean;
    ck_assert(lo < -0.999 * b && hi > 0.999 * b);
    ck_assert_msg(fabs(mean) < 5 * b / sqrt(3.0 * N), "mean %g", mean);
    double var_se = sqrt((b * b * b * b / 5 - b * b * b * b / 9) / N);
    ck_assert_msg(fabs(var - b * b / 3) < 5 * var_se, "variance %g, expected %g", var, b * b / 3);

    /* the stream depends on the seed and the name, nothing else */
    static float w[16], u[16];
    ir_nn_fill_uniform(3, "fc1.weight", b, w, 16);
    ck_assert(memcmp(v, w, sizeof w) == 0);
    ir_nn_fill_uniform(4, "fc1.weight", b, u, 16);
    ck_assert(memcmp(u, w, sizeof w) != 0);
    ir_nn_fill_uniform(3, "fc2.weight", b, u, 16);
    ck_assert(memcmp(u, w, sizeof w) != 0);
}
END_TEST

/* fan_in of a weight: [in, out] for linear, [O, C, k, k] for conv. */
static int64_t fan_in(const ir_shape *w)
{
    return w->rank == 2 ? w->d[0] : w->d[1] * w->d[2] * w->d[3];
}

/* PyTorch's defaults: weight and bias ~ U(+-1/sqrt(fan_in)), GroupNorm 1 and 0. */
START_TEST(test_init_follows_pytorch)
{
    ir_graph *g = build_preset("mnist", 9);
    int checked = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (!(n->flags & IR_NODE_PARAM))
            continue;
        ck_assert(n->flags & IR_NODE_TRAINABLE);
        size_t count = (size_t)ir_shape_numel(&n->shape, 0);
        char layer[128];
        snprintf(layer, sizeof layer, "%s", n->name);
        char *dot = strrchr(layer, '.');
        ck_assert_ptr_nonnull(dot);
        int is_bias = strcmp(dot, ".bias") == 0;
        *dot = 0;
        if (strstr(layer, "norm")) {
            for (size_t k = 0; k < count; k++)
                ck_assert(n->data[k] == (is_bias ? 0.0f : 1.0f));
            checked++;
            continue;
        }
        if (strcmp(layer, "dist") == 0) {   /* the distance energy's scale: sqrt(784) / 0.05 / 2 (presets.c) */
            ck_assert_str_eq(dot + 1, "log_scale");
            ck_assert_int_eq(count, 1);
            ck_assert_float_eq_tol(n->data[0], logf(280.0f), 1e-6);
            checked++;
            continue;
        }
        char wname[160];
        snprintf(wname, sizeof wname, "%s.weight", layer);
        double b = 1.0 / sqrt((double)fan_in(&param_node(g, wname)->shape));
        float *want = malloc(count * sizeof *want);
        ir_nn_fill_uniform(9, n->name, b, want, (int64_t)count);
        ck_assert_msg(memcmp(want, n->data, count * sizeof *want) == 0, "%s", n->name);
        for (size_t k = 0; k < count; k++)
            ck_assert(fabs(n->data[k]) <= b);
        free(want);
        checked++;
    }
    /* 3 down + mid + 2 up blocks x (conv w, b, norm w, b) + 2 x (1x1 proj w, b) + out conv w, b + log_scale */
    ck_assert_int_eq(checked, 31);
    ir_graph_free(g);
}
END_TEST

/* ---- the presets ----------------------------------------------------------------------- */

static int64_t linear_params(int64_t in, int64_t out)
{
    return in * out + out;
}

static int64_t conv_params(int64_t cin, int64_t cout, int64_t k)
{
    return cout * cin * k * k + cout;
}

/* The table of issue 5, counted by hand. */
START_TEST(test_parameter_counts)
{
    int64_t simple = linear_params(2, 128) + linear_params(128, 128) + linear_params(128, 64) + linear_params(64, 1);
    int64_t cnn = conv_params(1, 32, 3) + conv_params(32, 64, 3) + linear_params(64, 1);
    int64_t gn = 2;   /* GroupNorm: scale and shift per channel */
    /* the unet: down 1->16, 16->32, 32->64, mid 64->64, up 64->32 (1x1) + 32->32, 32->16 (1x1) + 16->16,
     * out 16->1, each 3x3 conv but the projections followed by GroupNorm; + the distance's log_scale */
    int64_t mnist = conv_params(1, 16, 3) + gn * 16 + conv_params(16, 32, 3) + gn * 32 + conv_params(32, 64, 3) +
                    gn * 64 + conv_params(64, 64, 3) + gn * 64 + conv_params(64, 32, 1) + conv_params(32, 32, 3) +
                    gn * 32 + conv_params(32, 16, 1) + conv_params(16, 16, 3) + gn * 16 + conv_params(16, 1, 3) + 1;
    int64_t cifar = linear_params(256, 128) + linear_params(128, 64) + linear_params(64, 1);
    static const int64_t ch[5] = {3, 32, 64, 128, 256};
    for (int i = 1; i <= 4; i++)   /* conv1, norm1, conv2, norm2, 1x1 projection */
        cifar += conv_params(ch[i - 1], ch[i], 3) + gn * ch[i] + conv_params(ch[i], ch[i], 3) + gn * ch[i] +
                 conv_params(ch[i - 1], ch[i], 1);
    ck_assert_int_eq(simple, 25217);
    ck_assert_int_eq(mnist, 74994);
    const struct {
        const char *name;
        int64_t count;
    } want[] = {{"simple", simple}, {"cnn", cnn}, {"mnist", mnist}, {"cifar", cifar}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ir_graph *g = build_preset(want[i].name, 0);
        ck_assert_msg(ir_graph_param_count(g, 1) == want[i].count, "%s: %lld parameters, expected %lld",
                      want[i].name, (long long)ir_graph_param_count(g, 1), (long long)want[i].count);
        ck_assert_int_eq(ir_graph_param_count(g, 0), want[i].count);
        ir_graph_free(g);
    }
    /* simple with 784 features */
    ebm_error err = {0};
    zoo_spec s;
    ck_assert_int_eq(zoo_preset("simple", &s, &err), EBM_OK);
    s.input_dim = 784;
    ir_graph *g = build_spec(&s, 0);
    ck_assert_int_eq(ir_graph_param_count(g, 1), simple - linear_params(2, 128) + linear_params(784, 128));
    ir_graph_free(g);
}
END_TEST

/* A preset (seed 0) written as ONNX, read back and given its energy head:
 * what `ebm init` then `ebmc` work on. */
static ir_graph *energy_graph(const char *preset)
{
    ebm_error err = {0};
    ir_graph *g0 = build_preset(preset, 0), *g = NULL;
    void *buf;
    size_t len;
    ck_assert_int_eq(ir_onnx_export_buffer(g0, &buf, &len, &err), EBM_OK);
    ck_assert_msg(ir_onnx_import_buffer(buf, len, preset, NULL, &g, &err) == EBM_OK, "%s", err.msg);
    free(buf);
    ir_graph_free(g0);
    ebmc_options o = {.head = EBM_HEAD_OUTPUT, .verify = 1};
    ck_assert_msg(ebmc_pass_run(EBMC_PASS_ENERGY_HEAD, g, &o, &err) == EBM_OK, "%s", err.msg);
    const ir_shape *es = &g->nodes[g->outputs[0]].shape;
    ck_assert_msg(es->rank == 1 && es->d[0] == IR_DIM_N, "%s: energy is not [N]", preset);
    return g;
}

/* tests/data/presets/<preset>_x.npy and PyTorch's energies for it. */
typedef struct fixture {
    ebm_array x, energy;
    int64_t n;
} fixture;

static void fixture_read(const char *preset, fixture *f)
{
    ebm_error err = {0};
    memset(f, 0, sizeof *f);
    ck_assert_msg(ebm_npy_read(tu_path("%s/tests/data/presets/%s_x.npy", tu_source_dir(), preset), &f->x, &err) ==
                  EBM_OK, "%s", err.msg);
    ck_assert_msg(ebm_npy_read(tu_path("%s/tests/data/presets/%s_energy.npy", tu_source_dir(), preset), &f->energy,
                               &err) == EBM_OK, "%s", err.msg);
    f->n = f->x.shape[0];
    ck_assert_int_eq(f->x.dtype, EBM_NPY_F32);
    ck_assert_int_eq(f->energy.dtype, EBM_NPY_F64);
    ck_assert_int_eq(ebm_array_numel(&f->energy), f->n);
}

static void assert_close_to_torch(const char *what, const fixture *f, const float *e32, const double *e64)
{
    const double *ref = f->energy.data;
    for (int64_t i = 0; i < f->n; i++) {
        ck_assert_msg(isfinite(e32[i]), "%s: sample %lld is not finite", what, (long long)i);
        ck_assert_msg(fabs(e32[i] - ref[i]) <= 2e-5 * (1 + fabs(ref[i])), "%s: float32 sample %lld: %.9g vs torch %.9g",
                      what, (long long)i, e32[i], ref[i]);
        ck_assert_msg(!e64 || fabs(e64[i] - ref[i]) <= 1e-9 * (1 + fabs(ref[i])),
                      "%s: sample %lld: %.15g vs torch %.15g", what, (long long)i, e64[i], ref[i]);
    }
}

static const char *const all_presets[] = {"simple", "cnn", "mnist", "cifar"};

/* The reference executor, float64 and float32, against PyTorch. */
START_TEST(test_energies_match_pytorch)
{
    for (size_t p = 0; p < sizeof all_presets / sizeof all_presets[0]; p++) {
        ir_graph *g = energy_graph(all_presets[p]);
        fixture f;
        fixture_read(all_presets[p], &f);
        int64_t numel = ebm_array_numel(&f.x);
        double *xd = malloc((size_t)numel * sizeof *xd);
        for (int64_t i = 0; i < numel; i++)
            xd[i] = ((const float *)f.x.data)[i];
        double *e64 = run_f64(g, xd, f.n);
        float *e32 = malloc((size_t)f.n * sizeof *e32);
        const void *in[1] = {f.x.data};
        void *outs[1] = {e32};
        ebm_error err = {0};
        ck_assert_int_eq(ebmc_exec(g, f.n, EBMC_F32, in, outs, &err), EBM_OK);
        assert_close_to_torch(all_presets[p], &f, e32, e64);
        free(xd);
        free(e64);
        free(e32);
        ebm_array_free(&f.x);
        ebm_array_free(&f.energy);
        ir_graph_free(g);
    }
}
END_TEST

/* The same through the code generator: compiled to a shared object, loaded
 * with libebm, energies against PyTorch. */
START_TEST(test_compiled_energies_match_pytorch)
{
    char dir[] = "/tmp/ebmc_presets_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (size_t p = 0; p < sizeof all_presets / sizeof all_presets[0]; p++) {
        ebm_error err = {0};
        ir_graph *g = energy_graph(all_presets[p]);
        ebmc_options o = {.head = EBM_HEAD_OUTPUT};
        ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_FOLD_CONSTANTS, g, &o, &err), EBM_OK);
        ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_SIMPLIFY, g, &o, &err), EBM_OK);
        ck_assert_int_eq(ebmc_pass_run(EBMC_PASS_DCE, g, &o, &err), EBM_OK);
        const char *so = tu_path("%s/%s.so", dir, all_presets[p]);
        ebmc_compile_options co = {.opt_level = 1, .energy_head = "output"};
        ck_assert_msg(ebmc_compile_model(g, &co, so, &err) == EBM_OK, "%s: %s", all_presets[p], err.msg);
        fixture f;
        fixture_read(all_presets[p], &f);
        ebm_model *m = NULL;
        ebm_ctx *ctx = NULL;
        ck_assert_msg(ebm_model_open(so, &m, &err) == EBM_OK, "%s", err.msg);
        ck_assert_msg(ebm_ctx_new(m, f.n, &ctx, &err) == EBM_OK, "%s", err.msg);
        float *e = malloc((size_t)f.n * sizeof *e);
        ck_assert_msg(ebm_energy(ctx, f.x.data, f.n, e, &err) == EBM_OK, "%s", err.msg);
        assert_close_to_torch(all_presets[p], &f, e, NULL);
        free(e);
        ebm_ctx_free(ctx);
        ebm_model_close(m);
        unlink(so);
        ebm_array_free(&f.x);
        ebm_array_free(&f.energy);
        ir_graph_free(g);
    }
    rmdir(dir);
}
END_TEST

START_TEST(test_same_seed_same_bytes)
{
    ebm_error err = {0};
    void *b[3];
    size_t len[3];
    const uint64_t seeds[3] = {12345, 12345, 12346};
    for (int i = 0; i < 3; i++) {
        ir_graph *g = build_preset("cifar", seeds[i]);
        ck_assert_int_eq(ir_onnx_export_buffer(g, &b[i], &len[i], &err), EBM_OK);
        ir_graph_free(g);
    }
    ck_assert(len[0] == len[1] && memcmp(b[0], b[1], len[0]) == 0);
    ck_assert(len[0] != len[2] || memcmp(b[0], b[2], len[0]) != 0);
    for (int i = 0; i < 3; i++)
        free(b[i]);
}
END_TEST

static void assert_meta(const ir_graph *g, const char *key, const char *want)
{
    const char *v = ir_graph_get_meta(g, key);
    ck_assert_msg(v && strcmp(v, want) == 0, "%s = %s, expected %s", key, v ? v : "(absent)", want);
}

/* Issue 5's defaults per preset, DESIGN.md's elsewhere; kept through export. */
START_TEST(test_metadata_defaults)
{
    const struct {
        const char *preset, *steps, *step, *noise, *clip, *buffer, *alpha, *input, *objective;
    } want[] = {
        {"simple", "500", "0.01", "auto", "0", "2048", "0.01", "2", "dsm"},
        {"mnist", "500", "0.0002", "0.0141", "0", "4096", "0.01", "1,28,28", "dsm"},
        {"cifar", "100", "0.005", "0.001", "0.03", "8192", "0.001", "3,32,32", NULL},
        {"cnn", "60", "0.01", "0.005", "0.03", "8192", "0.01", "1,28,28", NULL},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ir_graph *g0 = build_preset(want[i].preset, 77);
        ir_graph *g = NULL;
        void *buf;
        size_t len;
        ebm_error err = {0};
        ck_assert_int_eq(ir_onnx_export_buffer(g0, &buf, &len, &err), EBM_OK);
        ck_assert_int_eq(ir_onnx_import_buffer(buf, len, "m", NULL, &g, &err), EBM_OK);
        free(buf);
        ir_graph_free(g0);
        assert_meta(g, "ebm.preset", want[i].preset);
        assert_meta(g, "ebm.name", want[i].preset);
        assert_meta(g, "ebm.sampler.steps", want[i].steps);
        assert_meta(g, "ebm.sampler.step_size", want[i].step);
        assert_meta(g, "ebm.sampler.noise_scale", want[i].noise);
        assert_meta(g, "ebm.buffer.capacity", want[i].buffer);
        assert_meta(g, "ebm.train.alpha", want[i].alpha);
        assert_meta(g, "ebm.input_shape", want[i].input);
        assert_meta(g, "ebm.sampler.grad_clip", want[i].clip);
        if (want[i].objective && strcmp(want[i].preset, "simple") == 0) {
            /* the toy recipe (presets.c): dsm, sigma 0.05, EMA, 12000 steps of 256 */
            assert_meta(g, "ebm.train.objective", want[i].objective);
            assert_meta(g, "ebm.train.sigma", "0.05");
            assert_meta(g, "ebm.train.lr", "0.001");
            assert_meta(g, "ebm.train.ema", "0.999");
            assert_meta(g, "ebm.train.batch", "256");
            assert_meta(g, "ebm.train.steps", "12000");
            ck_assert_ptr_null(ir_graph_get_meta(g, "ebm.sampler.anneal"));
            ck_assert_ptr_null(ir_graph_get_meta(g, "ebm.train.sigma_power"));
        } else if (want[i].objective) {
            /* the Fashion-MNIST recipe: dsm at levels [0.05, 3], drawn from N(0, 3^2) by a third of the
             * steps at T 60, then annealed, unclamped, and denoised */
            assert_meta(g, "ebm.train.objective", want[i].objective);
            assert_meta(g, "ebm.train.sigma", "0.05");
            assert_meta(g, "ebm.train.sigma_max", "3");
            assert_meta(g, "ebm.train.sigma_power", "0.4");
            assert_meta(g, "ebm.sampler.init", "normal:3");
            assert_meta(g, "ebm.sampler.clamp", "none");
            assert_meta(g, "ebm.train.lr", "0.001");
            assert_meta(g, "ebm.train.ema", "0.999");
            assert_meta(g, "ebm.train.batch", "128");
            assert_meta(g, "ebm.train.steps", "20000");
            assert_meta(g, "ebm.sampler.anneal", "60");
            assert_meta(g, "ebm.sampler.anneal_hold", "0.8");
            assert_meta(g, "ebm.sampler.denoise", "0.0025");
        } else {
            ck_assert_ptr_null(ir_graph_get_meta(g, "ebm.train.objective"));
        }
        assert_meta(g, "ebm.sampler.clamp", strcmp(want[i].preset, "mnist") == 0 ? "none" : "-1,1");
        assert_meta(g, "ebm.sampler.temperature", "1");
        assert_meta(g, "ebm.buffer.reinit_prob", "0.05");
        assert_meta(g, "ebm.energy_head", "output");
        assert_meta(g, "ebm.seed", "77");
        ck_assert_ptr_nonnull(ir_graph_get_meta(g, "ebm.architecture"));
        ir_graph_free(g);
    }
}
END_TEST

/* Each cifar block adds a 1x1 projection of its input to the conv path; with
 * the conv path silenced (norm2 scale and shift 0) the energy still depends
 * on x through the projections, and with those silenced too it does not. */
START_TEST(test_cifar_residual_is_real)
{
    ir_graph *g = build_preset("cifar", 5);
    for (int b = 1; b <= 4; b++) {
        char name[64];
        snprintf(name, sizeof name, "block%d.proj.weight", b);
        const ir_node *p = param_node(g, name);
        ck_assert_int_eq(p->shape.d[2], 1);
        ck_assert_int_eq(p->shape.d[3], 1);
    }
    int residual_adds = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        if (n->op != IR_OP_ADD || !n->name || !strstr(n->name, "/residual"))
            continue;
        residual_adds++;
        const char *lhs = g->nodes[n->in[0]].name, *rhs = g->nodes[n->in[1]].name;
        ck_assert_msg(lhs && strstr(lhs, ".norm2/") && rhs && strstr(rhs, ".proj/"), "%s + %s", lhs, rhs);
    }
    ck_assert_int_eq(residual_adds, 4);

    enum { N = 2 };
    size_t numel = 3 * 32 * 32;
    double *x = malloc(N * numel * sizeof *x);
    tu_fill_uniform_f64(x, N * numel, 4, -1, 1);
    for (int b = 1; b <= 4; b++) {
        const char *parts[2] = {"norm2.weight", "norm2.bias"};
        for (int k = 0; k < 2; k++) {
            char name[64];
            snprintf(name, sizeof name, "block%d.%s", b, parts[k]);
            ir_node *p = param_node(g, name);
            memset(p->data, 0, (size_t)ir_shape_numel(&p->shape, 0) * sizeof(float));
        }
    }
    double *e = run_f64(g, x, N);
    ck_assert_msg(fabs(e[0] - e[1]) > 1e-6, "energies %.9g %.9g: the shortcut carries nothing", e[0], e[1]);
    free(e);
    for (int b = 1; b <= 4; b++) {
        const char *parts[2] = {"proj.weight", "proj.bias"};
        for (int k = 0; k < 2; k++) {
            char name[64];
            snprintf(name, sizeof name, "block%d.%s", b, parts[k]);
            ir_node *p = param_node(g, name);
            memset(p->data, 0, (size_t)ir_shape_numel(&p->shape, 0) * sizeof(float));
        }
    }
    e = run_f64(g, x, N);
    ck_assert_msg(fabs(e[0] - e[1]) < 1e-12, "energies %.17g %.17g differ with both paths silenced", e[0], e[1]);
    free(e);
    free(x);
    ir_graph_free(g);
}
END_TEST

/* ---- layers against direct computation ---------------------------------------------------------- */

static double act_ref(ir_nn_act_kind a, double x)
{
    switch (a) {
    case IR_NN_RELU: return x > 0 ? x : 0;
    case IR_NN_SILU: return x / (1 + exp(-x));
    case IR_NN_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case IR_NN_ELU: return x > 0 ? x : expm1(x);
    case IR_NN_LEAKY_RELU: return x > 0 ? x : 0.01 * x;
    case IR_NN_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
    case IR_NN_TANH: return tanh(x);
    default: return x;
    }
}

START_TEST(test_activations)
{
    enum { K = 13 };
    static const double xs[K] = {-60, -20, -3, -1, -0.5, -1e-3, 0, 1e-3, 0.5, 1, 3, 20, 60};
    for (int a = 0; a < IR_NN_ACT_COUNT; a++) {
        ir_nn nn;
        ir_nn_begin(&nn, 0);
        int x = ir_nn_input(&nn, "x", ir_shape_make(2, IR_DIM_N, K));
        ir_nn_output(&nn, ir_nn_act(&nn, x, (ir_nn_act_kind)a), "y");
        ir_graph *g = finish(&nn);
        double *y = run_f64(g, xs, 1);
        for (int i = 0; i < K; i++) {
            double want = act_ref((ir_nn_act_kind)a, xs[i]);
            ck_assert_msg(fabs(y[i] - want) <= 1e-12 * (1 + fabs(want)), "%s(%g) = %.17g, expected %.17g",
                          ir_nn_act_name((ir_nn_act_kind)a), xs[i], y[i], want);
        }
        free(y);
        ir_graph_free(g);
    }
    ir_nn_act_kind k;
    ck_assert_int_eq(ir_nn_act_parse("swish", &k), 0);
    ck_assert_int_eq(k, IR_NN_SILU);
    ck_assert_int_ne(ir_nn_act_parse("Relu", &k), 0);
}
END_TEST

/* GroupNorm as PyTorch defines it, with random scale and shift. */
START_TEST(test_group_norm_direct)
{
    enum { NB = 2, C = 6, G = 3, H = 3, W = 4 };
    ir_nn nn;
    ir_nn_begin(&nn, 0);
    int x = ir_nn_input(&nn, "x", ir_shape_make(4, IR_DIM_N, C, H, W));
    ir_nn_output(&nn, ir_nn_group_norm(&nn, "gn", x, G), "y");
    ir_graph *g = finish(&nn);
    float *gamma = param_node(g, "gn.weight")->data, *beta = param_node(g, "gn.bias")->data;
    tu_fill_uniform_f32(gamma, C, 1, 0.5, 2);
    tu_fill_uniform_f32(beta, C, 2, -1, 1);
    static double xv[NB * C * H * W];
    tu_fill_uniform_f64(xv, NB * C * H * W, 3, -3, 5);   /* a nonzero mean */
    double *y = run_f64(g, xv, NB);
    int per = C / G * H * W;
    for (int n = 0; n < NB; n++) {
        for (int gi = 0; gi < G; gi++) {
            const double *v = xv + (n * C + gi * (C / G)) * H * W;
            double mean = 0, var = 0;
            for (int i = 0; i < per; i++)
                mean += v[i] / per;
            for (int i = 0; i < per; i++)
                var += (v[i] - mean) * (v[i] - mean) / per;
            for (int i = 0; i < per; i++) {
                int c = gi * (C / G) + i / (H * W);
                double want = (v[i] - mean) / sqrt(var + 1e-5) * gamma[c] + beta[c];
                double got = y[(n * C + gi * (C / G)) * H * W + i];
                ck_assert_msg(fabs(got - want) < 1e-12, "n %d group %d element %d: %.17g vs %.17g", n, gi, i, got,
                              want);
            }
        }
    }
    free(y);
    ir_graph_free(g);
}
END_TEST

/* conv2d (stride 2, padding 1: out = ceil(H/2)) + bias, then global mean and
 * a linear layer, against loops. */
START_TEST(test_conv_mean_linear_direct)
{
    enum { NB = 2, C = 2, H = 7, W = 6, O = 3, K = 3, HO = 4, WO = 3 };
    ir_nn nn;
    ir_nn_begin(&nn, 21);
    int x = ir_nn_input(&nn, "x", ir_shape_make(4, IR_DIM_N, C, H, W));
    int c = ir_nn_conv2d(&nn, "conv", x, O, K, 2);
    ir_nn_output(&nn, c, "conv");
    int m = ir_nn_global_mean(&nn, c);
    ir_nn_output(&nn, ir_nn_linear(&nn, "fc", m, 2), "fc");
    ir_graph *g = finish(&nn);
    const ir_shape *cs = &g->nodes[g->outputs[0]].shape;
    ck_assert_int_eq(cs->d[2], HO);
    ck_assert_int_eq(cs->d[3], WO);
    const float *w = param_node(g, "conv.weight")->data, *b = param_node(g, "conv.bias")->data;
    const float *fw = param_node(g, "fc.weight")->data, *fb = param_node(g, "fc.bias")->data;
    static double xv[NB * C * H * W];
    tu_fill_uniform_f64(xv, NB * C * H * W, 8, -1, 1);
    double *y = run_f64(g, xv, NB);
    const double *fc = y + NB * O * HO * WO;
    for (int n = 0; n < NB; n++) {
        double mean[O] = {0};
        for (int o = 0; o < O; o++) {
            for (int i = 0; i < HO; i++) {
                for (int j = 0; j < WO; j++) {
                    double s = b[o];
                    for (int ci = 0; ci < C; ci++)
                        for (int ki = 0; ki < K; ki++)
                            for (int kj = 0; kj < K; kj++) {
                                int r = 2 * i - 1 + ki, q = 2 * j - 1 + kj;
                                if (r >= 0 && r < H && q >= 0 && q < W)
                                    s += w[((o * C + ci) * K + ki) * K + kj] * xv[((n * C + ci) * H + r) * W + q];
                            }
                    double got = y[((n * O + o) * HO + i) * WO + j];
                    ck_assert_msg(fabs(got - s) < 1e-12, "conv %d %d %d %d: %.17g vs %.17g", n, o, i, j, got, s);
                    mean[o] += s / (HO * WO);
                }
            }
        }
        for (int k = 0; k < 2; k++) {
            double s = fb[k];
            for (int o = 0; o < O; o++)
                s += mean[o] * fw[o * 2 + k];   /* weight [in, out] */
            ck_assert_msg(fabs(fc[n * 2 + k] - s) < 1e-12, "fc %d %d: %.17g vs %.17g", n, k, fc[n * 2 + k], s);
        }
    }
    free(y);
    ir_graph_free(g);
}
END_TEST

/* The first error is kept and reported once, at finish. */
START_TEST(test_builder_errors)
{
    ir_nn nn;
    ir_nn_begin(&nn, 0);
    int x = ir_nn_input(&nn, "x", ir_shape_make(2, IR_DIM_N, 4));
    int h = ir_nn_linear(&nn, "fc", x, 8);
    ck_assert_int_ge(h, 0);
    int bad = ir_nn_conv2d(&nn, "conv", h, 4, 3, 1);   /* not an image */
    ck_assert_int_eq(bad, -1);
    int later = ir_nn_linear(&nn, "fc", h, 2);           /* would be a duplicate name */
    ck_assert_int_eq(later, -1);
    ebm_error err = {0};
    ck_assert_ptr_null(ir_nn_finish(&nn, &err));
    ck_assert_int_eq(err.code, EBM_ERR_SHAPE);
    ck_assert_msg(strstr(err.msg, "conv2d 'conv'") && strstr(err.msg, "[N,8]"), "%s", err.msg);

    ir_nn_begin(&nn, 0);
    x = ir_nn_input(&nn, "x", ir_shape_make(2, IR_DIM_N, 4));
    ir_nn_linear(&nn, "fc", x, 4);
    ck_assert_int_eq(ir_nn_linear(&nn, "fc", x, 4), -1);
    ck_assert_ptr_null(ir_nn_finish(&nn, &err));
    ck_assert_msg(strstr(err.msg, "'fc.weight' is already used"), "%s", err.msg);

    ir_nn_begin(&nn, 0);
    x = ir_nn_input(&nn, "x", ir_shape_make(4, IR_DIM_N, 6, 2, 2));
    ck_assert_int_eq(ir_nn_group_norm(&nn, "gn", x, 4), -1);
    ck_assert_int_eq(ir_nn_add(&nn, x, x), -1);   /* stays stopped */
    ck_assert_ptr_null(ir_nn_finish(&nn, &err));
    ck_assert_msg(strstr(err.msg, "4 groups do not divide 6 channels"), "%s", err.msg);

    ir_nn_begin(&nn, 0);
    x = ir_nn_input(&nn, "x", ir_shape_make(2, IR_DIM_N, 4));
    ck_assert_int_eq(ir_nn_linear(&nn, NULL, x, 2), -1);
    ck_assert_ptr_null(ir_nn_finish(&nn, &err));
    ck_assert_msg(strstr(err.msg, "needs a name"), "%s", err.msg);
}
END_TEST

/* ---- configurations ----------------------------------------------------------------------- */

static void config_ok(const char *name, zoo_spec *s)
{
    ebm_error err = {0};
    ck_assert_msg(zoo_config_file(config_path(name), s, &err) == EBM_OK, "%s: %s", name, err.msg);
}

START_TEST(test_config_every_field)
{
    zoo_spec s;
    zoo_spec_default(&s);
    config_ok("deep_custom", &s);
    ck_assert_str_eq(s.name, "small-deep");
    ck_assert_str_eq(s.preset, "");
    ck_assert_int_eq(s.kind, ZOO_DEEP);
    ck_assert_int_eq(s.input_dim, 0);
    ck_assert_int_eq(s.input_hwc[0], 16);
    ck_assert_int_eq(s.input_hwc[2], 3);
    ck_assert_int_eq(s.n_hidden, 2);
    ck_assert_int_eq(s.hidden[1], 16);
    ck_assert_int_eq(s.act, IR_NN_ELU);
    ck_assert(s.use_residual && !s.use_bias);
    ck_assert_int_eq(s.kernel, 5);
    ck_assert_int_eq(s.defaults.mcmc_steps, 80);
    ck_assert(s.defaults.step_size == 0.02 && s.defaults.noise_scale == 0.01 && s.defaults.grad_clip == 0);
    ck_assert(s.defaults.clamp && s.defaults.clamp_lo == -2 && s.defaults.clamp_hi == 3.5);
    ck_assert(s.defaults.temperature == 0.5 && s.defaults.reinit_prob == 0.1 && s.defaults.alpha == 0.002);
    ck_assert_int_eq(s.defaults.buffer_capacity, 1000);
    /* 16x16x3; blocks 3->8 (stride 2) and 8->16 (stride 1), k = 5, no bias,
     * both with a 1x1 projection; head 16 -> 8 -> 4 -> 1 */
    int64_t block1 = 8 * 3 * 25 + 2 * 8 + 8 * 8 * 25 + 2 * 8 + 8 * 3;
    int64_t block2 = 16 * 8 * 25 + 2 * 16 + 16 * 16 * 25 + 2 * 16 + 16 * 8;
    ir_graph *g = build_spec(&s, 0);
    ck_assert_int_eq(ir_graph_param_count(g, 1), block1 + block2 + 16 * 8 + 8 * 4 + 4 * 1);
    ck_assert_ptr_null(find_node(g, "block1.conv1.bias"));
    assert_meta(g, "ebm.name", "small-deep");
    ck_assert_ptr_null(ir_graph_get_meta(g, "ebm.preset"));
    assert_meta(g, "ebm.sampler.clamp", "-2,3.5");
    assert_meta(g, "ebm.sampler.grad_clip", "0");
    assert_meta(g, "ebm.input_shape", "3,16,16");
    ir_graph_free(g);

    zoo_spec_default(&s);
    config_ok("mlp_tabular", &s);
    g = build_spec(&s, 0);
    ck_assert_int_eq(ir_graph_param_count(g, 1), 10 * 32 + 32 + 32 * 32 + 32 + 32 + 1);
    int residual = 0;
    for (int i = 0; i < g->n_nodes; i++)
        residual += g->nodes[i].name && strstr(g->nodes[i].name, "/residual") != NULL;
    ck_assert_int_eq(residual, 1);   /* only 32 -> 32 */
    ir_graph_free(g);
}
END_TEST

START_TEST(test_config_overrides_preset)
{
    ebm_error err = {0};
    zoo_spec s;
    ck_assert_int_eq(zoo_preset("mnist", &s, &err), EBM_OK);
    config_ok("override_mnist", &s);
    ck_assert_str_eq(s.preset, "mnist");
    ck_assert_int_eq(s.kind, ZOO_UNET);
    ck_assert_int_eq(s.input_hwc[0], 28);
    ck_assert_int_eq(s.act, IR_NN_GELU);
    ck_assert_int_eq(s.defaults.mcmc_steps, 40);
    ck_assert(s.defaults.step_size == 0.0002);   /* kept from the preset */
    ck_assert_int_eq(s.norm_groups, 4);
    ck_assert_int_eq(s.quadratic, 0);
    ck_assert_int_eq(s.defaults.buffer_capacity, 4096);
    ir_graph *g = build_spec(&s, 0);
    /* the preset's unet at levels 8, 16: down 1->8, 8->16, mid 16->16, up 16->8 (1x1) + 8->8, each 3x3 with
     * GroupNorm; out 8->1; the distance's log_scale */
    ck_assert_int_eq(ir_graph_param_count(g, 1), conv_params(1, 8, 3) + 16 + conv_params(8, 16, 3) + 32 +
                                                     conv_params(16, 16, 3) + 32 + conv_params(16, 8, 1) +
                                                     conv_params(8, 8, 3) + 16 + conv_params(8, 1, 3) + 1);
    ck_assert_int_eq(ir_graph_param_count(g, 1), 4458);
    assert_meta(g, "ebm.preset", "mnist");
    assert_meta(g, "ebm.sampler.clamp", "none");
    assert_meta(g, "ebm.sampler.noise_scale", "auto");
    assert_meta(g, "ebm.sampler.steps", "40");
    ir_graph_free(g);
}
END_TEST

/* Bad configurations: the code, the file, and each expected word. */
static void config_fails(const char *name, ebm_status code, const char *w1, const char *w2, const char *w3)
{
    ebm_error err = {0};
    zoo_spec s, before;
    ck_assert_int_eq(zoo_preset("simple", &s, &err), EBM_OK);
    before = s;
    const char *path = config_path(name);
    ebm_status st = zoo_config_file(path, &s, &err);
    ck_assert_msg(st == code, "%s: got %s (%s)", name, ebm_status_name(st), err.msg);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s: message does not start with the file: %s", name,
                  err.msg);
    const char *words[3] = {w1, w2, w3};
    for (int i = 0; i < 3; i++)
        ck_assert_msg(!words[i] || strstr(err.msg, words[i]), "%s: message lacks '%s': %s", name, words[i], err.msg);
    ck_assert_msg(memcmp(&s, &before, sizeof s) == 0, "%s: the spec changed", name);
}

START_TEST(test_bad_configs)
{
    config_fails("bad_unknown_field", EBM_ERR_INVALID, "unknown field 'hiden_dims'", "did you mean 'hidden_dims'",
                 "known fields: name");
    config_fails("bad_wrong_type", EBM_ERR_INVALID, "field 'hidden_dims'", "expected an array of 1 to 16 positive",
                 "found the string \"128\"");
    config_fails("bad_negative_dim", EBM_ERR_INVALID, "field 'input_dim'", "expected a positive integer", "found -3");
    config_fails("bad_negative_hidden", EBM_ERR_INVALID, "field 'hidden_dims[1]'", "expected a positive integer",
                 "found -1");
    config_fails("bad_activation", EBM_ERR_INVALID, "field 'activation'", "\"leaky_relu\"", "found the string \"sigmoidx\"");
    config_fails("bad_output_dim", EBM_ERR_INVALID, "field 'output_dim'", "expected 1", "found 10");
    config_fails("bad_both_inputs", EBM_ERR_INVALID, "'input_dim' and 'input_shape'", NULL, NULL);
    config_fails("bad_syntax", EBM_ERR_FORMAT, "bad_syntax.json:2:", "not valid JSON", NULL);
    config_fails("bad_parameters_field", EBM_ERR_INVALID, "unknown field 'parameters.step_siz'",
                 "did you mean 'parameters.step_size'", NULL);
    config_fails("bad_clamp", EBM_ERR_INVALID, "field 'parameters.clamp'", "lo < hi", "found an array of 2");
    config_fails("bad_kernel", EBM_ERR_INVALID, "field 'kernel_size'", "odd", "found 4");
    config_fails("bad_top_level", EBM_ERR_INVALID, "expected a JSON object", "found an array", NULL);
    config_fails("bad_duplicate", EBM_ERR_FORMAT, "duplicate", "input_dim", NULL);
    config_fails("bad_type_bool", EBM_ERR_INVALID, "field 'use_residual'", "true or false", "found the string \"yes\"");
    config_fails("no_such_file", EBM_ERR_IO, "cannot open", NULL, NULL);

    /* valid fields that do not make a network: caught before building */
    ebm_error err = {0};
    zoo_spec s;
    zoo_spec_default(&s);
    config_ok("bad_deep_tabular", &s);
    ir_graph *g = (ir_graph *)&err;
    ck_assert_int_eq(zoo_build(&s, 0, &g, &err), EBM_ERR_INVALID);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, "energy_type 'deep' needs input_shape"), "%s", err.msg);
    zoo_spec_default(&s);   /* no input at all */
    ck_assert_int_eq(zoo_build(&s, 0, &g, &err), EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "give input_dim") && strstr(err.msg, "input_shape"), "%s", err.msg);
    ck_assert_int_eq(zoo_preset("imagenet", &s, &err), EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "'imagenet'") && strstr(err.msg, "simple, cnn, mnist, cifar"), "%s", err.msg);
}
END_TEST

/* The parameter ceiling: hidden_dims [65536, 65536] (4.3e9 parameters, 17 GB)
 * is refused by the layer that crosses it, before its values are allocated;
 * a ceiling of its own size lets a network through, one less does not. */
START_TEST(test_param_ceiling)
{
    ebm_error err = {0};
    zoo_spec s;
    zoo_spec_default(&s);
    ck_assert_int_eq(zoo_config_text("{\"input_dim\": 2, \"hidden_dims\": [65536, 65536]}", "big", &s, &err), EBM_OK);
    ir_graph *g = (ir_graph *)&err;
    ck_assert_int_eq(zoo_build(&s, 0, &g, &err), EBM_ERR_INVALID);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, "fc2.weight of 4294967296 values would bring the network to 4295163904 "
                                  "parameters, above the ceiling of 100000000"), "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "--max-params"), "%s", err.msg);
    /* the simple preset at 2-D input: exactly its own count passes, one less fails */
    ck_assert_int_eq(zoo_preset("simple", &s, &err), EBM_OK);
    s.input_dim = 2;
    ck_assert_int_eq(zoo_build(&s, 0, &g, &err), EBM_OK);
    const int64_t n = ir_graph_param_count(g, 0);
    ir_graph_free(g);
    s.max_params = n;
    ck_assert_int_eq(zoo_build(&s, 0, &g, &err), EBM_OK);
    ir_graph_free(g);
    s.max_params = n - 1;
    ck_assert_int_eq(zoo_build(&s, 0, &g, &err), EBM_ERR_INVALID);
    char want[64];
    snprintf(want, sizeof want, "above the ceiling of %lld", (long long)(n - 1));
    ck_assert_msg(strstr(err.msg, want), "%s", err.msg);
}
END_TEST

/* JSON from text: every numeric form of the parameters, and the label. */
START_TEST(test_config_text)
{
    ebm_error err = {0};
    zoo_spec s;
    zoo_spec_default(&s);
    ck_assert_int_eq(zoo_config_text("{\"input_dim\": 8.0, \"parameters\": {\"clamp\": null, "
                                     "\"mcmc_steps\": 0, \"reinit_prob\": 1}}", "inline", &s, &err), EBM_OK);
    ck_assert_int_eq(s.input_dim, 8);
    ck_assert_int_eq(s.defaults.clamp, 0);
    ck_assert_int_eq(s.defaults.mcmc_steps, 0);
    ck_assert_int_eq(zoo_config_text("{\"input_dim\": 8.5}", "inline", &s, &err), EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "inline: field 'input_dim'") && strstr(err.msg, "found 8.5"), "%s", err.msg);
    ck_assert_int_eq(zoo_config_text("{\"parameters\": {\"reinit_prob\": 1.5}}", "inline", &s, &err),
                     EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "[0, 1]"), "%s", err.msg);
    ck_assert_int_eq(zoo_config_text("{\"parameters\": {\"step_size\": 0}}", "inline", &s, &err), EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "a number > 0") && strstr(err.msg, "found 0"), "%s", err.msg);
    ck_assert_int_eq(zoo_config_text("", "inline", &s, &err), EBM_ERR_FORMAT);
    ck_assert_int_eq(zoo_config_text("{\"name\": \"\"}", "inline", &s, &err), EBM_ERR_INVALID);
}
END_TEST

/* The seed's form (model_class, input_dim as an array, network settings
 * under parameters) gives the very spec of the flat file that says the same;
 * a configuration written by zoo_config_emit reads back to the spec it came
 * from; zoo_config_from_meta puts a model's current defaults over it. */
/* Every field a configuration gives (not the preset's name and recipe, nor
 * hidden sizes past n_hidden, which the builder never reads). */
static void assert_same_spec(const zoo_spec *a, const zoo_spec *b, const char *what)
{
    const zoo_defaults *x = &a->defaults, *y = &b->defaults;
    ck_assert_msg(strcmp(a->name, b->name) == 0, "%s: name %s vs %s", what, a->name, b->name);
    ck_assert_msg(a->kind == b->kind && a->input_dim == b->input_dim && a->n_hidden == b->n_hidden &&
                      a->act == b->act && a->use_residual == b->use_residual && a->use_bias == b->use_bias &&
                      a->kernel == b->kernel && a->norm_groups == b->norm_groups && a->quadratic == b->quadratic,
                  "%s: the networks differ", what);
    ck_assert_msg(a->input_dim > 0 || memcmp(a->input_hwc, b->input_hwc, sizeof a->input_hwc) == 0, "%s: hwc", what);
    ck_assert_msg(memcmp(a->hidden, b->hidden, sizeof a->hidden[0] * (size_t)a->n_hidden) == 0, "%s: hidden", what);
    ck_assert_msg(x->mcmc_steps == y->mcmc_steps && x->step_size == y->step_size && x->noise_scale == y->noise_scale &&
                      x->grad_clip == y->grad_clip && x->clamp == y->clamp &&
                      (!x->clamp || (x->clamp_lo == y->clamp_lo && x->clamp_hi == y->clamp_hi)) &&
                      x->temperature == y->temperature && x->buffer_capacity == y->buffer_capacity &&
                      x->reinit_prob == y->reinit_prob && x->alpha == y->alpha,
                  "%s: the defaults differ", what);
}

START_TEST(test_config_seed_form)
{
    zoo_spec flat, seed;
    zoo_spec_default(&flat);
    config_ok("deep_custom", &flat);
    zoo_spec_default(&seed);
    config_ok("seed_deep", &seed);
    assert_same_spec(&flat, &seed, "deep_custom vs seed_deep");
    zoo_spec_default(&flat);
    config_ok("mlp_tabular", &flat);
    zoo_spec_default(&seed);
    config_ok("seed_mlp", &seed);
    assert_same_spec(&flat, &seed, "mlp_tabular vs seed_mlp");
    zoo_spec_default(&seed);
    config_ok("seed_cnn", &seed);
    ck_assert_int_eq(seed.kind, ZOO_CNN);   /* EBM on an image without energy_type */
    ck_assert(seed.input_dim == 0 && seed.input_hwc[0] == 12 && seed.input_hwc[1] == 12 && seed.input_hwc[2] == 1);
    ck_assert(seed.defaults.noise_scale < 0 && !seed.defaults.clamp && seed.defaults.mcmc_steps == 30);

    const char *names[] = {"deep_custom", "mlp_tabular", "seed_cnn", "override_mnist"};
    for (int i = 0; i < 4; i++) {
        zoo_spec x, back;
        ebm_error err = {0};
        if (i == 3)
            ck_assert_int_eq(zoo_preset("mnist", &x, &err), EBM_OK);
        else
            zoo_spec_default(&x);
        config_ok(names[i], &x);
        for (int compact = 0; compact < 2; compact++) {
            char *json = NULL;
            ck_assert_int_eq(zoo_config_emit(&x, compact, &json, &err), EBM_OK);
            ck_assert(strstr(json, "\"model_class\"") && strstr(json, "\"parameters\""));
            ck_assert(compact == (strchr(json, '\n') == NULL));
            zoo_spec_default(&back);
            ck_assert_msg(zoo_config_text(json, "emitted", &back, &err) == EBM_OK, "%s: %s", names[i], err.msg);
            assert_same_spec(&x, &back, names[i]);
            free(json);
        }
    }
}
END_TEST

typedef struct meta_table {
    const char *kv[8][2];
} meta_table;

static const char *meta_get(void *user, const char *key)
{
    meta_table *t = user;
    for (int i = 0; i < 8 && t->kv[i][0]; i++)
        if (strcmp(t->kv[i][0], key) == 0)
            return t->kv[i][1];
    return NULL;
}

START_TEST(test_config_from_meta)
{
    ebm_error err = {0};
    zoo_spec x, back;
    zoo_spec_default(&x);
    config_ok("deep_custom", &x);
    char *json = NULL;
    ck_assert_int_eq(zoo_config_emit(&x, 1, &json, &err), EBM_OK);
    meta_table t = {{{"ebm.config", json}, {"ebm.sampler.steps", "7"}, {"ebm.sampler.clamp", "none"},
                     {"ebm.sampler.noise_scale", "auto"}, {"ebm.train.alpha", "0.5"}}};
    ck_assert_msg(zoo_config_from_meta(meta_get, &t, "m.onnx", &back, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(back.defaults.mcmc_steps, 7);
    ck_assert(!back.defaults.clamp && back.defaults.noise_scale < 0 && back.defaults.alpha == 0.5);
    back.defaults.mcmc_steps = x.defaults.mcmc_steps, back.defaults.clamp = x.defaults.clamp;
    back.defaults.noise_scale = x.defaults.noise_scale, back.defaults.alpha = x.defaults.alpha;
    back.defaults.clamp_lo = x.defaults.clamp_lo, back.defaults.clamp_hi = x.defaults.clamp_hi;
    assert_same_spec(&x, &back, "ebm.config with the defaults put back");
    t.kv[2][1] = "1,-1";
    ck_assert_int_eq(zoo_config_from_meta(meta_get, &t, "m.onnx", &back, &err), EBM_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, "m.onnx") && strstr(err.msg, "ebm.sampler.clamp"), "%s", err.msg);
    meta_table none = {{{"ebm.name", "x"}}};
    ck_assert_int_eq(zoo_config_from_meta(meta_get, &none, "torch.onnx", &back, &err), EBM_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "torch.onnx: no ebm.config metadata") && strstr(err.msg, "cannot be rebuilt"), "%s",
                  err.msg);
    free(json);
}
END_TEST

START_TEST(test_bad_seed_configs)
{
    config_fails("bad_seed_class", EBM_ERR_INVALID, "field 'model_class'", "\"DeepEBM\"", "found the string \"VAE\"");
    config_fails("bad_seed_mixed", EBM_ERR_INVALID, "field 'energy_type'", "'parameters.energy_type'",
                 "mixes the flat and the nested form");
    config_fails("bad_seed_flat_nested", EBM_ERR_INVALID, "field 'parameters.energy_type'", "model_class",
                 "at the top level");
    config_fails("bad_seed_twice", EBM_ERR_INVALID, "'hidden_dims' and 'parameters.hidden_dims'", "both given", NULL);
    config_fails("bad_seed_deep_mlp", EBM_ERR_INVALID, "\"DeepEBM\"", "energy_type \"mlp\"", "model_class \"EBM\"");
    config_fails("bad_seed_input_shape", EBM_ERR_INVALID, "'input_shape'", "'input_dim' [H, W, C]", NULL);
    config_fails("bad_seed_input_dim", EBM_ERR_INVALID, "field 'input_dim'", "[H, W, C]", "found an array of 2");
    config_fails("bad_seed_unknown", EBM_ERR_INVALID, "unknown field 'parameters.energy_typ'",
                 "did you mean 'parameters.energy_type'", NULL);
}
END_TEST

static Suite *presets_suite(void)
{
    Suite *s = suite_create("presets");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_splitmix64_known_answer);
    tcase_add_test(tc, test_uniform_moments);
    tcase_add_test(tc, test_init_follows_pytorch);
    tcase_add_test(tc, test_parameter_counts);
    tcase_add_test(tc, test_energies_match_pytorch);
    tcase_add_test(tc, test_compiled_energies_match_pytorch);
    tcase_add_test(tc, test_same_seed_same_bytes);
    tcase_add_test(tc, test_metadata_defaults);
    tcase_add_test(tc, test_cifar_residual_is_real);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_group_norm_direct);
    tcase_add_test(tc, test_conv_mean_linear_direct);
    tcase_add_test(tc, test_builder_errors);
    tcase_add_test(tc, test_config_every_field);
    tcase_add_test(tc, test_config_overrides_preset);
    tcase_add_test(tc, test_config_seed_form);
    tcase_add_test(tc, test_config_from_meta);
    tcase_add_test(tc, test_bad_seed_configs);
    tcase_add_test(tc, test_bad_configs);
    tcase_add_test(tc, test_config_text);
    tcase_add_test(tc, test_param_ceiling);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(presets_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
