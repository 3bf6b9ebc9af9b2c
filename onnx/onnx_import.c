/* onnx_import.c — the ONNX import framework: decoding, validation, the value
 * map and the helpers the per-family lowering files (onnx_lower_*.c) use.
 *
 * Import runs in stages over the unpacked ModelProto, each of which can fail
 * with a message naming the file and the node:
 *   1. check_model: structure that protobuf-c cannot check (a random byte
 *      string often parses as *some* message): a graph, an ai.onnx opset,
 *      every node input produced before use, no name defined twice;
 *   2. graph fields (metadata, opsets, producer);
 *   3. initializers -> static tensors (float ones become PARAM constants on
 *      their first dynamic use);
 *   4. graph inputs -> INPUT nodes (or static values when bound);
 *   5. nodes in file order -> the lowering function from onnx_ops.def;
 *   6. graph outputs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "onnx_internal.h"

#define MAX_ELEMENTS (INT64_C(1) << 31)          /* in a decoded tensor */
#define COMPUTED_MAX_ELEMENTS (INT64_C(1) << 27) /* in one computed at import time */

/* ---- context ---------------------------------------------------------------- */

/* A value during import: dynamic (id >= 0), static (t), or both once a static
 * float has been materialised as a CONST node. */
typedef struct imp_value {
    const char *name;
    int id;
    ir_shape shape;         /* of id: a copy, as the graph's node array moves */
    int is_static;
    ir_tensor t;
    unsigned const_flags;   /* flags of the CONST made from t on first dynamic use */
} imp_value;

struct imp_ctx {
    const char *source;
    const Onnx__ModelProto *model;
    const Onnx__GraphProto *gp;
    ir_graph *g;
    ebm_error *err;
    ir_import_options opt;
    int64_t opset;
    imp_value **vals;       /* each allocated once: pointers handed out stay valid */
    int n_vals, cap_vals;
    base_strmap map;
};

ir_graph *imp_graph(imp_ctx *c)
{
    return c->g;
}

ebm_error *imp_err(imp_ctx *c)
{
    return c->err;
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

ebm_status imp_fail(imp_ctx *c, const imp_node *n, ebm_status code, const char *fmt, ...)
{
    char msg[EBM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        return ebm_fail(c->err, code, "%s: node %s: %s", c->source, n->label, msg);
    return ebm_fail(c->err, code, "%s: %s", c->source, msg);
}

static ebm_status nomem(imp_ctx *c)
{
    return ebm_fail(c->err, EBM_ERR_NOMEM, "%s: out of memory", c->source);
}

static imp_value *val_find(imp_ctx *c, const char *name)
{
    int k = base_strmap_get(&c->map, name);
    return k < 0 ? NULL : c->vals[k];
}

/* A new, empty value bound to name; NULL (error set) if out of memory. */
static imp_value *val_add(imp_ctx *c, const char *name)
{
    if (c->n_vals == c->cap_vals) {
        int cap = c->cap_vals ? 2 * c->cap_vals : 64;
        imp_value **vals = realloc(c->vals, (size_t)cap * sizeof *vals);
        if (!vals) {
            nomem(c);
            return NULL;
        }
        c->vals = vals;
        c->cap_vals = cap;
    }
    imp_value *v = calloc(1, sizeof *v);
    if (!v || base_strmap_put(&c->map, name, c->n_vals)) {
        free(v);
        nomem(c);
        return NULL;
    }
    c->vals[c->n_vals++] = v;
    v->name = name;
    v->id = -1;
    return v;
}

/* Binds v to IR value id (which may be -1 after a failed builder call). */
static int set_dynamic(imp_ctx *c, imp_value *v, int id)
{
    v->id = id;
    if (id >= 0)
        v->shape = c->g->nodes[id].shape;
    return id;
}

static void ctx_free(imp_ctx *c)
{
    for (int i = 0; i < c->n_vals; i++) {
        ir_tensor_free(&c->vals[i]->t);
        free(c->vals[i]);
    }
    free(c->vals);
    base_strmap_free(&c->map);
}

/* ---- tensors ---------------------------------------------------------------- */

void ir_tensor_free(ir_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    free(t->name);
    memset(t, 0, sizeof *t);
}

size_t ir_dtype_size(ir_dtype dt)
{
    switch (dt) {
    case IR_DT_F32: return 4;
    case IR_DT_F64: return 8;
    case IR_DT_I64: return 8;
    default: return 0;
    }
}

/* Allocates a zeroed tensor of at most `limit` elements. */
static ebm_status tensor_alloc(ir_tensor *t, ir_dtype dt, const ir_shape *s, int64_t limit, ebm_error *err)
{
    memset(t, 0, sizeof *t);
    int64_t n = 1;
    if (s->rank < 0 || s->rank > IR_MAX_RANK)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "a tensor of rank %d (at most %d)", s->rank, IR_MAX_RANK);
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] < 0)
            return ebm_fail(err, EBM_ERR_NOT_STATIC, "a tensor computed at import time needs a static shape");
        if (s->d[i] > 0 && n > limit / s->d[i])
            return ebm_fail(err, EBM_ERR_UNSUPPORTED, "a tensor of more than %lld elements at import time",
                            (long long)limit);
        n *= s->d[i];
    }
    t->data = calloc(n > 0 ? (size_t)n : 1, ir_dtype_size(dt));
    if (!t->data)
        return ebm_fail(err, EBM_ERR_NOMEM, "out of memory for a tensor of %lld elements", (long long)n);
    t->dtype = dt;
    t->shape = *s;
    return EBM_OK;
}

/* Values computed at import time are shape plumbing and small constants; the
 * cap keeps a hostile file (ConstantOfShape of [2^30]) from exhausting memory.
 * Decoded tensors are bounded by the file's own size instead. */
ebm_status imp_tensor_alloc(ir_tensor *t, ir_dtype dt, const ir_shape *s, ebm_error *err)
{
    return tensor_alloc(t, dt, s, COMPUTED_MAX_ELEMENTS, err);
}

