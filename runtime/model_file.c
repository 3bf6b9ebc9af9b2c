/* model_file.c — a compiled model's file, checked before dlopen (see
 * model_file.h for the order of the checks).
 *
 * dlopen runs a shared object's constructors and IFUNC resolvers, applies its
 * relocations and walks its hash and version tables before libebm could look
 * at anything: a planted file runs code, a corrupt one crashes the loader.
 * So the file is read here first, checked as the loader would read it
 * (base/elf_file.h), and only then handed to dlopen, as the very file that was
 * read (model.c loads /proc/self/fd/N, not the path again).
 */
#define _GNU_SOURCE   /* O_CLOEXEC, O_NOFOLLOW with a strict _POSIX_C_SOURCE elsewhere */
#include "model_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"

/* The descriptor's fields read from the file: they come before the first
 * pointer, so no relocation may touch them. */
#define DESC_PLAIN_END offsetof(ebm_abi_model, compiler_version)
#define DESC_HASHES offsetof(ebm_abi_model, code_hash)
#define DESC_HASHES_LEN (sizeof(uint64_t) * 2)
#define ABI_PROBE_MAX 16
#define MAX_FILE_BYTES (UINT64_C(1) << 34)   /* 16 GiB: a file this big is not a model */

_Static_assert(offsetof(ebm_abi_model, weights_hash) == DESC_HASHES + sizeof(uint64_t),
               "the two digests are adjacent (sealed and checked as one range)");

/* The libraries a compiled model may need: the C library, libm and its vector
 * variants, libgcc_s, OpenBLAS (compiler/cc.c links -lopenblas -lm). */
static const char *const allowed_libs[] = {"libc.so.", "libm.so.", "libmvec.so.", "libgcc_s.so.", "libpthread.so.",
                                           "libopenblas"};

static int lib_allowed(const char *name)
{
    if (strchr(name, '/'))
        return 0;   /* a path would load that very file */
    for (size_t i = 0; i < sizeof allowed_libs / sizeof allowed_libs[0]; i++)
        if (strncmp(name, allowed_libs[i], strlen(allowed_libs[i])) == 0)
            return 1;
    return 0;
}

static ebm_status check_needed(const char *path, const base_elf *e, ebm_error *err)
{
    for (uint64_t i = 0; i < e->n_dyn; i++) {
        int64_t tag;
        uint64_t val;
        base_elf_dynamic(e, i, &tag, &val);
        if (tag != 1)   /* DT_NEEDED */
            continue;
        const char *lib = base_elf_string(e, val);
        if (!lib_allowed(lib))
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model: it needs the library '%.128s', which a "
                            "compiled model does not link (only libc, libm, libmvec, libgcc_s, libpthread, "
                            "libopenblas)", path, lib);
    }
    return EBM_OK;
}

/* ---- the descriptor in the file -------------------------------------------------------------- */

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);   /* the file is little-endian x86-64, like this process */
    return v;
}

static ebm_status find_symbol(const char *path, const base_elf *e, base_elf_sym *sym, ebm_error *err)
{
    int64_t i = base_elf_find_symbol(e, EBM_ABI_SYMBOL_NAME);
    if (i >= 0) {
        base_elf_symbol(e, (uint64_t)i, sym);
        return EBM_OK;
    }
    for (unsigned v = 1; v <= ABI_PROBE_MAX; v++) {
        char name[64];
        snprintf(name, sizeof name, "ebm_abi_model_v%u", v);
        if (v != EBM_ABI_VERSION && base_elf_find_symbol(e, name) >= 0)
            return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: built for ABI version %u (it exports %s), this libebm "
                            "reads %u (recompile the model with the ebmc that matches this libebm)", path, v, name,
                            (unsigned)EBM_ABI_VERSION);
    }
    return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model (no " EBM_ABI_SYMBOL_NAME " symbol)", path);
}

/* The symbol's magic, version and size, read from the file. */
static ebm_status check_symbol(const char *path, const base_elf *e, const base_elf_sym *sym, uint64_t *desc_off,
                               ebm_error *err)
{
    const uint64_t head = sizeof(uint32_t) * 2;
    if (sym->size < head)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model (" EBM_ABI_SYMBOL_NAME " is a %llu-byte "
                        "object, not a model descriptor)", path, (unsigned long long)sym->size);
    const base_elf_load *seg = base_elf_segment(e, sym->value, sym->size);
    if (base_elf_file_offset(e, sym->value, sym->size, desc_off) != 0 || !seg || (seg->flags & BASE_ELF_PF_X))
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model (" EBM_ABI_SYMBOL_NAME " is not data stored "
                        "in the file)", path);
    uint32_t magic, version;
    memcpy(&magic, e->data + *desc_off, sizeof magic);
    memcpy(&version, e->data + *desc_off + sizeof magic, sizeof version);
    if (magic != EBM_ABI_MAGIC)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model (" EBM_ABI_SYMBOL_NAME " has magic 0x%08x, "
                        "expected 0x%08x)", path, (unsigned)magic, (unsigned)EBM_ABI_MAGIC);
    if (version != EBM_ABI_VERSION)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: built for ABI version %u, this libebm reads %u (recompile the "
                        "model with the ebmc that matches this libebm)", path, (unsigned)version,
                        (unsigned)EBM_ABI_VERSION);
    if (sym->size != sizeof(ebm_abi_model) || sym->value % _Alignof(ebm_abi_model))
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt ebmc model descriptor (" EBM_ABI_SYMBOL_NAME "): the "
                        "symbol is %llu bytes at 0x%llx, an ABI %u descriptor is %zu, %zu-aligned", path,
                        (unsigned long long)sym->size, (unsigned long long)sym->value, (unsigned)EBM_ABI_VERSION,
                        sizeof(ebm_abi_model), _Alignof(ebm_abi_model));
    return EBM_OK;
}

