/* onnx_internal.h — the contract between the ONNX import framework
 * (onnx/onnx_import.c, with file reading in onnx_read.c and tensor decoding
 * in onnx_tensor.c) and the per-family lowering files (onnx/onnx_lower_*.c).
 *
 * The framework decodes the ModelProto, turns initializers into PARAM
 * constants (or static host tensors when they are integer or used as shape
 * plumbing), binds graph inputs, walks the nodes in file order and calls the
 * lowering function registered for each op_type in onnx/onnx_ops.def.  A
 * lowering function reads its inputs, adds core-IR nodes to the graph and
 * binds its outputs.
 *
 * Values during import are either *dynamic* (an IR value id) or *static* (an
 * ir_tensor known at import time: integer shape plumbing, constants).  A static
 * float tensor used as an operand becomes a CONST node on demand.  In static
 * int64 tensors the symbolic batch size is the sentinel ONNX_IMP_SYM_N; arithmetic
 * on it other than copying is an EBM_ERR_NOT_STATIC error.
 */
#ifndef EBMC_IR_ONNX_INTERNAL_H
#define EBMC_IR_ONNX_INTERNAL_H

#include "onnx.h"
#include "onnx_ebmc.pb-c.h"

#define ONNX_IMP_SYM_N (INT64_MIN + 7)
/* k·N (1 <= k <= ONNX_IMP_SYM_MAX_K) in static int64 tensors: the sentinels
 * ONNX_IMP_SYM_N + k - 1, so 1·N is ONNX_IMP_SYM_N itself.  The exporter's
 * attention code computes N*heads and T*N on the shape path (onnx_lower_view.c). */
#define ONNX_IMP_SYM_MAX_K (INT64_C(1) << 31)
static inline int64_t onnx_imp_sym(int64_t k)
{
    return ONNX_IMP_SYM_N + (k - 1);
}
/* k if v is the sentinel of k·N, else 0. */
static inline int64_t onnx_imp_sym_k(int64_t v)
{
    return v >= ONNX_IMP_SYM_N && v < ONNX_IMP_SYM_N + ONNX_IMP_SYM_MAX_K ? v - ONNX_IMP_SYM_N + 1 : 0;
}

typedef struct onnx_imp_ctx onnx_imp_ctx;

typedef struct onnx_imp_node {
    const Onnx__NodeProto *p;
    const char *label;     /* "name (OpType)" for messages and IR node names */
    int64_t opset;         /* version of the node's domain in opset_import */
} onnx_imp_node;

typedef ebm_status (*onnx_imp_lower_fn)(onnx_imp_ctx *c, const onnx_imp_node *n);

/* Declarations of all lowering functions (one per row of onnx_ops.def, which
 * names them without the layer prefix: imp_lower_relu is onnx_imp_lower_relu). */
#define ONNX_OP(op_type, fn, note, view) ebm_status onnx_##fn(onnx_imp_ctx *c, const onnx_imp_node *n);
#include "onnx_ops.def"
#undef ONNX_OP
/* The core lowerings of Equal and Where (onnx_lower_math.c), which the rows'
 * functions (onnx_lower_shape.c) call when the operands are not static ints. */
ebm_status onnx_imp_lower_equal(onnx_imp_ctx *c, const onnx_imp_node *n);
ebm_status onnx_imp_lower_where(onnx_imp_ctx *c, const onnx_imp_node *n);

/* The lowering of op_type in onnx_ops.def, or NULL. */
onnx_imp_lower_fn onnx_imp_lowering(const char *op_type);

ir_graph *onnx_imp_graph(onnx_imp_ctx *c);
ebm_error *onnx_imp_err(onnx_imp_ctx *c);

/* Fails with a message "FILE: node LABEL: <fmt>" and returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
ebm_status onnx_imp_fail(onnx_imp_ctx *c, const onnx_imp_node *n, ebm_status code, const char *fmt, ...);

/* ---- inputs -------------------------------------------------------------- */
/* Number of inputs, not counting trailing empty names (omitted optionals). */
int onnx_imp_n_inputs(const onnx_imp_node *n);
/* Input k is given (k < count and the name is not empty). */
int onnx_imp_has_input(const onnx_imp_node *n, int k);
/* Input k as an IR value (a static float input becomes a CONST node; an
 * integer static input is an error naming the input).  -1 on error. */