double imp_tensor_get_f(const ir_tensor *t, int64_t k)
{
    switch (t->dtype) {
    case IR_DT_F32: return ((const float *)t->data)[k];
    case IR_DT_F64: return ((const double *)t->data)[k];
    default: return (double)((const int64_t *)t->data)[k];
    }
}

static int64_t double_to_i64(double v)
{
    if (v != v)
        return 0;
    if (v >= 9.2233720368547758e18)
        return INT64_MAX;
    if (v <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)v;
}

int64_t imp_tensor_get_i(const ir_tensor *t, int64_t k)
{
    if (t->dtype == IR_DT_I64)
        return ((const int64_t *)t->data)[k];
    return double_to_i64(imp_tensor_get_f(t, k));
}

int imp_norm_axis(int64_t axis, int rank)
{
    if (axis < -rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

static const char *onnx_type_name(int32_t dt)
{
    static const char *const names[] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING",
        "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
    };
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof *names) ? names[dt] : "an unknown type";
}

/* How an ONNX element type is stored: bytes per element in raw_data, whether it
 * is signed, and which ir_dtype it widens to.  size 0 = not supported. */
typedef struct elem_kind {
    int size;
    int is_signed;
    ir_dtype dt;
} elem_kind;

static elem_kind elem_kind_of(int32_t onnx_dt)
{
    switch (onnx_dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return (elem_kind){4, 1, IR_DT_F32};
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return (elem_kind){8, 1, IR_DT_F64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return (elem_kind){8, 1, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return (elem_kind){4, 1, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return (elem_kind){2, 1, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return (elem_kind){1, 1, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: return (elem_kind){8, 0, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: return (elem_kind){4, 0, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return (elem_kind){2, 0, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: return (elem_kind){1, 0, IR_DT_I64};
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return (elem_kind){1, 0, IR_DT_I64};
    default: return (elem_kind){0, 0, IR_DT_F32};
    }
}

/* Little-endian bytes -> bits, independent of the host's byte order. */
static uint64_t load_le(const uint8_t *p, int size)
{
    uint64_t v = 0;
    for (int i = size - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void store_raw(ir_tensor *t, int64_t k, uint64_t bits, elem_kind ek, int32_t onnx_dt)
{
    if (ek.dt == IR_DT_F32) {
        uint32_t b = (uint32_t)bits;
        memcpy((float *)t->data + k, &b, 4);
    } else if (ek.dt == IR_DT_F64) {
        memcpy((double *)t->data + k, &bits, 8);
    } else {
        uint64_t mask = ek.size < 8 ? (UINT64_C(1) << (8 * ek.size)) - 1 : ~UINT64_C(0);
        int64_t v;
        bits &= mask;   /* int32_data holds narrower types widened */
        if (onnx_dt == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL)
            v = bits != 0;
        else if (ek.is_signed && ek.size < 8 && (bits >> (8 * ek.size - 1)) & 1)
            v = (int64_t)(bits | ~mask);   /* sign-extend */
        else
            v = (int64_t)bits;
        ((int64_t *)t->data)[k] = v;
    }
}

/* Element count of a TensorProto's dims, rejecting what a fuzzed file may hold. */
static ebm_status tensor_shape(const Onnx__TensorProto *tp, const char *what, ir_shape *s,
                               int64_t *numel, ebm_error *err)
{
    memset(s, 0, sizeof *s);
    if (tp->n_dims > IR_MAX_RANK)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: rank %zu exceeds ebmc's maximum of %d", what,
                        tp->n_dims, IR_MAX_RANK);
    int64_t n = 1;
    for (size_t i = 0; i < tp->n_dims; i++) {
        int64_t d = tp->dims[i];
        if (d < 0)
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: dimension %zu is negative (%lld)", what, i,
                            (long long)d);
        if (d > 0 && n > MAX_ELEMENTS / d)
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: more than 2^31 elements", what);
        n *= d;
        s->d[i] = d;
    }
    s->rank = (int)tp->n_dims;
    *numel = n;
    return EBM_OK;
}

/* The typed field that holds tp's elements (when raw_data is not used). */
static size_t typed_count(const Onnx__TensorProto *tp, const void **data, int *width)
{
    switch (tp->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        *data = tp->float_data, *width = 4;
        return tp->n_float_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        *data = tp->double_data, *width = 8;
        return tp->n_double_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        *data = tp->int64_data, *width = 8;
        return tp->n_int64_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        *data = tp->uint64_data, *width = 8;
        return tp->n_uint64_data;
    default:   /* int32, int16, int8, uint16, uint8, bool live in int32_data */
        *data = tp->int32_data, *width = 4;
        return tp->n_int32_data;
    }
}

static uint64_t typed_bits(const void *data, int width, int64_t k)
{
    if (width == 8) {
        uint64_t v;
        memcpy(&v, (const uint8_t *)data + 8 * k, 8);
        return v;
    }
    uint32_t v;
    memcpy(&v, (const uint8_t *)data + 4 * k, 4);
    return v;
}

ebm_status imp_decode_tensor(const Onnx__TensorProto *tp, const char *what, ir_tensor *out,
                             ebm_error *err)
{
    memset(out, 0, sizeof *out);
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED,
                        "%s: data is stored in an external file (data_location EXTERNAL), which ebmc "
                        "does not read; save the model with the weights inside the .onnx file", what);
    int32_t dt = tp->has_data_type ? tp->data_type : 0;
    elem_kind ek = elem_kind_of(dt);
    if (ek.size == 0)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: element type %s (%d) is not supported", what,
                        onnx_type_name(dt), (int)dt);
    ir_shape s;
    int64_t n = 0;
    ebm_status st = tensor_shape(tp, what, &s, &n, err);
    if (st != EBM_OK)
        return st;
    const void *typed = NULL;
    int width = 0;
    size_t n_typed = typed_count(tp, &typed, &width);
    if (tp->has_raw_data) {
        if (tp->raw_data.len != (size_t)n * (size_t)ek.size)
            return ebm_fail(err, EBM_ERR_FORMAT,
                            "%s: raw_data has %zu bytes, expected %lld (%lld %s elements)", what,
                            tp->raw_data.len, (long long)n * ek.size, (long long)n, onnx_type_name(dt));
    } else if (n_typed != (size_t)n) {
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: holds %zu values, expected %lld (shape has %lld elements)",
                        what, n_typed, (long long)n, (long long)n);
    }
    st = tensor_alloc(out, ek.dt, &s, MAX_ELEMENTS, err);
    if (st != EBM_OK)
        return st;
    for (int64_t k = 0; k < n; k++) {
        uint64_t bits = tp->has_raw_data ? load_le(tp->raw_data.data + k * ek.size, ek.size)
                                         : typed_bits(typed, width, k);
        store_raw(out, k, bits, ek, dt);
    }
    if (tp->name && tp->name[0] && !(out->name = strdup(tp->name))) {
        ir_tensor_free(out);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", what);
    }
    return EBM_OK;
}

/* ---- files ------------------------------------------------------------------- */

ebm_status ir_read_file(const char *path, uint8_t **buf, size_t *len, ebm_error *err)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
        if (!nb)
            free(b);
        b = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory reading the file", path);
    if (bad) {
        free(b);
        return ebm_fail(err, EBM_ERR_IO, "%s: read error", path);
    }
    if (n == 0) {
        free(b);
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: empty file", path);
    }
    *buf = b;
    *len = n;
    return EBM_OK;
}

ebm_status ir_onnx_read_tensor_file(const char *path, ir_tensor *out, ebm_error *err)
{
    uint8_t *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    ebm_status st = ir_read_file(path, &buf, &len, err);
    if (st != EBM_OK)
        return st;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ONNX TensorProto (protobuf parse failed)", path);
    st = imp_decode_tensor(tp, path, out, err);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return st;
}

/* ---- nesting guard -------------------------------------------------------------- */

/* protobuf-c unpacks recursively, and the schema has one cycle: a graph's
 * node's attribute may hold a graph (If/Loop bodies).  A hostile file nesting
 * that cycle some 10^5 times overflows the stack inside protobuf-c, so the
 * cycle is measured on the wire format before unpacking. */
#define MAX_SUBGRAPH_DEPTH 32

enum wire_msg { WIRE_MODEL, WIRE_GRAPH, WIRE_NODE, WIRE_ATTR };

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* The message kind field `field` of `kind` holds on the cycle, or -1. */
static int wire_child(int kind, uint64_t field)
{
    switch (kind) {
    case WIRE_MODEL: return field == 7 ? WIRE_GRAPH : -1;
    case WIRE_GRAPH: return field == 1 ? WIRE_NODE : -1;
    case WIRE_NODE: return field == 5 ? WIRE_ATTR : -1;
    default: return field == 6 ? WIRE_GRAPH : -1;
    }
}

/* 1 if subgraphs nest deeper than MAX_SUBGRAPH_DEPTH.  Malformed bytes stop
 * the walk with 0: protobuf-c then reports them.  The walk's own recursion is
 * bounded by the depth limit. */
static int nests_too_deep(const uint8_t *p, const uint8_t *end, int kind, int graphs)
{
    if (kind == WIRE_GRAPH && ++graphs > MAX_SUBGRAPH_DEPTH + 1)
        return 1;
    while (p < end) {
        uint64_t key, len;
        if (read_varint(&p, end, &key))
            return 0;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &len))
                return 0;
            break;
        case 1:
        case 5:
            if ((size_t)(end - p) < ((key & 7) == 1 ? 8u : 4u))
                return 0;
            p += (key & 7) == 1 ? 8 : 4;
            break;
        case 2: {
            if (read_varint(&p, end, &len) || len > (uint64_t)(end - p))
                return 0;
            int child = wire_child(kind, key >> 3);
            if (child >= 0 && nests_too_deep(p, p + len, child, graphs))
                return 1;
            p += len;
            break;
        }
        default:
            return 0;
        }
    }
    return 0;
}

/* Unpacks a ModelProto, refusing what would crash protobuf-c. */
static Onnx__ModelProto *unpack_model(const void *buf, size_t len, const char *label, ebm_error *err)
{
    if (nests_too_deep(buf, (const uint8_t *)buf + len, WIRE_MODEL, 0)) {
        ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: subgraphs nested more than %d deep", label,
                 MAX_SUBGRAPH_DEPTH);
        return NULL;
    }
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    if (!m)
        ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ONNX model (protobuf parse failed)", label);
    return m;
}

