/* model.c — loading a compiled model (dlopen, then every descriptor field
 * checked before use), its parameters and metadata, and contexts (see ebm.h).
 * The compute calls are in run.c.
 *
 * A descriptor comes from a file on disk, so it is treated like any other
 * untrusted input: a corrupt or foreign .so must give a clear error, never a
 * crash, before any program runs.
 */
#define _GNU_SOURCE   /* dladdr1: the size of the descriptor symbol */
#include "model_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <elf.h>
#include <link.h>
#endif

#define ELF_MAGIC "\x7f" "ELF"
/* A descriptor of another ABI (older or newer) is exported under its own
 * name; probing for a few lets us say "built for ABI version 3" instead of
 * "not an ebmc model". */
#define ABI_PROBE_MAX 16
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

static ebm_status check_param(const char *path, const ebm_abi_model *d, int k, ebm_error *err)
{
    const ebm_abi_param *p = &d->params[k];
    if (!p->name)
        return desc_fail(err, path, "parameter %d has no name", k);
    if (p->rank < 0 || p->rank > EBM_ABI_MAX_RANK)
        return desc_fail(err, path, "parameter '%s': rank %d, expected 0..%d", p->name, (int)p->rank,
                         EBM_ABI_MAX_RANK);
    int64_t numel = 1;
    for (int i = 0; i < p->rank; i++)
        if (!mul_ok(numel, p->shape[i], &numel))
            return desc_fail(err, path, "parameter '%s': dimension %d is %lld", p->name, i,
                             (long long)p->shape[i]);
    if (p->numel != numel)
        return desc_fail(err, path, "parameter '%s': numel = %lld, but its shape holds %lld", p->name,
                         (long long)p->numel, (long long)numel);
    if (p->offset < 0 || p->offset > d->weights_numel - p->numel)
        return desc_fail(err, path, "parameter '%s': floats %lld..%lld lie outside the %lld weights",
                         p->name, (long long)p->offset, (long long)(p->offset + p->numel),
                         (long long)d->weights_numel);
    return EBM_OK;
}

static ebm_status check_params(const char *path, const ebm_abi_model *d, ebm_error *err)
{
    if (d->weights_numel < 0 || (d->weights_numel > 0 && !d->weights))
        return desc_fail(err, path, "weights_numel = %lld with weights %s", (long long)d->weights_numel,
                         d->weights ? "present" : "missing");
    if (d->n_params < 0 || (d->n_params > 0 && !d->params))
        return desc_fail(err, path, "n_params = %d with the parameter table %s", (int)d->n_params,
                         d->params ? "present" : "missing");
    for (int k = 0; k < d->n_params; k++) {
        ebm_status st = check_param(path, d, k, err);
        if (st)
            return st;
    }
    return EBM_OK;
}

static ebm_status check_meta(const char *path, const ebm_abi_model *d, ebm_error *err)
{
    if (d->n_meta < 0 || (d->n_meta > 0 && !d->meta))
        return desc_fail(err, path, "n_meta = %d with the metadata table %s", (int)d->n_meta,
                         d->meta ? "present" : "missing");
    for (int k = 0; k < d->n_meta; k++)
        if (!d->meta[k].key || !d->meta[k].value)
            return desc_fail(err, path, "metadata entry %d has no %s", k, d->meta[k].key ? "value" : "key");
    return EBM_OK;
}

const char *ebm__program_name(ebm_abi_program_kind kind)
{
    static const char *const names[EBM_PROGRAM_KIND_COUNT] = {"energy", "score", "param_grad", "langevin",
                                                              "dsm_grad"};
    return names[kind];
}

/* Indexes the programs by kind; kinds this libebm does not know are skipped
 * (a newer compiler may add programs without breaking older runtimes). */
