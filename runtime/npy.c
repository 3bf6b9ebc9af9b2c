/* npy.c — NumPy .npy reading and atomic writing (see npy.h).
 *
 * The header is a Python dict literal.  Rather than a general Python parser we
 * accept exactly the grammar numpy writes (plus what a hand edit plausibly
 * produces: either quote style, extra spaces, trailing commas), and reject
 * everything else with the file named, because a header we misread would
 * silently reinterpret the data.  Every length in the file is checked against
 * the file size before anything is allocated or read.
 */
#include "npy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomic_file.h"
#include "text.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c reads and writes little-endian data with memcpy: port it for this host"
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* numpy itself refuses headers over 10000 bytes unless told otherwise; a
 * header that describes at most EBM_NPY_MAX_RANK dims is far smaller. */
#define NPY_MAX_HEADER 65536
#define NPY_DESCR_MAX 32

int64_t ebm_array_numel(const ebm_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->rank; i++)
        n *= a->shape[i];
    return n;
}

ebm_status ebm_array_check_finite(const ebm_array *a, const char *path, ebm_error *err)
{
    if (a->dtype == EBM_NPY_I64)
        return EBM_OK;
    const int64_t n = ebm_array_numel(a);
    int64_t bad = -1;
    double v = 0;
    for (int64_t i = 0; i < n && bad < 0; i++) {
        v = a->dtype == EBM_NPY_F32 ? (double)((const float *)a->data)[i] : ((const double *)a->data)[i];
        if (!isfinite(v))
            bad = i;
    }
    if (bad < 0)
        return EBM_OK;
    /* the element's index per dimension, C order */
    int64_t idx[EBM_NPY_MAX_RANK], rest = bad;
    for (int d = a->rank - 1; d >= 0; d--) {
        idx[d] = a->shape[d] > 0 ? rest % a->shape[d] : 0;
        rest = a->shape[d] > 0 ? rest / a->shape[d] : 0;
    }
    char where[EBM_NPY_MAX_RANK * 24 + 4] = "[";
    size_t k = 1;
    for (int d = 0; d < a->rank && k < sizeof where; d++)
        k += (size_t)snprintf(where + k, sizeof where - k, "%s%lld", d ? "," : "", (long long)idx[d]);
    if (k < sizeof where - 1)
        snprintf(where + k, sizeof where - k, "]");
    return ebm_fail(err, EBM_ERR_NUMERIC, "%s: element %lld %s is %s: every value of an input array must be "
                    "finite", path, (long long)bad, where, isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
}

void ebm_array_free(ebm_array *a)
{
    if (!a)
        return;
    free(a->data);
    a->data = NULL;
    a->rank = 0;
}

/* Element count of a shape, or -1 when a dim is negative or the product (times
 * elem_size bytes) does not fit in int64 / size_t. */
static int64_t shape_numel_checked(int rank, const int64_t *shape, size_t elem_size)
{
    const uint64_t cap = SIZE_MAX < (uint64_t)INT64_MAX ? (uint64_t)SIZE_MAX : (uint64_t)INT64_MAX;
    const int64_t limit = (int64_t)(cap / elem_size);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] != 0 && n > limit / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

/* ---- header parsing --------------------------------------------------------- */

typedef struct npy_header {
    char descr[NPY_DESCR_MAX];
    int fortran;
    int rank;
    int64_t shape[EBM_NPY_MAX_RANK];
    unsigned seen;   /* HDR_* bits */
} npy_header;

enum { HDR_DESCR = 1u << 0, HDR_ORDER = 1u << 1, HDR_SHAPE = 1u << 2, HDR_STRUCTURED = 1u << 3 };

typedef struct npy_lexer {
    const char *p, *end;
    const char *path;
    ebm_error *err;
} npy_lexer;

static ebm_status lex_fail(npy_lexer *lx, const char *what)
{
    return ebm_fail(lx->err, EBM_ERR_FORMAT, "%s: malformed .npy header: %s", lx->path, what);
}

static void lex_skip_ws(npy_lexer *lx)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' ||
                               *lx->p == '\r'))
        lx->p++;
}

/* Skips white space; consumes c and returns 1 if it comes next. */
static int lex_accept(npy_lexer *lx, char c)
{
    lex_skip_ws(lx);
    if (lx->p < lx->end && *lx->p == c) {
        lx->p++;
        return 1;
    }
    return 0;
}

static ebm_status lex_expect(npy_lexer *lx, char c, const char *what)
{
    return lex_accept(lx, c) ? EBM_OK : lex_fail(lx, what);
}

