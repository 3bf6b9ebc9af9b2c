/* model.c — loading a compiled model, its parameters and metadata, and
 * contexts (see ebm.h).  The compute calls are in run.c.
 *
 * A model file is untrusted input: a corrupt, foreign or planted .so must give
 * a clear error, never a crash, and nothing of it may run before it is
 * checked.  So the file is checked before dlopen sees it (model_file.c: owner,
 * ELF structure, no code at load, digests, CPU features), dlopen loads that
 * very file (through its open descriptor), and then every descriptor field is
 * checked against the segments the loader mapped before anything uses it:
 * strings end inside read-only data, tables lie inside it, program entry
 * points inside the code, the weights inside the blob the digest covered.
 */
#define _GNU_SOURCE   /* dlinfo: where the loader mapped the object */
#include "model_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebm_code.h"
#include "model_file.h"

#define MAX_PROGRAMS 64

int64_t ebm__align_up(int64_t bytes)
{
    if (bytes < 0 || bytes > INT64_MAX - EBM_ABI_ALIGN)
        return -1;
    return (bytes + EBM_ABI_ALIGN - 1) / EBM_ABI_ALIGN * EBM_ABI_ALIGN;
}

float *ebm__alloc_floats(int64_t count)
{
    if (count < 1)
        count = 1;
    if (count > INT64_MAX / (int64_t)sizeof(float))
        return NULL;
    int64_t bytes = ebm__align_up(count * (int64_t)sizeof(float));
    if (bytes < 0 || (uint64_t)bytes > SIZE_MAX)
        return NULL;
    return aligned_alloc(EBM_ABI_ALIGN, (size_t)bytes);
}

/* ---- the loaded object ------------------------------------------------------------ */

/* Where a descriptor pointer may point: the checked file's segments as the
 * loader mapped them (file set: base is the load bias), or the memory ranges
 * of code compiled in this process (ebm_code.h: file NULL).  code_hash and
 * the blob are what the descriptor must say: the file's recorded digest and
 * blob, or none and the descriptor's own weights for in-process code. */
typedef struct loaded {
    const char *path;
    uintptr_t base;
    const ebm_model_file *file;
    const ebm_code_region *regions;
    int n_regions;
    uint64_t code_hash;
    uintptr_t blob;
    int64_t blob_bytes;
} loaded;

/* The segment holding [p, p + len), or NULL. */
static const base_elf_load *segment_of(const loaded *L, uintptr_t p, uint64_t len)
{
    if (p < L->base)
        return NULL;
    return base_elf_segment(&L->file->elf, (uint64_t)(p - L->base), len);
}

/* The in-process region holding [p, p + len), or NULL. */
static const ebm_code_region *region_of(const loaded *L, uintptr_t p, uint64_t len)
{
    for (int k = 0; k < L->n_regions; k++) {
        const ebm_code_region *r = &L->regions[k];
        uintptr_t s = (uintptr_t)r->start;
        if (p >= s && p - s <= r->size && len <= r->size - (p - s))
            return r;
    }
    return NULL;
}

/* Read-only data: a segment that is neither executable nor writable, or the
 * part of a writable one the loader makes read-only after relocation.  In
 * process: a data region (the JIT's memory manager keeps relocated data
 * writable; the code that wrote it is ours). */
static int in_rodata(const loaded *L, uintptr_t p, uint64_t len, uint64_t *room)
{
    if (!L->file) {
        const ebm_code_region *r = region_of(L, p, len);
        if (!r || r->executable)
            return 0;
        if (room)
            *room = r->size - (p - (uintptr_t)r->start);
        return 1;
    }
    const base_elf_load *s = segment_of(L, p, len);
    if (!s || (s->flags & BASE_ELF_PF_X))
        return 0;
    uint64_t va = (uint64_t)(p - L->base), end = s->vaddr + s->memsz;
    if (s->flags & BASE_ELF_PF_W) {
        const base_elf *e = &L->file->elf;
        if (va < e->relro_vaddr || va - e->relro_vaddr > e->relro_size || len > e->relro_size - (va - e->relro_vaddr))
            return 0;
        end = e->relro_vaddr + e->relro_size;
    }
    if (room)
        *room = end - va;
    return 1;
}

