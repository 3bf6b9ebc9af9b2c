/* data.c — dataset loading (IDX, .npy, CSV), shape check, minibatches (see data.h).
 *
 * The whole file is read into memory first (decompressing gzip with zlib),
 * then recognised by its first bytes.  Every length a header claims is checked
 * against what was actually read before anything is indexed, so a truncated
 * or corrupt file is an error message, never an out-of-bounds read.
 */
#include "data.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "bigmem.h"
#include "npy.h"
#include "text.h"

/* ---- small helpers ------------------------------------------------------------- */

int64_t ebm_dataset_sample_numel(const ebm_dataset *d)
{
    int64_t n = 1;
    for (int i = 1; i < d->rank; i++)
        n *= d->shape[i];
    return n;
}

void ebm_dataset_free(ebm_dataset *d)
{
    if (!d)
        return;
    free(d->data);
    free(d->bytes);
    memset(d, 0, sizeof *d);
}

/* 0..255 -> [-1, 1] */
static float pixel_to_unit(double p)
{
    return (float)(p / 127.5 - 1.0);
}

/* ---- reading the whole file ------------------------------------------------------- */

typedef struct file_bytes {
    unsigned char *p;
    size_t len;
    int gzipped;
} file_bytes;

static ebm_status read_plain(FILE *f, const char *path, size_t size, file_bytes *fb, ebm_error *err)
{
    fb->p = malloc(size ? size : 1);
    if (!fb->p)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %zu bytes", path, size);
    if (size && fread(fb->p, 1, size, f) != size)
        return ebm_fail(err, EBM_ERR_IO, "%s: read error: %s", path,
                        ferror(f) ? strerror(errno) : "file shrank while reading");
    fb->len = size;
    return EBM_OK;
}

/* How much a gzip stream may inflate to, decided from its first GZIP_PROBE
 * decompressed bytes (fewer at end of stream), so a small file cannot make us
 * inflate gigabytes (a "gzip bomb"):
 *   IDX (00 00 08 r + dims)  the header's size exactly; more is an error at
 *                            once; a header claiming more than deflate can
 *                            expand the file to (1032:1) is truncated for sure;
 *   other data from 00 00, or .npy: nothing more (the loader names the format);
 *   anything else (CSV text): GZIP_TEXT_MAX. */
#define GZIP_PROBE 4096
#define GZIP_TEXT_MAX ((size_t)1 << 30)
#define DEFLATE_MAX_RATIO 1032u

/* *limit: how many decompressed bytes the stream may hold, 0 = read no more
 * (the loader names what the bytes are). */
static ebm_status gzip_limit(const char *path, size_t packed, const file_bytes *fb, size_t *limit,
                             ebm_error *err)
{
    const unsigned char *p = fb->p;
    *limit = 0;
    if (fb->len >= 6 && memcmp(p, "\x93NUMPY", 6) == 0)
        return EBM_OK;
    if (!(fb->len >= 2 && p[0] == 0 && p[1] == 0)) {
        *limit = GZIP_TEXT_MAX;
        return EBM_OK;
    }
    if (fb->len < 4 || p[2] != 0x08 || p[3] < 1 || p[3] > EBM_DATA_MAX_RANK - 1)
        return EBM_OK;
    const int rank = p[3];
    const size_t hdr = 4 + 4 * (size_t)rank;
    if (fb->len < hdr)
        return EBM_OK;
    uint64_t bytes = 1;
    for (int i = 0; i < rank; i++) {
        const unsigned char *q = p + 4 + 4 * i;
        const uint64_t d = (uint64_t)q[0] << 24 | (uint64_t)q[1] << 16 | (uint64_t)q[2] << 8 | q[3];
        if (d != 0 && bytes > UINT64_MAX / 2 / d)
            return EBM_OK;   /* load_idx says the shape is too large */
        bytes *= d;
    }
    bytes += hdr;
    if (bytes / DEFLATE_MAX_RATIO > (uint64_t)packed || bytes >= SIZE_MAX)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated gzipped IDX: the header says %llu bytes, more than "
                        "the %zu-byte file can inflate to (deflate expands at most %u:1)", path,
                        (unsigned long long)bytes, packed, DEFLATE_MAX_RATIO);
    *limit = (size_t)bytes;
    return EBM_OK;
}

