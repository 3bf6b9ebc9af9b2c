/* test_data.c — dataset loading, shape checks and minibatches (runtime/data.c).
 *
 * Every file is written here, byte by byte (IDX as in the MNIST spec: magic
 * 00 00 08 <rank>, big-endian 32-bit dims, then unsigned bytes), through zlib
 * for the gzipped variants, or through ebm_npy_write.  Expected values are
 * the documented mapping p -> p / 127.5 - 1 computed by hand. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data.h"
#include "npy.h"
#include "testutil.h"

/* Check fixtures take void functions. */
static void make_tmpdir(void)
{
    tu_scratch_make("data");
}

static void drop_tmpdir(void)
{
    tu_scratch_remove();
}

static const char *tmp(const char *name)
{
    return tu_scratch_file(name);
}

static void write_gz(const char *path, const void *buf, size_t n)
{
    gzFile g = gzopen(path, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, buf, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

static void write_text(const char *path, const char *text)
{
    tu_write_file(path, text, strlen(text));
}

/* An IDX ubyte file image: header for dims[rank], then `ndata` bytes of data. */
static size_t make_idx(unsigned char *buf, int rank, const uint32_t *dims, const unsigned char *data,
                       size_t ndata)
{
    buf[0] = buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (unsigned char)rank;
    size_t k = 4;
    for (int i = 0; i < rank; i++) {
        buf[k++] = (unsigned char)(dims[i] >> 24);
        buf[k++] = (unsigned char)(dims[i] >> 16);
        buf[k++] = (unsigned char)(dims[i] >> 8);
        buf[k++] = (unsigned char)dims[i];
    }
    if (ndata)
        memcpy(buf + k, data, ndata);
    return k + ndata;
}

/* 3 images of 2 x 2 */
static const unsigned char pixels[12] = {0, 255, 51, 204, 1, 2, 3, 4, 100, 128, 127, 254};
static const uint32_t img_dims[3] = {3, 2, 2};

static void expect_images(const ebm_dataset *d)
{
    ck_assert_int_eq(d->rank, 4);
    ck_assert_int_eq(d->shape[0], 3);
    ck_assert_int_eq(d->shape[1], 1);
    ck_assert_int_eq(d->shape[2], 2);
    ck_assert_int_eq(d->shape[3], 2);
    ck_assert_int_eq(d->format, EBM_DATA_IDX);
    ck_assert_int_eq(d->scaled, 1);
    ck_assert_int_eq(ebm_dataset_sample_numel(d), 4);
    ck_assert_float_eq(d->data[0], -1.0f);
    ck_assert_float_eq(d->data[1], 1.0f);
    ck_assert_float_eq_tol(d->data[2], -0.6f, 1e-6f);   /* 51 / 127.5 - 1 */
    ck_assert_float_eq_tol(d->data[3], 0.6f, 1e-6f);    /* 204 / 127.5 - 1 */
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq_tol(d->data[i], pixels[i] / 127.5 - 1.0, 1e-6);
}

static void expect_error(const char *path, ebm_status code, const char *f1, const char *f2)
{
    ebm_dataset d;
    ebm_error err = {0};
    ebm_status st = ebm_data_load(path, &d, &err);
    ck_assert_msg(st == code, "%s: expected %s, got %s (%s)", path, ebm_status_name(code),
                  ebm_status_name(st), err.msg);
    ck_assert_msg(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    ck_assert_msg(!f1 || strstr(err.msg, f1), "message lacks '%s': %s", f1, err.msg);
    ck_assert_msg(!f2 || strstr(err.msg, f2), "message lacks '%s': %s", f2, err.msg);
    ck_assert_ptr_null(d.data);
}

/* ---- IDX -------------------------------------------------------------------------- */

START_TEST(idx_plain_images)
{
    unsigned char buf[64];
    size_t n = make_idx(buf, 3, img_dims, pixels, sizeof pixels);
    tu_write_file(tmp("train-images-idx3-ubyte"), buf, n);
    ebm_dataset d;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_load(tmp("train-images-idx3-ubyte"), &d, &err), EBM_OK);
    expect_images(&d);
    ebm_dataset_free(&d);
    ck_assert_ptr_null(d.data);
}
END_TEST

/* EBM_DATA_KEEP_BYTES: the file's bytes stay bytes; every way of reading the
 * samples (gather, range, to_floats) gives the floats the plain load gives. */
START_TEST(idx_keep_bytes)
{
    unsigned char buf[64];
    size_t n = make_idx(buf, 3, img_dims, pixels, sizeof pixels);
    write_gz(tmp("kb.gz"), buf, n);
    ebm_dataset d;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_load_flags(tmp("kb.gz"), EBM_DATA_KEEP_BYTES, &d, &err), EBM_OK);
    ck_assert_ptr_null(d.data);
    ck_assert_ptr_nonnull(d.bytes);
    ck_assert_int_eq(d.rank, 4);
    ck_assert_int_eq(d.shape[0], 3);
    ck_assert_int_eq(memcmp(d.bytes, pixels, sizeof pixels), 0);   /* the header is gone */
    float x[8];
    const int64_t idx[2] = {2, 0};
    ck_assert_int_eq(ebm_data_gather(&d, idx, 2, x, &err), EBM_OK);
    for (int e = 0; e < 4; e++) {
        ck_assert_float_eq_tol(x[e], pixels[8 + e] / 127.5 - 1.0, 1e-6);
        ck_assert_float_eq_tol(x[4 + e], pixels[e] / 127.5 - 1.0, 1e-6);
    }
    const int64_t bad = 3;
    ck_assert_int_eq(ebm_data_gather(&d, &bad, 1, x, &err), EBM_ERR_INVALID);
    float lo, hi;
    ebm_data_range(&d, &lo, &hi);
    ck_assert_float_eq(lo, -1.0f);   /* pixels hold 0 and 255 */
    ck_assert_float_eq(hi, 1.0f);
    ck_assert_int_eq(ebm_data_to_floats(&d, &err), EBM_OK);
    ck_assert_ptr_null(d.bytes);
    expect_images(&d);
    ebm_data_range(&d, &lo, &hi);
    ck_assert_float_eq(lo, -1.0f);
    ck_assert_float_eq(hi, 1.0f);
    ebm_dataset_free(&d);
    ck_assert_int_eq(ebm_data_load_flags(tmp("kb.gz"), 0x8, &d, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "flags"));

    /* labels (rank 1): kept as bytes, values 0..255 unscaled; the range of bytes 3..9 */
    const unsigned char labels[4] = {9, 3, 7, 3};
    const uint32_t ldims[1] = {4};
    n = make_idx(buf, 1, ldims, labels, sizeof labels);
    tu_write_file(tmp("kl"), buf, n);
    ck_assert_int_eq(ebm_data_load_flags(tmp("kl"), EBM_DATA_KEEP_BYTES, &d, &err), EBM_OK);
    ebm_data_range(&d, &lo, &hi);
    ck_assert_float_eq(lo, 3.0f);
    ck_assert_float_eq(hi, 9.0f);
    ebm_dataset_free(&d);

    /* CSV ignores the flag: floats */
    tu_write_file(tmp("kc.csv"), "1,2\n3,4\n", 8);
    ck_assert_int_eq(ebm_data_load_flags(tmp("kc.csv"), EBM_DATA_KEEP_BYTES, &d, &err), EBM_OK);
    ck_assert_ptr_null(d.bytes);
    ck_assert_float_eq(d.data[3], 4.0f);
    ebm_dataset_free(&d);
}
END_TEST

/* gzip recognised by content: the name says .csv. */
START_TEST(idx_gzip_by_content)
{
    unsigned char buf[64];
    size_t n = make_idx(buf, 3, img_dims, pixels, sizeof pixels);
    write_gz(tmp("images.csv"), buf, n);
    ebm_dataset d;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_load(tmp("images.csv"), &d, &err), EBM_OK);
    expect_images(&d);
    ebm_dataset_free(&d);
}
END_TEST