/* ---- the descriptor ------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static ebm_status desc_fail(ebm_error *err, const char *path, const char *fmt, ...)
{
    char what[EBM_ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ebm_fail(err, EBM_ERR_FORMAT, "%s: corrupt ebmc model descriptor (" EBM_ABI_SYMBOL_NAME
                    "): %s", path, what);
}

/* A string field: non-NULL, inside read-only data, ending there. */
static ebm_status check_string(const loaded *L, const char *s, const char *what, ebm_error *err)
{
    uint64_t room;
    if (!s)
        return desc_fail(err, L->path, "%s is missing", what);
    if (!in_rodata(L, (uintptr_t)s, 1, &room))
        return desc_fail(err, L->path, "%s points outside the model's read-only data", what);
    if (!memchr(s, 0, (size_t)room))
        return desc_fail(err, L->path, "%s is not NUL-terminated inside the model's data", what);
    return EBM_OK;
}

/* A table of `count` entries of `size` bytes: inside read-only data, aligned. */
static ebm_status check_table(const loaded *L, const void *t, int64_t count, size_t size, size_t align,
                              const char *what, ebm_error *err)
{
    uint64_t bytes;
    if (count < 0 || (uint64_t)count > UINT64_MAX / size)
        return desc_fail(err, L->path, "%s has %lld entries", what, (long long)count);
    bytes = (uint64_t)count * size;
    if ((uintptr_t)t % align || !in_rodata(L, (uintptr_t)t, bytes, NULL))
        return desc_fail(err, L->path, "%s (%lld entries of %zu bytes at %p) does not lie inside the model's "
                         "read-only data", what, (long long)count, size, t);
    return EBM_OK;
}

/* a * b into *out unless it overflows int64 (a, b >= 0). */
static int mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0 || (b != 0 && a > INT64_MAX / b))
        return 0;
    *out = a * b;
    return 1;
}

static ebm_status check_input(const char *path, const ebm_abi_model *d, ebm_error *err)
{
    if (d->input_rank < 1 || d->input_rank > EBM_ABI_MAX_RANK)
        return desc_fail(err, path, "input_rank = %d, expected 1..%d", (int)d->input_rank, EBM_ABI_MAX_RANK);
    if (d->input_shape[0] != -1)
        return desc_fail(err, path, "input_shape[0] = %lld, expected -1 (the batch dimension N)",
                         (long long)d->input_shape[0]);
    int64_t numel = 1;
    for (int i = 1; i < d->input_rank; i++) {
        if (d->input_shape[i] < 1 || !mul_ok(numel, d->input_shape[i], &numel))
            return desc_fail(err, path, "input_shape[%d] = %lld, expected a dimension >= 1", i,
                             (long long)d->input_shape[i]);
    }
    if (d->sample_numel != numel)
        return desc_fail(err, path, "sample_numel = %lld, but the input shape holds %lld values per sample",
                         (long long)d->sample_numel, (long long)numel);
    int64_t tile_bytes;
    if (d->tile < 1 || !mul_ok(d->tile, numel, &tile_bytes) || !mul_ok(tile_bytes, 4, &tile_bytes))
        return desc_fail(err, path, "tile = %lld, expected a sample count >= 1 whose inputs fit in memory",
                         (long long)d->tile);
    return EBM_OK;
}

static ebm_status check_param(const loaded *L, const ebm_abi_model *d, int k, ebm_error *err)
{
    const ebm_abi_param *p = &d->params[k];
    char what[48];
    snprintf(what, sizeof what, "parameter %d's name", k);
    ebm_status st = check_string(L, p->name, what, err);
    if (st)
        return st;
    if (p->rank < 0 || p->rank > EBM_ABI_MAX_RANK)
        return desc_fail(err, L->path, "parameter '%s': rank %d, expected 0..%d", p->name, (int)p->rank,
                         EBM_ABI_MAX_RANK);
    int64_t numel = 1;
    for (int i = 0; i < p->rank; i++)
        if (!mul_ok(numel, p->shape[i], &numel))
            return desc_fail(err, L->path, "parameter '%s': dimension %d is %lld", p->name, i,
                             (long long)p->shape[i]);
    if (p->numel != numel)
        return desc_fail(err, L->path, "parameter '%s': numel = %lld, but its shape holds %lld", p->name,
                         (long long)p->numel, (long long)numel);
    if (p->offset < 0 || p->offset > d->weights_numel - p->numel)
        return desc_fail(err, L->path, "parameter '%s': floats %lld..%lld lie outside the %lld weights",
                         p->name, (long long)p->offset, (long long)(p->offset + p->numel),
                         (long long)d->weights_numel);
    return EBM_OK;
}