static ebm_status index_programs(ebm_model *m, ebm_error *err)
{
    const ebm_abi_model *d = m->d;
    if (d->n_programs < 1 || d->n_programs > MAX_PROGRAMS || !d->programs)
        return desc_fail(err, m->path, "n_programs = %d with the program table %s, expected 1..%d programs",
                         (int)d->n_programs, d->programs ? "present" : "missing", MAX_PROGRAMS);
    for (int k = 0; k < d->n_programs; k++) {
        const ebm_abi_program *p = &d->programs[k];
        if (p->kind < 0 || p->kind >= EBM_PROGRAM_KIND_COUNT)
            continue;
        const char *name = ebm__program_name((ebm_abi_program_kind)p->kind);
        if (m->prog[p->kind])
            return desc_fail(err, m->path, "two %s programs", name);
        if (!p->run)
            return desc_fail(err, m->path, "the %s program has no entry point", name);
        if (p->arena_bytes < 0 || ebm__align_up(p->arena_bytes) < 0)
            return desc_fail(err, m->path, "the %s program's arena_bytes = %lld", name,
                             (long long)p->arena_bytes);
        m->prog[p->kind] = p;
        if (p->arena_bytes > m->max_arena)
            m->max_arena = p->arena_bytes;
    }
    return EBM_OK;
}

/* The size of the object behind `sym`, or -1 if the loader cannot tell: a
 * symbol smaller than the descriptor (a stray int of the same name) must not
 * be read as one. */
static int64_t symbol_size(const void *sym)
{
#if defined(__GLIBC__)
    Dl_info info;
    const ElfW(Sym) *es = NULL;
    if (dladdr1(sym, &info, (void **)&es, RTLD_DL_SYMENT) && es && info.dli_saddr == sym)
        return (int64_t)es->st_size;
#else
    (void)sym;
#endif
    return -1;
}

static ebm_status check_header(const char *path, const ebm_abi_model *d, int64_t size, ebm_error *err)
{
    const int64_t head = (int64_t)(sizeof d->magic + sizeof d->abi_version);
    if (size >= 0 && size < head)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model (" EBM_ABI_SYMBOL_NAME " is a %lld-byte "
                        "object, not a model descriptor)", path, (long long)size);
    if (d->magic != EBM_ABI_MAGIC)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model (" EBM_ABI_SYMBOL_NAME " has magic "
                        "0x%08x, expected 0x%08x)", path, (unsigned)d->magic, (unsigned)EBM_ABI_MAGIC);
    if (d->abi_version != EBM_ABI_VERSION)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: built for ABI version %u, this libebm reads %u "
                        "(recompile the model with the ebmc that matches this libebm)", path,
                        (unsigned)d->abi_version, (unsigned)EBM_ABI_VERSION);
    if (size >= 0 && size < (int64_t)sizeof *d)
        return desc_fail(err, path, "the symbol is %lld bytes, an ABI %u descriptor is %zu", (long long)size,
                         (unsigned)EBM_ABI_VERSION, sizeof *d);
    return EBM_OK;
}

static ebm_status check_descriptor(ebm_model *m, ebm_error *err)
{
    const ebm_abi_model *d = m->d;
    ebm_status st = check_header(m->path, d, symbol_size(d), err);
    if (!st)
        st = check_input(m->path, d, err);
    if (!st)
        st = check_params(m->path, d, err);
    if (!st)
        st = check_meta(m->path, d, err);
    if (!st)
        st = index_programs(m, err);
    return st;
}

/* ---- opening ------------------------------------------------------------------- */

/* Whether the file starts like an ELF object: it decides between "not a shared
 * object" and "a shared object that cannot be loaded" (e.g. a missing
 * dependency), which need different fixes. */
static int has_elf_magic(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char head[4];
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    return n == (ssize_t)sizeof head && memcmp(head, ELF_MAGIC, sizeof head) == 0;
}

#if defined(__GLIBC__)
/* glibc maps a truncated shared object without checking that its segments lie
 * inside the file, and touching a page past the end of the file is SIGBUS.
 * So the program headers are checked against the file size first.  Anything
 * else wrong with the file (another architecture, a bad header) is left to
 * dlopen, which reports it. */
static ebm_status check_elf_extent(const char *path, ebm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    ElfW(Ehdr) eh;
    ebm_status st = EBM_OK;
    if (fstat(fd, &sb) != 0 || pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
        eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        eh.e_phentsize != sizeof(ElfW(Phdr)))
        goto done;   /* not ours to judge: dlopen explains */
    const uint64_t size = (uint64_t)sb.st_size;
    if (eh.e_phoff > size || (uint64_t)eh.e_phnum * sizeof(ElfW(Phdr)) > size - eh.e_phoff) {
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated or corrupt shared object: its program headers lie past "
                      "the end of the %llu-byte file", path, (unsigned long long)size);
        goto done;
    }
    for (int k = 0; k < eh.e_phnum && !st; k++) {
        ElfW(Phdr) ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)k * sizeof ph)) != (ssize_t)sizeof ph ||
            ph.p_offset > size || ph.p_filesz > size - ph.p_offset)
            st = ebm_fail(err, EBM_ERR_FORMAT, "%s: truncated or corrupt shared object: segment %d (bytes %llu.."
                          "%llu) lies past the end of the %llu-byte file", path, k,
                          (unsigned long long)ph.p_offset, (unsigned long long)(ph.p_offset + ph.p_filesz),
                          (unsigned long long)size);
    }
