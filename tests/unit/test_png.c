/* test_png.c — PNG writing, sample grids and 2-D plots (runtime/png.c).
 *
 * Every picture is read back with libpng's simplified API
 * (png_image_begin_read_from_file / png_image_finish_read, as RGB) and
 * checked pixel by pixel at positions computed from the documented layout. */
#include <check.h>
#include <dirent.h>
#include <png.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebm_png.h"
#include "testutil.h"

/* Check fixtures take void functions. */
static void make_tmpdir(void)
{
    tu_scratch_make("png");
}

static void drop_tmpdir(void)
{
    tu_scratch_remove();
}

static const char *tmp(const char *name)
{
    return tu_scratch_file(name);
}

typedef struct picture {
    int w, h;
    uint8_t *rgb;
} picture;

static picture read_png(const char *path)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&img, path), "%s: %s", path, img.message);
    img.format = PNG_FORMAT_RGB;
    picture p = {(int)img.width, (int)img.height, malloc(PNG_IMAGE_SIZE(img))};
    ck_assert_msg(png_image_finish_read(&img, NULL, p.rgb, 0, NULL), "%s: %s", path, img.message);
    return p;
}

static void expect_px(const picture *p, int x, int y, int r, int g, int b)
{
    const uint8_t *q = p->rgb + 3 * ((size_t)y * p->w + x);
    ck_assert_msg(q[0] == r && q[1] == g && q[2] == b, "pixel (%d,%d) = %d,%d,%d, expected %d,%d,%d",
                  x, y, q[0], q[1], q[2], r, g, b);
}

static void expect_grey(const picture *p, int x, int y, int v)
{
    expect_px(p, x, y, v, v, v);
}

START_TEST(rgb_roundtrip)
{
    const uint8_t rgb[2 * 3 * 3] = {255, 0, 0, 0, 255, 0, 0, 0, 255,
                                    1, 2, 3, 128, 129, 130, 250, 251, 252};
    ck_assert_int_eq(ebm_png_write_rgb(tmp("a.png"), 3, 2, rgb, NULL), EBM_OK);
    picture p = read_png(tmp("a.png"));
    ck_assert_int_eq(p.w, 3);
    ck_assert_int_eq(p.h, 2);
    ck_assert_mem_eq(p.rgb, rgb, sizeof rgb);
    free(p.rgb);
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
}
END_TEST

/* Two grey 2 x 3 images in [-1, 1]: cols = ceil(sqrt 2) = 2, rows = 1, border
 * 2 -> 2*3 + 3*2 = 12 wide, 2 + 2*2 = 6 high; tile k's pixel (i, j) at
 * x = 2 + k*(3+2) + j, y = 2 + i.  v -> round(255 (v+1)/2), clipped. */
START_TEST(grid_of_two_grey_images)
{
    const float x[2 * 6] = {-1, 1, 2 * 51 / 255.0f - 1, 3, -5, NAN,
                            0.2f, 2 * 204 / 255.0f - 1, 2 * 1 / 255.0f - 1, -1, -1, 1};
    ck_assert_int_eq(ebm_png_write_grid(tmp("g.png"), x, 2, 1, 2, 3, -1, 1, NULL), EBM_OK);
    int W, H;
    ebm_png_grid_size(2, 2, 3, &W, &H);
    ck_assert_int_eq(W, 12);
    ck_assert_int_eq(H, 6);
    picture p = read_png(tmp("g.png"));
    ck_assert_int_eq(p.w, 12);
    ck_assert_int_eq(p.h, 6);
    const int expect0[6] = {0, 255, 51, 255, 0, 0};         /* 3 and -5 clipped; NaN -> 0 */
    const int expect1[6] = {153, 204, 1, 0, 0, 255};         /* 0.2 -> 153 */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            expect_grey(&p, 2 + j, 2 + i, expect0[i * 3 + j]);
            expect_grey(&p, 7 + j, 2 + i, expect1[i * 3 + j]);
        }
    /* the border: corners, the gap column between the tiles, the bottom rows */
    expect_grey(&p, 0, 0, 0x50);
    expect_grey(&p, 5, 2, 0x50);
    expect_grey(&p, 6, 3, 0x50);
    expect_grey(&p, 11, 5, 0x50);
    expect_grey(&p, 3, 4, 0x50);
    free(p.rgb);
}
END_TEST

/* 5 RGB 1 x 1 images: cols 3, rows 2 -> 3 + 4*2 = 11 by 2 + 3*2 = 8; tile 4
 * sits at column 1, row 1 -> pixel (2 + 1*3, 2 + 1*3) = (5, 5); the empty
 * sixth slot is border colour. */