int onnx_imp_input(onnx_imp_ctx *c, const onnx_imp_node *n, int k);
/* Input k's static value, or NULL if it is dynamic or absent (no error). */
const ir_tensor *onnx_imp_static(onnx_imp_ctx *c, const onnx_imp_node *n, int k);
/* Input k's static value; if it is dynamic, fails with EBM_ERR_NOT_STATIC
 * naming the input and `what` (e.g. "the shape of Reshape"). */
ebm_status onnx_imp_require_static(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *what,
                                   const ir_tensor **out);
/* Input k is (a static view of) a model initializer, i.e. a parameter that
 * must stay in the graph rather than be folded into a new constant. */
int onnx_imp_static_is_param(onnx_imp_ctx *c, const onnx_imp_node *n, int k);
/* Shape of input k, dynamic or static (IR_DIM_N for the batch dim); NULL if absent. */
const ir_shape *onnx_imp_input_shape(onnx_imp_ctx *c, const onnx_imp_node *n, int k);
/* Static int64 vector input k (rank 0 or 1) copied into out[max]; returns count or -1. */
int onnx_imp_static_ints(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *what, int64_t *out, int max);
/* Static scalar float input (any numeric dtype, one element). */
ebm_status onnx_imp_static_scalar(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const char *what, double *out);

/* ---- outputs ------------------------------------------------------------- */
ebm_status onnx_imp_set_output(onnx_imp_ctx *c, const onnx_imp_node *n, int k, int value);
/* Takes ownership of t (its contents; t itself may be on the stack). */
ebm_status onnx_imp_set_static_output(onnx_imp_ctx *c, const onnx_imp_node *n, int k, ir_tensor *t);

/* ---- attributes ---------------------------------------------------------- */
const Onnx__AttributeProto *onnx_imp_attr(const onnx_imp_node *n, const char *name);
int64_t onnx_imp_attr_int(const onnx_imp_node *n, const char *name, int64_t dflt);
double onnx_imp_attr_float(const onnx_imp_node *n, const char *name, double dflt);
/* Copies up to max ints; returns the count, or -1 if absent (error if > max:
 * returns -2, caller reports). */
int onnx_imp_attr_ints(const onnx_imp_node *n, const char *name, int64_t *out, int max);
/* String attribute (NUL-terminated copy in buf) or dflt if absent. */
const char *onnx_imp_attr_string(const onnx_imp_node *n, const char *name, char *buf, size_t size,
                                 const char *dflt);
/* Fails with EBM_ERR_UNSUPPORTED if the node has an attribute not in the
 * NULL-terminated list `known` (so nothing is silently ignored). */
ebm_status onnx_imp_check_attrs(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known);

/* ---- tensors (onnx_tensor.c) ---------------------------------------------- */
#define ONNX_IMP_MAX_ELEMENTS (INT64_C(1) << 31)   /* in a decoded tensor */
#define ONNX_IMP_COMPUTED_MAX (INT64_C(1) << 24)   /* in one tensor computed at import time */
#define ONNX_IMP_MADE_MAX (INT64_C(1) << 26)       /* made at import time, all nodes together (default) */
/* The ONNX name of a TensorProto data type ("FLOAT16", "STRING", ...). */
const char *onnx_imp_type_name(int32_t onnx_dtype);
/* As onnx_imp_tensor_alloc, with at most `limit` elements. */
ebm_status onnx_imp_tensor_alloc_upto(ir_tensor *t, ir_dtype dt, const ir_shape *s, int64_t limit, ebm_error *err);
/* Decodes a TensorProto (raw_data or typed fields) into a host tensor. */
ebm_status onnx_imp_decode_tensor(const Onnx__TensorProto *tp, const char *what, ir_tensor *out,
                                  ebm_error *err);
/* Allocates a zero-filled tensor of dtype/shape computed at import time
 * (onnx_import.c): charged to the import's budget (onnx_imp_charge), at most
 * ONNX_IMP_COMPUTED_MAX elements. */