/* A quoted string without escapes (numpy never writes any). */
static ebm_status lex_string(npy_lexer *lx, char *buf, size_t size, const char *what)
{
    lex_skip_ws(lx);
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"'))
        return lex_fail(lx, what);
    char quote = *lx->p++;
    const char *start = lx->p;
    while (lx->p < lx->end && *lx->p != quote) {
        if (*lx->p == '\\' || *lx->p == '\0' || *lx->p == '\n')
            return lex_fail(lx, "unexpected character in a string");
        lx->p++;
    }
    if (lx->p >= lx->end)
        return lex_fail(lx, "unterminated string");
    size_t len = (size_t)(lx->p - start);
    lx->p++;
    if (len >= size) {
        /* Keep a prefix so the caller can still name what it found. */
        len = size - 1;
    }
    memcpy(buf, start, len);
    buf[len] = '\0';
    return EBM_OK;
}

static ebm_status lex_bool(npy_lexer *lx, int *out)
{
    lex_skip_ws(lx);
    size_t left = (size_t)(lx->end - lx->p);
    if (left >= 4 && memcmp(lx->p, "True", 4) == 0) {
        lx->p += 4;
        *out = 1;
        return EBM_OK;
    }
    if (left >= 5 && memcmp(lx->p, "False", 5) == 0) {
        lx->p += 5;
        *out = 0;
        return EBM_OK;
    }
    return lex_fail(lx, "'fortran_order' must be True or False");
}

static ebm_status lex_dim(npy_lexer *lx, int64_t *out)
{
    lex_skip_ws(lx);
    if (lx->p >= lx->end || *lx->p < '0' || *lx->p > '9')
        return lex_fail(lx, "'shape' must be a tuple of non-negative integers");
    int64_t v = 0;
    while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
        int digit = *lx->p++ - '0';
        if (v > (INT64_MAX - digit) / 10)
            return lex_fail(lx, "a dimension in 'shape' does not fit in 64 bits");
        v = v * 10 + digit;
    }
    if (lx->p < lx->end && *lx->p == 'L')   /* Python 2 long literal */
        lx->p++;
    *out = v;
    return EBM_OK;
}

/* "(" [dim ("," dim)* [","]] ")"; a bare "(3)" is accepted too. */
static ebm_status lex_shape(npy_lexer *lx, npy_header *h)
{
    ebm_status st = lex_expect(lx, '(', "'shape' must be a tuple");
    if (st)
        return st;
    h->rank = 0;
    while (!lex_accept(lx, ')')) {
        if (h->rank == EBM_NPY_MAX_RANK)
            return ebm_fail(lx->err, EBM_ERR_UNSUPPORTED,
                            "%s: arrays of more than %d dimensions are not supported", lx->path,
                            EBM_NPY_MAX_RANK);
        st = lex_dim(lx, &h->shape[h->rank]);
        if (st)
            return st;
        h->rank++;
        if (!lex_accept(lx, ','))
            return lex_expect(lx, ')', "expected ',' or ')' in 'shape'");
    }
    return EBM_OK;
}

static ebm_status lex_entry(npy_lexer *lx, npy_header *h)
{
    char key[32];
    ebm_status st = lex_string(lx, key, sizeof key, "expected a quoted key");
    if (st)
        return st;
    if (!lex_accept(lx, ':'))
        return lex_fail(lx, "expected ':' after a key");
    unsigned bit;
    if (strcmp(key, "descr") == 0) {
        bit = HDR_DESCR;
        lex_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == '[') {
            /* A list descr is a structured dtype: stop here and report that,
             * not the (irrelevant) syntax of the field list. */
            h->seen |= HDR_STRUCTURED | HDR_DESCR;
            return EBM_OK;
        }
        st = lex_string(lx, h->descr, sizeof h->descr, "'descr' must be a quoted dtype string");
    } else if (strcmp(key, "fortran_order") == 0) {
        bit = HDR_ORDER;
        st = lex_bool(lx, &h->fortran);
    } else if (strcmp(key, "shape") == 0) {
        bit = HDR_SHAPE;
        st = lex_shape(lx, h);
    } else {
        return ebm_fail(lx->err, EBM_ERR_FORMAT, "%s: malformed .npy header: unexpected key '%s'",
                        lx->path, key);
    }
    if (st)
        return st;
    if (h->seen & bit)
        return ebm_fail(lx->err, EBM_ERR_FORMAT, "%s: malformed .npy header: key '%s' repeated",
                        lx->path, key);
    h->seen |= bit;
    return EBM_OK;
}

