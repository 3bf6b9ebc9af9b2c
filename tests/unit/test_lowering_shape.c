/* test_lowering_shape.c — the shape-op lowerings of issue 16 (Split, Tile, Pad
 * reflect/edge/wrap, DepthToSpace, SpaceToDepth, Range, EyeLike, static
 * Equal/Where, CumSum, Resize, Upsample) against NumPy / torch.
 *
 * tests/data/lowering_shape/gen.py writes one small model per variant with its
 * float32 inputs and float64 expected outputs (from the ONNX specification in
 * NumPy, or torch where it computes the same function).  Each case is imported,
 * run through the reference executor in float64 and float32 and compared
 * element by element; the err_* models must be refused with one line naming
 * the node, the op and what is supported.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "npy.h"
#include "onnx.h"
#include "testutil.h"

/* Interpolation weights are stored as float32 constants: with a scale such as
 * float32(1.6) they are not dyadic, so a float64 run is exact only to ~6e-8 of
 * the inputs' magnitude, which near a zero output (the 1e-2 floor) is 1.8e-6
 * relative (resize_linear_half_pixel); every other case is exact in float64. */
#define RTOL_F64 1e-5
#define RTOL_F32 2e-5
#define MAX_IO 4
#define MAX_CASES 128

static const char *case_path(const char *name, const char *suffix)
{
    return tu_path("%s/tests/data/lowering_shape/%s%s", tu_source_dir(), name, suffix);
}

static ebm_status import_case(const char *name, int symbolic, ir_graph **g, ebm_error *err)
{
    ir_import_options o = {.batch_symbolic = symbolic};
    return ir_onnx_import_file(case_path(name, ".onnx"), &o, g, err);
}

/* NAME<kind>k.npy for k = 0, 1, ... while they exist. */
static int load_series(const char *name, const char *kind, ebm_array *arr)
{
    int n = 0;
    ebm_error err = {0};
    for (; n < MAX_IO; n++) {
        const char *p = case_path(name, tu_path("%s%d.npy", kind, n));
        if (!tu_file_exists(p))
            break;
        ck_assert_msg(ebm_npy_read(p, &arr[n], &err) == EBM_OK, "%s: %s", name, err.msg);
    }
    return n;
}

