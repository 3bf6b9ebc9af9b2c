/* test_npy.c — .npy reading and atomic writing (runtime/npy.c).
 *
 * Expected bytes and headers are those of NumPy's format specification
 * (numpy/lib/format.py): magic "\x93NUMPY", version, little-endian header
 * length, a dict literal padded with spaces to a multiple of 64 bytes and
 * ending in '\n'. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "testutil.h"

/* Check fixtures take void functions. */
static void make_tmpdir(void)
{
    tu_scratch_make("npy");
}

static void drop_tmpdir(void)
{
    tu_scratch_remove();
}

static const char *tmp(const char *name)
{
    return tu_scratch_file(name);
}

/* Builds a .npy file by hand: version major.0, the given header text (padded
 * like numpy does unless pad = 0), then data.  hlen_override >= 0 replaces the
 * header length field (for corrupt files). */
static void write_npy(const char *path, int major, const char *header, int pad,
                      const void *data, size_t data_len, long hlen_override)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t hlen = strlen(header);
    size_t total = pre + hlen + (pad ? 1 : 0);
    if (pad)
        total = (total + 63) / 64 * 64;
    size_t body = total - pre;
    unsigned char *buf = calloc(1, total + data_len + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    unsigned long field = hlen_override >= 0 ? (unsigned long)hlen_override : body;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (unsigned char)(field >> (8 * i));
    memcpy(buf + pre, header, hlen);
    if (pad) {
        memset(buf + pre + hlen, ' ', body - hlen);
        buf[total - 1] = '\n';
    }
    if (data_len)
        memcpy(buf + total, data, data_len);
    tu_write_file(path, buf, total + data_len);
    free(buf);
}

static void expect_error(const char *path, ebm_status code, const char *fragment)
{
    ebm_array a;
    ebm_error err = {0};
    ebm_status st = ebm_npy_read(path, &a, &err);
    ck_assert_msg(st == code, "%s: expected status %s, got %s (%s)", path,
                  ebm_status_name(code), ebm_status_name(st), err.msg);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.msg, path) != NULL, "message does not name the file: %s", err.msg);
    ck_assert_msg(strstr(err.msg, fragment) != NULL, "message lacks '%s': %s", fragment, err.msg);
    ck_assert_ptr_null(a.data);
}

/* ---- round trips ----------------------------------------------------------------- */