static ebm_status parse_header(const char *path, const char *text, size_t len, npy_header *h,
                               ebm_error *err)
{
    npy_lexer lx = {text, text + len, path, err};
    memset(h, 0, sizeof *h);
    if (!lex_accept(&lx, '{'))
        return lex_fail(&lx, "expected '{'");
    while (!lex_accept(&lx, '}')) {
        ebm_status st = lex_entry(&lx, h);
        if (st)
            return st;
        if (h->seen & HDR_STRUCTURED)
            return EBM_OK;
        if (!lex_accept(&lx, ',')) {
            if (!lex_accept(&lx, '}'))
                return lex_fail(&lx, "expected ',' or '}'");
            break;
        }
    }
    lex_skip_ws(&lx);
    if (lx.p != lx.end)
        return lex_fail(&lx, "unexpected text after '}'");
    static const struct { unsigned bit; const char *key; } required[] = {
        {HDR_DESCR, "descr"}, {HDR_ORDER, "fortran_order"}, {HDR_SHAPE, "shape"}};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!(h->seen & required[i].bit))
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: malformed .npy header: key '%s' missing",
                            path, required[i].key);
    return EBM_OK;
}

/* ---- dtypes -------------------------------------------------------------------- */

typedef struct npy_dtype {
    char kind;        /* 'f', 'i', 'u', 'b' */
    int size;         /* bytes per element in the file */
    ebm_npy_dtype out;
} npy_dtype;

static const char *dtype_kind_name(char kind)
{
    switch (kind) {
    case 'c': return "complex";
    case 'O': return "Python object";
    case 'U': return "unicode string";
    case 'S': case 'a': return "byte string";
    case 'V': return "void/structured";
    case 'M': return "datetime";
    case 'm': return "timedelta";
    case 'f': return "float of this size";
    default: return "unknown";
    }
}

static ebm_status dtype_decode(const char *path, const char *descr, npy_dtype *dt, ebm_error *err)
{
    char order = descr[0];
    char kind = order ? descr[1] : '\0';
    char *endp = NULL;
    long size = kind && descr[2] >= '0' && descr[2] <= '9' ? strtol(descr + 2, &endp, 10) : 0;
    int well_formed = (order == '<' || order == '>' || order == '|' || order == '=' ||
                       order == '!') && kind && endp && endp != descr + 2 && *endp == '\0';
    if (!well_formed)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: unsupported dtype '%s'; expected '<f4' "
                        "(float32), '<f8' (float64) or an integer type", path, descr);
    dt->kind = kind;
    dt->size = (int)size;
    int ok = (kind == 'f' && (size == 4 || size == 8)) ||
             ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) ||
             (kind == 'b' && size == 1);
    if (!ok)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: unsupported dtype '%s' (%s); expected "
                        "'<f4' (float32), '<f8' (float64) or an integer type", path, descr,
                        dtype_kind_name(kind));
    if ((order == '>' || order == '!') && size > 1)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: unsupported big-endian dtype '%s'; "
                        "convert with arr.astype('<%c%ld')", path, descr, kind, size);
    dt->out = kind == 'f' ? (size == 4 ? EBM_NPY_F32 : EBM_NPY_F64) : EBM_NPY_I64;
    return EBM_OK;
}

static size_t npy_dtype_size(ebm_npy_dtype dt)
{
    return dt == EBM_NPY_F32 ? 4 : 8;
}

/* Widens n raw integers of the file's type, stored at the start of buf, to
 * int64 in place.  Walking backwards is safe: out[k] only overlaps raw
 * elements >= k, and raw[k] is read before out[k] is written. */
static ebm_status widen_ints(const char *path, const npy_dtype *dt, void *buf, int64_t n,
                             ebm_error *err)
{
    unsigned char *raw = buf;
    int64_t *out = buf;
    for (int64_t k = n - 1; k >= 0; k--) {
        const unsigned char *src = raw + k * dt->size;
        int64_t v;
        if (dt->kind == 'b') {
            v = src[0] != 0;
        } else if (dt->kind == 'u') {
            uint64_t u = 0;
            if (dt->size == 1) { uint8_t t; memcpy(&t, src, 1); u = t; }
            else if (dt->size == 2) { uint16_t t; memcpy(&t, src, 2); u = t; }
            else if (dt->size == 4) { uint32_t t; memcpy(&t, src, 4); u = t; }
            else memcpy(&u, src, 8);
            if (u > (uint64_t)INT64_MAX)
                return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: element %lld = %llu does not fit "
                                "in int64", path, (long long)k, (unsigned long long)u);
            v = (int64_t)u;
        } else {
            if (dt->size == 1) { int8_t t; memcpy(&t, src, 1); v = t; }
            else if (dt->size == 2) { int16_t t; memcpy(&t, src, 2); v = t; }
            else if (dt->size == 4) { int32_t t; memcpy(&t, src, 4); v = t; }
            else memcpy(&v, src, 8);
        }
        memcpy(&out[k], &v, sizeof v);
    }
    return EBM_OK;
}