/* Decompresses into fb until it holds `upto` bytes or the stream ends (*eof).
 * The buffer doubles, but grows to at least `hint` bytes at once: one
 * allocation instead of a dozen copies when the size is about known. */
static ebm_status gz_fill(gzFile gz, const char *path, file_bytes *fb, size_t *cap, size_t upto, size_t hint,
                          int *eof, ebm_error *err)
{
    while (fb->len < upto) {
        if (fb->len == *cap) {
            size_t grow = *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
            grow = grow > hint ? grow : hint;
            grow = grow < upto ? grow : upto;
            unsigned char *q = realloc(fb->p, grow);
            if (!q)
                return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory decompressing (%zu bytes so far)", path,
                                fb->len);
            fb->p = q;
            *cap = grow;
            base_bigmem_advise(q + fb->len, grow - fb->len);   /* the part inflate writes next */
        }
        const size_t room = (*cap < upto ? *cap : upto) - fb->len;
        int got = gzread(gz, fb->p + fb->len, (unsigned)(room < (1u << 30) ? room : (1u << 30)));
        int zerr = Z_OK;
        const char *zmsg = gzerror(gz, &zerr);
        if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt or truncated gzip data after %zu "
                            "decompressed bytes: %s", path, fb->len, zmsg ? zmsg : "zlib error");
        if (got == 0) {
            *eof = 1;
            return EBM_OK;
        }
        fb->len += (size_t)got;
    }
    return EBM_OK;
}

static ebm_status read_gzip(const char *path, size_t packed, file_bytes *fb, ebm_error *err)
{
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = GZIP_PROBE, limit = 0;
    int eof = 0;
    fb->p = malloc(cap);
    fb->gzipped = 1;
    ebm_status st = fb->p ? EBM_OK : ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    if (!st)
        st = gz_fill(gz, path, fb, &cap, GZIP_PROBE, 0, &eof, err);
    if (!st)
        st = gzip_limit(path, packed, fb, &limit, err);
    /* one byte past the limit tells that the stream is longer.  The limit is
     * the header's word (up to deflate's 1032:1 of the file): the buffer goes
     * there at once only while that is within 8 times the file (image data
     * packs 2-5:1), so a lying header costs doublings, not a huge block */
    const size_t hint = packed <= SIZE_MAX / 8 ? 8 * packed : SIZE_MAX;
    if (!st && limit && !eof && fb->len <= limit)
        st = gz_fill(gz, path, fb, &cap, limit + 1, hint < limit + 1 ? hint : limit + 1, &eof, err);
    gzclose(gz);
    if (!st && limit && fb->len > limit)
        st = limit == GZIP_TEXT_MAX
                 ? ebm_fail(err, EBM_ERR_FORMAT, "%s: gzipped text inflating beyond %zu bytes: decompress it "
                            "first", path, limit)
                 : ebm_fail(err, EBM_ERR_FORMAT, "%s: the gzip data inflates beyond the %zu bytes its IDX header "
                            "describes (a gzip bomb, or data after the array); decompression stopped there", path,
                            limit);
    return st;
}

/* Reads the file (decompressed if it starts with the gzip magic 1f 8b). */
static ebm_status read_file(const char *path, file_bytes *fb, ebm_error *err)
{
    memset(fb, 0, sizeof *fb);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    unsigned char magic[2] = {0, 0};
    ebm_status st = EBM_OK;
    if (fstat(fileno(f), &sb) != 0)
        st = ebm_fail(err, EBM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = ebm_fail(err, EBM_ERR_IO, "%s: not a regular file", path);
    else if (sb.st_size == 0)
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: empty file (no samples)", path);
    if (st) {
        fclose(f);
        return st;
    }
    size_t got = fread(magic, 1, 2, f);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        fclose(f);
        st = read_gzip(path, (size_t)sb.st_size, fb, err);
    } else {
        rewind(f);
        st = read_plain(f, path, (size_t)sb.st_size, fb, err);
        fclose(f);
    }
    if (st) {
        free(fb->p);
        memset(fb, 0, sizeof *fb);
    }
    return st;
}