START_TEST(roundtrip_f32)
{
    const float v[6] = {1.5f, -2.25f, 0.0f, 3.0e-38f, -1.0e30f, 7.0f};
    const int64_t shape[2] = {2, 3};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("a.npy"), EBM_NPY_F32, 2, shape, v, &err), EBM_OK);
    ebm_array a;
    ck_assert_int_eq(ebm_npy_read(tmp("a.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(a.dtype, EBM_NPY_F32);
    ck_assert_int_eq(a.rank, 2);
    ck_assert_int_eq(a.shape[0], 2);
    ck_assert_int_eq(a.shape[1], 3);
    ck_assert_int_eq(ebm_array_numel(&a), 6);
    ck_assert_mem_eq(a.data, v, sizeof v);
    ebm_array_free(&a);
    ck_assert_ptr_null(a.data);
}
END_TEST

START_TEST(roundtrip_f64_scalar)
{
    const double v = -0.1;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("s.npy"), EBM_NPY_F64, 0, NULL, &v, &err), EBM_OK);
    ebm_array a;
    ck_assert_int_eq(ebm_npy_read(tmp("s.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(a.dtype, EBM_NPY_F64);
    ck_assert_int_eq(a.rank, 0);
    ck_assert_int_eq(ebm_array_numel(&a), 1);
    ck_assert_mem_eq(a.data, &v, sizeof v);
    ebm_array_free(&a);
}
END_TEST

START_TEST(roundtrip_i64)
{
    const int64_t v[4] = {INT64_MIN, -1, 0, INT64_MAX};
    const int64_t shape[1] = {4};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("i.npy"), EBM_NPY_I64, 1, shape, v, &err), EBM_OK);
    ebm_array a;
    ck_assert_int_eq(ebm_npy_read(tmp("i.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(a.dtype, EBM_NPY_I64);
    ck_assert_int_eq(a.rank, 1);
    ck_assert_int_eq(a.shape[0], 4);
    ck_assert_mem_eq(a.data, v, sizeof v);
    ebm_array_free(&a);
}
END_TEST

START_TEST(roundtrip_zero_size)
{
    const int64_t shape[3] = {0, 3, 8};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("z.npy"), EBM_NPY_F32, 3, shape, NULL, &err), EBM_OK);
    ebm_array a;
    ck_assert_int_eq(ebm_npy_read(tmp("z.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(a.rank, 3);
    ck_assert_int_eq(a.shape[0], 0);
    ck_assert_int_eq(a.shape[1], 3);
    ck_assert_int_eq(a.shape[2], 8);
    ck_assert_int_eq(ebm_array_numel(&a), 0);
    ebm_array_free(&a);
}
END_TEST

/* The layout of the format spec: the dict numpy writes for np.zeros((2, 3),
 * '<f4') (and for a 1-D array: "(3,)"), padded so the data starts at 128. */
START_TEST(write_matches_numpy_layout)
{
    const float v[6] = {0};
    const int64_t shape[2] = {2, 3};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("n.npy"), EBM_NPY_F32, 2, shape, v, &err), EBM_OK);
    const char expect_hdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    FILE *f = fopen(tmp("n.npy"), "rb");
    unsigned char buf[128 + 24];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_eq(n, 128 + 24);   /* 128-byte preamble + header, 24 data bytes */
    ck_assert_mem_eq(buf, "\x93NUMPY\x01\x00", 8);
    ck_assert_int_eq(buf[8] | buf[9] << 8, 118);
    ck_assert_mem_eq(buf + 10, expect_hdr, strlen(expect_hdr));
    for (size_t i = 10 + strlen(expect_hdr); i < 127; i++)
        ck_assert_int_eq(buf[i], ' ');
    ck_assert_int_eq(buf[127], '\n');

    const int64_t one[1] = {3};
    ck_assert_int_eq(ebm_npy_write(tmp("m.npy"), EBM_NPY_F64, 1, one, v, &err), EBM_OK);
    f = fopen(tmp("m.npy"), "rb");
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_eq(n, 128 + 24);
    ck_assert_int_eq(buf[127], '\n');
    const char expect_1d[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
    ck_assert_mem_eq(buf + 10, expect_1d, strlen(expect_1d));
}
END_TEST

/* ---- hand-built headers ---------------------------------------------------------- */

START_TEST(hand_v1_int16_double_quotes)
{
    const int16_t v[3] = {-32768, 5, 32767};
    write_npy(tmp("h1.npy"), 1, "{\"shape\":(3 ,),\"fortran_order\" : False,  \"descr\":\"<i2\"}",
              1, v, sizeof v, -1);
    ebm_array a;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_read(tmp("h1.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(a.dtype, EBM_NPY_I64);
    ck_assert_int_eq(a.rank, 1);
    ck_assert_int_eq(a.shape[0], 3);
    const int64_t *d = a.data;
    ck_assert_int_eq(d[0], -32768);
    ck_assert_int_eq(d[1], 5);
    ck_assert_int_eq(d[2], 32767);
    ebm_array_free(&a);
}
END_TEST

START_TEST(hand_v2_unsigned_and_bool)
{
    const uint8_t u1[4] = {0, 1, 200, 255};
    write_npy(tmp("u1.npy"), 2, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2,), }",
              1, u1, sizeof u1, -1);
    const uint8_t b1[3] = {0, 1, 7};
    write_npy(tmp("b1.npy"), 2, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}", 0,
              b1, sizeof b1, -1);
    const uint32_t u4[2] = {4000000000u, 1};
    write_npy(tmp("u4.npy"), 3, "{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }", 1,
              u4, sizeof u4, -1);
    const int8_t i1[2] = {-128, 127};
    write_npy(tmp("i1.npy"), 1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", 1,
              i1, sizeof i1, -1);

    ebm_array a;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_read(tmp("u1.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(a.rank, 2);
    ck_assert_int_eq(((int64_t *)a.data)[2], 200);
    ck_assert_int_eq(((int64_t *)a.data)[3], 255);
    ebm_array_free(&a);
    ck_assert_int_eq(ebm_npy_read(tmp("b1.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(((int64_t *)a.data)[0], 0);
    ck_assert_int_eq(((int64_t *)a.data)[1], 1);
    ck_assert_int_eq(((int64_t *)a.data)[2], 1);
    ebm_array_free(&a);
    ck_assert_int_eq(ebm_npy_read(tmp("u4.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(((int64_t *)a.data)[0], 4000000000LL);
    ebm_array_free(&a);
    ck_assert_int_eq(ebm_npy_read(tmp("i1.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(((int64_t *)a.data)[0], -128);
    ck_assert_int_eq(((int64_t *)a.data)[1], 127);
    ebm_array_free(&a);
}
END_TEST

START_TEST(hand_v2_float_scalar)
{
    const float v = 2.5f;
    write_npy(tmp("fs.npy"), 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 1,
              &v, sizeof v, -1);
    ebm_array a;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_read(tmp("fs.npy"), &a, &err), EBM_OK);
    ck_assert_int_eq(a.rank, 0);
    ck_assert(*(float *)a.data == 2.5f);
    ebm_array_free(&a);
}
END_TEST

/* ---- malformed files --------------------------------------------------------------- */

static const char good_hdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";

START_TEST(bad_truncated_data)
{
    const float v[4] = {1, 2, 3, 4};
    write_npy(tmp("t.npy"), 1, good_hdr, 1, v, 12, -1);
    expect_error(tmp("t.npy"), EBM_ERR_FORMAT, "truncated");
}
END_TEST

START_TEST(bad_trailing_data)
{
    const float v[5] = {1, 2, 3, 4, 5};
    write_npy(tmp("x.npy"), 1, good_hdr, 1, v, sizeof v, -1);
    expect_error(tmp("x.npy"), EBM_ERR_FORMAT, "unexpected bytes");
}
END_TEST

START_TEST(bad_magic)
{
    static const char bad[] = "\x93NUMPX\x01\x00\x10\x00{}              ";
    tu_write_file(tmp("m.npy"), bad, sizeof bad - 1);
    expect_error(tmp("m.npy"), EBM_ERR_FORMAT, "bad magic");
    tu_write_file(tmp("e.npy"), "", 0);
    expect_error(tmp("e.npy"), EBM_ERR_FORMAT, "not a .npy file");
    tu_write_file(tmp("s.npy"), "\x93NUMPY\x02\x00\x10\x00", 10);   /* v2 needs 12 bytes */
    expect_error(tmp("s.npy"), EBM_ERR_FORMAT, "truncated");
}
END_TEST

START_TEST(bad_version)
{
    write_npy(tmp("v.npy"), 4, good_hdr, 1, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16, -1);
    expect_error(tmp("v.npy"), EBM_ERR_UNSUPPORTED, "version 4.0");
}
END_TEST

START_TEST(bad_header_length_past_eof)
{
    write_npy(tmp("h.npy"), 1, good_hdr, 1, NULL, 0, 60000);
    expect_error(tmp("h.npy"), EBM_ERR_FORMAT, "runs past the end");
    write_npy(tmp("h2.npy"), 2, good_hdr, 1, NULL, 0, 0x7fffffffL);
    expect_error(tmp("h2.npy"), EBM_ERR_FORMAT, "header length");
}
END_TEST

START_TEST(bad_fortran_order)
{
    const float v[4] = {0};
    write_npy(tmp("f.npy"), 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 1,
              v, sizeof v, -1);
    expect_error(tmp("f.npy"), EBM_ERR_UNSUPPORTED, "Fortran");
}
END_TEST

START_TEST(bad_big_endian)
{
    const float v[4] = {0};
    write_npy(tmp("b.npy"), 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", 1,
              v, sizeof v, -1);
    expect_error(tmp("b.npy"), EBM_ERR_UNSUPPORTED, "'>f4'");
}
END_TEST

START_TEST(bad_dtypes)
{
    const double v[8] = {0};
    static const char *const descrs[] = {"<c8", "|O", "<U4", "<f2", "<i3", "<M8[ns]", "f4", ""};
    for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++) {
        char hdr[128], name[32], frag[32];
        snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (1,), }",
                 descrs[i]);
        snprintf(name, sizeof name, "d%zu.npy", i);
        snprintf(frag, sizeof frag, "'%s'", descrs[i]);
        write_npy(tmp(name), 1, hdr, 1, v, 16, -1);
        expect_error(tmp(name), EBM_ERR_UNSUPPORTED, frag);
    }
    write_npy(tmp("st.npy"), 1, "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, "
              "'shape': (1,), }", 1, v, 8, -1);
    expect_error(tmp("st.npy"), EBM_ERR_UNSUPPORTED, "structured");
}
END_TEST

START_TEST(bad_missing_keys)
{
    const float v[4] = {0};
    write_npy(tmp("k1.npy"), 1, "{'descr': '<f4', 'fortran_order': False, }", 1, v, 4, -1);
    expect_error(tmp("k1.npy"), EBM_ERR_FORMAT, "'shape' missing");
    write_npy(tmp("k2.npy"), 1, "{'fortran_order': False, 'shape': (1,)}", 1, v, 4, -1);
    expect_error(tmp("k2.npy"), EBM_ERR_FORMAT, "'descr' missing");
    write_npy(tmp("k3.npy"), 1, "{'descr': '<f4', 'shape': (1,)}", 1, v, 4, -1);
    expect_error(tmp("k3.npy"), EBM_ERR_FORMAT, "'fortran_order' missing");
    write_npy(tmp("k4.npy"), 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
              "'shape': (1,)}", 1, v, 4, -1);
    expect_error(tmp("k4.npy"), EBM_ERR_FORMAT, "repeated");
    write_npy(tmp("k5.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), "
              "'extra': 1}", 1, v, 4, -1);
    expect_error(tmp("k5.npy"), EBM_ERR_FORMAT, "unexpected key 'extra'");
}
END_TEST

START_TEST(bad_syntax)
{
    const float v[4] = {0};
    static const char *const headers[] = {
        "",                                                            /* nothing */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",      /* no '}' */
        "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",      /* no ',' */
        "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",      /* quotes */
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",         /* not a bool */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",    /* negative */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}",    /* double comma */
        "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",      /* a list */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",   /* trailing text */
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1", /* ends inside the tuple */
    };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%zu.npy", i);
        write_npy(tmp(name), 1, headers[i], 1, v, 4, -1);
        expect_error(tmp(name), EBM_ERR_FORMAT, "header");
    }
}
END_TEST

START_TEST(bad_huge_shape)
{
    write_npy(tmp("big.npy"), 1, "{'descr': '<f4', 'fortran_order': False, "
              "'shape': (4294967296, 4294967296), }", 1, NULL, 0, -1);
    expect_error(tmp("big.npy"), EBM_ERR_FORMAT, "too large");
    /* Fits in int64 elements but not in bytes. */
    write_npy(tmp("big2.npy"), 1, "{'descr': '<f8', 'fortran_order': False, "
              "'shape': (2305843009213693952,), }", 1, NULL, 0, -1);
    expect_error(tmp("big2.npy"), EBM_ERR_FORMAT, "too large");
    /* Zero anywhere makes the product 0, whatever the rest says. */
    write_npy(tmp("z.npy"), 1, "{'descr': '<f4', 'fortran_order': False, "
              "'shape': (0, 9223372036854775807), }", 1, NULL, 0, -1);
    ebm_array a;
    ck_assert_int_eq(ebm_npy_read(tmp("z.npy"), &a, NULL), EBM_OK);
    ck_assert_int_eq(ebm_array_numel(&a), 0);
    ebm_array_free(&a);
    write_npy(tmp("r.npy"), 1, "{'descr': '<f4', 'fortran_order': False, "
              "'shape': (1,1,1,1,1,1,1,1,1), }", 1, "\0\0\0\0", 4, -1);
    expect_error(tmp("r.npy"), EBM_ERR_UNSUPPORTED, "dimensions");
}
END_TEST

START_TEST(bad_uint64_range)
{
    const uint64_t v[2] = {1, UINT64_MAX};
    write_npy(tmp("u8.npy"), 1, "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", 1,
              v, sizeof v, -1);
    expect_error(tmp("u8.npy"), EBM_ERR_UNSUPPORTED, "int64");
}
END_TEST

START_TEST(bad_paths)
{
    expect_error(tmp("missing.npy"), EBM_ERR_IO, "cannot open");
    ck_assert_int_eq(mkdir(tmp("dir.npy"), 0700), 0);
    expect_error(tmp("dir.npy"), EBM_ERR_IO, "not a regular file");
}
END_TEST

/* ---- atomic writes ------------------------------------------------------------------- */

static void write_old(const char *path, double value)
{
    ck_assert_int_eq(ebm_npy_write(path, EBM_NPY_F64, 0, NULL, &value, NULL), EBM_OK);
}

static void assert_old(const char *path, double value)
{
    ebm_array a;
    ck_assert_int_eq(ebm_npy_read(path, &a, NULL), EBM_OK);
    ck_assert_int_eq(a.rank, 0);
    ck_assert(*(double *)a.data == value);
    ebm_array_free(&a);
}

START_TEST(write_replaces_existing)
{
    write_old(tmp("o.npy"), 1.0);
    write_old(tmp("o.npy"), 2.0);
    assert_old(tmp("o.npy"), 2.0);
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
}
END_TEST

START_TEST(write_failure_keeps_old_file)
{
    write_old(tmp("o.npy"), 3.0);
    /* A file size limit makes write() fail with EFBIG half way through. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    static float big[100000];
    const int64_t shape[1] = {100000};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("o.npy"), EBM_NPY_F32, 1, shape, big, &err), EBM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, tmp("o.npy")));
    rl.rlim_cur = RLIM_INFINITY;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    assert_old(tmp("o.npy"), 3.0);
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);   /* no temporary file left */
}
END_TEST

START_TEST(write_rename_failure)
{
    /* rename() onto a non-empty directory fails after the data is written. */
    ck_assert_int_eq(mkdir(tmp("d.npy"), 0700), 0);
    write_old(tmp("d.npy/inner.npy"), 1.0);
    const double v = 5.0;
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("d.npy"), EBM_NPY_F64, 0, NULL, &v, &err), EBM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "rename"));
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
    assert_old(tmp("d.npy/inner.npy"), 1.0);
}
END_TEST

START_TEST(write_bad_arguments)
{
    const float v[1] = {0};
    const int64_t neg[1] = {-1};
    const int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    const int64_t huge[2] = {INT64_MAX, 2};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_npy_write(tmp("w.npy"), EBM_NPY_F32, 1, neg, v, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_npy_write(tmp("w.npy"), EBM_NPY_F32, 9, nine, v, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_npy_write(tmp("w.npy"), EBM_NPY_F32, 2, huge, v, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_npy_write(tmp("w.npy"), EBM_NPY_F32, 1, nine, NULL, &err),
                     EBM_ERR_INVALID);
    ck_assert_int_eq(ebm_npy_write(tmp("nodir/w.npy"), EBM_NPY_F32, 1, nine, v, &err), EBM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "nodir/w.npy"));
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 0);
}
END_TEST

static Suite *npy_suite(void)
{
    Suite *s = suite_create("npy");
    TCase *tc = tcase_create("npy");
    tcase_add_checked_fixture(tc, make_tmpdir, drop_tmpdir);
    tcase_add_test(tc, roundtrip_f32);
    tcase_add_test(tc, roundtrip_f64_scalar);
    tcase_add_test(tc, roundtrip_i64);
    tcase_add_test(tc, roundtrip_zero_size);
    tcase_add_test(tc, write_matches_numpy_layout);
    tcase_add_test(tc, hand_v1_int16_double_quotes);
    tcase_add_test(tc, hand_v2_unsigned_and_bool);
    tcase_add_test(tc, hand_v2_float_scalar);
    tcase_add_test(tc, bad_truncated_data);
    tcase_add_test(tc, bad_trailing_data);
    tcase_add_test(tc, bad_magic);
    tcase_add_test(tc, bad_version);
    tcase_add_test(tc, bad_header_length_past_eof);
    tcase_add_test(tc, bad_fortran_order);
    tcase_add_test(tc, bad_big_endian);
    tcase_add_test(tc, bad_dtypes);
    tcase_add_test(tc, bad_missing_keys);
    tcase_add_test(tc, bad_syntax);
    tcase_add_test(tc, bad_huge_shape);
    tcase_add_test(tc, bad_uint64_range);
    tcase_add_test(tc, bad_paths);
    tcase_add_test(tc, write_replaces_existing);
    tcase_add_test(tc, write_failure_keeps_old_file);
    tcase_add_test(tc, write_rename_failure);
    tcase_add_test(tc, write_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(npy_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
