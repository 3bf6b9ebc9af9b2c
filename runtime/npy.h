/* npy.h — NumPy .npy arrays, the format arrays cross the CLI in.
 *
 * Reads version 1.0/2.0/3.0 files, C order, little-endian float32 ('<f4'),
 * float64 ('<f8') and integer types; anything else (Fortran order, big-endian,
 * objects, structured dtypes) is a clear EBM_ERR_UNSUPPORTED naming the file
 * and the dtype found.  Writes are atomic: a temporary file in the same folder,
 * then rename(), so a crash never leaves a half-written array behind.
 */
#ifndef EBM_NPY_H
#define EBM_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "ebm_status.h"

#define EBM_NPY_MAX_RANK 8

typedef enum ebm_npy_dtype {
    EBM_NPY_F32,
    EBM_NPY_F64,
    EBM_NPY_I64,   /* integer files are widened to int64 on read */
} ebm_npy_dtype;

typedef struct ebm_array {
    ebm_npy_dtype dtype;
    int rank;
    int64_t shape[EBM_NPY_MAX_RANK];
    void *data;    /* numel elements, malloc'd, owned */
} ebm_array;

int64_t ebm_array_numel(const ebm_array *a);
void ebm_array_free(ebm_array *a);
/* EBM_OK when every element of a float array is finite (integer arrays
 * always are); else EBM_ERR_NUMERIC naming path, the first NaN/Inf element's
 * flat index and its index per dimension ("x.npy: element 3 [1,1] is NaN"). */
ebm_status ebm_array_check_finite(const ebm_array *a, const char *path, ebm_error *err);

ebm_status ebm_npy_read(const char *path, ebm_array *out, ebm_error *err);
ebm_status ebm_npy_write(const char *path, ebm_npy_dtype dtype, int rank, const int64_t *shape,
                         const void *data, ebm_error *err);

/* Writes the concatenation of parts[0..n_parts) to path atomically: a
 * temporary file next to it (created exclusively), fsync, then rename(); on
 * any failure the temporary file is removed and a previous file at path is
 * unchanged.  Used for every file libebm writes (arrays, checkpoints). */
ebm_status ebm_write_atomic(const char *path, const void *const *parts, const size_t *lens, int n_parts,
                            ebm_error *err);

#endif /* EBM_NPY_H */