/* The weights are the blob whose digest model_file.c checked: weights_numel
 * floats must fit in it. */
static ebm_status check_weights(const loaded *L, const ebm_abi_model *d, ebm_error *err)
{
    if (d->blob_bytes != L->blob_bytes)
        return desc_fail(err, L->path, "blob_bytes = %lld in memory, %lld in the file", (long long)d->blob_bytes,
                         (long long)L->blob_bytes);
    if (d->weights_numel < 0 || d->weights_numel > d->blob_bytes / (int64_t)sizeof(float))
        return desc_fail(err, L->path, "weights_numel = %lld, but the weights blob holds %lld floats",
                         (long long)d->weights_numel, (long long)(d->blob_bytes / (int64_t)sizeof(float)));
    if (d->blob_bytes > 0 && (uintptr_t)d->weights != L->blob)
        return desc_fail(err, L->path, "the weights pointer %p is not the blob at %p", (const void *)d->weights,
                         (void *)L->blob);
    if (!L->file && d->blob_bytes > 0 && !in_rodata(L, L->blob, (uint64_t)d->blob_bytes, NULL))
        return desc_fail(err, L->path, "the weights blob (%lld bytes at %p) lies outside the model's data",
                         (long long)d->blob_bytes, (const void *)d->weights);
    return EBM_OK;
}

static ebm_status check_params(const loaded *L, const ebm_abi_model *d, ebm_error *err)
{
    ebm_status st = check_weights(L, d, err);
    if (st)
        return st;
    if (d->n_params < 0 || (d->n_params > 0 && !d->params))
        return desc_fail(err, L->path, "n_params = %d with the parameter table %s", (int)d->n_params,
                         d->params ? "present" : "missing");
    if (d->n_params > 0 && (st = check_table(L, d->params, d->n_params, sizeof *d->params,
                                             _Alignof(ebm_abi_param), "the parameter table", err)))
        return st;
    for (int k = 0; k < d->n_params && !st; k++)
        st = check_param(L, d, k, err);
    return st;
}

static ebm_status check_meta(const loaded *L, const ebm_abi_model *d, ebm_error *err)
{
    if (d->n_meta < 0 || (d->n_meta > 0 && !d->meta))
        return desc_fail(err, L->path, "n_meta = %d with the metadata table %s", (int)d->n_meta,
                         d->meta ? "present" : "missing");
    ebm_status st = EBM_OK;
    if (d->n_meta > 0)
        st = check_table(L, d->meta, d->n_meta, sizeof *d->meta, _Alignof(ebm_abi_meta), "the metadata table", err);
    for (int k = 0; k < d->n_meta && !st; k++) {
        char what[48];
        snprintf(what, sizeof what, "metadata entry %d's key", k);
        st = check_string(L, d->meta[k].key, what, err);
        snprintf(what, sizeof what, "metadata entry %d's value", k);
        if (!st)
            st = check_string(L, d->meta[k].value, what, err);
    }
    return st;
}

const char *ebm__program_name(ebm_abi_program_kind kind)
{
    static const char *const names[EBM_PROGRAM_KIND_COUNT] = {"energy", "score", "param_grad", "langevin",
                                                              "dsm_grad"};
    return names[kind];
}

/* An entry point inside the code the loader mapped from the file. */
static int in_code(const loaded *L, ebm_abi_entry fn)
{
    uintptr_t p;
    memcpy(&p, &fn, sizeof p);
    if (!L->file) {
        const ebm_code_region *r = region_of(L, p, 1);
        return r && r->executable;
    }
    const base_elf_load *s = segment_of(L, p, 1);
    return s && (s->flags & BASE_ELF_PF_X) && (uint64_t)(p - L->base) - s->vaddr < s->filesz;
}

/* Indexes the programs by kind; kinds this libebm does not know are skipped
 * (a newer compiler may add programs without breaking older runtimes). */
