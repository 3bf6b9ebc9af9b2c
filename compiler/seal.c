/* seal.c — records a linked model's code and weights digests in its
 * descriptor (runtime/ebm_abi.h), which libebm checks at every open
 * (runtime/model_file.c).
 *
 * The digests can only be computed once the linker has placed everything, so
 * the generated C leaves code_hash and weights_hash zero and this step
 * writes them into the linked file.  It reads the file as libebm will
 * (base/elf_file.h, the same strict rules), so a shared object libebm would refuse
 * — say, a C compiler that adds constructors — fails here, at compile time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc.h"
#include "digest.h"
#include "ebm_abi.h"
#include "elf_file.h"

_Static_assert(offsetof(ebm_abi_model, weights_hash) == offsetof(ebm_abi_model, code_hash) + sizeof(uint64_t),
              "the two digests are written as one array");

static ebm_status read_file(const char *path, unsigned char **out, uint64_t *size, ebm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    unsigned char *buf = NULL;
    ebm_status st = EBM_OK;
    if (fstat(fd, &sb) != 0 || !(buf = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1)))
        st = ebm_fail(err, EBM_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    for (off_t got = 0; !st && got < sb.st_size;) {
        ssize_t n = pread(fd, buf + got, (size_t)(sb.st_size - got), got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            st = ebm_fail(err, EBM_ERR_IO, "%s: read failed: %s", path, n < 0 ? strerror(errno) : "short file");
        else
            got += n;
    }
    close(fd);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *size = (uint64_t)sb.st_size;
    return EBM_OK;
}

/* The file offsets of the descriptor and of the blob its `weights` points to
 * (set by the one relative relocation of that field; no blob: 0, 0). */
static ebm_status locate(const char *path, const base_elf *e, uint64_t *desc_off, uint64_t *blob_off,
                         uint64_t *blob_len, ebm_error *err)
{
    int64_t i = base_elf_find_symbol(e, EBM_ABI_SYMBOL_NAME);
    base_elf_sym sym;
    if (i < 0)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: no " EBM_ABI_SYMBOL_NAME " symbol to seal", path);
    base_elf_symbol(e, (uint64_t)i, &sym);
    if (sym.size != sizeof(ebm_abi_model) || base_elf_file_offset(e, sym.value, sym.size, desc_off) != 0)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: " EBM_ABI_SYMBOL_NAME " is not a descriptor stored in the file",
                        path);
    int64_t bytes;
    memcpy(&bytes, e->data + *desc_off + offsetof(ebm_abi_model, blob_bytes), sizeof bytes);
    *blob_off = *blob_len = 0;
    if (bytes <= 0)
        return EBM_OK;
    const uint64_t slot = sym.value + offsetof(ebm_abi_model, weights);
    for (uint64_t r = 0; r < e->n_rela + e->n_jmprel; r++) {
        base_elf_rela rel;
        base_elf_relocation(e, r, &rel);
        if (rel.offset == slot && rel.type == BASE_ELF_R_RELATIVE &&
            base_elf_file_offset(e, (uint64_t)rel.addend, (uint64_t)bytes, blob_off) == 0) {
            *blob_len = (uint64_t)bytes;
            return EBM_OK;
        }
    }
    return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the descriptor's weights pointer does not lead to a %lld-byte blob in "
                    "the file", path, (long long)bytes);
}

ebm_status ebmc_seal_bytes(unsigned char *bytes, uint64_t size, const char *name, uint64_t *at, ebm_error *err)
{
    base_elf e;
    char why[256];
    uint64_t desc_off = 0, blob_off = 0, blob_len = 0;
    if (base_elf_parse(&e, bytes, size, BASE_ELF_MACHINE_X86_64, why, sizeof why) != 0)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: the linked model is a shared object libebm would refuse: %s", name,
                        why);
    ebm_status st = locate(name, &e, &desc_off, &blob_off, &blob_len, err);
    if (st)
        return st;
    uint64_t digests[2];
    *at = desc_off + offsetof(ebm_abi_model, code_hash);
    digests[0] = base_elf_digest(&e, *at, sizeof digests, blob_off, blob_len);
    digests[1] = base_digest64(bytes + blob_off, (size_t)blob_len);
    memcpy(bytes + *at, digests, sizeof digests);
    return EBM_OK;
}

ebm_status ebmc_seal_model(const char *path, ebm_error *err)
{
    unsigned char *bytes = NULL;
    uint64_t size = 0, at = 0;
    ebm_status st = read_file(path, &bytes, &size, err);
    if (!st)
        st = ebmc_seal_bytes(bytes, size, path, &at, err);
    if (!st) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t put = fd < 0 ? -1 : pwrite(fd, bytes + at, 2 * sizeof(uint64_t), (off_t)at);
        int saved = errno;
        if (fd >= 0 && close(fd) != 0 && put == (ssize_t)(2 * sizeof(uint64_t))) {
            put = -1;
            saved = errno;
        }
        if (put != (ssize_t)(2 * sizeof(uint64_t)))
            st = ebm_fail(err, EBM_ERR_IO, "%s: cannot record the digests: %s", path,
                          put >= 0 ? "short write" : strerror(saved));
    }
    free(bytes);
    return st;
}