ebm_status onnx_imp_tensor_alloc(onnx_imp_ctx *c, ir_tensor *t, ir_dtype dt, const ir_shape *s);
/* Charges `count` elements made at import time (computed tensors, constants
 * the lowerings build: masks, interpolation matrices) to the import's budget
 * (ir_import_options.max_computed, by default ONNX_IMP_MADE_MAX); fails past it (the importer adds the node to the
 * message).  Decoded initializers are bounded by the file's own size and are
 * not charged. */
ebm_status onnx_imp_charge(onnx_imp_ctx *c, int64_t count);
/* Element k of a static tensor as double / int64 (any dtype). */
double onnx_imp_tensor_get_f(const ir_tensor *t, int64_t k);
int64_t onnx_imp_tensor_get_i(const ir_tensor *t, int64_t k);

/* ---- builder shorthands (onnx/onnx_lower_math.c) ---------------------------- */
/* New IR nodes are named after the ONNX node (n->label), so messages and
 * printed graphs point back at the model; a -1 operand gives -1. */
int onnx_imp_bin(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int a, int b);
/* op(x, v) with v a scalar constant. */
int onnx_imp_bin_k(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int x, double v);
/* Mean over axes (kept); `what` names the operation in the error when the
 * axes include the batch N, whose size is unknown at compile time. */
int onnx_imp_mean(onnx_imp_ctx *c, const onnx_imp_node *n, int x, uint32_t axes, const char *what);
int onnx_imp_reshape(onnx_imp_ctx *c, const onnx_imp_node *n, int x, ir_shape s);
/* The shape of a value (a copy: the node array moves as nodes are added). */
ir_shape onnx_imp_value_shape(onnx_imp_ctx *c, int id);
/* Checks that value has shape *x (an op that must keep its input's shape). */
int onnx_imp_keep_shape(onnx_imp_ctx *c, const onnx_imp_node *n, int value, const ir_shape *x, const char *what);

/* Normalises an axis for a given rank (negative counts from the end);
 * returns -1 if out of range. */
int onnx_imp_norm_axis(int64_t axis, int rank);

/* ---- 3-D window ops (onnx_lower_conv3d.c) ----------------------------------------
 * Conv, ConvTranspose, MaxPool and AveragePool on [N,C,D,H,W] lowered to the
 * 2-D core ops; onnx_lower_nn.c reads the attributes and passes the height
 * and width part as a 2-D ir_attr (conv or pool) and the depth part here. */
typedef struct onnx_imp_depth {
    int64_t kernel, stride, dilation;
    int64_t pad[2];   /* begin, end; ConvTranspose: the crop of the full line */
} onnx_imp_depth;
/* Each returns the result value (5-D), or -1 with the error set. */
int onnx_imp_conv3d(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int w, const ir_attr *a,
                    const onnx_imp_depth *depth);
int onnx_imp_conv_transpose3d(onnx_imp_ctx *c, const onnx_imp_node *n, int x, int w, const ir_attr *a,
                              const onnx_imp_depth *depth);
int onnx_imp_pool3d(onnx_imp_ctx *c, const onnx_imp_node *n, ir_op op, int x, const ir_attr *a,
                    const onnx_imp_depth *depth);

/* ---- movement helpers (onnx_lower_shape.c, shared with onnx_lower_move.c) ---- */
/* Largest dimension or padding accepted from a file: keeps every product and
 * sum below overflow (a fuzzed file may hold any int64). */
#define ONNX_IMP_MAX_DIM (INT64_C(1) << 31)
ir_attr onnx_imp_attr_zero(void);
int64_t onnx_imp_clamp64(int64_t v, int64_t lo, int64_t hi);
/* Input k's value when it may be computed on at import time: static and not a
 * trainable parameter (movement on a parameter stays in the graph). */
const ir_tensor *onnx_imp_foldable(onnx_imp_ctx *c, const onnx_imp_node *n, int k);
/* The shape of input k into *out; fails naming the input when it is missing. */
ebm_status onnx_imp_shape_arg(onnx_imp_ctx *c, const onnx_imp_node *n, int k, ir_shape *out);
/* The opening of most shape lowerings: the attributes checked against
 * `known`, then input 0's shape into *x. */
ebm_status onnx_imp_begin(onnx_imp_ctx *c, const onnx_imp_node *n, const char *const *known, ir_shape *x);
/* Shape-vector entries (ONNX_IMP_SYM_N for N) -> an ir_shape; -1 on bad dims
 * (negative, or above ONNX_IMP_MAX_DIM). */