static ebm_status index_programs(ebm_model *m, const loaded *L, ebm_error *err)
{
    const ebm_abi_model *d = m->d;
    if (d->n_programs < 1 || d->n_programs > MAX_PROGRAMS || !d->programs)
        return desc_fail(err, m->path, "n_programs = %d with the program table %s, expected 1..%d programs",
                         (int)d->n_programs, d->programs ? "present" : "missing", MAX_PROGRAMS);
    ebm_status st = check_table(L, d->programs, d->n_programs, sizeof *d->programs, _Alignof(ebm_abi_program),
                                "the program table", err);
    if (st)
        return st;
    for (int k = 0; k < d->n_programs; k++) {
        const ebm_abi_program *p = &d->programs[k];
        if (p->kind < 0 || p->kind >= EBM_PROGRAM_KIND_COUNT)
            continue;
        const char *name = ebm__program_name((ebm_abi_program_kind)p->kind);
        if (m->prog[p->kind])
            return desc_fail(err, m->path, "two %s programs", name);
        if (!p->run)
            return desc_fail(err, m->path, "the %s program has no entry point", name);
        if (!in_code(L, p->run))
            return desc_fail(err, m->path, "the %s program's entry point lies outside the model's code", name);
        if (p->arena_bytes < 0 || ebm__align_up(p->arena_bytes) < 0)
            return desc_fail(err, m->path, "the %s program's arena_bytes = %lld", name,
                             (long long)p->arena_bytes);
        m->prog[p->kind] = p;
        if (p->arena_bytes > m->max_arena)
            m->max_arena = p->arena_bytes;
    }
    return EBM_OK;
}

static ebm_status check_descriptor(ebm_model *m, const loaded *L, ebm_error *err)
{
    const ebm_abi_model *d = m->d;
    /* the plain fields are no relocation's target (model_file.c): memory holds the file's values */
    if (d->magic != EBM_ABI_MAGIC || d->abi_version != EBM_ABI_VERSION || d->code_hash != L->code_hash)
        return desc_fail(err, m->path, "the loaded descriptor differs from the file's");
    ebm_status st = check_string(L, d->compiler_version, "compiler_version", err);
    if (!st)
        st = check_string(L, d->source_hash, "source_hash", err);
    if (!st)
        st = check_string(L, d->energy_head, "energy_head", err);
    if (!st)
        st = check_input(m->path, d, err);
    if (!st)
        st = check_params(L, d, err);
    if (!st)
        st = check_meta(L, d, err);
    if (!st)
        st = index_programs(m, L, err);
    return st;
}

/* ---- opening ------------------------------------------------------------------- */

/* dlerror() text without the leading "NAME: " (our message names the file). */
static const char *dl_reason(const char *name)
{
    const char *e = dlerror();
    if (!e)
        return "unknown reason";
    size_t lp = strlen(name);
    if (strncmp(e, name, lp) == 0 && e[lp] == ':' && e[lp + 1] == ' ')
        return e + lp + 2;
    return e;
}

/* A name for the checked file's descriptor that no dlopen in this process has
 * used before: "/proc/self/" + a mark + "fd/N".  The loader returns an object it
 * already has when the name matches any name that object was ever opened under
 * (not only the one dl_iterate_phdr shows: a second open of one file adds its
 * name to the first object), and descriptor numbers are reused once closed, so
 * "/proc/self/fd/N" alone can name another model loaded earlier (found by the
 * Python package, which keeps models open and opens one file twice).  The mark
 * spells a process-wide count in binary, "./" for a 1 and ".//" for a 0 after
 * a leading 1: every count gives another string for the same path. */
static int proc_name(const ebm_model_file *f, char *name, size_t size)
{
    static _Atomic uint64_t opens = 1;
    const uint64_t k = atomic_fetch_add(&opens, 1);
    size_t len = (size_t)snprintf(name, size, "/proc/self/");
    int top = 63;
    while (top > 0 && !((k >> top) & 1))
        top--;
    for (int bit = top; bit >= 0; bit--) {
        const char *mark = (k >> bit) & 1 ? "./" : ".//";
        if (len + 4 >= size)
            return -1;
        len += (size_t)snprintf(name + len, size - len, "%s", mark);
    }
    return (size_t)snprintf(name + len, size - len, "fd/%d", f->fd) < size - len ? 0 : -1;
}

/* dlopen of the checked file itself, through its descriptor: the path could
 * name another file by now.  Without /proc, the path again, if it still
 * names the same file (check_descriptor then compares the loaded digest). */