START_TEST(idx_labels_and_rank2)
{
    const unsigned char lab[5] = {9, 0, 0, 3, 255};
    const uint32_t ldims[1] = {5};
    unsigned char buf[64];
    size_t n = make_idx(buf, 1, ldims, lab, sizeof lab);
    write_gz(tmp("labels.gz"), buf, n);
    ebm_dataset d;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_load(tmp("labels.gz"), &d, &err), EBM_OK);
    ck_assert_int_eq(d.rank, 1);
    ck_assert_int_eq(d.shape[0], 5);
    ck_assert_int_eq(d.scaled, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_float_eq(d.data[i], (float)lab[i]);
    ebm_dataset_free(&d);
    /* rank 2 [N, D]: scaled, no channel inserted */
    const uint32_t d2[2] = {2, 3};
    n = make_idx(buf, 2, d2, pixels, 6);
    tu_write_file(tmp("flat.idx"), buf, n);
    ck_assert_int_eq(ebm_data_load(tmp("flat.idx"), &d, &err), EBM_OK);
    ck_assert_int_eq(d.rank, 2);
    ck_assert_int_eq(d.shape[1], 3);
    ck_assert_float_eq_tol(d.data[5], 2 / 127.5 - 1, 1e-6);
    ebm_dataset_free(&d);
}
END_TEST

