/* atomic_file.h — writing a file so that a reader (or a crash) sees the old
 * file or the new one, never half of one.
 *
 * The new content goes to a temporary "<path>.tmp-<pid>-<k>" created
 * exclusively next to path (same file system, so concurrent writers never
 * share one), is fsync'ed, then renamed over path, and the folder is synced so
 * the rename itself survives a crash.  On any failure the temporary is removed
 * and the previous file, if any, is left as it was.
 *
 * Used by every writer of models, arrays, checkpoints and compiled libraries
 * (runtime/npy.c, onnx/onnx_export.c, compiler/cc.c).
 *
 * A process killed during a write leaves its temporary behind.  Opening a
 * temporary first removes those of path whose pid names no process on this
 * machine (kill(pid, 0) fails with ESRCH): regular files of this user only,
 * never a symlink.  (On a folder shared between machines a writer elsewhere
 * may have such a pid: its rename then fails, and its previous file stays.)
 */
#ifndef BASE_ATOMIC_FILE_H
#define BASE_ATOMIC_FILE_H

#include <stddef.h>

#include "ebm_status.h"

typedef struct base_atomic_file {
    const char *path;   /* the destination (borrowed) */
    char *tmp;          /* the temporary next to it (owned until commit or discard) */
    int fd;             /* open for writing; a caller that lets another program write
                           the temporary by name closes it and sets -1 */
} base_atomic_file;

/* Removes path's temporaries left by processes that no longer exist (see
 * above); best effort, errors are ignored.  base_atomic_open calls it. */
void base_atomic_remove_stale(const char *path);

/* Creates the temporary for path (mode 0666 less the umask); on failure errno
 * still says why. */
ebm_status base_atomic_open(base_atomic_file *f, const char *path, ebm_error *err);

/* Appends the n_parts buffers to the temporary (none when n_parts = 0), syncs
 * and closes it, gives it `mode` (0 = keep), renames it over path and syncs
 * the folder.  Always releases f: on failure the temporary is removed. */
ebm_status base_atomic_commit(base_atomic_file *f, const void *const *parts, const size_t *lens, int n_parts,
                              unsigned mode, ebm_error *err);

/* Removes the temporary and releases f (no-op on a released f). */
void base_atomic_discard(base_atomic_file *f);

/* Writes all n bytes of buf to fd, again after EINTR and short writes: 0,
 * or -1 with errno saying why (a pipe's reader gone, a full disk). */
int base_write_all(int fd, const void *buf, size_t n);

/* open + commit: path gets the concatenation of the n_parts buffers. */
ebm_status base_write_atomic(const char *path, const void *const *parts, const size_t *lens, int n_parts,
                             ebm_error *err);

#endif /* BASE_ATOMIC_FILE_H */
