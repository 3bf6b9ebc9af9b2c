/* fuzz_model.c — libFuzzer target for loading compiled models
 * (runtime/model_file.c before dlopen, runtime/model.c after it).
 *
 * The first byte is a mode, the rest a model file.  Mode bit 0 re-seals the
 * file (compiler/seal.c: the two digests recomputed) before it is checked:
 * without it nearly every mutation stops at the digest check, with it the
 * mutation reaches the structural rules and, when those pass, dlopen and the
 * loaded-descriptor checks — the code that must never crash on a file that
 * passed the pre-dlopen checks.
 *
 * Every input goes through the in-memory checks; one that passes them is
 * written to a private temporary file and opened with ebm_model_open, whose
 * descriptor queries are then exercised.  A status is a fine answer; crashes
 * (inside the loader included), sanitizer reports and leaks are findings, and
 * so is an input the in-memory check accepts but the open of the same bytes
 * refuses for a reason other than the loader's own (a check that disagrees
 * with itself).  Programs are never run: a passing file's code is trusted
 * only as far as its digests go, and those are recomputed here.
 *
 * Built only with -DEBMC_FUZZ=ON (clang); tests/fuzz/run_fuzz.sh runs it,
 * seeded with the fake models and compiled fixtures.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cc.h"
#include "ebm.h"
#include "model_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static unsigned long counter;

static int write_file(const char *path, const unsigned char *bytes, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t put = 0;
    while (put < size) {
        ssize_t n = write(fd, bytes + put, size - put);
        if (n <= 0)
            break;
        put += (size_t)n;
    }
    close(fd);
    return put == size ? 0 : -1;
}

/* Reads every field a caller may read after a successful open. */
static void exercise(ebm_model *m)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    size_t total = strlen(d->compiler_version) + strlen(d->source_hash) + strlen(d->energy_head);
    for (int k = 0; k < d->n_params; k++) {
        total += strlen(d->params[k].name);
        if (ebm_model_param_index(m, d->params[k].name) < 0)
            abort();
    }
    for (int k = 0; k < d->n_meta; k++) {
        total += strlen(d->meta[k].key) + strlen(d->meta[k].value);
        if (!ebm_model_meta(m, d->meta[k].key))
            abort();
    }
    const float *w = ebm_model_weights(m);
    volatile float sum = 0;
    for (int64_t i = 0; i < d->weights_numel; i++)
        sum += w[i];
    (void)sum;
    (void)total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/ebmc-fuzz-model-XXXXXX", "/tmp");
        if (!mkdtemp(dir))
            abort();
    }
    const int reseal = data[0] & 1;
    size--;
    unsigned char *bytes = malloc(size ? size : 1);
    if (!bytes)
        return 0;
    memcpy(bytes, data + 1, size);
    ebm_error err = {0};
    uint64_t at;
    if (reseal)
        (void)ebmc_seal_bytes(bytes, size, "fuzz input", &at, &err);   /* fails on files it cannot read: fine */
    ebm_model_file f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    if (ebm__model_file_check("fuzz input", bytes, size, &f, &err) == EBM_OK) {
        char path[128];
        snprintf(path, sizeof path, "%s/%lu.so", dir, counter++);
        if (write_file(path, bytes, size) == 0) {
            ebm_model *m = NULL;
            ebm_status st = ebm_model_open(path, &m, &err);
            if (st == EBM_OK)
                exercise(m);
            else if (!strstr(err.msg, "corrupt ebmc model descriptor") &&
                     !strstr(err.msg, "cannot be loaded") && !strstr(err.msg, "the loader"))
                abort();   /* the bytes passed the file checks in memory but not from the file */
            ebm_model_close(m);
        }
        unlink(path);
    }
    free(bytes);
    return 0;
}