START_TEST(idx_truncated)
{
    const uint32_t dims[3] = {10, 2, 2};   /* says 40 data bytes */
    unsigned char buf[64];
    size_t n = make_idx(buf, 3, dims, pixels, 8);
    tu_write_file(tmp("t.idx"), buf, n);
    expect_error(tmp("t.idx"), EBM_ERR_FORMAT, "truncated IDX", "[10,2,2] = 40 data bytes, the "
                 "file holds 8");
    write_gz(tmp("t.gz"), buf, n);
    expect_error(tmp("t.gz"), EBM_ERR_FORMAT, "truncated IDX", "decompressed data holds 8");
    /* header itself cut short */
    tu_write_file(tmp("h.idx"), buf, 9);
    expect_error(tmp("h.idx"), EBM_ERR_FORMAT, "truncated IDX header", "needs 16");
    /* trailing bytes are as wrong as missing ones */
    n = make_idx(buf, 3, img_dims, pixels, sizeof pixels);
    buf[n++] = 7;
    tu_write_file(tmp("x.idx"), buf, n);
    expect_error(tmp("x.idx"), EBM_ERR_FORMAT, "1 unexpected bytes", "[3,2,2]");
}
END_TEST

/* A gzip stream cut in the middle: zlib reports it, we name the file. */
START_TEST(idx_truncated_gzip_stream)
{
    unsigned char big[4 + 12 + 4000];
    unsigned char data[4000];
    for (int i = 0; i < 4000; i++)
        data[i] = (unsigned char)(i * 7919 >> 3);
    const uint32_t dims[3] = {10, 20, 20};
    size_t n = make_idx(big, 3, dims, data, sizeof data);
    write_gz(tmp("full.gz"), big, n);
    FILE *f = fopen(tmp("full.gz"), "rb");
    unsigned char gz[8192];
    size_t gn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    ck_assert_uint_gt(gn, 100);
    tu_write_file(tmp("cut.gz"), gz, gn / 2);
    expect_error(tmp("cut.gz"), EBM_ERR_FORMAT, "corrupt or truncated gzip", NULL);
}
END_TEST

/* Gzip bombs: a small file must not inflate to gigabytes.  The IDX header
 * says how many bytes there are, so decompression stops one byte after them;
 * and a header claiming more than deflate can expand the file to (1032:1) is
 * refused before anything is inflated. */