/* The weights blob is where the loader will point `weights`: the one relative
 * relocation of that field.  No relocation may write the plain fields read
 * from the file. */
static ebm_status find_blob(const char *path, ebm_model_file *f, uint64_t desc_off, ebm_error *err)
{
    const base_elf *e = &f->elf;
    const uint64_t slot = f->desc_vaddr + offsetof(ebm_abi_model, weights);
    int found = 0;
    for (uint64_t i = 0; i < e->n_rela + e->n_jmprel; i++) {
        base_elf_rela r;
        base_elf_relocation(e, i, &r);
        if (r.offset < f->desc_vaddr + DESC_PLAIN_END && r.offset + 8 > f->desc_vaddr)
            return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt ebmc model descriptor: relocation %llu writes into "
                            "its header", path, (unsigned long long)i);
        if (r.offset + 8 > slot && r.offset < slot + 8) {
            if (found++ || r.offset != slot || r.type != BASE_ELF_R_RELATIVE)
                return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt ebmc model descriptor: the weights pointer is "
                                "not set by one relative relocation", path);
            f->blob_vaddr = (uint64_t)r.addend;
        }
    }
    memcpy(&f->blob_bytes, e->data + desc_off + offsetof(ebm_abi_model, blob_bytes), sizeof f->blob_bytes);
    if (f->blob_bytes < 0 || (f->blob_bytes > 0 && !found))
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt ebmc model descriptor: blob_bytes = %lld with %s weights "
                        "pointer", path, (long long)f->blob_bytes, found ? "a" : "no");
    if (f->blob_bytes == 0)
        return EBM_OK;
    const base_elf_load *seg = base_elf_segment(e, f->blob_vaddr, (uint64_t)f->blob_bytes);
    uint64_t off;
    if (!seg || (seg->flags & (BASE_ELF_PF_W | BASE_ELF_PF_X)) ||
        base_elf_file_offset(e, f->blob_vaddr, (uint64_t)f->blob_bytes, &off) != 0 ||
        f->blob_vaddr % EBM_ABI_ALIGN)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt ebmc model descriptor: the weights blob (0x%llx, %lld "
                        "bytes) is not aligned read-only data stored in the file", path,
                        (unsigned long long)f->blob_vaddr, (long long)f->blob_bytes);
    return EBM_OK;
}

static ebm_status check_digests(const char *path, const ebm_model_file *f, uint64_t desc_off, ebm_error *err)
{
    const base_elf *e = &f->elf;
    uint64_t want_code = rd64(e->data + desc_off + offsetof(ebm_abi_model, code_hash));
    uint64_t want_weights = rd64(e->data + desc_off + offsetof(ebm_abi_model, weights_hash));
    uint64_t blob_off = 0;
    if (f->blob_bytes > 0)
        base_elf_file_offset(e, f->blob_vaddr, (uint64_t)f->blob_bytes, &blob_off);   /* checked in find_blob */
    const char *unsealed = want_code == 0 && want_weights == 0 ? " (none recorded: the file was never sealed by "
                                                                 "ebmc)" : "";
    uint64_t code = base_elf_digest(e, desc_off + DESC_HASHES, DESC_HASHES_LEN, blob_off, (uint64_t)f->blob_bytes);
    if (code != want_code)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: integrity check failed: the code does not match its digest "
                        "(recorded 0x%016llx, file 0x%016llx)%s: the file was damaged or modified after ebmc compiled "
                        "it; recompile it", path, (unsigned long long)want_code, (unsigned long long)code, unsealed);
    uint64_t weights = base_digest64(e->data + blob_off, (size_t)f->blob_bytes);
    if (weights != want_weights)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: integrity check failed: the weights do not match their digest "
                        "(recorded 0x%016llx, file 0x%016llx): the file was damaged or modified after ebmc compiled "
                        "it; recompile it", path, (unsigned long long)want_weights, (unsigned long long)weights);
    return EBM_OK;
}