static ebm_status load_object(ebm_model *m, const ebm_model_file *f, ebm_error *err)
{
    char name[4096];
    struct stat by_fd, by_name;
    if (fstat(f->fd, &by_fd) != 0)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot stat: %s", m->path, strerror(errno));
    int ok = proc_name(f, name, sizeof name) == 0 && stat(name, &by_name) == 0 &&
             by_name.st_ino == by_fd.st_ino && by_name.st_dev == by_fd.st_dev;
    if (!ok) {
        int local = !strchr(m->path, '/');   /* without a slash dlopen would search the library path */
        if ((size_t)snprintf(name, sizeof name, "%s%s", local ? "./" : "", m->path) >= sizeof name ||
            stat(name, &by_name) != 0 || by_name.st_ino != by_fd.st_ino || by_name.st_dev != by_fd.st_dev)
            return ebm_fail(err, EBM_ERR_IO, "%s: the file changed while it was being checked (and /proc is not "
                            "mounted to load the checked one)", m->path);
    }
    dlerror();
    m->dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!m->dl)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: a shared object that cannot be loaded: %s", m->path,
                        dl_reason(name));
    return EBM_OK;
}

/* The descriptor the loader resolves must be the symbol checked in the file. */
static ebm_status find_descriptor(ebm_model *m, const ebm_model_file *f, loaded *L, ebm_error *err)
{
    struct link_map *lm = NULL;
    if (dlinfo(m->dl, RTLD_DI_LINKMAP, &lm) != 0 || !lm)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the loader does not say where it mapped the model", m->path);
    *L = (loaded){.path = m->path, .base = (uintptr_t)lm->l_addr, .file = f, .code_hash = f->code_hash,
                  .blob = (uintptr_t)lm->l_addr + f->blob_vaddr, .blob_bytes = f->blob_bytes};
    dlerror();
    m->d = dlsym(m->dl, EBM_ABI_SYMBOL_NAME);
    if (!m->d || (uintptr_t)m->d != L->base + f->desc_vaddr)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: the loader resolves " EBM_ABI_SYMBOL_NAME " to %p, not to the "
                        "descriptor checked in the file", m->path, (const void *)m->d);
    return EBM_OK;
}

static ebm_status copy_weights(ebm_model *m, ebm_error *err)
{
    int64_t n = m->d->weights_numel;
    m->weights = ebm__alloc_floats(n);
    if (!m->weights)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %lld weights", m->path, (long long)n);
    if (n > 0)
        memcpy(m->weights, m->d->weights, (size_t)n * sizeof(float));
    return EBM_OK;
}

/* OpenBLAS, if the model links it: dlsym on the model's handle searches its
 * dependencies too.  run.c uses these to keep BLAS on one thread per call. */
static void find_blas(ebm_model *m)
{
    void *h = m->dl ? m->dl : RTLD_DEFAULT;   /* in-process code calls this process's BLAS */
    void *set = dlsym(h, "openblas_set_num_threads"), *get = dlsym(h, "openblas_get_num_threads");
    if (!set || !get)
        return;
    /* Function pointers from dlsym's void * (POSIX guarantees this works). */
    memcpy(&m->blas_set_threads, &set, sizeof set);
    memcpy(&m->blas_get_threads, &get, sizeof get);
}

ebm_status ebm_model_open_with(const char *path, const ebm_open_options *o, ebm_model **out, ebm_error *err)
{
    if (!out)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_model_open: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_model_open: no path given");
    ebm_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    }
    ebm_model_file f;
    loaded L;
    ebm_status st = ebm__model_file_open(path, o && o->trust_file, &f, err);
    if (st) {
        ebm_model_close(m);
        return st;
    }
    st = load_object(m, &f, err);
    if (!st)
        st = find_descriptor(m, &f, &L, err);
    if (!st)
        st = check_descriptor(m, &L, err);
    if (!st)
        st = copy_weights(m, err);
    if (!st)
        find_blas(m);
    ebm__model_file_close(&f);
    if (st) {
        ebm_model_close(m);
        return st;
    }
    *out = m;
    return EBM_OK;
}

