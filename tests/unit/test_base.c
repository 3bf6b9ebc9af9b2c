/* test_base.c — the bottom layer (base/): atomic file write, bounded text,
 * FNV-1a and the string map.  FNV-1a values are the published test vectors
 * of the algorithm (64-bit, offset basis 0xcbf29ce484222325). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "hash.h"
#include "testutil.h"
#include "text.h"

static void make_tmpdir(void)
{
    tu_scratch_make("base");
}

static void drop_tmpdir(void)
{
    tu_scratch_remove();
}

static long file_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = 0;
    return (long)n;
}

/* ---- atomic file write --------------------------------------------------------------------- */

START_TEST(atomic_write_parts_and_replace)
{
    ebm_error err = {0};
    const char *path = tu_scratch_file("a.txt");
    const void *parts[3] = {"abc", "", "de"};
    size_t lens[3] = {3, 0, 2};
    ck_assert_msg(base_write_atomic(path, parts, lens, 3, &err) == EBM_OK, "%s", err.msg);
    char got[64];
    ck_assert_int_eq(file_text(path, got, sizeof got), 5);
    ck_assert_str_eq(got, "abcde");
    const void *one[1] = {"xyz!"};
    size_t len1 = 4;
    ck_assert_int_eq(base_write_atomic(path, one, &len1, 1, &err), EBM_OK);
    ck_assert_int_eq(file_text(path, got, sizeof got), 4);
    ck_assert_str_eq(got, "xyz!");
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);   /* no temporary left */
}
END_TEST

START_TEST(atomic_open_fails_in_missing_folder)
{
    ebm_error err = {0};
    base_atomic_file f;
    const char *path = tu_scratch_file("no/such/b.txt");
    ck_assert_int_eq(base_atomic_open(&f, path, &err), EBM_ERR_IO);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_null(f.tmp);
    char want[512];
    snprintf(want, sizeof want, "%s: cannot create a temporary file next to it: %s", path, strerror(ENOENT));
    ck_assert_str_eq(err.msg, want);
}
END_TEST

/* Another program writes the temporary by name (as the C compiler does for
 * model.so); commit syncs it by name and gives it the mode asked for. */
START_TEST(atomic_commit_by_name_with_mode)
{
    ebm_error err = {0};
    base_atomic_file f;
    const char *path = tu_scratch_file("lib.so");
    ck_assert_int_eq(base_atomic_open(&f, path, &err), EBM_OK);
    close(f.fd);
    f.fd = -1;
    tu_write_file(f.tmp, "ELF?", 4);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", f.tmp);
    ck_assert_int_eq(base_atomic_commit(&f, NULL, NULL, 0, 0750, &err), EBM_OK);
    ck_assert_ptr_null(f.tmp);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0750);
    ck_assert_int_eq(sb.st_size, 4);
    ck_assert_int_ne(access(tmp, F_OK), 0);
}
END_TEST

START_TEST(atomic_discard_keeps_old_file)
{
    ebm_error err = {0};
    const char *path = tu_scratch_file("keep.txt");
    tu_write_file(path, "old", 3);
    base_atomic_file f;
    ck_assert_int_eq(base_atomic_open(&f, path, &err), EBM_OK);
    ck_assert_int_eq(write(f.fd, "new", 3), 3);
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 2);
    base_atomic_discard(&f);
    base_atomic_discard(&f);   /* a released f: no-op */
    char got[16];
    ck_assert_int_eq(file_text(path, got, sizeof got), 3);
    ck_assert_str_eq(got, "old");
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
}
END_TEST

/* rename onto a folder fails after the data is written: the folder stays and
 * the temporary is removed. */
START_TEST(atomic_rename_failure)
{
    ebm_error err = {0};
    const char *path = tu_scratch_file("dir");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_eq(mkdir(tu_scratch_file("dir/inside"), 0755), 0);
    const void *parts[1] = {"x"};
    size_t len = 1;
    ck_assert_int_eq(base_write_atomic(path, parts, &len, 1, &err), EBM_ERR_IO);
    ck_assert_msg(strstr(err.msg, ": rename failed: ") && strstr(err.msg, "(the previous file, if any, is unchanged)"),
                  "%s", err.msg);
    ck_assert_int_eq(tu_count_entries(tu_scratch_dir()), 1);
}
END_TEST

/* ---- bounded text -------------------------------------------------------------------------- */

/* The pid of a child that has exited and been reaped: a process that no longer exists. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return pid;
}

static int exists(const char *name)
{
    struct stat sb;
    return lstat(tu_scratch_file(name), &sb) == 0;
}

/* Temporaries of killed writers go at the next write of the same file: only
 * "<name>.tmp-<pid>-<k>" of a pid that names no process, only regular files
 * of this user; a live writer's, another file's, or an odd name stay. */
