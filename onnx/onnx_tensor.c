/* onnx_tensor.c — host tensors (ir_tensor) and the decoding of ONNX
 * TensorProto into them: raw little-endian bytes or the typed repeated
 * fields, every integer and bool type widened to int64, every length checked
 * against the data before anything is read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_internal.h"

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
ebm_status onnx_imp_tensor_alloc_upto(ir_tensor *t, ir_dtype dt, const ir_shape *s, int64_t limit, ebm_error *err)
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

double onnx_imp_tensor_get_f(const ir_tensor *t, int64_t k)
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

int64_t onnx_imp_tensor_get_i(const ir_tensor *t, int64_t k)
{
    if (t->dtype == IR_DT_I64)
        return ((const int64_t *)t->data)[k];
    return double_to_i64(onnx_imp_tensor_get_f(t, k));
}

int onnx_imp_norm_axis(int64_t axis, int rank)
{
    if (axis < -rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

const char *onnx_imp_type_name(int32_t dt)
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
        if (d > 0 && n > ONNX_IMP_MAX_ELEMENTS / d)
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

ebm_status onnx_imp_decode_tensor(const Onnx__TensorProto *tp, const char *what, ir_tensor *out,
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
                        onnx_imp_type_name(dt), (int)dt);
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
                            tp->raw_data.len, (long long)n * ek.size, (long long)n, onnx_imp_type_name(dt));
    } else if (n_typed != (size_t)n) {
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: holds %zu values, expected %lld (shape has %lld elements)",
                        what, n_typed, (long long)n, (long long)n);
    }
    st = onnx_imp_tensor_alloc_upto(out, ek.dt, &s, ONNX_IMP_MAX_ELEMENTS, err);
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

