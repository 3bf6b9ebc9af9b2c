/* testutil.c — see testutil.h. */
#include "testutil.h"

#include <check.h>
#include <unistd.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "onnx.h"
#include "pipeline.h"

const char *tu_source_dir(void)
{
    const char *s = getenv("EBMC_SOURCE_DIR");
    return s ? s : "..";
}

const char *tu_bin_dir(void)
{
    const char *s = getenv("EBMC_BIN_DIR");
    return s ? s : "bin";
}

const char *tu_shared_dir(void)
{
    const char *s = getenv("EBMC_SHARED_DIR");
    return s ? s : "../../shared";
}

const char *tu_path(const char *fmt, ...)
{
    static char bufs[8][4096];
    static int slot;
    char *b = bufs[slot++ & 7];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

int tu_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

double tu_rel_err_f64(const double *a, const double *b, size_t n)
{
    double scale = 1e-30, diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > scale)
            scale = fabs(b[i]);
        double d = fabs(a[i] - b[i]);
        if (!(d <= diff))   /* also catches NaN */
            diff = isnan(d) ? INFINITY : d;
    }
    return diff / scale;
}

double tu_rel_err_f32(const float *a, const double *b, size_t n)
{
    double scale = 1e-30, diff = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > scale)
            scale = fabs(b[i]);
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= diff))
            diff = isnan(d) ? INFINITY : d;
    }
    return diff / scale;
}

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void tu_fill_uniform_f64(double *x, size_t n, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
}

void tu_fill_uniform_f32(float *x, size_t n, uint64_t seed, double lo, double hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * (double)(splitmix64(&s) >> 11) * 0x1.0p-53);
}

/* The "head" string of meta.json.  The file is written by our own generator
 * (json.dump), so a key search is enough; no JSON parser needed. */
ebm_status tu_fixture_head(const char *path, char *head, size_t size, ebm_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open", path);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strstr(text, "\"head\"");
    if (p) {
        p += strlen("\"head\"");
        p += strspn(p, " \t\r\n");
        p = *p == ':' ? p + 1 + strspn(p + 1, " \t\r\n") : NULL;
    }
    if (!p || *p != '"')
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: no \"head\": \"...\" entry", path);
    size_t len = strcspn(p + 1, "\"");
    if (p[1 + len] != '"' || len >= size)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: malformed \"head\" value", path);
    memcpy(head, p + 1, len);
    head[len] = '\0';
    return EBM_OK;
}

ebm_status tu_fixture_graph(const char *dir, ir_graph **out, ebm_error *err)
{
    char head_name[64];
    ebm_status st = tu_fixture_head(tu_path("%s/meta.json", dir), head_name, sizeof head_name, err);
    if (st)
        return st;
    ebmc_front_end fe = {.fold = 1, .verify_each = 1};
    if (ebm_head_parse(head_name, &fe.head) != 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s/meta.json: unknown head '%s'", dir, head_name);
    ir_import_options io = {.batch_symbolic = 1};
    st = ir_onnx_import_file(tu_path("%s/model.onnx", dir), &io, out, err);
    if (st)
        return st;
    return ebmc_front_end_run(*out, &fe, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

int tu_fixture_names(const char *root, char (*names)[TU_NAME_MAX], int max)
{
    DIR *d = opendir(root);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *ent; (ent = readdir(d)) != NULL && n < max;) {
        char path[4096];
        if (ent->d_name[0] == '.' || strlen(ent->d_name) >= TU_NAME_MAX)
            continue;
        snprintf(path, sizeof path, "%s/%s/model.onnx", root, ent->d_name);
        if (!tu_file_exists(path))
            continue;
        memcpy(names[n++], ent->d_name, strlen(ent->d_name) + 1);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    return n;
}

/* ---- scratch folders -------------------------------------------------------------- */

static char scratch[256];

void tu_scratch_make(const char *tag)
{
    snprintf(scratch, sizeof scratch, "/tmp/ebmc_test_%s_XXXXXX", tag);
    ck_assert_msg(mkdtemp(scratch) != NULL, "cannot make a scratch folder %s", scratch);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

void tu_scratch_remove(void)
{
    if (scratch[0])
        remove_tree(scratch);
    scratch[0] = '\0';
}

const char *tu_scratch_dir(void)
{
    return scratch;
}

const char *tu_scratch_file(const char *name)
{
    return tu_path("%s/%s", scratch, name);
}

void tu_write_file(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}