/* ---- reading ----------------------------------------------------------------- */

static ebm_status read_exact(FILE *f, const char *path, void *buf, size_t n, const char *what,
                             ebm_error *err)
{
    if (n == 0 || fread(buf, 1, n, f) == n)
        return EBM_OK;
    if (ferror(f))
        return ebm_fail(err, EBM_ERR_IO, "%s: read error in %s: %s", path, what, strerror(errno));
    return ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated in %s", path, what);
}

/* Reads the preamble and returns the header text (malloc'd) and where the data starts. */
static ebm_status read_preamble(FILE *f, const char *path, int64_t file_size, char **text,
                                size_t *text_len, int64_t *data_off, ebm_error *err)
{
    unsigned char pre[12];
    if (file_size < 10)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not a .npy file (only %lld bytes)", path,
                        (long long)file_size);
    ebm_status st = read_exact(f, path, pre, 10, "the .npy preamble", err);
    if (st)
        return st;
    if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    int major = pre[6], minor = pre[7];
    int64_t hlen, pre_len;
    if (major == 1) {
        hlen = pre[8] | (int64_t)pre[9] << 8;
        pre_len = 10;
    } else if (major == 2 || major == 3) {
        if (file_size < 12)
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated .npy preamble", path);
        st = read_exact(f, path, pre + 10, 2, "the .npy preamble", err);
        if (st)
            return st;
        hlen = pre[8] | (int64_t)pre[9] << 8 | (int64_t)pre[10] << 16 | (int64_t)pre[11] << 24;
        pre_len = 12;
    } else {
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: unsupported .npy format version %d.%d "
                        "(expected 1.0, 2.0 or 3.0)", path, major, minor);
    }
    if (hlen > NPY_MAX_HEADER)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: .npy header length %lld exceeds the limit of "
                        "%d bytes", path, (long long)hlen, NPY_MAX_HEADER);
    if (pre_len + hlen > file_size)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: .npy header length %lld runs past the end of "
                        "the file (%lld bytes)", path, (long long)hlen, (long long)file_size);
    *text = malloc((size_t)hlen + 1);
    if (!*text)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for the .npy header", path);
    st = read_exact(f, path, *text, (size_t)hlen, "the .npy header", err);
    if (st) {
        free(*text);
        *text = NULL;
        return st;
    }
    (*text)[hlen] = '\0';
    *text_len = (size_t)hlen;
    *data_off = pre_len + hlen;
    return EBM_OK;
}

/* Validates the parsed header against the file and fills the array's
 * metadata; *raw_bytes is the data size in the file. */
static ebm_status check_header(const char *path, const npy_header *h, int64_t data_avail,
                               npy_dtype *dt, ebm_array *out, size_t *raw_bytes, ebm_error *err)
{
    if (h->seen & HDR_STRUCTURED)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: structured dtypes are not supported; "
                        "expected a plain float32 array", path);
    ebm_status st = dtype_decode(path, h->descr, dt, err);
    if (st)
        return st;
    if (h->fortran)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: Fortran-order arrays are not supported "
                        "(dtype '%s'); save with np.ascontiguousarray()", path, h->descr);
    char sbuf[256];
    base_dims_str(h->shape, h->rank, sbuf, sizeof sbuf);
    /* The widened element is the larger of the two sizes, so check with it. */
    int64_t numel = shape_numel_checked(h->rank, h->shape, 8);
    if (numel < 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: shape %s is too large (element count "
                        "overflows)", path, sbuf);
    int64_t need = numel * dt->size;
    if (need > data_avail)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated: shape %s of '%s' needs %lld data "
                        "bytes, the file has %lld", path, sbuf, h->descr, (long long)need,
                        (long long)data_avail);
    if (need < data_avail)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: %lld unexpected bytes after the data of shape "
                        "%s '%s'", path, (long long)(data_avail - need), sbuf, h->descr);
    out->dtype = dt->out;
    out->rank = h->rank;
    memcpy(out->shape, h->shape, sizeof h->shape);
    *raw_bytes = (size_t)need;
    return EBM_OK;
}