/* ---- IDX ---------------------------------------------------------------------- */

static const char *idx_type_name(int t)
{
    switch (t) {
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return NULL;
    }
}

static ebm_status idx_header(const char *path, const file_bytes *fb, int *rank, int64_t *dims,
                             ebm_error *err)
{
    const unsigned char *p = fb->p;
    unsigned magic = fb->len >= 4 ? (unsigned)p[0] << 24 | (unsigned)p[1] << 16 |
                                    (unsigned)p[2] << 8 | p[3] : 0;
    if (fb->len < 4)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated IDX file (%zu bytes, no complete "
                        "magic number)", path, fb->len);
    const char *tname = idx_type_name(p[2]);
    if (tname)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: IDX element type 0x%02x (%s) is not "
                        "supported; only unsigned bytes (magic 0x00000803 images, 0x00000801 "
                        "labels)", path, p[2], tname);
    if (p[2] != 0x08 || p[3] < 1 || p[3] > EBM_DATA_MAX_RANK - 1)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: bad IDX magic 0x%08x; expected 0x00000803 "
                        "(ubyte images [N,H,W]), 0x00000801 (ubyte labels [N]) or another "
                        "ubyte rank 0x0000080r with 1 <= r <= %d", path, magic,
                        EBM_DATA_MAX_RANK - 1);
    *rank = p[3];
    size_t hdr = 4 + 4 * (size_t)*rank;
    if (fb->len < hdr)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated IDX header: rank %d needs %zu header "
                        "bytes, the file has %zu", path, *rank, hdr, fb->len);
    for (int i = 0; i < *rank; i++) {
        const unsigned char *q = p + 4 + 4 * i;
        dims[i] = (int64_t)q[0] << 24 | (int64_t)q[1] << 16 | (int64_t)q[2] << 8 | q[3];
    }
    return EBM_OK;
}

/* keep: hand the file's bytes to out (fb->p moves there) instead of converting them */
static ebm_status load_idx(const char *path, file_bytes *fb, int keep, ebm_dataset *out, ebm_error *err)
{
    int rank = 0;
    int64_t dims[EBM_DATA_MAX_RANK] = {0};
    ebm_status st = idx_header(path, fb, &rank, dims, err);
    if (st)
        return st;
    char sbuf[160];
    base_dims_str(dims, rank, sbuf, sizeof sbuf);
    size_t hdr = 4 + 4 * (size_t)rank;
    /* Each dim < 2^32 and rank <= 7: check the product against the bytes read. */
    uint64_t numel = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] != 0 && numel > UINT64_MAX / (uint64_t)dims[i])
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: IDX shape %s is too large", path, sbuf);
        numel *= (uint64_t)dims[i];
    }
    size_t avail = fb->len - hdr;
    const char *what = fb->gzipped ? "decompressed data holds" : "file holds";
    if (numel > avail)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated IDX: the header says %s = %llu data "
                        "bytes, the %s %zu", path, sbuf, (unsigned long long)numel, what, avail);
    if (numel < avail)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: %zu unexpected bytes after the IDX data of "
                        "shape %s", path, (size_t)(avail - numel), sbuf);
    if (dims[0] == 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: empty dataset: IDX shape %s has N = 0", path,
                        sbuf);
    for (int i = 1; i < rank; i++)
        if (dims[i] == 0)
            return ebm_fail(err, EBM_ERR_INVALID, "%s: IDX shape %s has a zero-size sample "
                            "dimension", path, sbuf);
    int scale = rank >= 2;
    for (int b = 0; b < 256; b++)   /* each byte's float: a table lookup per element */
        out->value[b] = scale ? pixel_to_unit(b) : (float)b;
    if (keep) {
        memmove(fb->p, fb->p + hdr, (size_t)numel);
        out->bytes = fb->p;
        fb->p = NULL;
    } else {
        out->data = base_bigmem_alloc((size_t)numel * sizeof(float));
        if (!out->data)
            return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %llu floats", path,
                            (unsigned long long)numel);
        const unsigned char *px = fb->p + hdr;
        for (uint64_t i = 0; i < numel; i++)
            out->data[i] = out->value[px[i]];
    }
    out->format = EBM_DATA_IDX;
    out->scaled = scale;
    out->rank = 0;
    out->shape[out->rank++] = dims[0];
    if (rank == 3)
        out->shape[out->rank++] = 1;   /* [N,H,W] -> [N,1,H,W] */
    for (int i = 1; i < rank; i++)
        out->shape[out->rank++] = dims[i];
    return EBM_OK;
}

