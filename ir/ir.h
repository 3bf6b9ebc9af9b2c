/* ir.h — ebmc's core graph IR.
 *
 * A graph is a list of nodes in topological order; node i produces the value
 * %i (one float tensor).  Operands always refer to earlier nodes, so a forward
 * walk over g->nodes is an execution order.  Ops come from ir/ops.def: a small
 * core set (elementwise math, reductions, matmul, conv2d and its transposes,
 * pooling, data movement) into which every ONNX operator is lowered.
 *
 * Shapes are static except the batch dimension: a dim equal to IR_DIM_N stands
 * for the batch size N, bound only when the graph is run.  The shape of every
 * node is computed by its op's shape rule when the node is added, so a graph
 * built through this API always carries shapes.
 *
 * Tutorial: build E(x) = sum(tanh(x W)) for x:[N,3], W:[3,4]
 *
 *     ebm_error err;
 *     ir_graph *g = ir_graph_new();
 *     int x = ir_add_input(g, "x", ir_shape_make(2, IR_DIM_N, 3), &err);
 *     int w = ir_add_const(g, "W", ir_shape_make(2, 3, 4), wdata, IR_NODE_PARAM, &err);
 *     int h = ir_unary(g, IR_OP_TANH, ir_matmul(g, x, w, NULL, &err), NULL, &err);
 *     int e = ir_reduce(g, IR_OP_RSUM, h, 1u << 1, NULL, &err);      // [N,1]
 *     if (e < 0 || ir_add_output(g, e, "energy", &err)) ... report err.msg
 *     ir_graph_free(g);
 *
 * Builder functions return the new value id, or -1 with err filled; a -1
 * operand makes them return -1 at once (the first error is kept), so calls can
 * be nested and checked once at the end.
 */
#ifndef EBMC_IR_H
#define EBMC_IR_H

#include <stdint.h>
#include <stdio.h>

#include "ebm_status.h"

#define IR_MAX_RANK 6
#define IR_MAX_OPERANDS 16   /* concat of more operands is split into a tree */
#define IR_DIM_N (-1)        /* the symbolic batch dimension */

/* ---- ops ---------------------------------------------------------------- */

typedef enum ir_op {
#define IR_OP(NAME, text, arity, cls, kern, attr, shape_rule, vjp, onnx, ex, expr, fexpr) IR_OP_##NAME,
#include "ops.def"
#undef IR_OP
    IR_OP_COUNT
} ir_op;

typedef enum ir_fuse_class {
    IR_FUSE_ELEMWISE,
    IR_FUSE_BROADCAST,
    IR_FUSE_INJECTIVE,
    IR_FUSE_REDUCE,
    IR_FUSE_OUT_EWISE,
    IR_FUSE_OPAQUE,
    IR_FUSE_COUNT
} ir_fuse_class;

/* The kernel family that runs an op (the KERNEL column of ops.def). */
typedef enum ir_kernel {
    IR_KERNEL_SOURCE,     /* INPUT, CONST: no kernel */
    IR_KERNEL_ELEMWISE,   /* scalar_expr / float_expr over broadcast operands */
    IR_KERNEL_REDUCE,
    IR_KERNEL_MATMUL,
    IR_KERNEL_CONV,
    IR_KERNEL_POOL,
    IR_KERNEL_MOVEMENT,   /* strided copies between views */
    IR_KERNEL_COUNT
} ir_kernel;

/* The member of ir_attr an op reads (the ATTR column of ops.def). */
typedef enum ir_attr_kind {
    IR_ATTR_NONE,
    IR_ATTR_F,
    IR_ATTR_AXES,
    IR_ATTR_AXIS,
    IR_ATTR_PERM,
    IR_ATTR_SHAPE,
    IR_ATTR_CONV,
    IR_ATTR_POOL,
    IR_ATTR_SLICE,
    IR_ATTR_PAD,
    IR_ATTR_COUNT
} ir_attr_kind;

/* ---- shapes ------------------------------------------------------------- */

typedef struct ir_shape {
    int rank;
    int32_t zero_;            /* always 0: no padding bytes, so attributes compare with memcmp */
    int64_t d[IR_MAX_RANK];   /* d[i] >= 0, or IR_DIM_N */
} ir_shape;