/* ---- attributes ---------------------------------------------------------------- */

const Onnx__AttributeProto *imp_attr(const imp_node *n, const char *name)
{
    for (size_t i = 0; i < n->p->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->p->attribute[i];
        if (a->name && strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

int64_t imp_attr_int(const imp_node *n, const char *name, int64_t dflt)
{
    const Onnx__AttributeProto *a = imp_attr(n, name);
    return a ? a->i : dflt;
}

double imp_attr_float(const imp_node *n, const char *name, double dflt)
{
    const Onnx__AttributeProto *a = imp_attr(n, name);
    return a ? a->f : dflt;
}

int imp_attr_ints(const imp_node *n, const char *name, int64_t *out, int max)
{
    const Onnx__AttributeProto *a = imp_attr(n, name);
    if (!a)
        return -1;
    if (a->n_ints > (size_t)max)
        return -2;
    for (size_t i = 0; i < a->n_ints; i++)
        out[i] = a->ints[i];
    return (int)a->n_ints;
}

const char *imp_attr_string(const imp_node *n, const char *name, char *buf, size_t size,
                            const char *dflt)
{
    const Onnx__AttributeProto *a = imp_attr(n, name);
    if (!a || !a->has_s || size == 0)
        return dflt;
    size_t k = a->s.len < size - 1 ? a->s.len : size - 1;
    if (k)
        memcpy(buf, a->s.data, k);
    buf[k] = 0;
    return buf;
}

ebm_status imp_check_attrs(imp_ctx *c, const imp_node *n, const char *const *known)
{
    for (size_t i = 0; i < n->p->n_attribute; i++) {
        const char *name = str_or_empty(n->p->attribute[i]->name);
        int ok = 0;
        for (int k = 0; known && known[k] && !ok; k++)
            ok = strcmp(known[k], name) == 0;
        if (!ok)
            return imp_fail(c, n, EBM_ERR_UNSUPPORTED, "attribute '%s' is not supported", name);
    }
    return EBM_OK;
}

/* ---- inputs -------------------------------------------------------------------- */

int imp_n_inputs(const imp_node *n)
{
    int k = (int)n->p->n_input;
    while (k > 0 && n->p->input[k - 1][0] == 0)
        k--;
    return k;
}

int imp_has_input(const imp_node *n, int k)
{
    return k >= 0 && (size_t)k < n->p->n_input && n->p->input[k][0] != 0;
}

/* The value of input k, or NULL with an error: absent (when `required`), or a
 * name whose producer did not bind it (an optional output ebmc does not compute). */
static imp_value *input_value(imp_ctx *c, const imp_node *n, int k, int required)
{
    if (!imp_has_input(n, k)) {
        if (required)
            imp_fail(c, n, EBM_ERR_INVALID, "input %d is missing", k);
        return NULL;
    }
    imp_value *v = val_find(c, n->p->input[k]);
    if (!v && required)
        imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                 "input %d ('%s') is an output of an earlier node that ebmc does not compute", k,
                 n->p->input[k]);
    return v;
}

/* t's elements as a new float array; NULL when out of memory, or (with
 * *sym_n set) when an integer element is the batch-size sentinel. */
static float *float_copy(const ir_tensor *t, int *sym_n)
{
    int64_t count = ir_shape_numel(&t->shape, 0);
    float *f = malloc(count > 0 ? (size_t)count * sizeof *f : 1);
    *sym_n = 0;
    for (int64_t i = 0; f && i < count; i++) {
        if (t->dtype == IR_DT_I64 && ((const int64_t *)t->data)[i] == IMP_SYM_N) {
            *sym_n = 1;
            free(f);
            return NULL;
        }
        f[i] = (float)imp_tensor_get_f(t, i);
    }
    return f;
}

/* The CONST node of a static value, made on first use.  Integer values are
 * data only where `allow_int` (graph outputs); elsewhere they are plumbing. */
static int materialise(imp_ctx *c, imp_value *v, const imp_node *n, int k, int allow_int)
{
    if (v->id >= 0)
        return v->id;
    if (v->t.dtype == IR_DT_I64 && !allow_int) {
        imp_fail(c, n, EBM_ERR_UNSUPPORTED,
                 "input %d ('%s') is an integer tensor used as data; ebmc computes in float32", k, v->name);
        return -1;
    }
    int sym_n;
    float *f = float_copy(&v->t, &sym_n);
    if (sym_n)
        imp_fail(c, n, EBM_ERR_NOT_STATIC, "'%s' holds the batch size N, which is not known at import time",
                 v->name);
    else if (!f)
        nomem(c);
    else
        set_dynamic(c, v, ir_add_const(c->g, v->name, v->t.shape, f, v->const_flags, c->err));
    free(f);
    return v->id;
}

int imp_input(imp_ctx *c, const imp_node *n, int k)
{
    imp_value *v = input_value(c, n, k, 1);
    if (!v)
        return -1;
    if (v->id >= 0)
        return v->id;
    return materialise(c, v, n, k, 0);
}

const ir_tensor *imp_static(imp_ctx *c, const imp_node *n, int k)
{
    if (!imp_has_input(n, k))
        return NULL;
    imp_value *v = val_find(c, n->p->input[k]);
    return v && v->is_static ? &v->t : NULL;
}

/* Not in onnx_internal.h yet (declared where used, in onnx_lower_shape.c):
 * data movement on a trainable initializer must stay in the graph, or
 * training would update a folded copy instead of the parameter. */
int imp_static_is_param(imp_ctx *c, const imp_node *n, int k)
{
    if (!imp_has_input(n, k))
        return 0;
    imp_value *v = val_find(c, n->p->input[k]);
    return v && v->is_static && (v->const_flags & IR_NODE_PARAM);
}

ebm_status imp_require_static(imp_ctx *c, const imp_node *n, int k, const char *what,
                              const ir_tensor **out)
{
    *out = NULL;
    imp_value *v = input_value(c, n, k, 1);
    if (!v)
        return c->err->code;
    if (!v->is_static)
        return imp_fail(c, n, EBM_ERR_NOT_STATIC,
                        "%s (input %d, '%s') must be known at import time, but it is computed from the "
                        "graph inputs", what, k, v->name);
    *out = &v->t;
    return EBM_OK;
}

const ir_shape *imp_input_shape(imp_ctx *c, const imp_node *n, int k)
{
    if (!imp_has_input(n, k))
        return NULL;
    imp_value *v = val_find(c, n->p->input[k]);
    if (!v)
        return NULL;
    return v->is_static ? &v->t.shape : &v->shape;
}

int imp_static_ints(imp_ctx *c, const imp_node *n, int k, const char *what, int64_t *out, int max)
{
    const ir_tensor *t;
    if (imp_require_static(c, n, k, what, &t) != EBM_OK)
        return -1;
    int64_t count = ir_shape_numel(&t->shape, 0);
    if (t->dtype != IR_DT_I64 || t->shape.rank > 1) {
        imp_fail(c, n, EBM_ERR_INVALID, "%s (input %d) must be an integer scalar or vector", what, k);
        return -1;
    }
    if (count > max) {
        imp_fail(c, n, EBM_ERR_UNSUPPORTED, "%s (input %d) has %lld values, at most %d are supported",
                 what, k, (long long)count, max);
        return -1;
    }
    memcpy(out, t->data, (size_t)count * sizeof *out);
    return (int)count;
}

ebm_status imp_static_scalar(imp_ctx *c, const imp_node *n, int k, const char *what, double *out)
{
    const ir_tensor *t;
    ebm_status st = imp_require_static(c, n, k, what, &t);
    if (st != EBM_OK)
        return st;
    if (ir_shape_numel(&t->shape, 0) != 1)
        return imp_fail(c, n, EBM_ERR_INVALID, "%s (input %d) must hold one value, not %lld", what, k,
                        (long long)ir_shape_numel(&t->shape, 0));
    if (t->dtype == IR_DT_I64 && imp_tensor_get_i(t, 0) == IMP_SYM_N)
        return imp_fail(c, n, EBM_ERR_NOT_STATIC, "%s (input %d) is the batch size N, unknown at import time",
                        what, k);
    *out = imp_tensor_get_f(t, 0);
    return EBM_OK;
}

/* ---- outputs ------------------------------------------------------------------- */

/* The value for output k, or NULL when the node does not ask for it. */
static ebm_status output_slot(imp_ctx *c, const imp_node *n, int k, imp_value **out)
{
    *out = NULL;
    if (k < 0 || (size_t)k >= n->p->n_output || n->p->output[k][0] == 0)
        return EBM_OK;
    if (val_find(c, n->p->output[k]))
        return imp_fail(c, n, EBM_ERR_INTERNAL, "output %d ('%s') bound twice", k, n->p->output[k]);
    *out = val_add(c, n->p->output[k]);
    return *out ? EBM_OK : EBM_ERR_NOMEM;
}

ebm_status imp_set_output(imp_ctx *c, const imp_node *n, int k, int value)
{
    if (value < 0)
        return c->err->code != EBM_OK ? c->err->code
                                      : imp_fail(c, n, EBM_ERR_INTERNAL, "output %d has no value", k);
    imp_value *v;
    ebm_status st = output_slot(c, n, k, &v);
    if (v)
        set_dynamic(c, v, value);
    return st;
}

ebm_status imp_set_static_output(imp_ctx *c, const imp_node *n, int k, ir_tensor *t)
{
    imp_value *v;
    ebm_status st = output_slot(c, n, k, &v);
    if (!v) {
        ir_tensor_free(t);
        return st;
    }
    v->is_static = 1;
    v->t = *t;
    memset(t, 0, sizeof *t);
    return EBM_OK;
}

/* ---- stage 1: structure ------------------------------------------------------- */

static const char *node_op(const Onnx__NodeProto *p)
{
    return str_or_empty(p->op_type);
}

static int is_onnx_domain(const char *d)
{
    return !d || d[0] == 0 || strcmp(d, "ai.onnx") == 0;
}

static const struct onnx_op_row {
    const char *op_type;
    imp_lower_fn fn;
} onnx_ops[] = {
#define ONNX_OP(op_type, fn, note) {op_type, fn},
#include "onnx_ops.def"
#undef ONNX_OP
};

static imp_lower_fn find_lowering(const char *op_type)
{
    for (size_t i = 0; i < sizeof onnx_ops / sizeof *onnx_ops; i++)
        if (strcmp(onnx_ops[i].op_type, op_type) == 0)
            return onnx_ops[i].fn;
    return NULL;
}

/* "name (OpType)", or "#index (OpType)" for unnamed nodes; malloc'd. */
static char *node_label(const Onnx__NodeProto *p, size_t index)
{
    const char *name = str_or_empty(p->name);
    size_t len = strlen(name) + strlen(node_op(p)) + 32;
    char *s = malloc(len);
    if (!s)
        return NULL;
    if (name[0])
        snprintf(s, len, "%s (%s)", name, node_op(p));
    else
        snprintf(s, len, "#%zu (%s)", index, node_op(p));
    return s;
}

/* n: the node defining the name, NULL for initializers. */
static ebm_status define_name(imp_ctx *c, base_strmap *defined, const char *name, const imp_node *n)
{
    if (base_strmap_get(defined, name) >= 0)
        return imp_fail(c, n, EBM_ERR_INVALID, "%s '%s' is defined more than once",
                        n ? "value" : "initializer", name);
    return base_strmap_put(defined, name, 1) ? nomem(c) : EBM_OK;
}

static ebm_status check_opset(imp_ctx *c)
{
    const Onnx__ModelProto *m = c->model;
    c->opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (is_onnx_domain(o->domain))
            c->opset = o->has_version ? o->version : -1;
    }
    if (c->opset < 1)
        return imp_fail(c, NULL, EBM_ERR_FORMAT, "no valid ai.onnx opset in opset_import");
    return EBM_OK;
}

static ebm_status check_node(imp_ctx *c, const Onnx__NodeProto *p, size_t index, base_strmap *defined)
{
    char *label = node_label(p, index);
    if (!label)
        return nomem(c);
    imp_node n = {p, label, c->opset};
    ebm_status st = EBM_OK;
    if (node_op(p)[0] == 0)
        st = imp_fail(c, &n, EBM_ERR_FORMAT, "the node has no op_type");
    else if (!is_onnx_domain(p->domain))
        st = imp_fail(c, &n, EBM_ERR_UNSUPPORTED, "operator domain '%s' is not supported (only ai.onnx)",
                      p->domain);
    for (size_t k = 0; st == EBM_OK && k < p->n_input; k++)
        if (p->input[k][0] && base_strmap_get(defined, p->input[k]) < 0)
            st = imp_fail(c, &n, EBM_ERR_INVALID,
                          "input '%s' is not produced by any node, initializer or graph input", p->input[k]);
    if (st == EBM_OK && !find_lowering(node_op(p)))
        st = imp_fail(c, &n, EBM_ERR_UNSUPPORTED,
                      "operator %s is not supported by ebmc (supported: see docs)", node_op(p));
    for (size_t k = 0; st == EBM_OK && k < p->n_output; k++)
        if (p->output[k][0])
            st = define_name(c, defined, p->output[k], &n);
    free(label);
    return st;
}

static ebm_status check_graph(imp_ctx *c, base_strmap *defined)
{
    const Onnx__GraphProto *gp = c->gp;
    ebm_status st = EBM_OK;
    for (size_t i = 0; st == EBM_OK && i < gp->n_initializer; i++) {
        const char *name = str_or_empty(gp->initializer[i]->name);
        st = name[0] ? define_name(c, defined, name, NULL)
                     : imp_fail(c, NULL, EBM_ERR_FORMAT, "initializer %zu has no name", i);
    }
    for (size_t i = 0; st == EBM_OK && i < gp->n_input; i++) {
        const char *name = str_or_empty(gp->input[i]->name);
        if (!name[0])
            st = imp_fail(c, NULL, EBM_ERR_FORMAT, "graph input %zu has no name", i);
        else if (base_strmap_get(defined, name) < 0)   /* inputs may repeat initializers (IR < 4) */
            st = base_strmap_put(defined, name, 1) ? nomem(c) : EBM_OK;
    }
    for (size_t i = 0; st == EBM_OK && i < gp->n_node; i++)
        st = check_node(c, gp->node[i], i, defined);
    if (st == EBM_OK && gp->n_output == 0)
        st = imp_fail(c, NULL, EBM_ERR_INVALID, "the graph has no outputs");
    for (size_t i = 0; st == EBM_OK && i < gp->n_output; i++) {
        const char *name = str_or_empty(gp->output[i]->name);
        if (base_strmap_get(defined, name) < 0)
            st = imp_fail(c, NULL, EBM_ERR_INVALID,
                          "graph output '%s' is not produced by any node, initializer or graph input", name);
    }
    return st;
}

static ebm_status check_model(imp_ctx *c)
{
    if (!c->model->graph)
        return imp_fail(c, NULL, EBM_ERR_FORMAT, "not an ONNX model (no graph)");
    if (!c->model->has_ir_version || c->model->ir_version < 1)
        return imp_fail(c, NULL, EBM_ERR_FORMAT, "not an ONNX model (no ir_version)");
    c->gp = c->model->graph;
    ebm_status st = check_opset(c);
    if (st != EBM_OK)
        return st;
    base_strmap defined = {0};
    st = check_graph(c, &defined);
    base_strmap_free(&defined);
    return st;
}

/* ---- stage 2: graph fields ------------------------------------------------------ */

static ebm_status dup_str(imp_ctx *c, char **dst, const char *s)
{
    *dst = strdup(s);
    return *dst ? EBM_OK : nomem(c);
}

static ebm_status copy_graph_fields(imp_ctx *c)
{
    const Onnx__ModelProto *m = c->model;
    ir_graph *g = c->g;
    ebm_status st = EBM_OK;
    for (size_t i = 0; st == EBM_OK && i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        st = ir_graph_set_meta(g, str_or_empty(e->key), str_or_empty(e->value), c->err);
    }
    if (st == EBM_OK && m->n_opset_import) {
        if (!(g->opsets = calloc(m->n_opset_import, sizeof *g->opsets)))
            return nomem(c);
        for (size_t i = 0; st == EBM_OK && i < m->n_opset_import; i++) {
            const Onnx__OperatorSetIdProto *o = m->opset_import[i];
            st = dup_str(c, &g->opsets[i].domain, str_or_empty(o->domain));
            g->opsets[i].version = o->version;
            g->n_opsets = (int)i + 1;
        }
    }
    g->onnx_ir_version = m->ir_version;
    g->onnx_nodes = (int)c->gp->n_node;
    if (st == EBM_OK && m->producer_name && m->producer_name[0]) {
        const char *ver = str_or_empty(m->producer_version);
        size_t len = strlen(m->producer_name) + strlen(ver) + 2;
        if (!(g->producer = malloc(len)))
            return nomem(c);
        snprintf(g->producer, len, ver[0] ? "%s %s" : "%s", m->producer_name, ver);
    }
    if (st == EBM_OK)
        st = dup_str(c, &g->source, c->source);
    return st;
}

/* ---- stage 3: initializers ------------------------------------------------------ */

/* Double initializers become float parameters like the others. */
static ebm_status to_f32(imp_ctx *c, ir_tensor *t)
{
    if (t->dtype != IR_DT_F64)
        return EBM_OK;
    int sym_n;
    float *f = float_copy(t, &sym_n);
    if (!f)
        return nomem(c);
    free(t->data);
    t->data = f;
    t->dtype = IR_DT_F32;
    return EBM_OK;
}

static ebm_status decode_for(imp_ctx *c, const Onnx__TensorProto *tp, const char *kind, ir_tensor *out)
{
    char what[512];
    snprintf(what, sizeof what, "%s: %s '%s'", c->source, kind, str_or_empty(tp->name));
    return imp_decode_tensor(tp, what, out, c->err);
}

static ebm_status load_initializers(imp_ctx *c)
{
    for (size_t i = 0; i < c->gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = c->gp->initializer[i];
        imp_value *v = val_add(c, tp->name);
        if (!v)
            return EBM_ERR_NOMEM;
        ebm_status st = decode_for(c, tp, "initializer", &v->t);
        if (st == EBM_OK)
            st = to_f32(c, &v->t);
        if (st != EBM_OK)
            return st;
        v->is_static = 1;
        v->const_flags = v->t.dtype == IR_DT_F32 ? IR_NODE_PARAM | IR_NODE_TRAINABLE : 0;
    }
    return EBM_OK;
}

/* ---- stage 4: graph inputs ------------------------------------------------------ */

static const ir_tensor *find_binding(imp_ctx *c, const char *name)
{
    for (int i = 0; i < c->opt.n_bind; i++)
        if (c->opt.bind[i].name && strcmp(c->opt.bind[i].name, name) == 0)
            return c->opt.bind[i].value;
    return NULL;
}

static ebm_status bind_static(imp_ctx *c, imp_value *v, const ir_tensor *src)
{
    if (!src || src->shape.rank < 0 || src->shape.rank > IR_MAX_RANK || !src->data ||
        ir_dtype_size(src->dtype) == 0)
        return imp_fail(c, NULL, EBM_ERR_INVALID, "the value bound to graph input '%s' is not a valid tensor",
                        v->name);
    ebm_status st = tensor_alloc(&v->t, src->dtype, &src->shape, MAX_ELEMENTS, c->err);
    if (st != EBM_OK)
        return st;
    memcpy(v->t.data, src->data, (size_t)ir_shape_numel(&src->shape, 0) * ir_dtype_size(src->dtype));
    v->is_static = 1;
    return EBM_OK;
}

static const Onnx__TypeProto__Tensor *tensor_type(const Onnx__ValueInfoProto *vi)
{
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return NULL;
    return vi->type->tensor_type;
}

/* Dims as stored in the file, symbolic or unknown ones as IR_DIM_N; -1 when
 * there is no shape or too many dims. */
static int file_shape(const Onnx__TypeProto__Tensor *tt, ir_shape *s)
{
    memset(s, 0, sizeof *s);
    if (!tt || !tt->shape || tt->shape->n_dim > IR_MAX_RANK)
        return -1;
    s->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < s->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        s->d[i] = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0
                      ? d->dim_value : IR_DIM_N;
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value < 0)
            s->d[i] = -2;   /* flagged as invalid for the caller */
    }
    return 0;
}