done:
    close(fd);
    return st;
}
#else
static ebm_status check_elf_extent(const char *path, ebm_error *err)
{
    (void)path;
    (void)err;
    return EBM_OK;
}
#endif

/* dlerror() text without the leading "PATH: " (our message names the file). */
static const char *dl_reason(const char *path)
{
    const char *e = dlerror();
    if (!e)
        return "unknown reason";
    size_t lp = strlen(path);
    if (strncmp(e, path, lp) == 0 && e[lp] == ':' && e[lp + 1] == ' ')
        return e + lp + 2;
    return e;
}

static ebm_status open_object(const char *path, void **dl, ebm_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return ebm_fail(err, EBM_ERR_IO, "%s: is a directory, expected a compiled model (.so)", path);
    /* Without a slash dlopen searches the library path instead of opening the file. */
    char local[4096];
    const char *target = path;
    if (!strchr(path, '/')) {
        if ((size_t)snprintf(local, sizeof local, "./%s", path) >= sizeof local)
            return ebm_fail(err, EBM_ERR_IO, "%s: path too long", path);
        target = local;
    }
    ebm_status st = check_elf_extent(path, err);
    if (st)
        return st;
    dlerror();
    *dl = dlopen(target, RTLD_NOW | RTLD_LOCAL);
    if (*dl)
        return EBM_OK;
    const char *why = dl_reason(target);
    if (!has_elf_magic(path))
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: not a shared object (%s); an ONNX model must be compiled "
                        "first: ebmc MODEL.onnx -o model.so", path, why);
    return ebm_fail(err, EBM_ERR_FORMAT, "%s: a shared object that cannot be loaded: %s", path, why);
}

static ebm_status find_descriptor(ebm_model *m, ebm_error *err)
{
    dlerror();
    m->d = dlsym(m->dl, EBM_ABI_SYMBOL_NAME);
    if (m->d)
        return EBM_OK;
    for (unsigned v = 1; v <= ABI_PROBE_MAX; v++) {
        char name[64];
        snprintf(name, sizeof name, "ebm_abi_model_v%u", v);
        if (v != EBM_ABI_VERSION && dlsym(m->dl, name))
            return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: built for ABI version %u (it exports %s), this "
                            "libebm reads %u (recompile the model with the ebmc that matches this libebm)",
                            m->path, v, name, (unsigned)EBM_ABI_VERSION);
    }
    return ebm_fail(err, EBM_ERR_FORMAT, "%s: not an ebmc model (no " EBM_ABI_SYMBOL_NAME " symbol)", m->path);
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
    void *set = dlsym(m->dl, "openblas_set_num_threads"), *get = dlsym(m->dl, "openblas_get_num_threads");
    if (!set || !get)
        return;
    /* Function pointers from dlsym's void * (POSIX guarantees this works). */
    memcpy(&m->blas_set_threads, &set, sizeof set);
    memcpy(&m->blas_get_threads, &get, sizeof get);
}

ebm_status ebm_model_open(const char *path, ebm_model **out, ebm_error *err)
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
    ebm_status st = open_object(path, &m->dl, err);
    if (!st)
        st = find_descriptor(m, err);
    if (!st)
        st = check_descriptor(m, err);
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

void ebm_model_close(ebm_model *m)
{
    if (!m)
        return;
    if (m->dl)
        dlclose(m->dl);
    free(m->weights);
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
    if (m->prog[EBM_PROGRAM_DSM_GRAD])
        w->target_stage = ebm__alloc_floats(tile_numel);
    return w->arena && w->x_stage && w->x_start && w->score_stage && w->energy_stage && w->w_stage &&
           w->grad_part && (!m->prog[EBM_PROGRAM_DSM_GRAD] || w->target_stage);
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

int64_t ebm_ctx_capacity(const ebm_ctx *ctx)
{
    return ctx ? ctx->capacity : 0;
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
