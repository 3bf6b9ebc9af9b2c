/* onnx_internal.h — the contract between the ONNX import framework
 * (ir/onnx_import.c) and the per-family lowering files (ir/onnx_lower_*.c).
 *
 * The framework decodes the ModelProto, turns initializers into PARAM
 * constants (or static host tensors when they are integer or used as shape
 * plumbing), binds graph inputs, walks the nodes in file order and calls the
 * lowering function registered for each op_type in ir/onnx_ops.def.  A
 * lowering function reads its inputs, adds core-IR nodes to the graph and
 * binds its outputs.
 *
 * Values during import are either *dynamic* (an IR value id) or *static* (an
 * ir_tensor known at import time: integer shape plumbing, constants).  A static
 * float tensor used as an operand becomes a CONST node on demand.  In static
 * int64 tensors the symbolic batch size is the sentinel IMP_SYM_N; arithmetic
 * on it other than copying is an EBM_ERR_NOT_STATIC error.
 */
#ifndef EBMC_IR_ONNX_INTERNAL_H
#define EBMC_IR_ONNX_INTERNAL_H

#include "onnx.h"
#include "onnx_ebmc.pb-c.h"

#define IMP_SYM_N (INT64_MIN + 7)

typedef struct imp_ctx imp_ctx;

typedef struct imp_node {
    const Onnx__NodeProto *p;
    const char *label;     /* "name (OpType)" for messages and IR node names */
    int64_t opset;         /* version of the node's domain in opset_import */
} imp_node;

typedef ebm_status (*imp_lower_fn)(imp_ctx *c, const imp_node *n);

/* Declarations of all lowering functions (one per row of onnx_ops.def). */
#define ONNX_OP(op_type, fn, note) ebm_status fn(imp_ctx *c, const imp_node *n);
#include "onnx_ops.def"
#undef ONNX_OP

ir_graph *imp_graph(imp_ctx *c);
ebm_error *imp_err(imp_ctx *c);

/* Fails with a message "FILE: node LABEL: <fmt>" and returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
ebm_status imp_fail(imp_ctx *c, const imp_node *n, ebm_status code, const char *fmt, ...);

/* ---- inputs -------------------------------------------------------------- */
/* Number of inputs, not counting trailing empty names (omitted optionals). */
int imp_n_inputs(const imp_node *n);
/* Input k is given (k < count and the name is not empty). */
int imp_has_input(const imp_node *n, int k);
/* Input k as an IR value (a static float input becomes a CONST node; an
 * integer static input is an error naming the input).  -1 on error. */
int imp_input(imp_ctx *c, const imp_node *n, int k);
/* Input k's static value, or NULL if it is dynamic or absent (no error). */
const ir_tensor *imp_static(imp_ctx *c, const imp_node *n, int k);
/* Input k's static value; if it is dynamic, fails with EBM_ERR_NOT_STATIC
 * naming the input and `what` (e.g. "the shape of Reshape"). */
ebm_status imp_require_static(imp_ctx *c, const imp_node *n, int k, const char *what,
                              const ir_tensor **out);
/* Input k is (a static view of) a model initializer, i.e. a parameter that
 * must stay in the graph rather than be folded into a new constant. */
int imp_static_is_param(imp_ctx *c, const imp_node *n, int k);
/* Shape of input k, dynamic or static (IR_DIM_N for the batch dim); NULL if absent. */
const ir_shape *imp_input_shape(imp_ctx *c, const imp_node *n, int k);
/* Static int64 vector input k (rank 0 or 1) copied into out[max]; returns count or -1. */
int imp_static_ints(imp_ctx *c, const imp_node *n, int k, const char *what, int64_t *out, int max);
/* Static scalar float input (any numeric dtype, one element). */
ebm_status imp_static_scalar(imp_ctx *c, const imp_node *n, int k, const char *what, double *out);

/* ---- outputs ------------------------------------------------------------- */
ebm_status imp_set_output(imp_ctx *c, const imp_node *n, int k, int value);
/* Takes ownership of t (its contents; t itself may be on the stack). */
ebm_status imp_set_static_output(imp_ctx *c, const imp_node *n, int k, ir_tensor *t);

/* ---- attributes ---------------------------------------------------------- */
const Onnx__AttributeProto *imp_attr(const imp_node *n, const char *name);
int64_t imp_attr_int(const imp_node *n, const char *name, int64_t dflt);
double imp_attr_float(const imp_node *n, const char *name, double dflt);
/* Copies up to max ints; returns the count, or -1 if absent (error if > max:
 * returns -2, caller reports). */
int imp_attr_ints(const imp_node *n, const char *name, int64_t *out, int max);
/* String attribute (NUL-terminated copy in buf) or dflt if absent. */
const char *imp_attr_string(const imp_node *n, const char *name, char *buf, size_t size,
                            const char *dflt);
/* Fails with EBM_ERR_UNSUPPORTED if the node has an attribute not in the
 * NULL-terminated list `known` (so nothing is silently ignored). */
ebm_status imp_check_attrs(imp_ctx *c, const imp_node *n, const char *const *known);

/* ---- tensors ------------------------------------------------------------- */
/* Decodes a TensorProto (raw_data or typed fields) into a host tensor. */
ebm_status imp_decode_tensor(const Onnx__TensorProto *tp, const char *what, ir_tensor *out,
                             ebm_error *err);
/* Allocates a tensor of dtype/shape (zero-filled); returns EBM_ERR_NOMEM on failure. */
ebm_status imp_tensor_alloc(ir_tensor *t, ir_dtype dt, const ir_shape *s, ebm_error *err);
/* Element k of a static tensor as double / int64 (any dtype). */
double imp_tensor_get_f(const ir_tensor *t, int64_t k);
int64_t imp_tensor_get_i(const ir_tensor *t, int64_t k);

/* ---- builder shorthands (ir/onnx_lower_math.c) ---------------------------- */
/* New IR nodes are named after the ONNX node (n->label), so messages and
 * printed graphs point back at the model; a -1 operand gives -1. */
int imp_bin(imp_ctx *c, const imp_node *n, ir_op op, int a, int b);
/* op(x, v) with v a scalar constant. */
int imp_bin_k(imp_ctx *c, const imp_node *n, ir_op op, int x, double v);
/* Mean over axes (kept); `what` names the operation in the error when the
 * axes include the batch N, whose size is unknown at compile time. */
int imp_mean(imp_ctx *c, const imp_node *n, int x, uint32_t axes, const char *what);
int imp_reshape(imp_ctx *c, const imp_node *n, int x, ir_shape s);
/* The shape of a value (a copy: the node array moves as nodes are added). */
ir_shape imp_value_shape(imp_ctx *c, int id);
/* Checks that value has shape *x (an op that must keep its input's shape). */
int imp_keep_shape(imp_ctx *c, const imp_node *n, int value, const ir_shape *x, const char *what);

/* Normalises an axis for a given rank (negative counts from the end);
 * returns -1 if out of range. */
int imp_norm_axis(int64_t axis, int rank);

#endif /* EBMC_IR_ONNX_INTERNAL_H */