/* ---- .npy ----------------------------------------------------------------------- */

static ebm_status npy_to_dataset(const char *path, const ebm_array *a, ebm_dataset *out,
                                 ebm_error *err)
{
    char sbuf[160];
    base_dims_str(a->shape, a->rank, sbuf, sizeof sbuf);
    if (a->rank == 0)
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: a scalar .npy array is not a dataset; expected "
                        "shape [N, ...]", path);
    if (a->rank > EBM_DATA_MAX_RANK)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: .npy shape %s has more than %d dims", path,
                        sbuf, EBM_DATA_MAX_RANK);
    int64_t numel = ebm_array_numel(a);
    if (a->shape[0] == 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: empty dataset: .npy shape %s has N = 0", path,
                        sbuf);
    if (numel == 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: .npy shape %s has a zero-size sample "
                        "dimension", path, sbuf);
    float *d = base_bigmem_alloc((size_t)numel * sizeof(float));
    if (!d)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %lld floats", path,
                        (long long)numel);
    for (int64_t i = 0; i < numel; i++) {
        double v;
        if (a->dtype == EBM_NPY_F32)
            v = ((const float *)a->data)[i];
        else if (a->dtype == EBM_NPY_F64)
            v = ((const double *)a->data)[i];
        else
            v = (double)((const int64_t *)a->data)[i];
        int bad = a->dtype == EBM_NPY_I64 ? (v < 0 || v > 255) : !(fabs(v) <= FLT_MAX);
        if (bad) {
            free(d);
            if (a->dtype == EBM_NPY_I64)
                return ebm_fail(err, EBM_ERR_INVALID, "%s: integer element %lld = %.0f is "
                                "outside 0..255 (integer .npy data is read as 8-bit pixels)",
                                path, (long long)i, v);
            return ebm_fail(err, EBM_ERR_NUMERIC, "%s: element %lld = %g is not a finite "
                            "float32", path, (long long)i, v);
        }
        d[i] = a->dtype == EBM_NPY_I64 ? pixel_to_unit(v) : (float)v;
    }
    out->data = d;
    out->format = EBM_DATA_NPY;
    out->scaled = a->dtype == EBM_NPY_I64;
    out->rank = a->rank;
    memcpy(out->shape, a->shape, (size_t)a->rank * sizeof a->shape[0]);
    return EBM_OK;
}

static ebm_status load_npy(const char *path, ebm_dataset *out, ebm_error *err)
{
    ebm_array a;
    ebm_status st = ebm_npy_read(path, &a, err);
    if (st)
        return st;
    st = npy_to_dataset(path, &a, out, err);
    ebm_array_free(&a);
    return st;
}

/* ---- CSV ------------------------------------------------------------------------ */

typedef struct csv_state {
    const char *path;
    float *vals;
    size_t len, cap;
    int64_t rows;
    int cols;          /* from the first non-blank line; 0 before it */
    long cols_line;    /* which line set cols */
} csv_state;

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Parses one trimmed cell [s, e): 1 = a finite float32 number in *v, 0 = not
 * a number, -1 = a number but not finite or beyond float32 range. */
static int parse_cell(const char *s, const char *e, double *v)
{
    while (s < e && is_blank(*s))
        s++;
    while (e > s && is_blank(e[-1]))
        e--;
    char buf[128];
    size_t n = (size_t)(e - s);
    if (n == 0 || n >= sizeof buf)
        return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end = NULL;
    *v = strtod(buf, &end);
    if (end != buf + n)
        return 0;
    return isfinite(*v) && fabs(*v) <= FLT_MAX ? 1 : -1;
}