/* ir_shape_make(rank, d0, d1, ...): dims as int (IR_DIM_N allowed). */
ir_shape ir_shape_make(int rank, ...);
int ir_shape_eq(const ir_shape *a, const ir_shape *b);
int ir_shape_has_batch(const ir_shape *s);
/* Number of elements with N bound to n (n is ignored for static shapes). */
int64_t ir_shape_numel(const ir_shape *s, int64_t n);
/* Writes e.g. "[N,3,8,8]" into buf; returns buf. */
char *ir_shape_str(const ir_shape *s, char *buf, size_t size);

/* ---- attributes ----------------------------------------------------------- */

typedef struct ir_conv_attr {
    int64_t stride[2];
    int64_t pad[4];       /* ONNX order: top, left, bottom, right */
    int64_t dilation[2];
    int64_t group;
    int64_t in_hw[2];     /* CONV2D_BWD_DATA: spatial size of the result */
    int64_t kernel[2];    /* CONV2D_BWD_FILTER: kernel size of the result */
} ir_conv_attr;

typedef struct ir_pool_attr {
    int64_t kernel[2];
    int64_t stride[2];
    int64_t pad[4];       /* top, left, bottom, right; padded cells never win a max */
    int64_t dilation[2];
    int ceil_mode;
    int count_include_pad; /* average pooling: divide by the full window */
    int64_t in_hw[2];     /* *_BWD: spatial size of the result */
} ir_pool_attr;

typedef struct ir_slice_attr {
    int64_t start[IR_MAX_RANK]; /* normalised: 0 <= start <= dim (or dim-1 for negative step) */
    int64_t end[IR_MAX_RANK];   /* exclusive, normalised; may be -1 for negative steps */
    int64_t step[IR_MAX_RANK];  /* non-zero */
} ir_slice_attr;

typedef struct ir_pad_attr {
    int64_t begin[IR_MAX_RANK]; /* >= 0 */
    int64_t end[IR_MAX_RANK];   /* >= 0 */
    double value;
} ir_pad_attr;

/* One union per node; the op says which member is meaningful.  Always zero an
 * ir_attr before filling it (memcmp is used to compare attributes). */
typedef struct ir_attr {
    double f;                   /* POWS: exponent */
    uint32_t axes;              /* RSUM, RMAX: bit i set = reduce axis i */
    int axis;                   /* CONCAT */
    int perm[IR_MAX_RANK];      /* TRANSPOSE: result axis i is operand axis perm[i] */
    ir_shape shape;             /* RESHAPE, BROADCAST: the result shape */
    ir_conv_attr conv;
    ir_pool_attr pool;
    ir_slice_attr slice;
    ir_pad_attr pad;
} ir_attr;

/* ---- nodes and graphs --------------------------------------------------- */

enum {
    IR_NODE_PARAM = 1u << 0,     /* CONST from a model initializer, written back by training */
    IR_NODE_TRAINABLE = 1u << 1, /* PARAM that gets gradients (not e.g. BatchNorm statistics) */
    IR_NODE_EXACT = 1u << 2,     /* rank-0 CONST whose exact value is attr.f (data holds it
                                    rounded to float); float64 execution uses attr.f */
};

typedef struct ir_node {
    ir_op op;
    int n_in;
    int in[IR_MAX_OPERANDS];
    ir_shape shape;
    ir_attr attr;
    unsigned flags;
    char *name;      /* INPUT/CONST: the tensor's name; others: origin, e.g. "/fc1/Gemm (Gemm)"; may be NULL */
    float *data;     /* CONST only: ir_shape_numel(shape) floats, owned by the node */
} ir_node;

typedef struct ir_meta {
    char *key;
    char *value;
} ir_meta;

typedef struct ir_opset {
    char *domain;    /* "" = ai.onnx */
    int64_t version;
} ir_opset;

typedef struct ir_graph {
    ir_node *nodes;
    int n_nodes, cap_nodes;
    int *inputs, n_inputs;       /* ids of INPUT nodes, in model order */
    int *outputs, n_outputs;     /* ids of result values, in model order */
    char **output_names;         /* parallel to outputs */
    ir_meta *meta;               /* ONNX metadata_props (ebm.* keys and others) */
    int n_meta;
    ir_opset *opsets;            /* ONNX opset_import, kept for info and export */
    int n_opsets;
    int64_t onnx_ir_version;
    char *producer;              /* "pytorch 1.13.1", may be NULL */
    char *source;                /* file the graph came from, may be NULL */
    int onnx_nodes;              /* node count of the source ONNX graph */
} ir_graph;

