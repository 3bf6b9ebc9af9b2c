/* testutil.h — small helpers shared by the Check tests. */
#ifndef EBMC_TESTUTIL_H
#define EBMC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Folders from the environment CTest sets (fall back to paths relative to the
 * build folder when run by hand). */
const char *tu_source_dir(void);
const char *tu_bin_dir(void);
const char *tu_shared_dir(void);

/* snprintf into a static rotating buffer (8 slots): for building paths. */
const char *tu_path(const char *fmt, ...);
int tu_file_exists(const char *path);

/* max_i |a_i - b_i| / max(max_j |b_j|, tiny): the norm-wise relative error. */
double tu_rel_err_f64(const double *a, const double *b, size_t n);
double tu_rel_err_f32(const float *a, const double *b, size_t n);

/* Deterministic uniform values in [lo, hi) from a seed (splitmix64). */
void tu_fill_uniform_f64(double *x, size_t n, uint64_t seed, double lo, double hi);
void tu_fill_uniform_f32(float *x, size_t n, uint64_t seed, double lo, double hi);

/* A scratch folder for the current test: tu_scratch_make("npy") creates
 * /tmp/ebmc_test_npy_XXXXXX (a failed check if it cannot), tu_scratch_file
 * names a file in it, tu_scratch_remove deletes it with everything inside.
 * One at a time per process (Check runs each test in a child process). */
void tu_scratch_make(const char *tag);
void tu_scratch_remove(void);
const char *tu_scratch_dir(void);
const char *tu_scratch_file(const char *name);
/* Writes n bytes to path (a failed check if it cannot). */
void tu_write_file(const char *path, const void *buf, size_t n);
/* Entries of a folder other than . and .., or -1 if it cannot be opened. */
int tu_count_entries(const char *dir);

#include "ebm_status.h"
#include "ir.h"

/* The "head" value of a fixture's meta.json (written by our own generator). */
ebm_status tu_fixture_head(const char *meta_path, char *head, size_t size, ebm_error *err);
/* A fixture's model imported (batch symbolic), with the head of its meta.json,
 * constants folded, DCE'd and verified: the energy graph. */
ebm_status tu_fixture_graph(const char *dir, ir_graph **out, ebm_error *err);

#define TU_NAME_MAX 128
/* The fixture directories (holding model.onnx) under root, sorted; -1 if root
 * cannot be opened. */
int tu_fixture_names(const char *root, char (*names)[TU_NAME_MAX], int max);

#endif