static ebm_status csv_push(csv_state *cs, float v, ebm_error *err)
{
    if (cs->len == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 4096;
        float *q = realloc(cs->vals, cap * sizeof *q);
        if (!q)
            return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory reading CSV", cs->path);
        cs->vals = q;
        cs->cap = cap;
    }
    cs->vals[cs->len++] = v;
    return EBM_OK;
}

static int count_cells(const char *s, const char *e)
{
    int n = 1;
    for (; s < e; s++)
        n += *s == ',';
    return n;
}

/* One non-blank line [s, e), 1-based number `line`. */
static ebm_status csv_line(csv_state *cs, const char *s, const char *e, long line, ebm_error *err)
{
    int ncell = count_cells(s, e);
    int first = cs->cols == 0;
    if (first) {
        cs->cols = ncell;
        cs->cols_line = line;
        /* A header: no cell of the first line is a number. */
        int numeric = 0;
        double v;
        for (const char *c = s; c <= e && !numeric;) {
            const char *ce = memchr(c, ',', (size_t)(e - c));
            ce = ce ? ce : e;
            numeric = parse_cell(c, ce, &v) != 0;
            c = ce + 1;
        }
        if (!numeric)
            return EBM_OK;
    }
    if (ncell != cs->cols)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: ragged CSV: line %ld has %d columns, line %ld "
                        "has %d", cs->path, line, ncell, cs->cols_line, cs->cols);
    int col = 1;
    for (const char *c = s; col <= ncell; col++) {
        const char *ce = memchr(c, ',', (size_t)(e - c));
        ce = ce ? ce : e;
        double v;
        if (parse_cell(c, ce, &v) != 1) {
            int w = (int)(ce - c) < 40 ? (int)(ce - c) : 40;
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: line %ld, column %d: '%.*s' is not a "
                            "finite number", cs->path, line, col, w, c);
        }
        ebm_status st = csv_push(cs, (float)v, err);
        if (st)
            return st;
        c = ce + 1;
    }
    cs->rows++;
    return EBM_OK;
}

static ebm_status load_csv(const char *path, const file_bytes *fb, ebm_dataset *out,
                           ebm_error *err)
{
    csv_state cs = {.path = path};
    const char *s = (const char *)fb->p, *end = s + fb->len;
    long line = 0;
    ebm_status st = EBM_OK;
    while (s < end && !st) {
        const char *e = memchr(s, '\n', (size_t)(end - s));
        e = e ? e : end;
        line++;
        const char *t = s;
        while (t < e && is_blank(*t))
            t++;
        if (t < e)
            st = csv_line(&cs, s, e, line, err);
        s = e + 1;
    }
    if (!st && cs.rows == 0)
        st = ebm_fail(err, EBM_ERR_INVALID, "%s: empty dataset: the CSV file has no data rows",
                      path);
    if (st) {
        free(cs.vals);
        return st;
    }
    out->data = cs.vals;
    out->format = EBM_DATA_CSV;
    out->scaled = 0;
    out->rank = 2;
    out->shape[0] = cs.rows;
    out->shape[1] = cs.cols;
    return EBM_OK;
}

/* ---- detection ------------------------------------------------------------------- */

/* CSV must be text: no NUL or other control bytes besides tab, CR, LF. */
static int looks_like_text(const file_bytes *fb)
{
    for (size_t i = 0; i < fb->len; i++) {
        unsigned char c = fb->p[i];
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return 0;
    }
    return 1;
}

static ebm_status load_bytes(const char *path, file_bytes *fb, int keep, ebm_dataset *out, ebm_error *err)
{
    const unsigned char *p = fb->p;
    if (fb->len >= 6 && memcmp(p, "\x93NUMPY", 6) == 0) {
        if (fb->gzipped)
            return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: a gzipped .npy file is not supported; "
                            "gunzip it first", path);
        return load_npy(path, out, err);
    }
    if (fb->len >= 2 && p[0] == 0 && p[1] == 0)
        return load_idx(path, fb, keep, out, err);
    if (fb->len < 2 && p[0] == 0)
        return load_idx(path, fb, keep, out, err);   /* reports the truncation */
    if (looks_like_text(fb))
        return load_csv(path, fb, out, err);
    return ebm_fail(err, EBM_ERR_FORMAT, "%s: not a dataset: expected IDX (starts 00 00 08), "
                    ".npy (starts \\x93NUMPY) or CSV text, found bytes %02x %02x %02x %02x...",
                    path, p[0], fb->len > 1 ? p[1] : 0, fb->len > 2 ? p[2] : 0,
                    fb->len > 3 ? p[3] : 0);
}