START_TEST(idx_gzip_bomb)
{
    enum { ZEROS = 64 << 20 };   /* 64 MiB of zeros after a 40-byte array: ~64 KiB gzipped */
    const uint32_t dims[3] = {10, 2, 2};
    unsigned char head[64], data[40] = {0};
    size_t n = make_idx(head, 3, dims, data, sizeof data);
    gzFile g = gzopen(tmp("bomb.gz"), "wb9");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, head, (unsigned)n), (int)n);
    unsigned char *zeros = calloc(1, 1 << 20);
    ck_assert_ptr_nonnull(zeros);
    for (int k = 0; k < ZEROS >> 20; k++)
        ck_assert_int_eq(gzwrite(g, zeros, 1 << 20), 1 << 20);
    free(zeros);
    ck_assert_int_eq(gzclose(g), Z_OK);
    expect_error(tmp("bomb.gz"), EBM_ERR_FORMAT, "inflates beyond the 56 bytes its IDX header describes", NULL);
    /* the same stop for a stream only a little longer than its header says */
    unsigned char buf[128];
    n = make_idx(buf, 3, img_dims, pixels, sizeof pixels);
    buf[n++] = 7;
    write_gz(tmp("tail.gz"), buf, n);
    expect_error(tmp("tail.gz"), EBM_ERR_FORMAT, "inflates beyond the 28 bytes", NULL);
    /* [60000,28,28] (47 MB) claimed by a file of ~40 bytes: truncated, said without inflating */
    const uint32_t mnist[3] = {60000, 28, 28};
    n = make_idx(buf, 3, mnist, pixels, sizeof pixels);
    write_gz(tmp("claim.gz"), buf, n);
    expect_error(tmp("claim.gz"), EBM_ERR_FORMAT, "truncated gzipped IDX: the header says 47040016 bytes",
                 "deflate expands at most 1032:1");
    unlink(tmp("bomb.gz"));
    unlink(tmp("tail.gz"));
    unlink(tmp("claim.gz"));
}
END_TEST

START_TEST(idx_bad_magic_and_types)
{
    unsigned char buf[64];
    size_t n = make_idx(buf, 3, img_dims, pixels, sizeof pixels);
    buf[2] = 0x07;
    tu_write_file(tmp("m.idx"), buf, n);
    expect_error(tmp("m.idx"), EBM_ERR_FORMAT, "bad IDX magic 0x00000703", "0x00000803");
    buf[2] = 0x08;
    buf[3] = 0;   /* rank 0 */
    tu_write_file(tmp("r.idx"), buf, n);
    expect_error(tmp("r.idx"), EBM_ERR_FORMAT, "bad IDX magic 0x00000800", NULL);
    buf[2] = 0x0D;   /* float32 IDX */
    buf[3] = 3;
    tu_write_file(tmp("f.idx"), buf, n);
    expect_error(tmp("f.idx"), EBM_ERR_UNSUPPORTED, "0x0d (float32)", NULL);
}
END_TEST

START_TEST(idx_empty)
{
    const uint32_t dims[3] = {0, 28, 28};
    unsigned char buf[64];
    size_t n = make_idx(buf, 3, dims, NULL, 0);
    tu_write_file(tmp("e.idx"), buf, n);
    expect_error(tmp("e.idx"), EBM_ERR_INVALID, "empty dataset", "N = 0");
}
END_TEST

START_TEST(missing_and_odd_files)
{
    expect_error(tmp("nope.gz"), EBM_ERR_IO, "cannot open", "No such file");
    ck_assert_int_eq(mkdir(tmp("dir"), 0700), 0);
    expect_error(tmp("dir"), EBM_ERR_IO, "not a regular file", NULL);
    tu_write_file(tmp("zero"), "", 0);
    expect_error(tmp("zero"), EBM_ERR_FORMAT, "empty file", NULL);
    const unsigned char junk[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};   /* a PNG signature */
    tu_write_file(tmp("pic"), junk, sizeof junk);
    expect_error(tmp("pic"), EBM_ERR_FORMAT, "not a dataset", "89 50 4e 47");
}
END_TEST

/* ---- .npy ------------------------------------------------------------------------- */