START_TEST(grid_rgb_layout)
{
    float x[5 * 3];
    for (int k = 0; k < 5; k++) {
        x[3 * k] = (float)k / 4;   /* R = 255 k / 4 with lo = 0, hi = 1 */
        x[3 * k + 1] = 1;
        x[3 * k + 2] = 0;
    }
    ck_assert_int_eq(ebm_png_write_grid(tmp("c.png"), x, 5, 3, 1, 1, 0, 1, NULL), EBM_OK);
    picture p = read_png(tmp("c.png"));
    ck_assert_int_eq(p.w, 11);
    ck_assert_int_eq(p.h, 8);
    expect_px(&p, 2, 2, 0, 255, 0);
    expect_px(&p, 5, 2, 64, 255, 0);    /* 63.75 -> 64 */
    expect_px(&p, 8, 2, 128, 255, 0);   /* 127.5 -> 128 (ties to even) */
    expect_px(&p, 2, 5, 191, 255, 0);   /* 191.25 */
    expect_px(&p, 5, 5, 255, 255, 0);
    expect_grey(&p, 8, 5, 0x50);
    free(p.rgb);
}
END_TEST

START_TEST(colormap_ends)
{
    uint8_t c[3];
    ebm_png_colormap(0, c);
    ck_assert(c[0] == 0x44 && c[1] == 0x01 && c[2] == 0x54);
    ebm_png_colormap(1, c);
    ck_assert(c[0] == 0xfd && c[1] == 0xe7 && c[2] == 0x25);
    ebm_png_colormap(0.5, c);
    ck_assert(c[0] == 0x21 && c[1] == 0x91 && c[2] == 0x8c);
    ebm_png_colormap(0.125, c);   /* halfway between the first two stops */
    ck_assert(c[0] == 0x40 && c[1] == 0x2a && c[2] == 0x70);
    ebm_png_colormap(-3, c);
    ck_assert(c[0] == 0x44);
    ebm_png_colormap(NAN, c);
    ck_assert(c[0] == 0x44);
}
END_TEST

/* Two 40-px panels over [0, 4]^2 with a 4-px gap: 84 x 40.
 * Panel 0: white, one point at (1, 3) -> pixel (10, 10), a 3 x 3 dark blue dot.
 * Panel 1: a 2 x 2 heat map, top-right cell (iy = 1, ix = 1) the largest, so
 * its corner pixel is yellow and the bottom-left one dark purple; a point at
 * (3.99, 0.01) -> pixel (39, 39) in panel 1 is red. */
START_TEST(plot2d_panels)
{
    const float pts0[2] = {1, 3};
    const float pts1[4] = {3.99f, 0.01f, 9, 9};   /* the second point is outside: not drawn */
    const double values[4] = {0, 0.2, 0.2, 1};
    ebm_png_panel pan[2] = {
        {.lo = 0, .hi = 4, .points = pts0, .n_points = 1},
        {.lo = 0, .hi = 4, .values = values, .grid = 2, .points = pts1, .n_points = 2},
    };
    ebm_error err = {0};
    ck_assert_int_eq(ebm_png_write_plot2d(tmp("p.png"), pan, 2, 40, &err), EBM_OK);
    picture p = read_png(tmp("p.png"));
    ck_assert_int_eq(p.w, 84);
    ck_assert_int_eq(p.h, 40);
    for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
            expect_px(&p, 10 + dx, 10 + dy, 0x1f, 0x3a, 0x93);
    expect_grey(&p, 12, 10, 255);
    expect_grey(&p, 0, 39, 255);
    for (int y = 0; y < 40; y += 13)
        expect_grey(&p, 41, y, 255);   /* the gap */
    expect_px(&p, 44 + 39, 0, 0xfd, 0xe7, 0x25);
    expect_px(&p, 44 + 0, 39, 0x44, 0x01, 0x54);
    expect_px(&p, 44 + 39, 39, 0xe6, 0x1e, 0x1e);
    expect_px(&p, 44 + 38, 38, 0xe6, 0x1e, 0x1e);
    /* bilinear: pixel (20, 20) of panel 1 has centre (20.5, 19.5) px, grid
     * coordinates fx = 20.5/40*2 - 0.5 = 0.525, fy = 19.5/40*2 - 0.5 = 0.475:
     * (0 * 0.475 + 0.2 * 0.525) * 0.525 + (0.2 * 0.475 + 1 * 0.525) * 0.475 */
    uint8_t mid[3];
    ebm_png_colormap(0.105 * 0.525 + 0.62 * 0.475, mid);
    expect_px(&p, 44 + 20, 20, mid[0], mid[1], mid[2]);
    free(p.rgb);
}
END_TEST

