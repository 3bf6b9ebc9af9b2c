/* onnx.h — reading ONNX files into the core IR, and writing the IR as ONNX.
 *
 * Import lowers every supported ONNX operator to core ops (ir/ops.def).  Shape
 * plumbing that PyTorch exports (Shape, Gather, Slice, Cast, ConstantOfShape,
 * Expand, Concat/Unsqueeze of shape vectors, ...) is evaluated at import time:
 * such values must be static, except that a dimension may be the batch size N,
 * which is tracked symbolically so `x.view(x.size(0), -1)` keeps N symbolic.
 *
 * Errors name the file, the ONNX node (name and op_type) and what was expected.
 */
#ifndef EBMC_IR_ONNX_H
#define EBMC_IR_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "ir.h"

typedef enum ir_dtype {
    IR_DT_F32,
    IR_DT_F64,
    IR_DT_I64,   /* int8..int64, uint8..uint64 and bool tensors are widened to this */
    IR_DT_COUNT
} ir_dtype;

/* A host tensor with a static shape (rank 0 = scalar). */
typedef struct ir_tensor {
    ir_dtype dtype;
    ir_shape shape;
    void *data;        /* numel elements of dtype, malloc'd, owned */
    char *name;        /* may be NULL */
} ir_tensor;

void ir_tensor_free(ir_tensor *t);
size_t ir_dtype_size(ir_dtype dt);

/* A graph input whose value is known at import time: it becomes a constant
 * (and lets e.g. Reshape's shape or Clip's bounds be given as graph inputs). */
typedef struct ir_bound_input {
    const char *name;
    const ir_tensor *value;
} ir_bound_input;

typedef struct ir_import_options {
    /* 1: dim 0 of every graph input is the symbolic batch size N, whatever the
     *    file says (the default for energy networks: one model, any N).
     * 0: shapes as in the file (a symbolic dim is then an error). */
    int batch_symbolic;
    const ir_bound_input *bind;
    int n_bind;
    /* Elements the importer may compute in all (folded constants, masks,
     * interpolation matrices; initializers are bounded by the file's size and
     * not counted).  0: the default, 2^26. */
    int64_t max_computed;
    /* 1: a DOUBLE graph input varies at run time like a float one (the graph
     *    then only makes sense run by the float64 executor, ebmc_exec with
     *    EBMC_F64: `ebm eval --f64`, the conformance runner).  0: refused. */
    int double_inputs;
} ir_import_options;

/* Reads and lowers a model; *out is a new graph (free with ir_graph_free).
 * opt may be NULL (batch_symbolic = 1, nothing bound). */
ebm_status ir_onnx_import_file(const char *path, const ir_import_options *opt,
                               ir_graph **out, ebm_error *err);
/* The same from memory; label names the source in messages. */
ebm_status ir_onnx_import_buffer(const void *buf, size_t len, const char *label,
                                 const ir_import_options *opt, ir_graph **out, ebm_error *err);

/* Reads a serialized TensorProto (.pb, as in ONNX's test data). */
ebm_status ir_onnx_read_tensor_file(const char *path, ir_tensor *out, ebm_error *err);

/* Lists the names of the graph inputs that are not initializers, in order,
 * with their element types and dims as stored in the file (for tools and the
 * conformance runner).  *names etc. are malloc'd arrays the caller frees with
 * ir_onnx_inputs_free. */
typedef struct ir_onnx_input_desc {
    char *name;
    int elem_type;     /* ONNX TensorProto.DataType */
    ir_shape shape;    /* symbolic dims as IR_DIM_N */
} ir_onnx_input_desc;
ebm_status ir_onnx_list_inputs(const char *path, ir_onnx_input_desc **out, int *n, ebm_error *err);
void ir_onnx_inputs_free(ir_onnx_input_desc *d, int n);

/* ---- export (onnx/onnx_export.c) ---------------------------------------------- */

/* Writes g as an ONNX model: ai.onnx opset 17, standard operators only, IR
 * version 8, producer "ebmc", g's metadata as metadata_props.  Parameters
 * (IR_NODE_PARAM constants) become initializers with their names; other
 * constants become Constant nodes; graph inputs and outputs keep their names
 * and shapes, with N as the symbolic dim "N".  Importing the file gives g's
 * computation back, and from then on ONNX -> IR -> ONNX -> IR reproduces the
 * IR node by node (step and a select on a non-comparison come back as
 * equivalent gt/eq patterns; sign is written as Sign, which the importer does
 * not read yet).  Ops that only differentiated graphs contain (convolution
 * and pooling backward ops, slice_bwd, maxpool2d_gather) fail with
 * EBM_ERR_UNSUPPORTED naming the node.  The bytes depend only on g. */
ebm_status ir_onnx_export_buffer(const ir_graph *g, void **buf, size_t *len, ebm_error *err);
/* The same written to path atomically (a temporary file in the same folder,
 * then rename): a failure leaves any previous file unchanged. */
ebm_status ir_onnx_export_file(const ir_graph *g, const char *path, ebm_error *err);

/* The whole file into a malloc'd buffer (the caller frees *buf); errors name
 * the file. */
ebm_status ir_read_file(const char *path, uint8_t **buf, size_t *len, ebm_error *err);

/* What training changes in a model file: initializer values (float32, by
 * name) and metadata_props entries (added, or replaced by key). */
typedef struct ir_onnx_update {
    int n_params;
    const char *const *names;
    const float *const *data;
    const int64_t *numel;       /* must equal the initializer's element count */
    int n_meta;
    const char *const *keys;
    const char *const *values;
} ir_onnx_update;

/* Reads the ONNX file in_path, replaces the named initializers' data (stored
 * as raw float32 bytes) and sets the metadata, and writes the result to
 * out_path atomically.  Everything else in the file (nodes, opsets, fields
 * ebmc does not read) is kept.  A name that is not a float initializer, or a
 * size mismatch, is an error naming the tensor; nothing is written then. */
ebm_status ir_onnx_update_file(const char *in_path, const char *out_path, const ir_onnx_update *u,
                               ebm_error *err);

#endif /* EBMC_IR_ONNX_H */
