/* custom_energy.c — the "custom energy function" of EBM tutorials, written
 * with ebmc's C builder (ir/nn.h) instead of a PyTorch module:
 *
 *     E(x) = Linear 784->256 -> ReLU -> Linear 256->128 -> ReLU -> Linear 128->1
 *
 * It saves the network as a standard ONNX model (which `ebmc`, `ebm` and any
 * ONNX tool read) and, with --compile, also compiles it directly to a model
 * library that libebm loads:
 *
 *     custom_energy [MODEL.onnx] [--compile MODEL.so] [--seed S]
 *
 * Built by CMake as build/bin/custom_energy; against an installed SDK:
 *
 *     cc custom_energy.c $(pkg-config --cflags --libs ebmc) -o custom_energy
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ebm/codegen.h>
#include <ebm/nn.h>
#include <ebm/onnx.h>
#include <ebm/pipeline.h>

static int fail(const ebm_error *err)
{
    fprintf(stderr, "custom_energy: %s\n", err->msg);
    return 1;
}

/* The network: four lines of builder calls. */
static ir_graph *custom_energy(uint64_t seed, ebm_error *err)
{
    ir_nn nn;
    ir_nn_begin(&nn, seed);
    int x = ir_nn_input(&nn, "x", ir_shape_make(2, IR_DIM_N, 784));
    int h = ir_nn_act(&nn, ir_nn_linear(&nn, "fc1", x, 256), IR_NN_RELU);
    h = ir_nn_act(&nn, ir_nn_linear(&nn, "fc2", h, 128), IR_NN_RELU);
    ir_nn_output(&nn, ir_nn_linear(&nn, "fc3", h, 1), "energy");
    return ir_nn_finish(&nn, err);   /* NULL, with the first error, if any call failed */
}

/* The front end `ebmc` runs (energy head [N,1] -> [N], folding, DCE,
 * verify), then the code generator. */
static ebm_status compile(ir_graph *g, const char *path, ebm_error *err)
{
    ebmc_front_end fe = {.head = EBM_HEAD_OUTPUT, .fold = 1};
    ebm_status st = ebmc_front_end_run(g, &fe, err);
    if (!st)
        st = ebmc_compile_model(g, NULL, path, err);
    return st;
}

int main(int argc, char **argv)
{
    const char *onnx_path = "custom_energy.onnx", *so_path = NULL;
    uint64_t seed = 42;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--compile") == 0 && i + 1 < argc)
            so_path = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            onnx_path = argv[i];
        else {
            fprintf(stderr, "usage: custom_energy [MODEL.onnx] [--compile MODEL.so] [--seed S]\n");
            return 2;
        }
    }
    ebm_error err = {0};
    ir_graph *g = custom_energy(seed, &err);
    if (!g)
        return fail(&err);
    int rc = 0;
    if (ir_graph_set_meta(g, "ebm.name", "custom_energy", &err) || ir_onnx_export_file(g, onnx_path, &err))
        rc = fail(&err);
    else
        printf("wrote %s: %lld parameters\n", onnx_path, (long long)ir_graph_param_count(g, 1));
    if (!rc && so_path) {
        if (compile(g, so_path, &err))
            rc = fail(&err);
        else
            printf("compiled %s\n", so_path);
    }
    ir_graph_free(g);
    return rc;
}