START_TEST(plot2d_default_size_and_bad_args)
{
    const double flat[1] = {3};
    ebm_png_panel pan = {.lo = -4, .hi = 4, .values = flat, .grid = 1};
    ck_assert_int_eq(ebm_png_write_plot2d(tmp("d.png"), &pan, 1, 0, NULL), EBM_OK);
    picture p = read_png(tmp("d.png"));
    ck_assert_int_eq(p.w, 400);
    ck_assert_int_eq(p.h, 400);
    uint8_t mid[3];
    ebm_png_colormap(0.5, mid);   /* a constant map is drawn mid-scale */
    expect_px(&p, 200, 200, mid[0], mid[1], mid[2]);
    free(p.rgb);
    ebm_error err = {0};
    ebm_png_panel bad = {.lo = 1, .hi = 1};
    ck_assert_int_eq(ebm_png_write_plot2d(tmp("e.png"), &bad, 1, 0, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "panel 0"));
    ebm_png_panel nopts = {.lo = 0, .hi = 1, .n_points = 3};
    ck_assert_int_eq(ebm_png_write_plot2d(tmp("e.png"), &nopts, 1, 0, &err), EBM_ERR_INVALID);
    const float x[4] = {0};
    ck_assert_int_eq(ebm_png_write_grid(tmp("e.png"), x, 1, 2, 2, 1, 0, 1, &err), EBM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "C = 1 or 3"));
    ck_assert_int_eq(ebm_png_write_grid(tmp("e.png"), x, 1, 1, 2, 2, 1, 1, &err), EBM_ERR_INVALID);
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
}
END_TEST

/* ---- atomic writing -------------------------------------------------------------- */

START_TEST(missing_dir_is_clear_error)
{
    const uint8_t rgb[3] = {1, 2, 3};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_png_write_rgb(tmp("nodir/x.png"), 1, 1, rgb, &err), EBM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, tmp("nodir/x.png")));
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot create a temporary file"));
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 0);
}
END_TEST

/* rename() onto a non-empty directory fails after the picture is written:
 * the temporary file must be gone and the directory untouched. */
START_TEST(rename_failure_cleans_up)
{
    ck_assert_int_eq(mkdir(tmp("d.png"), 0700), 0);
    FILE *f = fopen(tmp("d.png/keep"), "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    const uint8_t rgb[3] = {1, 2, 3};
    ebm_error err = {0};
    ck_assert_int_eq(ebm_png_write_rgb(tmp("d.png"), 1, 1, rgb, &err), EBM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "rename"));
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
    ck_assert_int_eq(tu_count_entries(tmp("d.png")), 1);
}
END_TEST

/* A file size limit makes the write fail half way: the old picture stays. */
START_TEST(write_failure_keeps_old_file)
{
    const uint8_t small[3] = {9, 8, 7};
    ck_assert_int_eq(ebm_png_write_rgb(tmp("o.png"), 1, 1, small, NULL), EBM_OK);
    enum { S = 300 };
    uint8_t *noise = malloc(S * S * 3);
    for (int i = 0; i < S * S * 3; i++)
        noise[i] = (uint8_t)((i * 2654435761u) >> 13);   /* incompressible enough */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ebm_error err = {0};
    ebm_status st = ebm_png_write_rgb(tmp("o.png"), S, S, noise, &err);
    rl.rlim_cur = RLIM_INFINITY;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ck_assert_int_eq(st, EBM_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, tmp("o.png")));
    ck_assert_ptr_nonnull(strstr(err.msg, "unchanged"));
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
    picture p = read_png(tmp("o.png"));
    ck_assert_int_eq(p.w, 1);
    expect_px(&p, 0, 0, 9, 8, 7);
    free(p.rgb);
    free(noise);
}
END_TEST

static Suite *png_suite(void)
{
    Suite *s = suite_create("png");
    TCase *tc = tcase_create("png");
    tcase_add_checked_fixture(tc, make_tmpdir, drop_tmpdir);
    tcase_add_test(tc, rgb_roundtrip);
    tcase_add_test(tc, grid_of_two_grey_images);
    tcase_add_test(tc, grid_rgb_layout);
    tcase_add_test(tc, colormap_ends);
    tcase_add_test(tc, plot2d_panels);
    tcase_add_test(tc, plot2d_default_size_and_bad_args);
    tcase_add_test(tc, missing_dir_is_clear_error);
    tcase_add_test(tc, rename_failure_cleans_up);
    tcase_add_test(tc, write_failure_keeps_old_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(png_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