ebm_status ebm_model_open_code(const char *name, const ebm_code *code, ebm_model **out, ebm_error *err)
{
    ebm_model *m = NULL;
    ebm_status st = EBM_OK;
    if (!out || !code || !name || !name[0])
        st = ebm_fail(err, EBM_ERR_INVALID, "ebm_model_open_code: no %s", !out ? "out" : !code ? "code" : "name");
    else if (!(m = calloc(1, sizeof *m)) || !(m->path = strdup(name)))
        st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", name);
    if (m) {   /* owned from here: ebm_model_close releases it */
        m->code_owner = code->owner;
        m->code_release = code->release;
        m->upgrade_pending = code->upgrade_follows != 0;
    } else if (code && code->release) {
        code->release(code->owner);
    }
    if (out)
        *out = NULL;
    if (st) {
        ebm_model_close(m);
        return st;
    }
    if (code->n_regions < 1 || !code->regions || !code->desc)
        st = ebm_fail(err, EBM_ERR_INVALID, "%s: in-process code without a descriptor or memory ranges", name);
    loaded L = {.path = m->path, .regions = code->regions, .n_regions = code->n_regions};
    m->d = code->desc;
    if (!st && !in_rodata(&L, (uintptr_t)m->d, sizeof *m->d, NULL))
        st = desc_fail(err, m->path, "the descriptor at %p lies outside the model's data", (const void *)m->d);
    if (!st) {   /* no file: the blob is where the descriptor says, and must lie in the data */
        L.blob = (uintptr_t)m->d->weights;
        L.blob_bytes = m->d->blob_bytes;
        st = check_descriptor(m, &L, err);
    }
    if (!st)
        st = copy_weights(m, err);
    if (!st)
        find_blas(m);
    if (st) {
        ebm_model_close(m);
        return st;
    }
    *out = m;
    return EBM_OK;
}

/* Two descriptors of one C source: the same sample, tile, weights, parameters
 * and programs (what contexts were sized by); only code addresses differ. */
static int same_layout(const ebm_abi_model *a, const ebm_abi_model *b)
{
    if (a->sample_numel != b->sample_numel || a->tile != b->tile || a->weights_numel != b->weights_numel ||
        a->blob_bytes != b->blob_bytes || a->n_params != b->n_params || a->input_rank != b->input_rank ||
        a->n_programs != b->n_programs)
        return 0;
    for (int k = 0; k < a->input_rank && k < EBM_ABI_MAX_RANK; k++)
        if (a->input_shape[k] != b->input_shape[k])
            return 0;
    for (int k = 0; k < a->n_params; k++)
        if (a->params[k].offset != b->params[k].offset || a->params[k].numel != b->params[k].numel ||
            a->params[k].trainable != b->params[k].trainable)
            return 0;
    for (int k = 0; k < a->n_programs; k++)
        if (a->programs[k].kind != b->programs[k].kind || a->programs[k].arena_bytes != b->programs[k].arena_bytes)
            return 0;
    return 1;
}

ebm_status ebm_model_upgrade_code(ebm_model *m, const ebm_code *code, ebm_error *err)
{
    if (m && !code) {   /* none will come */
        __atomic_store_n(&m->upgrade_pending, 0, __ATOMIC_RELEASE);
        return EBM_OK;
    }
    if (!m || !code->desc || code->n_regions < 1 || !code->regions)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_model_upgrade_code: no %s", !m ? "model" : "descriptor");
    if (!m->code_release)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: only a model compiled in this process can change its code",
                        m->path);
    /* the new descriptor gets every check of ebm_model_open_code, on a scratch model */
    ebm_model t = {.path = m->path, .d = code->desc};
    loaded L = {.path = m->path, .regions = code->regions, .n_regions = code->n_regions};
    ebm_status st = EBM_OK;
    if (!in_rodata(&L, (uintptr_t)t.d, sizeof *t.d, NULL))
        st = desc_fail(err, m->path, "the new descriptor at %p lies outside its code's data", (const void *)t.d);
    if (!st) {
        L.blob = (uintptr_t)t.d->weights;
        L.blob_bytes = t.d->blob_bytes;
        st = check_descriptor(&t, &L, err);
    }
    if (!st && (!same_layout(m->d, t.d) || t.max_arena != m->max_arena))
        st = desc_fail(err, m->path, "the new code's descriptor does not describe the same model");
    if (st)
        return st;
    for (int k = 0; k < EBM_PROGRAM_KIND_COUNT; k++)
        if ((t.prog[k] != NULL) != (m->prog[k] != NULL))
            return desc_fail(err, m->path, "the new code has another set of programs");
    for (int k = 0; k < EBM_PROGRAM_KIND_COUNT; k++)
        if (t.prog[k])
            __atomic_store_n(&m->prog[k], t.prog[k], __ATOMIC_RELEASE);
    __atomic_store_n(&m->upgrade_pending, 0, __ATOMIC_RELEASE);
    return EBM_OK;
}

ebm_status ebm_model_open(const char *path, ebm_model **out, ebm_error *err)
{
    return ebm_model_open_with(path, NULL, out, err);
}