START_TEST(npy_float_as_is)
{
    const float v[6] = {-3.5f, 0.25f, 1e3f, 0, 2, -1};
    const int64_t shape[3] = {2, 3, 1};
    ck_assert_int_eq(ebm_npy_write(tmp("a.bin"), EBM_NPY_F32, 3, shape, v, NULL), EBM_OK);
    ebm_dataset d;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_load(tmp("a.bin"), &d, &err), EBM_OK);
    ck_assert_int_eq(d.format, EBM_DATA_NPY);
    ck_assert_int_eq(d.scaled, 0);
    ck_assert_int_eq(d.rank, 3);
    ck_assert_int_eq(d.shape[0], 2);
    ck_assert_int_eq(d.shape[1], 3);
    ck_assert_int_eq(d.shape[2], 1);
    ck_assert_mem_eq(d.data, v, sizeof v);
    ebm_dataset_free(&d);
    const double w[2] = {0.1, -7};
    const int64_t s1[1] = {2};
    ck_assert_int_eq(ebm_npy_write(tmp("b.npy"), EBM_NPY_F64, 1, s1, w, NULL), EBM_OK);
    ck_assert_int_eq(ebm_data_load(tmp("b.npy"), &d, &err), EBM_OK);
    ck_assert_float_eq(d.data[0], 0.1f);
    ck_assert_float_eq(d.data[1], -7.0f);
    ebm_dataset_free(&d);
    const double inf[2] = {1, INFINITY};
    ck_assert_int_eq(ebm_npy_write(tmp("c.npy"), EBM_NPY_F64, 1, s1, inf, NULL), EBM_OK);
    expect_error(tmp("c.npy"), EBM_ERR_NUMERIC, "element 1", "not a finite");
}
END_TEST

START_TEST(npy_ints_scaled)
{
    const int64_t v[4] = {0, 255, 51, 204};
    const int64_t shape[2] = {2, 2};
    ck_assert_int_eq(ebm_npy_write(tmp("i.npy"), EBM_NPY_I64, 2, shape, v, NULL), EBM_OK);
    ebm_dataset d;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_load(tmp("i.npy"), &d, &err), EBM_OK);
    ck_assert_int_eq(d.scaled, 1);
    ck_assert_float_eq(d.data[0], -1.0f);
    ck_assert_float_eq(d.data[1], 1.0f);
    ck_assert_float_eq_tol(d.data[2], -0.6f, 1e-6f);
    ck_assert_float_eq_tol(d.data[3], 0.6f, 1e-6f);
    ebm_dataset_free(&d);
    const int64_t bad[4] = {0, 256, 1, 1};
    ck_assert_int_eq(ebm_npy_write(tmp("j.npy"), EBM_NPY_I64, 2, shape, bad, NULL), EBM_OK);
    expect_error(tmp("j.npy"), EBM_ERR_INVALID, "element 1 = 256", "0..255");
    const int64_t empty[2] = {0, 4};
    ck_assert_int_eq(ebm_npy_write(tmp("k.npy"), EBM_NPY_F32, 2, empty, NULL, NULL), EBM_OK);
    expect_error(tmp("k.npy"), EBM_ERR_INVALID, "empty dataset", "[0,4]");
}
END_TEST

/* ---- CSV -------------------------------------------------------------------------- */

START_TEST(csv_header_crlf_blank_lines)
{
    write_text(tmp("d.txt"), "x, y ,z\r\n1,2,3\r\n\r\n -4.5 ,5e-1,\t6\r\n7,8,9");
    ebm_dataset d;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_load(tmp("d.txt"), &d, &err), EBM_OK);
    ck_assert_int_eq(d.format, EBM_DATA_CSV);
    ck_assert_int_eq(d.rank, 2);
    ck_assert_int_eq(d.shape[0], 3);
    ck_assert_int_eq(d.shape[1], 3);
    const float expect[9] = {1, 2, 3, -4.5f, 0.5f, 6, 7, 8, 9};
    ck_assert_mem_eq(d.data, expect, sizeof expect);
    ebm_dataset_free(&d);
    /* no header, gzipped */
    const char *body = "0.5,-1\n2,3\n";
    write_gz(tmp("e.idx"), body, strlen(body));
    ck_assert_int_eq(ebm_data_load(tmp("e.idx"), &d, &err), EBM_OK);
    ck_assert_int_eq(d.shape[0], 2);
    ck_assert_int_eq(d.shape[1], 2);
    ck_assert_float_eq(d.data[0], 0.5f);
    ck_assert_float_eq(d.data[3], 3.0f);
    ebm_dataset_free(&d);
}
END_TEST

