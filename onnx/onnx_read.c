/* onnx_read.c — getting an ONNX file into memory safely: whole-file reads,
 * the nesting guard that runs before protobuf-c unpacks a model, value-info
 * shapes as the file gives them, and the listing of a model's inputs
 * (ir_onnx_list_inputs) that needs no import.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "onnx_internal.h"

const char *onnx_imp_str(const char *s)
{
    return s ? s : "";
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
    st = onnx_imp_decode_tensor(tp, path, out, err);
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
Onnx__ModelProto *onnx_imp_unpack_model(const void *buf, size_t len, const char *label, ebm_error *err)
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

/* ---- value infos ------------------------------------------------------------ */

const Onnx__TypeProto__Tensor *onnx_imp_tensor_type(const Onnx__ValueInfoProto *vi)
{
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return NULL;
    return vi->type->tensor_type;
}

/* Dims as stored in the file, symbolic or unknown ones as IR_DIM_N; -1 when
 * there is no shape or too many dims. */
int onnx_imp_file_shape(const Onnx__TypeProto__Tensor *tt, ir_shape *s)
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
        const char *name = onnx_imp_str(gp->initializer[i]->name);
        if (base_strmap_get(&inits, name) < 0 && base_strmap_put(&inits, name, 1))
            st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; st == EBM_OK && i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = onnx_imp_str(vi->name);
        if (base_strmap_get(&inits, name) >= 0)
            continue;
        const Onnx__TypeProto__Tensor *tt = onnx_imp_tensor_type(vi);
        ir_onnx_input_desc *e = &d[*n];
        e->elem_type = tt && tt->has_elem_type ? tt->elem_type : 0;
        if (onnx_imp_file_shape(tt, &e->shape) != 0)
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
    Onnx__ModelProto *m = onnx_imp_unpack_model(buf, len, path, err ? err : &local);
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