static ebm_status input_shape(imp_ctx *c, const Onnx__ValueInfoProto *vi, ir_shape *s)
{
    const char *name = vi->name;
    if (file_shape(tensor_type(vi), s) != 0)
        return imp_fail(c, NULL, EBM_ERR_UNSUPPORTED, "graph input '%s' has no shape or more than %d dims",
                        name, IR_MAX_RANK);
    for (int i = 0; i < s->rank; i++) {
        if (i == 0 && c->opt.batch_symbolic) {
            s->d[0] = IR_DIM_N;
        } else if (s->d[i] == -2 || s->d[i] > (INT64_C(1) << 31)) {
            return imp_fail(c, NULL, EBM_ERR_FORMAT, "graph input '%s': dimension %d is negative or huge",
                            name, i);
        } else if (s->d[i] == IR_DIM_N) {
            return imp_fail(c, NULL, EBM_ERR_UNSUPPORTED,
                            "graph input '%s': dimension %d is symbolic; only dimension 0, the batch "
                            "size, may be (and only with batch_symbolic)", name, i);
        }
    }
    return EBM_OK;
}

/* A bound value must fit the dims the file declares (symbolic ones match any size). */
static ebm_status check_bound_shape(imp_ctx *c, const Onnx__ValueInfoProto *vi, const ir_tensor *t)
{
    ir_shape want;
    if (!t || file_shape(tensor_type(vi), &want) != 0)
        return EBM_OK;   /* nothing declared */
    int ok = want.rank == t->shape.rank;
    for (int i = 0; ok && i < want.rank; i++)
        ok = want.d[i] < 0 || want.d[i] == t->shape.d[i];
    if (!ok) {
        char b1[64], b2[64];
        return imp_fail(c, NULL, EBM_ERR_SHAPE, "the value bound to graph input '%s' has shape %s, the model "
                        "declares %s", vi->name, ir_shape_str(&t->shape, b1, sizeof b1),
                        ir_shape_str(&want, b2, sizeof b2));
    }
    return EBM_OK;
}