static ebm_status read_body(FILE *f, const char *path, int64_t file_size, ebm_array *out,
                            ebm_error *err)
{
    char *text = NULL;
    size_t text_len = 0;
    int64_t data_off = 0;
    ebm_status st = read_preamble(f, path, file_size, &text, &text_len, &data_off, err);
    if (st)
        return st;
    npy_header h;
    st = parse_header(path, text, text_len, &h, err);
    free(text);
    if (st)
        return st;
    npy_dtype dt = {0};
    size_t raw_bytes = 0;
    ebm_array a = {0};
    st = check_header(path, &h, file_size - data_off, &dt, &a, &raw_bytes, err);
    if (st)
        return st;
    int64_t numel = ebm_array_numel(&a);
    size_t bytes = (size_t)numel * npy_dtype_size(a.dtype);
    a.data = malloc(bytes ? bytes : 1);
    if (!a.data)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %zu bytes of data", path, bytes);
    st = read_exact(f, path, a.data, raw_bytes, "the array data", err);
    if (!st && a.dtype == EBM_NPY_I64)
        st = widen_ints(path, &dt, a.data, numel, err);
    if (st) {
        free(a.data);
        return st;
    }
    *out = a;
    return EBM_OK;
}

ebm_status ebm_npy_read(const char *path, ebm_array *out, ebm_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    ebm_status st;
    if (fstat(fileno(f), &sb) != 0)
        st = ebm_fail(err, EBM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = ebm_fail(err, EBM_ERR_IO, "%s: not a regular file", path);
    else
        st = read_body(f, path, (int64_t)sb.st_size, out, err);
    fclose(f);
    return st;
}

/* ---- writing ------------------------------------------------------------------ */

/* Builds the v1.0 header numpy itself writes, padded so the data starts on a
 * 64-byte boundary.  Returns the total preamble + header length. */
static size_t build_header(ebm_npy_dtype dtype, int rank, const int64_t *shape, char *buf,
                           size_t size)
{
    static const char *const descr[] = {"<f4", "<f8", "<i8"};
    char dims[EBM_NPY_MAX_RANK * 24 + 8];
    size_t len = 0;
    dims[0] = '\0';
    for (int i = 0; i < rank; i++)
        len += (size_t)snprintf(dims + len, sizeof dims - len, "%lld,%s", (long long)shape[i],
                                i + 1 < rank ? " " : "");
    if (rank > 1)
        dims[len - 1] = '\0';   /* numpy writes "(3, 4)" but "(3,)" */
    memcpy(buf, NPY_MAGIC "\x01\x00", 8);
    int n = snprintf(buf + 10, size - 10, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                     descr[dtype], dims);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    memset(buf + 10 + n, ' ', padded - total);
    buf[padded - 1] = '\n';
    size_t hlen = padded - 10;
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    return padded;
}

/* The public name of base_write_atomic (npy.h). */
ebm_status ebm_write_atomic(const char *path, const void *const *parts, const size_t *lens, int n_parts,
                            ebm_error *err)
{
    return base_write_atomic(path, parts, lens, n_parts, err);
}

ebm_status ebm_npy_write(const char *path, ebm_npy_dtype dtype, int rank, const int64_t *shape,
                         const void *data, ebm_error *err)
{
    if (dtype != EBM_NPY_F32 && dtype != EBM_NPY_F64 && dtype != EBM_NPY_I64)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: invalid dtype %d for writing", path, (int)dtype);
    if (rank < 0 || rank > EBM_NPY_MAX_RANK)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: rank %d out of range 0..%d", path, rank,
                        EBM_NPY_MAX_RANK);
    int64_t numel = shape_numel_checked(rank, shape, npy_dtype_size(dtype));
    if (numel < 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: invalid shape (negative dimension or element "
                        "count overflow)", path);
    if (numel > 0 && !data)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: no data for %lld elements", path,
                        (long long)numel);
    char head[512];
    size_t head_len = build_header(dtype, rank, shape, head, sizeof head);
    const void *parts[2] = {head, data};
    const size_t lens[2] = {head_len, (size_t)numel * npy_dtype_size(dtype)};
    return ebm_write_atomic(path, parts, lens, 2, err);
}