ebm_status ebm_data_load(const char *path, ebm_dataset *out, ebm_error *err)
{
    return ebm_data_load_flags(path, 0, out, err);
}

ebm_status ebm_data_load_flags(const char *path, unsigned flags, ebm_dataset *out, ebm_error *err)
{
    memset(out, 0, sizeof *out);
    if (flags & ~EBM_DATA_KEEP_BYTES)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: unknown dataset load flags 0x%x", path, flags);
    file_bytes fb;
    ebm_status st = read_file(path, &fb, err);
    if (st)
        return st;
    if (fb.len == 0)
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: empty after decompression (no samples)", path);
    else
        st = load_bytes(path, &fb, (flags & EBM_DATA_KEEP_BYTES) != 0, out, err);
    free(fb.p);
    if (st)
        ebm_dataset_free(out);
    return st;
}

/* ---- shape check and gathering --------------------------------------------------------- */

/* Copies the dims other than 1 into out; returns how many. */
static int squeeze(int rank, const int64_t *shape, int64_t *out)
{
    int k = 0;
    for (int i = 0; i < rank; i++)
        if (shape[i] != 1)
            out[k++] = shape[i];
    return k;
}

ebm_status ebm_data_check_shape(const ebm_dataset *d, int rank, const int64_t *sample_shape,
                                ebm_error *err)
{
    char have[160], want[160];
    base_dims_str(d->shape + 1, d->rank - 1, have, sizeof have);
    if (rank < 0 || rank > EBM_DATA_MAX_RANK || (rank > 0 && !sample_shape))
        return ebm_fail(err, EBM_ERR_INVALID, "invalid model input rank %d", rank);
    base_dims_str(sample_shape, rank, want, sizeof want);
    int equal = rank == d->rank - 1 &&
                (rank == 0 || memcmp(sample_shape, d->shape + 1, (size_t)rank * 8) == 0);
    if (equal)
        return EBM_OK;
    int64_t a[EBM_DATA_MAX_RANK], b[EBM_DATA_MAX_RANK];
    int ra = squeeze(d->rank - 1, d->shape + 1, a), rb = squeeze(rank, sample_shape, b);
    if (ra == rb && (ra == 0 || memcmp(a, b, (size_t)ra * sizeof a[0]) == 0))
        return EBM_OK;
    char full[160];
    base_dims_str(d->shape, d->rank, full, sizeof full);
    return ebm_fail(err, EBM_ERR_SHAPE, "dataset samples have shape %s (dataset %s), the model "
                    "expects inputs of shape %s per sample", have, full, want);
}

ebm_status ebm_data_gather(const ebm_dataset *d, const int64_t *idx, int64_t count, float *out,
                           ebm_error *err)
{
    int64_t m = ebm_dataset_sample_numel(d);
    for (int64_t i = 0; i < count; i++) {
        if (idx[i] < 0 || idx[i] >= d->shape[0])
            return ebm_fail(err, EBM_ERR_INVALID, "sample index %lld out of range 0..%lld",
                            (long long)idx[i], (long long)d->shape[0] - 1);
        if (d->data) {
            memcpy(out + i * m, d->data + idx[i] * m, (size_t)m * sizeof(float));
        } else {
            const unsigned char *px = d->bytes + idx[i] * m;
            for (int64_t e = 0; e < m; e++)
                out[i * m + e] = d->value[px[e]];
        }
    }
    return EBM_OK;
}