int onnx_imp_dims_to_shape(const int64_t *d, int k, ir_shape *s);
ebm_status onnx_imp_tensor_copy(onnx_imp_ctx *c, const ir_tensor *src, ir_tensor *out);
/* Output 0 = core op `op` applied to input k: folded when the input is
 * foldable and the result has no batch dimension, else an IR node. */
ebm_status onnx_imp_move(onnx_imp_ctx *c, const onnx_imp_node *n, int k, ir_op op, const ir_attr *a, double fill);
/* Output 0 = input k unchanged (static values are copied). */
ebm_status onnx_imp_pass_through(onnx_imp_ctx *c, const onnx_imp_node *n, int k);
/* A SLICE attribute that keeps every axis whole. */
void onnx_imp_slice_all(const ir_shape *s, ir_attr *a);
/* Marks normalised axes in `mark`; fails on out-of-range or repeated axes. */
ebm_status onnx_imp_mark_axes(onnx_imp_ctx *c, const onnx_imp_node *n, const int64_t *axes, int k, int rank,
                              int *mark);

/* ---- batch views (onnx_lower_view.c) ---------------------------------------------
 * An ONNX value whose dims merge the batch N with static dims (attention's
 * [T, N*H, d], [T*N, E]) is held as an IR value of the same memory layout whose
 * shape splits every such dim into IR axes [a, N, b] (each kept only if > 1):
 * the IR stays canonical (N an axis of its own, never merged) and the value
 * carries a view, the number of IR axes each ONNX axis spans.  A value
 * without merged dims has no view (spans all 1).  Nodes with a view operand go
 * to onnx_imp_lower_view, which translates the ops a view passes through
 * and refuses the rest naming the node. */
typedef struct onnx_imp_view {
    int rank;                   /* ONNX rank; 0 = no view */
    int8_t span[IR_MAX_RANK];   /* IR axes of ONNX axis i (>= 1) */
} onnx_imp_view;

/* Input k's view, or NULL when it has none. */
const onnx_imp_view *onnx_imp_input_view(onnx_imp_ctx *c, const onnx_imp_node *n, int k);
/* Gives output k (already bound to an IR value) the view v; a view whose spans
 * are all 1 is dropped. */
ebm_status onnx_imp_set_output_view(onnx_imp_ctx *c, const onnx_imp_node *n, int k, const onnx_imp_view *v);
/* The static batch size the file declares for its input (dim 0 made
 * symbolic), 0 when it declares none: a fixed-batch export writes N*heads as a
 * number, which Reshape reads back as a multiple of N. */
int64_t onnx_imp_file_batch(onnx_imp_ctx *c);
/* Lowers node n, one of whose inputs has a view. */
ebm_status onnx_imp_lower_view(onnx_imp_ctx *c, const onnx_imp_node *n);
/* Reshape of a batched input x to the ONNX target spec (0 copies, -1 infers,
 * k·N sentinels): the target's N found where x's N sits in memory order, a
 * merged target dim becomes a view.  Used for every Reshape whose input has N. */
ebm_status onnx_imp_view_reshape(onnx_imp_ctx *c, const onnx_imp_node *n, const int64_t *spec, int k,
                                 int allowzero);
/* ---- reading (onnx_read.c) ------------------------------------------------- */
/* s, or "" for a field protobuf-c left NULL. */
const char *onnx_imp_str(const char *s);
/* Unpacks a ModelProto after checking that subgraphs do not nest deeper
 * than the stack allows; NULL with err filled (label names the source). */
Onnx__ModelProto *onnx_imp_unpack_model(const void *buf, size_t len, const char *label, ebm_error *err);
/* The tensor type of a value info, or NULL. */
const Onnx__TypeProto__Tensor *onnx_imp_tensor_type(const Onnx__ValueInfoProto *vi);
/* Dims as stored in the file, symbolic or unknown ones as IR_DIM_N, a
 * negative one as -2; -1 when there is no shape or too many dims. */
int onnx_imp_file_shape(const Onnx__TypeProto__Tensor *tt, ir_shape *s);

#endif /* EBMC_IR_ONNX_INTERNAL_H */
