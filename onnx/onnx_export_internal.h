/* onnx_export_internal.h — what the two halves of the ONNX exporter share:
 * onnx_export.c (the context, protobuf builders, value names, the graph and
 * the model, files) and onnx_export_ops.c (the export_rule column of
 * ir/ops.def: the ONNX node or pattern each core op is written as).
 * Not a public header.
 */
#ifndef EBMC_ONNX_EXPORT_INTERNAL_H
#define EBMC_ONNX_EXPORT_INTERNAL_H

#include <stdint.h>

#include "onnx.h"
#include "onnx_ebmc.pb-c.h"

#define EXPORT_OPSET 17
#define EXPORT_IR_VERSION 8   /* the ONNX IR version that goes with opset 17 */

typedef struct ir_ex_list {
    void **items;
    size_t n, cap;
} ir_ex_list;

typedef struct ir_ex_ctx {
    const ir_graph *g;
    ebm_error *err;
    ebm_status st;
    ir_ex_list allocs;          /* everything below is freed with these */
    ir_ex_list nodes, inits;    /* Onnx__NodeProto *, Onnx__TensorProto * */
    char **vname;            /* per IR node: its ONNX value name */
    char **bname;            /* per comparison node: the name of its bool result */
    unsigned char *as_float; /* per comparison node: some consumer needs the float 0/1 */
    char **names;            /* hash set of every name in use */
    size_t names_cap, names_n;
    const char *batch_size;  /* [N] read from a graph input, made on first use */
} ir_ex_ctx;

/* ---- onnx_export.c ---------------------------------------------------------------- */

/* The first error is kept; every helper below returns NULL after it. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void ir_ex_fail(ir_ex_ctx *c, ebm_status code, const char *fmt, ...);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
char *ir_ex_printf(ir_ex_ctx *c, const char *fmt, ...);
/* `base`, or base_2, base_3, ... if taken; the result is reserved. */
char *ir_ex_unique_name(ir_ex_ctx *c, const char *base);

/* A node of the ONNX graph (one output), appended in order. */
Onnx__NodeProto *ir_ex_node(ir_ex_ctx *c, const char *op_type, const char *name, const char *const *in, int n_in,
                            const char *out);
void ir_ex_attr_int(ir_ex_ctx *c, Onnx__NodeProto *p, const char *name, int64_t v);
void ir_ex_attr_ints(ir_ex_ctx *c, Onnx__NodeProto *p, const char *name, const int64_t *v, int n);
/* A little-endian raw_data TensorProto of count elements of elem_size bytes. */
Onnx__TensorProto *ir_ex_tensor(ir_ex_ctx *c, int32_t data_type, const int64_t *dims, int rank, const void *data,
                                size_t count, size_t elem_size);
/* A Constant node whose value is named out (already reserved); returns out. */
const char *ir_ex_constant(ir_ex_ctx *c, const char *out, Onnx__TensorProto *t);
const char *ir_ex_const_i64(ir_ex_ctx *c, const char *name, const int64_t *v, int n);
const char *ir_ex_const_f32(ir_ex_ctx *c, const char *name, float v);

/* Names: the ONNX node name of IR node id, its value name (made on first
 * use), the value name of its operand k, a helper value named after it. */
const char *ir_ex_node_name(ir_ex_ctx *c, int id);
const char *ir_ex_value_name(ir_ex_ctx *c, int id);
const char *ir_ex_in_name(ir_ex_ctx *c, int id, int k);
char *ir_ex_aux_name(ir_ex_ctx *c, int id, const char *suffix);

static inline const ir_node *ir_ex_node_at(const ir_ex_ctx *c, int id)
{
    return &c->g->nodes[id];
}

/* ---- onnx_export_ops.c ------------------------------------------------------------ */

/* Writes the ONNX form of computed node id (its op's export_rule). */
void ir_ex_op(ir_ex_ctx *c, int id);

#endif
