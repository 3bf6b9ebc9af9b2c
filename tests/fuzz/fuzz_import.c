/* fuzz_import.c — libFuzzer target for the ONNX importer.
 *
 * The bytes are a model file.  Whatever they hold, import must either fail
 * with a status or produce a graph that passes ir_verify; a graph that imports
 * is then run once by the reference executor on zero inputs (N = 1), so the
 * shapes the importer accepted are also ones the executor can walk.  Crashes,
 * sanitizer reports and leaks are the findings; an import error is not.
 *
 * Built only with -DEBMC_FUZZ=ON (clang); tests/fuzz/run_fuzz.sh runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "exec.h"
#include "ir.h"
#include "onnx.h"

/* Execution is skipped for graphs whose values would not fit comfortably
 * under the fuzzer's RSS limit (the executor keeps every value alive), or
 * whose work would take seconds: a found MaxPool with a 60 x 80 window over a
 * 1000 x 1000 image (4.8e9 compares) ran 20 s under the sanitizers, and
 * run_fuzz.sh fails on libFuzzer's slow-unit report as on a timeout. */
#define MAX_TENSOR_ELEMS (1 << 20)
#define MAX_TOTAL_ELEMS (1 << 22)
#define MAX_WORK 1e8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Elements of every node's value with N = 1, or -1 if one tensor is too big. */
static int64_t graph_elems(const ir_graph *g)
{
    int64_t total = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        int64_t n = ir_shape_numel(&g->nodes[i].shape, 1);
        if (n < 0 || n > MAX_TENSOR_ELEMS)
            return -1;
        total += n;
    }
    return total;
}

/* An upper bound on the executor's operations for node i (N = 1): a product,
 * convolution or pooling reads a window per result element (a matmul's K;
 * a convolution's, either transpose's, at most its second operand; a pool's
 * kernel); anything else reads its operands and writes its result once. */
static double node_work(const ir_graph *g, int i)
{
    const ir_node *nd = &g->nodes[i];
    const double out = (double)ir_shape_numel(&nd->shape, 1);
    switch (nd->op) {
    case IR_OP_MATMUL: {
        const ir_shape *a = &g->nodes[nd->in[0]].shape;
        return out * (double)(a->rank > 0 ? a->d[a->rank - 1] : 1);
    }
    case IR_OP_CONV2D:
    case IR_OP_CONV2D_BWD_DATA:
    case IR_OP_CONV2D_BWD_FILTER:
        return out * (double)ir_shape_numel(&g->nodes[nd->in[1]].shape, 1);
    case IR_OP_MAXPOOL2D:
    case IR_OP_AVGPOOL2D:
    case IR_OP_MAXPOOL2D_BWD:
    case IR_OP_AVGPOOL2D_BWD:
    case IR_OP_MAXPOOL2D_GATHER:
        return out * (double)nd->attr.pool.kernel[0] * (double)nd->attr.pool.kernel[1];
    default: {
        double w = out;
        for (int k = 0; k < nd->n_in; k++)
            w += (double)ir_shape_numel(&g->nodes[nd->in[k]].shape, 1);
        return w;
    }
    }
}

static double graph_work(const ir_graph *g)
{
    double w = 0;
    for (int i = 0; i < g->n_nodes; i++)
        w += node_work(g, i);
    return w;
}

/* One zeroed float buffer per graph input or output value (NULL on OOM). */
static void **alloc_values(const ir_graph *g, const int *ids, int count)
{
    void **v = calloc((size_t)count + 1, sizeof *v);
    for (int i = 0; v && i < count; i++) {
        int64_t n = ir_shape_numel(&g->nodes[ids[i]].shape, 1);
        v[i] = calloc(n > 0 ? (size_t)n : 1, sizeof(float));
        if (!v[i]) {
            for (int j = 0; j < i; j++)
                free(v[j]);
            free(v);
            return NULL;
        }
    }
    return v;
}

static void free_values(void **v, int count)
{
    for (int i = 0; v && i < count; i++)
        free(v[i]);
    free(v);
}

static void run_once(const ir_graph *g)
{
    int64_t total = graph_elems(g);
    if (total < 0 || total > MAX_TOTAL_ELEMS || graph_work(g) > MAX_WORK)
        return;
    void **in = alloc_values(g, g->inputs, g->n_inputs);
    void **out = alloc_values(g, g->outputs, g->n_outputs);
    if (in && out) {
        ebm_error err;
        /* A status is a fine answer (e.g. an op the executor rejects);
         * only crashes and sanitizer reports matter here. */
        (void)ebmc_exec(g, 1, EBMC_F32, (const void *const *)in, (void *const *)out, &err);
    }
    free_values(in, g->n_inputs);
    free_values(out, g->n_outputs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ir_graph *g = NULL;
    ebm_error err;
    ir_import_options opt = {.batch_symbolic = 1};
    if (ir_onnx_import_buffer(data, size, "fuzz input", &opt, &g, &err) != EBM_OK)
        return 0;
    if (ir_verify(g, &err) != EBM_OK) {
        /* The importer's contract is a verified graph or an error: this is a bug. */
        fprintf(stderr, "fuzz_import: an imported graph fails ir_verify: %s\n", err.msg);
        abort();
    }
    run_once(g);
    ir_graph_free(g);
    return 0;
}