void ebm_model_close(ebm_model *m)
{
    if (!m)
        return;
    if (m->dl)
        dlclose(m->dl);
    if (m->code_release)
        m->code_release(m->code_owner);
    free(m->weights);
    free(m->meta);
    free(m->path);
    free(m);
}

/* ---- queries ------------------------------------------------------------------- */

const ebm_abi_model *ebm_model_desc(const ebm_model *m)
{
    return m ? m->d : NULL;
}

int64_t ebm_model_sample_numel(const ebm_model *m)
{
    return m ? m->d->sample_numel : 0;
}

const char *ebm_model_meta(const ebm_model *m, const char *key)
{
    if (!m || !key)
        return NULL;
    for (int k = 0; k < m->d->n_meta; k++)
        if (strcmp(m->d->meta[k].key, key) == 0)
            return m->d->meta[k].value;
    return NULL;
}

float *ebm_model_weights(ebm_model *m)
{
    return m ? m->weights : NULL;
}

int ebm_model_param_index(const ebm_model *m, const char *name)
{
    if (!m || !name)
        return -1;
    for (int k = 0; k < m->d->n_params; k++)
        if (strcmp(m->d->params[k].name, name) == 0)
            return k;
    return -1;
}

/* ---- contexts ------------------------------------------------------------------ */

#define MAX_THREADS 1024

static void worker_free(ebm_worker *w)
{
    free(w->arena);
    free(w->x_stage);
    free(w->x_start);
    free(w->score_stage);
    free(w->energy_stage);
    free(w->w_stage);
    free(w->grad_part);
    free(w->target_stage);
}

void ebm_ctx_free(ebm_ctx *ctx)
{
    if (!ctx)
        return;
    ebm__pool_free(ctx->pool);
    for (int t = 0; ctx->w && t < ctx->threads; t++)
        worker_free(&ctx->w[t]);
    free(ctx->w);
    free(ctx);
}

/* A thread count from the environment variable `name`: 0 if unset or empty,
 * else an integer 1..MAX_THREADS. */
static ebm_status env_threads(const char *path, const char *name, int *out, ebm_error *err)
{
    *out = 0;
    const char *v = getenv(name);
    if (!v || !v[0])
        return EBM_OK;
    char *end;
    errno = 0;
    long t = strtol(v, &end, 10);
    if (errno || *end || t < 1 || t > MAX_THREADS)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebm_ctx_new: %s = '%s', expected a thread count 1..%d "
                        "(or unset: one thread per core)", path, name, v, MAX_THREADS);
    *out = (int)t;
    return EBM_OK;
}

/* The thread count of a new context: the caller's, else $EBM_NUM_THREADS, else
 * one per online core; never more than the parts a full batch can be split
 * into (run.c split_tile: whole tiles, or down to EBM__PART samples a part). */
static ebm_status choose_threads(const ebm_model *m, int64_t capacity, int asked, int *out, ebm_error *err)
{
    if (asked < 0 || asked > MAX_THREADS)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebm_ctx_new_threads: threads = %d, expected 0 (the default) "
                        "or 1..%d", m->path, asked, MAX_THREADS);
    int t = asked;
    if (t == 0) {
        ebm_status st = env_threads(m->path, "EBM_NUM_THREADS", &t, err);
        if (st)
            return st;
    }
    if (t == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        t = cores < 1 ? 1 : cores > MAX_THREADS ? MAX_THREADS : (int)cores;
    }
    const int64_t part = m->d->tile < EBM__PART ? m->d->tile : EBM__PART, parts = (capacity + part - 1) / part;
    *out = parts < t ? (int)parts : t;
    return EBM_OK;
}

static int worker_alloc(const ebm_model *m, ebm_worker *w)
{
    const ebm_abi_model *d = m->d;
    int64_t tile_numel = d->tile * d->sample_numel;   /* checked at open */
    w->arena = ebm__alloc_floats((m->max_arena + 3) / 4);
    w->x_stage = ebm__alloc_floats(tile_numel);
    w->x_start = ebm__alloc_floats(tile_numel);
    w->score_stage = ebm__alloc_floats(tile_numel);
    w->energy_stage = ebm__alloc_floats(d->tile);
    w->w_stage = ebm__alloc_floats(d->tile);
    w->grad_part = ebm__alloc_floats(d->weights_numel);
    if (ebm__prog(m, EBM_PROGRAM_DSM_GRAD))
        w->target_stage = ebm__alloc_floats(tile_numel);
    return w->arena && w->x_stage && w->x_start && w->score_stage && w->energy_stage && w->w_stage &&
           w->grad_part && (!ebm__prog(m, EBM_PROGRAM_DSM_GRAD) || w->target_stage);
}

