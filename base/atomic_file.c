/* atomic_file.c — temporary file, fsync, rename (see atomic_file.h). */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int base_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes the rename itself durable; failure only weakens durability, so it is ignored. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* pid of a "<base>.tmp-<pid>-<k>" name, else 0. */
static long temp_pid(const char *name, const char *base, size_t base_len)
{
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp-", 5) != 0)
        return 0;
    const char *p = name + base_len + 5;
    char *end;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (errno || end == p || *p == '-' || *p == '+' || *end != '-' || pid <= 0)
        return 0;
    const char *k = end + 1;
    if (!*k)
        return 0;
    for (; *k; k++)
        if (*k < '0' || *k > '9')
            return 0;
    return pid;
}

void base_atomic_remove_stale(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    DIR *d = dir ? opendir(dir) : NULL;
    free(dir);
    if (!d)
        return;
    const size_t base_len = strlen(base);
    const long self = (long)getpid();
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const long pid = temp_pid(e->d_name, base, base_len);
        /* only a process that does not exist (ESRCH; EPERM means it does) */
        if (pid == 0 || pid == self || (pid_t)pid != pid || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
            sb.st_uid == geteuid())
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

ebm_status base_atomic_open(base_atomic_file *f, const char *path, ebm_error *err)
{
    base_atomic_remove_stale(path);
    f->path = path;
    f->fd = -1;
    size_t size = strlen(path) + 48;
    f->tmp = malloc(size);
    for (unsigned k = 0; f->tmp && f->fd < 0 && k < 1000; k++) {
        snprintf(f->tmp, size, "%s.tmp-%ld-%u", path, (long)getpid(), k);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd < 0 && errno != EEXIST)
            break;
    }
    if (f->fd < 0) {
        int e = f->tmp ? errno : ENOMEM;
        free(f->tmp);
        f->tmp = NULL;
        errno = e;   /* for callers that word their own message */
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(e));
    }
    return EBM_OK;
}

/* The temporary's content on disk: through our descriptor, or reopened by
 * name when another program wrote it. */
static int sync_temp(base_atomic_file *f)
{
    if (f->fd >= 0)
        return fsync(f->fd);
    int fd = open(f->tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

ebm_status base_atomic_commit(base_atomic_file *f, const void *const *parts, const size_t *lens, int n_parts,
                              unsigned mode, ebm_error *err)
{
    if (!f->tmp)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: no temporary file to commit", f->path);
    const char *step = NULL;
    for (int k = 0; k < n_parts && !step; k++)
        if (base_write_all(f->fd, parts[k], lens[k]))
            step = "write";
    if (!step && sync_temp(f) != 0)
        step = "fsync";
    int saved = errno;
    if (f->fd >= 0 && close(f->fd) != 0 && !step) {
        step = "close";
        saved = errno;
    }
    f->fd = -1;
    if (!step && mode && chmod(f->tmp, (mode_t)mode) != 0) {
        step = "chmod";
        saved = errno;
    }
    if (!step && rename(f->tmp, f->path) != 0) {
        step = "rename";
        saved = errno;
    }
    if (step) {
        base_atomic_discard(f);
        return ebm_fail(err, EBM_ERR_IO, "%s: %s failed: %s (the previous file, if any, is unchanged)", f->path,
                        step, strerror(saved));
    }
    free(f->tmp);
    f->tmp = NULL;
    sync_parent_dir(f->path);
    return EBM_OK;
}

void base_atomic_discard(base_atomic_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp)
        unlink(f->tmp);
    free(f->tmp);
    f->tmp = NULL;
}

ebm_status base_write_atomic(const char *path, const void *const *parts, const size_t *lens, int n_parts,
                             ebm_error *err)
{
    base_atomic_file f;
    ebm_status st = base_atomic_open(&f, path, err);
    return st ? st : base_atomic_commit(&f, parts, lens, n_parts, 0, err);
}