START_TEST(csv_errors)
{
    write_text(tmp("r.csv"), "a,b\n1,2\n3,4,5\n");
    expect_error(tmp("r.csv"), EBM_ERR_FORMAT, "ragged CSV: line 3 has 3 columns", "line 1 has 2");
    write_text(tmp("n.csv"), "1,2\n3,abc\n");
    expect_error(tmp("n.csv"), EBM_ERR_FORMAT, "line 2, column 2: 'abc'", "not a finite number");
    write_text(tmp("m.csv"), "1,2\n3,\n");
    expect_error(tmp("m.csv"), EBM_ERR_FORMAT, "line 2, column 2: ''", NULL);
    write_text(tmp("nan.csv"), "1,nan\n");
    expect_error(tmp("nan.csv"), EBM_ERR_FORMAT, "line 1, column 2: 'nan'", NULL);
    write_text(tmp("big.csv"), "1e39\n");   /* beyond float32 */
    expect_error(tmp("big.csv"), EBM_ERR_FORMAT, "line 1, column 1", NULL);
    write_text(tmp("h.csv"), "x,y\n\n");
    expect_error(tmp("h.csv"), EBM_ERR_INVALID, "empty dataset", "no data rows");
}
END_TEST

/* ---- shape check and gather -------------------------------------------------------------- */

START_TEST(shape_check)
{
    float buf[4 * 6] = {0};
    ebm_dataset d = {.rank = 4, .shape = {4, 1, 2, 3}, .data = buf};
    const int64_t same[3] = {1, 2, 3}, squeezed[2] = {2, 3}, other[3] = {3, 2, 3}, flat[1] = {6};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_check_shape(&d, 3, same, &err), EBM_OK);
    ck_assert_int_eq(ebm_data_check_shape(&d, 2, squeezed, &err), EBM_OK);
    ck_assert_int_eq(ebm_data_check_shape(&d, 3, other, &err), EBM_ERR_SHAPE);
    ck_assert_msg(strstr(err.msg, "[1,2,3]") && strstr(err.msg, "[3,2,3]") &&
                  strstr(err.msg, "[4,1,2,3]"), "%s", err.msg);
    ck_assert_int_eq(ebm_data_check_shape(&d, 1, flat, &err), EBM_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(err.msg, "[6]"));
}
END_TEST

START_TEST(gather)
{
    float buf[4 * 3];
    for (int i = 0; i < 12; i++)
        buf[i] = (float)i;
    ebm_dataset d = {.rank = 2, .shape = {4, 3}, .data = buf};
    const int64_t idx[3] = {3, 0, 3};
    float out[9];
    ck_assert_int_eq(ebm_data_gather(&d, idx, 3, out, NULL), EBM_OK);
    const float expect[9] = {9, 10, 11, 0, 1, 2, 9, 10, 11};
    ck_assert_mem_eq(out, expect, sizeof expect);
    const int64_t bad[1] = {4};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_data_gather(&d, bad, 1, out, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "index 4 out of range 0..3"));
}
END_TEST

/* ---- minibatches -------------------------------------------------------------------- */

/* 10 samples in batches of 4: positions 0..9 of the stream are epoch 0 (a
 * permutation of 0..9), 10..19 epoch 1, and so on. */