/* Every binding must name a graph input that is not an initializer: a typo
 * would otherwise leave the input unbound and fail later, less clearly. */
static ebm_status check_bindings(imp_ctx *c)
{
    for (int i = 0; i < c->opt.n_bind; i++) {
        const char *name = c->opt.bind[i].name ? c->opt.bind[i].name : "";
        int found = 0;
        for (size_t k = 0; k < c->gp->n_input && !found; k++)
            found = strcmp(c->gp->input[k]->name, name) == 0;
        for (size_t k = 0; k < c->gp->n_initializer && found; k++)
            found = strcmp(c->gp->initializer[k]->name, name) != 0;
        if (!found)
            return imp_fail(c, NULL, EBM_ERR_INVALID, "a value is bound to '%s', which is not a graph input",
                            name);
    }
    return EBM_OK;
}

static ebm_status bind_inputs(imp_ctx *c)
{
    ebm_status st0 = check_bindings(c);
    if (st0 != EBM_OK)
        return st0;
    for (size_t i = 0; i < c->gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = c->gp->input[i];
        if (val_find(c, vi->name))
            continue;   /* an initializer listed as an input too */
        imp_value *v = val_add(c, vi->name);
        if (!v)
            return EBM_ERR_NOMEM;
        const ir_tensor *bound = find_binding(c, vi->name);
        if (bound) {
            ebm_status st = check_bound_shape(c, vi, bound);
            if (st == EBM_OK)
                st = bind_static(c, v, bound);
            if (st != EBM_OK)
                return st;
            continue;
        }
        const Onnx__TypeProto__Tensor *tt = tensor_type(vi);
        int32_t et = tt && tt->has_elem_type ? tt->elem_type : 0;
        if (et != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return imp_fail(c, NULL, EBM_ERR_UNSUPPORTED,
                            "graph input '%s' has element type %s; only float32 inputs can vary at run "
                            "time (give a value for it when importing)", vi->name, onnx_type_name(et));
        ir_shape s;
        ebm_status st = input_shape(c, vi, &s);
        if (st != EBM_OK)
            return st;
        if (set_dynamic(c, v, ir_add_input(c->g, vi->name, s, c->err)) < 0)
            return c->err->code;
    }
    return EBM_OK;
}

/* ---- stage 5: nodes ----------------------------------------------------------- */

/* Gives a message from a lower layer (ir builder, shape rules) the file and node. */
static void frame_error(imp_ctx *c, const imp_node *n)
{
    size_t ls = strlen(c->source), ll = strlen(n->label);
    const char *m = c->err->msg;
    if (strncmp(m, c->source, ls) == 0 && m[ls] == ':')
        return;
    if (strncmp(m, n->label, ll) == 0 && m[ll] == ':')
        ebm_error_prefix(c->err, "%s: node", c->source);
    else
        ebm_error_prefix(c->err, "%s: node %s", c->source, n->label);
}

static ebm_status lower_nodes(imp_ctx *c)
{
    for (size_t i = 0; i < c->gp->n_node; i++) {
        const Onnx__NodeProto *p = c->gp->node[i];
        char *label = node_label(p, i);
        if (!label)
            return nomem(c);
        imp_node n = {p, label, c->opset};
        c->err->code = EBM_OK;
        ebm_status st = find_lowering(node_op(p))(c, &n);
        if (st != EBM_OK) {
            if (c->err->code == EBM_OK)
                imp_fail(c, &n, st, "lowering failed");
            frame_error(c, &n);
        }
        free(label);
        if (st != EBM_OK)
            return st;
    }
    return EBM_OK;
}

/* ---- stage 6: graph outputs ---------------------------------------------------- */

static ebm_status bind_outputs(imp_ctx *c)
{
    for (size_t i = 0; i < c->gp->n_output; i++) {
        const char *name = c->gp->output[i]->name;
        imp_value *v = val_find(c, name);
        if (!v)
            return imp_fail(c, NULL, EBM_ERR_UNSUPPORTED,
                            "graph output '%s' is an optional output that ebmc does not compute", name);
        int id = materialise(c, v, NULL, 0, 1);
        if (id < 0)
            return c->err->code;
        ebm_status st = ir_add_output(c->g, id, name, c->err);
        if (st != EBM_OK)
            return st;
    }
    return EBM_OK;
}

/* ---- entry points ------------------------------------------------------------ */

static ebm_status import_model(imp_ctx *c)
{
    ebm_status st = check_model(c);
    if (st == EBM_OK)
        st = copy_graph_fields(c);
    if (st == EBM_OK)
        st = load_initializers(c);
    if (st == EBM_OK)
        st = bind_inputs(c);
    if (st == EBM_OK)
        st = lower_nodes(c);
    if (st == EBM_OK)
        st = bind_outputs(c);
    return st;
}

ebm_status ir_onnx_import_buffer(const void *buf, size_t len, const char *label,
                                 const ir_import_options *opt, ir_graph **out, ebm_error *err)
{
    ebm_error local;
    if (!err)
        err = &local;
    err->code = EBM_OK;
    err->msg[0] = 0;
    *out = NULL;
    label = label ? label : "<memory>";
    if (len == 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: empty file", label);
    Onnx__ModelProto *m = unpack_model(buf, len, label, err);
    if (!m)
        return err->code;
    imp_ctx c;
    memset(&c, 0, sizeof c);
    c.source = label;
    c.model = m;
    c.err = err;
    c.opt = opt ? *opt : (ir_import_options){.batch_symbolic = 1};
    c.g = ir_graph_new();
    ebm_status st = c.g ? import_model(&c) : nomem(&c);
    ctx_free(&c);
    onnx__model_proto__free_unpacked(m, NULL);
    if (st != EBM_OK) {
        ir_graph_free(c.g);
        return st;
    }
    *out = c.g;
    return EBM_OK;
}

ebm_status ir_onnx_import_file(const char *path, const ir_import_options *opt, ir_graph **out,
                               ebm_error *err)
{
    uint8_t *buf;
    size_t len;
    *out = NULL;
    ebm_status st = ir_read_file(path, &buf, &len, err);
    if (st != EBM_OK)
        return st;
    st = ir_onnx_import_buffer(buf, len, path, opt, out, err);
    free(buf);
    return st;
}

/* ---- listing inputs --------------------------------------------------------- */

void ir_onnx_inputs_free(ir_onnx_input_desc *d, int n)
{
    for (int i = 0; d && i < n; i++)
        free(d[i].name);
    free(d);
}

static ebm_status list_inputs(const Onnx__GraphProto *gp, const char *path, ir_onnx_input_desc *d,
                              int *n, ebm_error *err)
{
    base_strmap inits = {0};
    ebm_status st = EBM_OK;
    for (size_t i = 0; st == EBM_OK && i < gp->n_initializer; i++) {
        const char *name = str_or_empty(gp->initializer[i]->name);
        if (base_strmap_get(&inits, name) < 0 && base_strmap_put(&inits, name, 1))
            st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; st == EBM_OK && i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = str_or_empty(vi->name);
        if (base_strmap_get(&inits, name) >= 0)
            continue;
        const Onnx__TypeProto__Tensor *tt = tensor_type(vi);
        ir_onnx_input_desc *e = &d[*n];
        e->elem_type = tt && tt->has_elem_type ? tt->elem_type : 0;
        if (file_shape(tt, &e->shape) != 0)
            e->shape.rank = 0;
        for (int k = 0; k < e->shape.rank; k++)
            if (e->shape.d[k] < 0)
                e->shape.d[k] = IR_DIM_N;
        if (!(e->name = strdup(name)))
            st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
        else
            (*n)++;
    }
    base_strmap_free(&inits);
    return st;
}

ebm_status ir_onnx_list_inputs(const char *path, ir_onnx_input_desc **out, int *n, ebm_error *err)
{
    uint8_t *buf;
    size_t len;
    *out = NULL;
    *n = 0;
    ebm_status st = ir_read_file(path, &buf, &len, err);
    if (st != EBM_OK)
        return st;
    ebm_error local;
    Onnx__ModelProto *m = unpack_model(buf, len, path, err ? err : &local);
    free(buf);
    if (!m)
        return err ? err->code : local.code;
    if (!m->graph) {
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ONNX model (no graph)", path);
    } else {
        ir_onnx_input_desc *d = calloc(m->graph->n_input ? m->graph->n_input : 1, sizeof *d);
        if (!d)
            st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
        else if ((st = list_inputs(m->graph, path, d, n, err)) != EBM_OK)
            ir_onnx_inputs_free(d, *n), *n = 0;
        else
            *out = d;
    }
    onnx__model_proto__free_unpacked(m, NULL);
    return st;
}