typedef ebm_status (*ir_shape_rule_fn)(const ir_graph *g, ir_op op, const int *in, int n_in,
                                       const ir_attr *attr, ir_shape *out, ebm_error *err);

/* One row of ops.def (the columns that are data; the function columns
 * vjp_rule and export_rule are read by their passes). */
typedef struct ir_op_info {
    const char *name;
    int arity;
    ir_fuse_class fuse;
    ir_kernel kernel;
    ir_attr_kind attr;
    ir_shape_rule_fn shape_rule;
    const char *onnx_type;     /* the ONNX operator it is exported as; NULL: not exported */
    int elementwise;           /* has a scalar_expr in ops.def */
    const char *scalar_expr;   /* elementwise: C text on doubles x, y, z, P; else NULL */
    const char *float_expr;    /* elementwise: the float form (an expression, or statements
                                  ending in a return); else NULL */
} ir_op_info;

const ir_op_info *ir_op_get(ir_op op);
/* The op named `name` ("add", "conv2d", ...), or IR_OP_COUNT. */
ir_op ir_op_from_name(const char *name);

ir_graph *ir_graph_new(void);
void ir_graph_free(ir_graph *g);
/* Deep copy (constant data included); NULL when out of memory. */
ir_graph *ir_graph_clone(const ir_graph *g);
/* Replaces the contents of dst by those of src and frees src's shell. */
void ir_graph_replace(ir_graph *dst, ir_graph *src);

/* Metadata: set replaces an existing key; get returns NULL when absent. */
ebm_status ir_graph_set_meta(ir_graph *g, const char *key, const char *value, ebm_error *err);
const char *ir_graph_get_meta(const ir_graph *g, const char *key);

/* Human-readable reference to a node for error messages: `%12 add "/fc1/Add (Add)"`. */
const char *ir_node_label(const ir_graph *g, int id, char *buf, size_t size);

/* ---- builder ------------------------------------------------------------ */

/* The general form: computes the shape with the op's rule; name is copied. */
int ir_add_node(ir_graph *g, ir_op op, const int *in, int n_in, const ir_attr *attr,
                const char *name, ebm_error *err);

int ir_add_input(ir_graph *g, const char *name, ir_shape shape, ebm_error *err);
/* Copies numel floats from data (shape must be static). */
int ir_add_const(ir_graph *g, const char *name, ir_shape shape, const float *data,
                 unsigned flags, ebm_error *err);
/* A rank-0 constant (keeps the exact double for float64 execution). */
int ir_add_scalar(ir_graph *g, double value, ebm_error *err);
ebm_status ir_add_output(ir_graph *g, int value, const char *name, ebm_error *err);

int ir_unary(ir_graph *g, ir_op op, int x, const char *name, ebm_error *err);
int ir_pows(ir_graph *g, int x, double p, const char *name, ebm_error *err);
int ir_binary(ir_graph *g, ir_op op, int a, int b, const char *name, ebm_error *err);
int ir_select(ir_graph *g, int cond, int a, int b, const char *name, ebm_error *err);
int ir_reduce(ir_graph *g, ir_op op, int x, uint32_t axes, const char *name, ebm_error *err);
int ir_matmul(ir_graph *g, int a, int b, const char *name, ebm_error *err);
int ir_reshape(ir_graph *g, int x, ir_shape shape, const char *name, ebm_error *err);
int ir_broadcast_to(ir_graph *g, int x, ir_shape shape, const char *name, ebm_error *err);
int ir_transpose(ir_graph *g, int x, const int *perm, const char *name, ebm_error *err);
int ir_concat(ir_graph *g, const int *xs, int n, int axis, const char *name, ebm_error *err);

/* ---- checks and views ----------------------------------------------------- */

/* Checks operand order, arities, attribute sanity and that every stored shape
 * equals what its rule computes now.  The message names the node. */
ebm_status ir_verify(const ir_graph *g, ebm_error *err);
/* The same checks for one node (operands, arity, attributes, shape). */
ebm_status ir_verify_node(const ir_graph *g, int id, ebm_error *err);

/* Text form: one line per node, `%7 = add(%5, %6) : [N,16]  # "/fc1/Add (Add)"`. */
void ir_print_text(FILE *f, const ir_graph *g);
/* Graphviz dot of the same. */
void ir_print_dot(FILE *f, const ir_graph *g);

/* Number of floats in PARAM constants (what `ebm info` reports as parameters). */
int64_t ir_graph_param_count(const ir_graph *g, int trainable_only);

#endif /* EBMC_IR_H */