START_TEST(batcher_epochs_and_determinism)
{
    ebm_batcher a, b, c;
    ck_assert_int_eq(ebm_batcher_init(&a, 10, 4, 42, NULL), EBM_OK);
    ck_assert_int_eq(ebm_batcher_init(&b, 10, 4, 42, NULL), EBM_OK);
    ck_assert_int_eq(ebm_batcher_init(&c, 10, 4, 43, NULL), EBM_OK);
    int64_t sa[40], sb[40], sc[40];
    for (int k = 0; k < 10; k++) {
        ebm_batcher_next(&a, sa + 4 * k);
        ebm_batcher_next(&b, sb + 4 * k);
        ebm_batcher_next(&c, sc + 4 * k);
    }
    ck_assert_mem_eq(sa, sb, sizeof sa);
    ck_assert_int_ne(memcmp(sa, sc, sizeof sa), 0);
    for (int e = 0; e < 4; e++) {
        int seen[10] = {0};
        for (int i = 0; i < 10; i++) {
            ck_assert(sa[10 * e + i] >= 0 && sa[10 * e + i] < 10);
            seen[sa[10 * e + i]]++;
        }
        for (int i = 0; i < 10; i++)
            ck_assert_int_eq(seen[i], 1);
    }
    /* consecutive epochs are shuffled differently */
    ck_assert_int_ne(memcmp(sa, sa + 10, 10 * sizeof sa[0]), 0);
    /* seek(k) gives batch k of a fresh run, backwards and forwards */
    int64_t got[4];
    for (int k = 9; k >= 0; k -= 3) {
        ebm_batcher_seek(&b, k);
        ebm_batcher_next(&b, got);
        ck_assert_mem_eq(got, sa + 4 * k, sizeof got);
    }
    ebm_batcher_free(&a);
    ebm_batcher_free(&b);
    ebm_batcher_free(&c);
    ck_assert_int_eq(ebm_batcher_init(&a, 0, 4, 1, NULL), EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_batcher_init(&a, 3, 0, 1, NULL), EBM_ERR_INVALID);
}
END_TEST

/* The shuffle is uniform: over 6000 seeds each of the 6 orders of 3 samples
 * comes up 1000 times in expectation, sd sqrt(6000 (1/6)(5/6)) = 28.9; allow
 * 4 sd. */
START_TEST(batcher_uniform_permutations)
{
    int count[6] = {0};
    for (uint64_t seed = 0; seed < 6000; seed++) {
        ebm_batcher b;
        ck_assert_int_eq(ebm_batcher_init(&b, 3, 3, seed, NULL), EBM_OK);
        int64_t p[3];
        ebm_batcher_next(&b, p);
        count[p[0] * 2 + (p[1] > p[2])]++;
        ebm_batcher_free(&b);
    }
    for (int i = 0; i < 6; i++)
        ck_assert_msg(fabs(count[i] - 1000.0) < 4 * 28.9, "order %d: %d of 6000", i, count[i]);
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_add_checked_fixture(tc, make_tmpdir, drop_tmpdir);
    tcase_add_test(tc, idx_plain_images);
    tcase_add_test(tc, idx_keep_bytes);
    tcase_add_test(tc, idx_gzip_by_content);
    tcase_add_test(tc, idx_labels_and_rank2);
    tcase_add_test(tc, idx_truncated);
    tcase_add_test(tc, idx_truncated_gzip_stream);
    tcase_add_test(tc, idx_gzip_bomb);
    tcase_add_test(tc, idx_bad_magic_and_types);
    tcase_add_test(tc, idx_empty);
    tcase_add_test(tc, missing_and_odd_files);
    tcase_add_test(tc, npy_float_as_is);
    tcase_add_test(tc, npy_ints_scaled);
    tcase_add_test(tc, csv_header_crlf_blank_lines);
    tcase_add_test(tc, csv_errors);
    tcase_add_test(tc, shape_check);
    tcase_add_test(tc, gather);
    tcase_add_test(tc, batcher_epochs_and_determinism);
    tcase_add_test(tc, batcher_uniform_permutations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