/* Worst |got - want| / (rtol * max(|want|, 1e-2 * max|want|)) over one output. */
static double worst_ratio(const void *got, ebmc_dtype dt, const ebm_array *want, double rtol)
{
    const double *w = want->data;
    int64_t count = ebm_array_numel(want);
    double scale = 0, worst = 0;
    for (int64_t i = 0; i < count; i++)
        scale = fmax(scale, fabs(w[i]));
    for (int64_t i = 0; i < count; i++) {
        double g = dt == EBMC_F64 ? ((const double *)got)[i] : ((const float *)got)[i];
        double r = fabs(g - w[i]) / (rtol * fmax(fabs(w[i]), 1e-2 * scale) + 1e-30);
        if (!(r <= worst))
            worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

/* Runs one case in dt; returns the worst error / tolerance over its outputs. */
static double run_in(const char *name, const ir_graph *g, const ebm_array *in, int n_in, const ebm_array *out,
                     int n_out, ebmc_dtype dt)
{
    int64_t n = in[0].rank > 0 ? in[0].shape[0] : 0;
    size_t esz = dt == EBMC_F64 ? sizeof(double) : sizeof(float);
    const void *ins[MAX_IO] = {0};
    void *outs[MAX_IO] = {0};
    double *wide[MAX_IO] = {0}, worst = 0;
    ebm_error err = {0};
    ck_assert_msg(g->n_inputs == n_in && g->n_outputs == n_out, "%s: graph has %d/%d inputs/outputs, data %d/%d",
                  name, g->n_inputs, g->n_outputs, n_in, n_out);
    for (int k = 0; k < n_in; k++) {
        int64_t count = ebm_array_numel(&in[k]);
        ins[k] = in[k].data;
        if (dt == EBMC_F64) {
            wide[k] = malloc(((size_t)count + 1) * sizeof(double));
            for (int64_t i = 0; i < count; i++)
                wide[k][i] = ((const float *)in[k].data)[i];
            ins[k] = wide[k];
        }
    }
    for (int k = 0; k < n_out; k++) {
        const ir_shape *s = &g->nodes[g->outputs[k]].shape;
        ck_assert_msg(s->rank == out[k].rank, "%s: output %d has rank %d, expected %d", name, k, s->rank,
                      out[k].rank);
        for (int i = 0; i < s->rank; i++)
            ck_assert_msg((s->d[i] == IR_DIM_N ? n : s->d[i]) == out[k].shape[i], "%s: output %d dim %d is %lld, "
                          "expected %lld", name, k, i, (long long)s->d[i], (long long)out[k].shape[i]);
        outs[k] = calloc((size_t)ebm_array_numel(&out[k]) + 1, esz);
    }
    ck_assert_msg(ebmc_exec(g, n, dt, ins, outs, &err) == EBM_OK, "%s: %s", name, err.msg);
    for (int k = 0; k < n_out; k++) {
        worst = fmax(worst, worst_ratio(outs[k], dt, &out[k], dt == EBMC_F64 ? RTOL_F64 : RTOL_F32));
        free(outs[k]);
    }
    for (int k = 0; k < n_in; k++)
        free(wide[k]);
    return worst;
}

START_TEST(test_cases_match_reference)
{
    FILE *f = fopen(case_path("cases", ".txt"), "r");
    ck_assert_msg(f != NULL, "cannot open %s", case_path("cases", ".txt"));
    char line[256], name[96];
    int symbolic, count = 0, failed = 0;
    printf("%-32s %10s %10s   (error / tolerance; f64 rtol %g, f32 rtol %g)\n", "case", "f64", "f32", RTOL_F64,
           RTOL_F32);
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        ck_assert_msg(sscanf(line, "%95s %d", name, &symbolic) == 2, "bad line: %s", line);
        ir_graph *g = NULL;
        ebm_error err = {0};
        ck_assert_msg(import_case(name, symbolic, &g, &err) == EBM_OK, "%s: import failed: %s", name, err.msg);
        ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s: %s", name, err.msg);
        ebm_array in[MAX_IO], out[MAX_IO];
        memset(in, 0, sizeof in);
        memset(out, 0, sizeof out);
        int n_in = load_series(name, ".in", in), n_out = load_series(name, ".out", out);
        double r64 = run_in(name, g, in, n_in, out, n_out, EBMC_F64);
        double r32 = run_in(name, g, in, n_in, out, n_out, EBMC_F32);
        printf("%-32s %10.3g %10.3g%s\n", name, r64, r32, r64 <= 1 && r32 <= 1 ? "" : "   FAIL");
        failed += !(r64 <= 1 && r32 <= 1);
        count++;
        for (int k = 0; k < MAX_IO; k++) {
            ebm_array_free(&in[k]);
            ebm_array_free(&out[k]);
        }
        ir_graph_free(g);
    }
    fclose(f);
    ck_assert_int_gt(count, 20);
    ck_assert_msg(failed == 0, "%d of %d cases differ from the reference (table above)", failed, count);
}
END_TEST

typedef struct error_case {
    const char *name;
    ebm_status code;
    const char *node, *text;
} error_case;

static const error_case ERROR_CASES[] = {
    {"err_resize_cubic", EBM_ERR_UNSUPPORTED, "resize_0 (Resize)", "mode 'cubic' is not supported (supported: nearest, linear)"},
    {"err_tile_batch", EBM_ERR_UNSUPPORTED, "tile_0 (Tile)", "batch dimension N (axis 0) 2 times; only 1"},
    {"err_cumsum_batch", EBM_ERR_UNSUPPORTED, "cumsum_0 (CumSum)", "batch dimension N (axis 0) is not supported"},
    {"err_pad_mode", EBM_ERR_UNSUPPORTED, "pad_0 (Pad)", "'symmetric' is not supported (constant, reflect, edge, wrap)"},
    {"err_reflect_too_far", EBM_ERR_UNSUPPORTED, "pad_0 (Pad)", "at most 3 is supported"},
    {"err_split_batch", EBM_ERR_UNSUPPORTED, "split_0 (Split)", "batch dimension N"},
};

START_TEST(test_import_errors)
{
    const error_case *e = &ERROR_CASES[_i];
    ir_graph *g = NULL;
    ebm_error err = {0};
    ebm_status st = import_case(e->name, 1, &g, &err);
    ck_assert_msg(st == e->code, "%s: expected %s, got %s: %s", e->name, ebm_status_name(e->code),
                  ebm_status_name(st), err.msg);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, e->node) && strstr(err.msg, e->text) && !strchr(err.msg, '\n'),
                  "%s: expected one line with '%s' and '%s': %s", e->name, e->node, e->text, err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lowering_shape");
    TCase *tc = tcase_create("lowering_shape");
    tcase_add_test(tc, test_cases_match_reference);
    tcase_add_loop_test(tc, test_import_errors, 0, (int)(sizeof ERROR_CASES / sizeof *ERROR_CASES));
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