ebm_status ebm_data_to_floats(ebm_dataset *d, ebm_error *err)
{
    if (d->data || !d->bytes)
        return EBM_OK;
    const int64_t numel = d->shape[0] * ebm_dataset_sample_numel(d);
    float *f = base_bigmem_alloc((size_t)numel * sizeof(float));
    if (!f)
        return ebm_fail(err, EBM_ERR_NOMEM, "dataset: out of memory for %lld floats", (long long)numel);
    for (int64_t i = 0; i < numel; i++)
        f[i] = d->value[d->bytes[i]];
    free(d->bytes);
    d->bytes = NULL;
    d->data = f;
    return EBM_OK;
}

void ebm_data_range(const ebm_dataset *d, float *lo, float *hi)
{
    const int64_t numel = d->shape[0] * ebm_dataset_sample_numel(d);
    if (d->data) {   /* the loaders give finite values only: plain comparisons (fminf and fmaxf are calls) */
        float a = d->data[0], b = a;
        for (int64_t i = 0; i < numel; i++) {
            const float v = d->data[i];
            a = v < a ? v : a;
            b = v > b ? v : b;
        }
        *lo = a;
        *hi = b;
        return;
    }
    unsigned char a = d->bytes[0], b = a;   /* value[] rises with the byte */
    for (int64_t i = 0; i < numel; i++) {
        const unsigned char v = d->bytes[i];
        a = v < a ? v : a;
        b = v > b ? v : b;
    }
    *lo = d->value[a];
    *hi = d->value[b];
}

/* ---- minibatches -------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in 0..m-1 without modulo bias (rejects the top partial block). */
static uint64_t below(uint64_t *s, uint64_t m)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % m;
    uint64_t r;
    do
        r = splitmix64(s);
    while (r >= limit);
    return r % m;
}

/* Epoch e's permutation: identity shuffled by Fisher-Yates with a splitmix64
 * stream whose state starts at seed ^ (0xD1B54A32D192ED03 * (e + 1)). */
static void make_epoch(ebm_batcher *b, int64_t e)
{
    uint64_t s = b->seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(e + 1));
    for (int64_t i = 0; i < b->n; i++)
        b->perm[i] = i;
    for (int64_t i = b->n - 1; i > 0; i--) {
        int64_t j = (int64_t)below(&s, (uint64_t)i + 1);
        int64_t t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
    }
    b->epoch = e;
}

ebm_status ebm_batcher_init(ebm_batcher *b, int64_t n, int64_t batch, uint64_t seed,
                            ebm_error *err)
{
    memset(b, 0, sizeof *b);
    if (n <= 0 || batch <= 0)
        return ebm_fail(err, EBM_ERR_INVALID, "minibatches need n > 0 samples and batch > 0 "
                        "(got n = %lld, batch = %lld)", (long long)n, (long long)batch);
    if ((uint64_t)n > SIZE_MAX / sizeof(int64_t))
        return ebm_fail(err, EBM_ERR_NOMEM, "minibatches: %lld samples is too many",
                        (long long)n);
    b->perm = malloc((size_t)n * sizeof(int64_t));
    if (!b->perm)
        return ebm_fail(err, EBM_ERR_NOMEM, "minibatches: out of memory for %lld indices",
                        (long long)n);
    b->n = n;
    b->batch = batch;
    b->seed = seed;
    make_epoch(b, 0);
    return EBM_OK;
}

void ebm_batcher_next(ebm_batcher *b, int64_t *idx)
{
    for (int64_t k = 0; k < b->batch; k++) {
        if (b->pos == b->n) {
            make_epoch(b, b->epoch + 1);
            b->pos = 0;
        }
        idx[k] = b->perm[b->pos++];
    }
}

void ebm_batcher_seek(ebm_batcher *b, int64_t index)
{
    /* Position index * batch in the endless sequence of epochs; no overflow
     * for any realistic run (index * batch < 2^63). */
    int64_t at = (index > 0 ? index : 0) * b->batch;
    int64_t e = at / b->n;
    if (e != b->epoch)
        make_epoch(b, e);
    b->pos = at % b->n;
}

void ebm_batcher_free(ebm_batcher *b)
{
    if (!b)
        return;
    free(b->perm);
    memset(b, 0, sizeof *b);
}
