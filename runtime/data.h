/* data.h — training datasets for libebm: IDX (MNIST), .npy and CSV files read
 * into one float32 array [N, ...] (or, on request, an IDX file's own bytes:
 * EBM_DATA_KEEP_BYTES), plus the shape check and the minibatch sampler `ebm
 * train` uses.
 *
 * Tutorial:
 *
 *     ebm_dataset d;
 *     if (ebm_data_load("train-images-idx3-ubyte.gz", &d, &err)) ...   // [N,1,28,28]
 *     const ebm_abi_model *md = ebm_model_desc(m);
 *     if (ebm_data_check_shape(&d, md->input_rank - 1, md->input_shape + 1, &err)) ...
 *     ebm_batcher b;
 *     ebm_batcher_init(&b, d.shape[0], 64, seed, &err);
 *     for (step...) {
 *         ebm_batcher_next(&b, idx);               // 64 sample indices
 *         ebm_data_gather(&d, idx, 64, x, &err);   // x: [64, sample_numel]
 *     }
 *     ebm_batcher_free(&b);
 *     ebm_dataset_free(&d);
 *
 * Formats are recognised by content, never by the file name:
 *   - gzip (bytes 1f 8b) is decompressed first (zlib), so .gz IDX and CSV work;
 *   - IDX (bytes 00 00 <type> <rank>, big-endian dims): only unsigned bytes
 *     (type 0x08).  Rank >= 2 is image data: pixel p -> p / 127.5 - 1, so
 *     0..255 maps onto [-1, 1] (the Langevin clamp's default range); rank 3
 *     [N,H,W] (MNIST, magic 0x00000803) is returned as [N,1,H,W].  Rank 1
 *     (labels, magic 0x00000801) is returned as-is, as floats 0..255.
 *   - .npy (magic "\x93NUMPY", not gzipped): float32/float64 are returned as
 *     they are (the user scaled them); integer arrays are taken as 8-bit
 *     pixels and scaled like IDX (values outside 0..255 are an error).  The
 *     shape is kept as stored (no channel dim is inserted).
 *   - anything else that is text is CSV: numeric cells separated by ',', one
 *     sample per line, every line with the same number of cells -> [N, C]
 *     as-is.  The first line is a header (skipped) if none of its cells is a
 *     number.  Blank lines are skipped.
 * Every value must be finite.  N = 0 is an error (nothing to train on).
 */
#ifndef EBM_DATA_H
#define EBM_DATA_H

#include <stdint.h>

#include "ebm_status.h"

#define EBM_DATA_MAX_RANK 8

typedef enum ebm_data_format {
    EBM_DATA_IDX,
    EBM_DATA_NPY,
    EBM_DATA_CSV,
} ebm_data_format;

typedef struct ebm_dataset {
    int rank;                          /* including N (>= 1) */
    int64_t shape[EBM_DATA_MAX_RANK];  /* shape[0] = N >= 1 */
    float *data;                       /* [N, ...] C order, malloc'd, owned; NULL when `bytes` holds the samples */
    unsigned char *bytes;              /* EBM_DATA_KEEP_BYTES on an IDX file: its bytes [N, ...], malloc'd, owned;
                                          sample value = value[byte].  Else NULL */
    float value[256];                  /* with `bytes`: each byte's value (p / 127.5 - 1 for images) */
    ebm_data_format format;            /* what the file was */
    int scaled;                        /* 1 if 0..255 was mapped onto [-1, 1] */
} ebm_dataset;

/* ebm_data_load_flags: keep an IDX file's bytes (1 byte a value) instead of
 * converting them to floats (4 bytes a value): Fashion-MNIST's 60,000 images
 * then take 47 MB instead of 188 MB, and loading skips writing 188 MB of fresh
 * memory (0.5-0.7 s here).  Read the samples with ebm_data_gather (it
 * converts the rows it copies) and ebm_data_range; ebm_data_to_floats makes
 * the float array when a caller needs `data` itself.  Other formats load as
 * floats whatever the flag. */
#define EBM_DATA_KEEP_BYTES 1u

/* Reads path (format detected by content, see above).  On failure *out is
 * zeroed and err names the file and what is wrong: missing file, truncated IDX
 * (header needs more bytes than the file holds), wrong IDX magic, N = 0,
 * ragged CSV (names the line), non-numeric CSV cell (line and column). */
ebm_status ebm_data_load(const char *path, ebm_dataset *out, ebm_error *err);
/* The same with flags (EBM_DATA_KEEP_BYTES or 0). */
ebm_status ebm_data_load_flags(const char *path, unsigned flags, ebm_dataset *out, ebm_error *err);
/* Converts a dataset held as bytes to floats (`data`; `bytes` freed).  Does
 * nothing when it is floats already. */
ebm_status ebm_data_to_floats(ebm_dataset *d, ebm_error *err);
/* The smallest and largest sample value. */
void ebm_data_range(const ebm_dataset *d, float *lo, float *hi);
void ebm_dataset_free(ebm_dataset *d);

/* Elements per sample: the product of shape[1..rank). */
int64_t ebm_dataset_sample_numel(const ebm_dataset *d);

/* Checks the dataset's per-sample shape (shape[1..]) against a model's input
 * shape without N (rank dims of sample_shape).  Accepted when equal, or when
 * equal after dropping size-1 dims ([N,28,28] data for a [1,28,28] model: same
 * memory layout).  Otherwise EBM_ERR_SHAPE naming both shapes. */
ebm_status ebm_data_check_shape(const ebm_dataset *d, int rank, const int64_t *sample_shape,
                                ebm_error *err);

/* Copies samples idx[0..count) into out [count, sample_numel] (C order). */
ebm_status ebm_data_gather(const ebm_dataset *d, const int64_t *idx, int64_t count, float *out,
                           ebm_error *err);

/* ---- minibatches ------------------------------------------------------------- */

/* A deterministic shuffled-epoch sampler.  Epoch e is a permutation of
 * 0..n-1 drawn (Fisher-Yates) from a generator seeded by (seed, e); batches
 * are consecutive runs of `batch` indices from epoch 0, epoch 1, ... laid end
 * to end, so every batch is full and, within each epoch, every sample is seen
 * exactly once.  Same (n, batch, seed) -> same batches, on every machine. */
typedef struct ebm_batcher {
    int64_t n, batch;
    uint64_t seed;
    int64_t *perm;      /* the current epoch's permutation */
    int64_t epoch;      /* which epoch perm holds */
    int64_t pos;        /* next position in perm */
} ebm_batcher;

ebm_status ebm_batcher_init(ebm_batcher *b, int64_t n, int64_t batch, uint64_t seed,
                            ebm_error *err);
/* Fills idx[0..batch) with the next batch. */
void ebm_batcher_next(ebm_batcher *b, int64_t *idx);
/* Positions the sampler so the next batch is batch number `index` (0-based):
 * resuming a run at step k gives the batches it would have seen. */
void ebm_batcher_seek(ebm_batcher *b, int64_t index);
void ebm_batcher_free(ebm_batcher *b);

#endif /* EBM_DATA_H */