static ebm_status check_isa(const char *path, const base_elf *e, uint64_t desc_off, ebm_error *err)
{
    char isa[EBM_ABI_ISA_NAME_MAX], names[512], why[160];
    memcpy(isa, e->data + desc_off + offsetof(ebm_abi_model, isa), sizeof isa);
    if (!memchr(isa, 0, sizeof isa))
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt ebmc model descriptor: its target name is not "
                        "NUL-terminated", path);
    uint64_t need = rd64(e->data + desc_off + offsetof(ebm_abi_model, isa_features)), have;
    if (need & ~ebm__isa_known())
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: compiled for %s with CPU features this libebm does not know "
                        "(%s); use the libebm of the ebmc that compiled it", path, isa,
                        ebm_isa_names(need & ~ebm__isa_known(), names, sizeof names));
    if (ebm__cpu_features(&have, why, sizeof why) != 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s", path, why);
    if (need & ~have)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: compiled for %s, which needs CPU features this CPU lacks "
                        "(%s): recompile it here (ebmc --target native) or for an older target (ebmc --target "
                        "x86-64-v3 or generic)", path, isa, ebm_isa_names(need & ~have, names, sizeof names));
    return EBM_OK;
}

ebm_status ebm__model_file_check(const char *path, const void *bytes, uint64_t size, ebm_model_file *f,
                                 ebm_error *err)
{
    char why[256];
    int rc = base_elf_parse(&f->elf, bytes, size, BASE_ELF_MACHINE_X86_64, why, sizeof why);
    if (rc == -2)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not a shared object (%s); an ONNX model must be compiled first: "
                        "ebmc MODEL.onnx -o model.so", path, size ? "no ELF header" : "an empty file");
    if (rc != 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not loadable: %s", path, why);
    base_elf_sym sym;
    uint64_t desc_off = 0;
    ebm_status st = check_needed(path, &f->elf, err);
    if (!st)
        st = find_symbol(path, &f->elf, &sym, err);
    if (!st)
        st = check_symbol(path, &f->elf, &sym, &desc_off, err);
    if (st)
        return st;
    f->desc_vaddr = sym.value;
    f->code_hash = rd64(f->elf.data + desc_off + offsetof(ebm_abi_model, code_hash));
    st = find_blob(path, f, desc_off, err);
    if (!st)
        st = check_digests(path, f, desc_off, err);
    if (!st)
        st = check_isa(path, &f->elf, desc_off, err);
    return st;
}

/* ---- the file itself ----------------------------------------------------------------------- */

static ebm_status check_owner(const char *path, const struct stat *sb, ebm_error *err)
{
    const uid_t me = geteuid();
    if (sb->st_uid != me && sb->st_uid != 0)
        return ebm_fail(err, EBM_ERR_IO, "%s: refused: owned by uid %u, not by you (uid %u) or root; a model is code "
                        "that runs as you (ebm: --trust-file if you vouch for it)", path, (unsigned)sb->st_uid,
                        (unsigned)me);
    if (sb->st_mode & (S_IWGRP | S_IWOTH))
        return ebm_fail(err, EBM_ERR_IO, "%s: refused: writable by %s (mode %04o), so its code could have been "
                        "replaced; chmod go-w it (ebm: --trust-file if you vouch for it)", path,
                        (sb->st_mode & S_IWOTH) ? "anyone" : "its group", (unsigned)(sb->st_mode & 07777));
    return EBM_OK;
}

static ebm_status read_all(const char *path, int fd, uint64_t size, unsigned char **out, ebm_error *err)
{
    if (size > MAX_FILE_BYTES)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: %llu bytes, too large for a compiled model", path,
                        (unsigned long long)size);
    unsigned char *buf = malloc(size ? (size_t)size : 1);
    if (!buf)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory reading %llu bytes", path, (unsigned long long)size);
    uint64_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, buf + got, (size_t)(size - got), (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            free(buf);
            return ebm_fail(err, EBM_ERR_IO, "%s: %s after %llu of %llu bytes", path,
                            n < 0 ? strerror(e) : "the file shrank while being read", (unsigned long long)got,
                            (unsigned long long)size);
        }
        got += (uint64_t)n;
    }
    *out = buf;
    return EBM_OK;
}

ebm_status ebm__model_file_open(const char *path, int trust_file, ebm_model_file *f, ebm_error *err)
{
    memset(f, 0, sizeof *f);
    /* O_NONBLOCK: a FIFO must not block the open (it is refused below) */
    f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd < 0)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    ebm_status st = EBM_OK;
    if (fstat(f->fd, &sb) != 0)
        st = ebm_fail(err, EBM_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = ebm_fail(err, EBM_ERR_IO, "%s: is a directory, expected a compiled model (.so)", path);
    else if (!S_ISREG(sb.st_mode))
        st = ebm_fail(err, EBM_ERR_IO, "%s: not a regular file, expected a compiled model (.so)", path);
    else if (!trust_file)
        st = check_owner(path, &sb, err);
    if (!st)
        st = read_all(path, f->fd, (uint64_t)sb.st_size, &f->bytes, err);
    if (!st)
        st = ebm__model_file_check(path, f->bytes, (uint64_t)sb.st_size, f, err);
    if (st)
        ebm__model_file_close(f);
    return st;
}

void ebm__model_file_close(ebm_model_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->bytes);
    f->bytes = NULL;
}