ebm_status ebm_ctx_new_threads(ebm_model *m, int64_t capacity, int threads, ebm_ctx **out, ebm_error *err)
{
    if (!out)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_ctx_new: out is NULL");
    *out = NULL;
    if (!m)
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_ctx_new: model is NULL");
    if (capacity < 1)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: ebm_ctx_new: capacity = %lld, expected >= 1", m->path,
                        (long long)capacity);
    int nt = 1, blas = 0;
    ebm_status st = choose_threads(m, capacity, threads, &nt, err);
    if (!st)
        st = env_threads(m->path, "EBM_BLAS_THREADS", &blas, err);
    if (st)
        return st;
    const ebm_abi_model *d = m->d;
    ebm_ctx *c = calloc(1, sizeof *c);
    int ok = c && (c->w = calloc((size_t)nt, sizeof *c->w));
    if (ok) {
        c->m = m;
        c->capacity = capacity;
        c->threads = nt;
        c->blas_threads = blas > 0 ? blas : 1;
        for (int t = 0; t < nt && ok; t++)
            ok = worker_alloc(m, &c->w[t]);
    }
    if (!ok) {
        ebm_ctx_free(c);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for a context (%d threads, each with an arena of "
                        "%lld bytes and a tile of %lld samples)", m->path, nt, (long long)m->max_arena,
                        (long long)d->tile);
    }
    if (nt > 1 && !(c->pool = ebm__pool_new(nt))) {
        ebm_ctx_free(c);
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: ebm_ctx_new: cannot start %d threads (set EBM_NUM_THREADS or "
                        "use ebm_ctx_new_threads for fewer)", m->path, nt - 1);
    }
    *out = c;
    return EBM_OK;
}

/* ---- accessors (for samplers and training built on the compute calls) ------------ */

ebm_model *ebm_ctx_model(const ebm_ctx *ctx)
{
    return ctx ? ctx->m : NULL;
}

void ebm_ctx_set_sample_base(ebm_ctx *ctx, int64_t first)
{
    if (ctx)
        ctx->sample_base = first;
}

int64_t ebm_ctx_capacity(const ebm_ctx *ctx)
{
    return ctx ? ctx->capacity : 0;
}

ebm_status ebm_model_set_meta(ebm_model *m, int n, const char *const *keys, const char *const *values,
                              ebm_error *err)
{
    if (!m || n < 0 || (n > 0 && (!keys || !values)))
        return ebm_fail(err, EBM_ERR_INVALID, "ebm_model_set_meta: no model, or %d entries without keys/values", n);
    size_t bytes = (size_t)n * sizeof(ebm_abi_meta);
    for (int i = 0; i < n; i++) {
        if (!keys[i] || !values[i])
            return ebm_fail(err, EBM_ERR_INVALID, "ebm_model_set_meta: entry %d has no key or no value", i);
        bytes += strlen(keys[i]) + strlen(values[i]) + 2;
    }
    /* one block: the table, then the strings it points to */
    ebm_abi_meta *t = malloc(bytes ? bytes : 1);
    if (!t)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %d metadata entries", m->path, n);
    char *at = (char *)(t + n);
    for (int i = 0; i < n; i++) {
        size_t lk = strlen(keys[i]) + 1, lv = strlen(values[i]) + 1;
        t[i].key = memcpy(at, keys[i], lk);
        t[i].value = memcpy(at + lk, values[i], lv);
        at += lk + lv;
    }
    m->view = m->d == &m->view ? m->view : *m->d;
    m->view.n_meta = n;
    m->view.meta = t;
    m->d = &m->view;
    free(m->meta);
    m->meta = t;
    return EBM_OK;
}

const char *ebm_model_path(const ebm_model *m)
{
    return m ? m->path : "(no model)";
}

ebm_status ebm_ctx_new(ebm_model *m, int64_t capacity, ebm_ctx **out, ebm_error *err)
{
    return ebm_ctx_new_threads(m, capacity, 0, out, err);
}

int ebm_ctx_threads(const ebm_ctx *ctx)
{
    return ctx ? ctx->threads : 0;
}
