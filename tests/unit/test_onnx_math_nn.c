/* test_onnx_math_nn.c — the issue-16 math/nn lowerings on small ONNX models
 * (tests/data/import_math_nn/gen.py): ReduceMin/L1/Prod/LogSum (opset 13
 * attributes and opset 18 inputs), Einsum equations, Pow with a per-element
 * integer exponent on negative bases, Atan/Asin/Acos/Tan, ConvTranspose 1-D
 * with output_shape and SAME_UPPER.  Every expected value is NumPy's (float64);
 * the graphs run in the reference executor in float64 at batch 2.  And the
 * refusals: one line naming the node and what is supported.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebm_status.h"
#include "ir.h"

#include "exec.h"
#include "npy.h"
#include "onnx.h"
#include "testutil.h"

static const char *data_path(const char *name, const char *suffix)
{
    return tu_path("%s/tests/data/import_math_nn/%s%s", tu_source_dir(), name, suffix);
}

static double *read_f64(const char *path, int64_t *count)
{
    ebm_array a;
    ebm_error err = {0};
    ck_assert_msg(ebm_npy_read(path, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(a.dtype, EBM_NPY_F64);
    *count = ebm_array_numel(&a);
    double *d = malloc(sizeof *d * (size_t)(*count ? *count : 1));
    memcpy(d, a.data, sizeof *d * (size_t)*count);
    ebm_array_free(&a);
    return d;
}

/* Imports <name>.onnx, runs it on <name>_in.npy and compares output k with
 * <name>_y<k>.npy to `tol` relative to the largest expected magnitude. */
static void check_model(const char *name, double tol)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ck_assert_msg(ir_onnx_import_file(data_path(name, ".onnx"), NULL, &g, &err) == EBM_OK, "%s: %s", name, err.msg);
    ck_assert_msg(ir_verify(g, &err) == EBM_OK, "%s: %s", name, err.msg);
    int64_t nx;
    double *x = read_f64(data_path(name, "_in.npy"), &nx);
    int no = g->n_outputs;
    double *want[8], *got[8];
    int64_t count[8];
    ck_assert_int_le(no, 8);
    for (int k = 0; k < no; k++) {
        want[k] = read_f64(data_path(name, tu_path("_y%d.npy", k)), &count[k]);
        ck_assert_int_eq(ir_shape_numel(&g->nodes[g->outputs[k]].shape, 2), count[k]);
        got[k] = calloc((size_t)count[k] + 1, sizeof *got[k]);
    }
    const void *ins[1] = {x};
    ck_assert_msg(ebmc_exec(g, 2, EBMC_F64, ins, (void **)got, &err) == EBM_OK, "%s: %s", name, err.msg);
    for (int k = 0; k < no; k++) {
        double scale = 0, worst = 0;
        for (int64_t i = 0; i < count[k]; i++)
            scale = fmax(scale, fabs(want[k][i]));
        for (int64_t i = 0; i < count[k]; i++)
            worst = fmax(worst, fabs(got[k][i] - want[k][i]));
        ck_assert_msg(worst <= tol * (scale > 1 ? scale : 1), "%s output %d: max |diff| %g (scale %g)", name, k,
                      worst, scale);
        free(want[k]);
        free(got[k]);
    }
    free(x);
    ir_graph_free(g);
}

/* Constants are float32 (2/sqrt(pi)-like literals aside, the weights in the
 * models are float32 already and NumPy used the same values); 1e-12 leaves
 * room only for the order of summation. */
START_TEST(test_reductions) { check_model("reduce13", 1e-12); check_model("reduce18", 1e-12); }
END_TEST

START_TEST(test_einsum) { check_model("einsum", 1e-12); }
END_TEST

/* pi/2 in Acos is a float32 constant: 4.4e-8 off */
START_TEST(test_pow_trig) { check_model("pow_trig", 1e-7); }
END_TEST

START_TEST(test_convtranspose1d) { check_model("convtranspose1d", 1e-12); }
END_TEST

static void refused(const char *name, ebm_status code, const char *w1, const char *w2)
{
    ebm_error err = {0};
    ir_graph *g = NULL;
    ebm_status st = ir_onnx_import_file(data_path(name, ".onnx"), NULL, &g, &err);
    ck_assert_msg(st == code, "%s: got %s (%s)", name, ebm_status_name(st), err.msg);
    ck_assert_ptr_null(g);
    ck_assert_msg(strstr(err.msg, w1) && strstr(err.msg, w2) && !strchr(err.msg, '\n'), "%s: %s", name, err.msg);
}

START_TEST(test_refusals)
{
    refused("refuse_einsum_diag", EBM_ERR_UNSUPPORTED, "diag (Einsum)", "'bii->bi'");
    refused("refuse_einsum_ellipsis", EBM_ERR_UNSUPPORTED, "ell (Einsum)", "no '...'");
    refused("refuse_einsum_batch", EBM_ERR_UNSUPPORTED, "mix (Einsum)", "batch axis N");
    refused("refuse_einsum_sum_batch", EBM_ERR_UNSUPPORTED, "sumN (Einsum)", "sums over the batch axis N");
    refused("refuse_prod_batch", EBM_ERR_NOT_STATIC, "pN (ReduceProd)", "batch axis N");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx_math_nn");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_reductions);
    tcase_add_test(tc, test_einsum);
    tcase_add_test(tc, test_pow_trig);
    tcase_add_test(tc, test_convtranspose1d);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