START_TEST(atomic_removes_stale_temporaries)
{
    char dead[64], live[64], other[64], odd[64], link[64], dead2[64];
    const pid_t gone = dead_pid();
    snprintf(dead, sizeof dead, "m.onnx.tmp-%ld-0", (long)gone);
    snprintf(dead2, sizeof dead2, "m.onnx.tmp-%ld-17", (long)gone);
    snprintf(live, sizeof live, "m.onnx.tmp-%ld-0", (long)getppid());     /* our parent: alive */
    snprintf(other, sizeof other, "n.onnx.tmp-%ld-0", (long)gone);        /* another file's */
    snprintf(odd, sizeof odd, "m.onnx.tmp-%ld-x", (long)gone);            /* not the pattern */
    snprintf(link, sizeof link, "m.onnx.tmp-%ld-1", (long)gone);          /* a symlink */
    const char *files[] = {dead, dead2, live, other, odd};
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        tu_write_file(tu_scratch_file(files[k]), "partial", 7);
    ck_assert_int_eq(symlink("/etc/hostname", tu_scratch_file(link)), 0);
    int foreign = geteuid() == 0;   /* as root: a file of another user stays */
    char theirs[64];
    snprintf(theirs, sizeof theirs, "m.onnx.tmp-%ld-2", (long)gone);
    if (foreign) {
        tu_write_file(tu_scratch_file(theirs), "partial", 7);
        ck_assert_int_eq(chown(tu_scratch_file(theirs), 65534, 65534), 0);
    }
    ebm_error err = {0};
    const void *parts[1] = {"model"};
    size_t len = 5;
    ck_assert_msg(base_write_atomic(tu_scratch_file("m.onnx"), parts, &len, 1, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(!exists(dead) && !exists(dead2), "a dead writer's temporary was kept");
    ck_assert(exists(live));
    ck_assert(exists(other));
    ck_assert(exists(odd));
    ck_assert(exists(link));
    ck_assert(!foreign || exists(theirs));
    ck_assert(exists("m.onnx"));
}
END_TEST

START_TEST(appendf_cuts_and_counts)
{
    char buf[8];
    size_t at = 0;
    base_appendf(buf, sizeof buf, &at, "%s", "abc");
    ck_assert_str_eq(buf, "abc");
    ck_assert_uint_eq(at, 3);
    base_appendf(buf, sizeof buf, &at, "%d", 123456);
    ck_assert_str_eq(buf, "abc1234");   /* cut at 7 characters + NUL */
    ck_assert_uint_eq(at, 9);
    base_appendf(buf, sizeof buf, &at, "more");   /* past the end: nothing */
    ck_assert_str_eq(buf, "abc1234");
    ck_assert_uint_eq(at, 9);
}
END_TEST

START_TEST(dims_str)
{
    char buf[32];
    int64_t d[3] = {2, 30, 400};
    ck_assert_str_eq(base_dims_str(d, 3, buf, sizeof buf), "[2,30,400]");
    ck_assert_str_eq(base_dims_str(d, 0, buf, sizeof buf), "[]");
    ck_assert_str_eq(base_dims_str(d, 3, buf, 6), "[2,30");
}
END_TEST

/* ---- hashing ------------------------------------------------------------------------------- */

START_TEST(fnv1a_vectors)
{
    ck_assert_uint_eq(base_fnv1a(BASE_FNV1A_INIT, "", 0), UINT64_C(0xcbf29ce484222325));
    ck_assert_uint_eq(base_fnv1a(BASE_FNV1A_INIT, "a", 1), UINT64_C(0xaf63dc4c8601ec8c));
    ck_assert_uint_eq(base_fnv1a(BASE_FNV1A_INIT, "foobar", 6), UINT64_C(0x85944171f73967e8));
    /* continued hashing equals hashing the concatenation */
    ck_assert_uint_eq(base_fnv1a(base_fnv1a(BASE_FNV1A_INIT, "foo", 3), "bar", 3), UINT64_C(0x85944171f73967e8));
}
END_TEST

START_TEST(strmap_grows_and_finds)
{
    enum { N = 3000 };
    static char keys[N][16];
    base_strmap m = {0};
    ck_assert_int_eq(base_strmap_get(&m, "absent"), -1);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "v%d", i);
        ck_assert_int_eq(base_strmap_put(&m, keys[i], i * 7), 0);
    }
    ck_assert_uint_eq(m.n, N);
    ck_assert_uint_ge(m.cap, 2 * N);
    for (int i = 0; i < N; i++) {
        char probe[16];   /* another copy: keys compare by content */
        snprintf(probe, sizeof probe, "v%d", i);
        ck_assert_int_eq(base_strmap_get(&m, probe), i * 7);
    }
    ck_assert_int_eq(base_strmap_get(&m, "v3000"), -1);
    ck_assert_int_eq(base_strmap_get(&m, ""), -1);
    base_strmap_free(&m);
    ck_assert_uint_eq(m.cap, 0);
    ck_assert_int_eq(base_strmap_get(&m, "v1"), -1);
}
END_TEST

static Suite *base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("atomic_file");
    tcase_add_checked_fixture(tc, make_tmpdir, drop_tmpdir);
    tcase_add_test(tc, atomic_write_parts_and_replace);
    tcase_add_test(tc, atomic_open_fails_in_missing_folder);
    tcase_add_test(tc, atomic_commit_by_name_with_mode);
    tcase_add_test(tc, atomic_discard_keeps_old_file);
    tcase_add_test(tc, atomic_rename_failure);
    tcase_add_test(tc, atomic_removes_stale_temporaries);
    suite_add_tcase(s, tc);
    tc = tcase_create("text_hash");
    tcase_add_test(tc, appendf_cuts_and_counts);
    tcase_add_test(tc, dims_str);
    tcase_add_test(tc, fnv1a_vectors);
    tcase_add_test(tc, strmap_grows_and_finds);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(base_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
