/* model_cache.c — compile an ONNX model once, keep the .so (see model_cache.h). */
#include "model_cache.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc.h"
#include "cli_common.h"
#include "clock.h"
#include "text.h"
#include "codegen.h"
#include "hash.h"
#include "progress.h"
#include "schedule.h"   /* EBMC_ALIGN */
#ifdef EBMC_HAVE_JIT
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "jit.h"
#endif

#define PATH_MAX_LEN 4096
/* How the cache compiles (the key covers both through ebmc_cc_identity). */
#define CACHE_OPT_LEVEL 3
#define CACHE_TARGET "native"

int cache_dir(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')   /* the XDG spec says to ignore relative paths */
        n = snprintf(buf, size, "%s/ebmc", xdg);
    else if (home && home[0])
        n = snprintf(buf, size, "%s/.cache/ebmc", home);
    else
        return -1;
    return n > 0 && (size_t)n < size ? 0 : -1;
}

/* mkdir -p, each folder it creates private (0700: the cache holds code that
 * runs as its owner); 0 or -1 with errno set. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX_LEN];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = c;
        if (!c)
            break;
    }
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* The cache folder must be the user's own and closed to others: whoever can
 * write into it chooses the code `ebm` runs.  A folder of ours that others
 * may enter is made private; one of another user is not used.  0, or -1 with
 * the reason in why. */
static int check_cache_dir(const char *dir, char *why, size_t size)
{
    struct stat sb;
    if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(why, size, "the cache folder %s is not a folder (a symbolic link?)", dir);
        return -1;
    }
    if (sb.st_uid != geteuid()) {
        snprintf(why, size, "the cache folder %s belongs to uid %u, not to you (uid %u)", dir, (unsigned)sb.st_uid,
                 (unsigned)geteuid());
        return -1;
    }
    if ((sb.st_mode & 077) && chmod(dir, 0700) != 0) {
        size_t at = 0;   /* (bounded: a long folder name cuts the message short) */
        base_appendf(why, size, &at, "the cache folder %s is open to others (mode %04o) and cannot be made private: "
                     "%s", dir, (unsigned)(sb.st_mode & 07777), strerror(errno));
        return -1;
    }
    return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    h = base_fnv1a(h, s, strlen(s));
    return base_fnv1a(h, "\xff", 1);   /* a separator, so "ab"+"c" != "a"+"bc" */
}

/* "<16 hex digits>.so": the key only, so a copy of a model under another
 * name finds the same compiled file.  build: ebmc_cc_identity's text. */
static void cache_name(const cache_request *r, const char *source_hash, const char *build, char *buf, size_t size)
{
    uint64_t h = BASE_FNV1A_INIT;
    h = fnv1a(h, source_hash);
    h = fnv1a(h, "ebmc " EBMC_VERSION_STRING);
    char text[64];
    snprintf(text, sizeof text, "abi %u", (unsigned)EBM_ABI_VERSION);
    h = fnv1a(h, text);
    h = fnv1a(h, build);
    /* -march=native means this CPU: a cache shared between machines keeps one model per CPU */
    snprintf(text, sizeof text, "cpu %016llx", (unsigned long long)ebm_cpu_features());
    h = fnv1a(h, text);
    h = fnv1a(h, r->head_flag ? r->head_flag : "(head from metadata)");
    if (r->dsm)
        h = fnv1a(h, "dsm");
    if (r->sample_only)
        h = fnv1a(h, "no param_grad");
    if (r->tile > 0) {
        snprintf(text, sizeof text, "tile %lld", (long long)r->tile);
        h = fnv1a(h, text);
    }
    snprintf(buf, size, "%016llx.so", (unsigned long long)h);
}

/* A compiled model given with --energy-head must have been compiled with it. */
static ebm_status check_head(const char *model, const ebm_model *m, const char *head_flag, ebm_error *err)
{
    const char *head = ebm_model_desc(m)->energy_head;
    ebm_head want, got;
    if (!head_flag)
        return EBM_OK;
    if (cli_head_from_flag(head_flag, &want, err))
        return EBM_ERR_INVALID;
    if (head && ebm_head_parse(head, &got) == 0 && got == want)
        return EBM_OK;
    return ebm_fail(err, EBM_ERR_INVALID, "%s: compiled with energy head '%s', but --energy-head %s was given "
                    "(recompile with ebmc --energy-head %s, or drop the flag)", model, head ? head : "?", head_flag,
                    head_flag);
}

/* Whether the descriptor lists a program of this kind. */
static int has_program(const ebm_model *m, ebm_abi_program_kind kind)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    for (int k = 0; k < d->n_programs; k++)
        if (d->programs[k].kind == (int32_t)kind)
            return 1;
    return 0;
}

/* Opens a cached .so if it is there, passes libebm's checks (owner, digests,
 * CPU), was built from this source, and has the programs asked for.  A file
 * that fails a check is removed and rebuilt, with a warning: in a private
 * folder under a key that covers the whole build, it is damaged or planted. */
static int open_cached(const cache_request *r, const char *path, const char *source_hash, ebm_model **out)
{
    if (access(path, F_OK) != 0)
        return 0;
    ebm_model *m = NULL;
    ebm_error err = {0};
    if (ebm_model_open(path, &m, &err) == EBM_OK) {
        const char *h = ebm_model_desc(m)->source_hash;
        if (h && strcmp(h, source_hash) == 0 && (!r->dsm || has_program(m, EBM_PROGRAM_DSM_GRAD))) {
            *out = m;
            return 1;
        }
        ebm_model_close(m);
    } else {
        fprintf(stderr, "ebm: warning: the cached model was refused and is rebuilt: %s\n", err.msg);
    }
    remove(path);
    return 0;
}

/* The model of r as the cache compiles it: imported, head resolved, front end run. */
static ebm_status prepare_graph(const cache_request *r, ir_graph **out, ebmc_compile_options *o, ebm_error *err)
{
    ir_graph *g = NULL;
    ebmc_front_end p = {.fold = 1};
    ebm_status st = cli_load_model(r->model, &g, err);
    if (!st)
        st = cli_resolve_head(g, r->head_flag, &p.head, err);
    if (!st)
        st = ebmc_front_end_run(g, &p, err);
    if (st) {
        ir_graph_free(g);
        return st;
    }
    *o = (ebmc_compile_options){
        .opt_level = CACHE_OPT_LEVEL,
        .target_cpu = CACHE_TARGET,
        .energy_head = ebm_head_name(p.head),
        .dsm = r->dsm,
        .no_param_grad = r->sample_only,
        .tile = r->tile,
    };
    *out = g;
    return EBM_OK;
}

/* The graph's key: what decides the compiled code and nothing else.  That is
 * the C the code generator emits for it (structure, shapes, small constants,
 * where each parameter lives) with the file's name, its metadata and its
 * hash left out, and the values of the large constants that are not
 * parameters (the blob after the weights).  Parameter values are not in it:
 * they are data, written into the model when it is opened (load_graph_data),
 * so the same graph with other weights, a retrained model, reuses the code. */
static ebm_status graph_key(ir_graph *g, const ebmc_compile_options *o, char *hex, size_t size, ebm_error *err)
{
    ir_meta *meta = g->meta;
    int n_meta = g->n_meta;
    char *source = g->source;
    g->meta = NULL;
    g->n_meta = 0;
    g->source = NULL;
    ebmc_compile_options k = *o;
    k.source_hash = NULL;
    k.no_param_grad = 0;   /* the graph's key; which programs an entry holds is in its name (cache_name) */
    char *c = NULL;
    ebm_status st = ebmc_emit_c(g, &k, &c, err);
    g->meta = meta;
    g->n_meta = n_meta;
    g->source = source;
    if (st)
        return st;
    uint64_t h = base_fnv1a(BASE_FNV1A_INIT, c, strlen(c));
    free(c);
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *nd = &g->nodes[i];
        if (nd->op == IR_OP_CONST && !(nd->flags & IR_NODE_PARAM) && nd->data)
            h = base_fnv1a(h, nd->data, (size_t)ir_shape_numel(&nd->shape, 0) * sizeof(float));
    }
    snprintf(hex, size, "graph-fnv1a64:%016llx", (unsigned long long)h);
    return EBM_OK;
}

/* Gives an opened model the data of graph g: every parameter's values and the
 * file's metadata (the compiled ones may be another file's of the same graph). */
static ebm_status load_graph_data(const cache_request *r, const ir_graph *g, ebm_model *m, ebm_error *err)
{
    const ebm_abi_model *d = ebm_model_desc(m);
    float *w = ebm_model_weights(m);
    int found = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *nd = &g->nodes[i];
        if (nd->op != IR_OP_CONST || !(nd->flags & IR_NODE_PARAM))
            continue;
        int k = nd->name ? ebm_model_param_index(m, nd->name) : -1;
        int64_t numel = ir_shape_numel(&nd->shape, 0);
        if (k < 0 || d->params[k].numel != numel || !nd->data)
            return ebm_fail(err, EBM_ERR_INVALID, "%s: parameter '%s' (%lld values) is not in the compiled model %s "
                            "as such", r->model, nd->name ? nd->name : "?", (long long)numel, ebm_model_path(m));
        memcpy(w + d->params[k].offset, nd->data, (size_t)numel * sizeof(float));
        found++;
    }
    if (found != d->n_params)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %d parameters, the compiled model %s has %d", r->model, found,
                        ebm_model_path(m), (int)d->n_params);
    const char **kv = malloc((size_t)(2 * g->n_meta + 1) * sizeof *kv);
    if (!kv)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", r->model);
    for (int i = 0; i < g->n_meta; i++) {
        kv[i] = g->meta[i].key;
        kv[g->n_meta + i] = g->meta[i].value;
    }
    ebm_status st = ebm_model_set_meta(m, g->n_meta, kv, kv + g->n_meta, err);
    free(kv);
    return st;
}

static ebm_status compile_to(const cache_request *r, ir_graph *g, const ebmc_compile_options *co, const char *key,
                             const char *out_path, int cached, ebm_error *err)
{
    ebmc_compile_options o = *co;
    o.source_hash = key;
    cli_compile_line line;
    cli_compile_begin(&line, "ebm", r->model);
    o.on_wait = cli_compile_wait;
    o.on_wait_ctx = &line;
    ebm_status st = ebmc_compile_model(g, &o, out_path, err);
    char where[PATH_MAX_LEN + 32];
    snprintf(where, sizeof where, "cached as %s", out_path);
    cli_compile_end(&line, st == EBM_OK, cached ? where : "not cached");
    if (st && !strstr(err->msg, r->model))
        ebm_error_prefix(err, "%s", r->model);
    return st;
}

/* No usable cache folder: compile into a temporary one and remove it once
 * the .so is mapped (the mapping outlives the file). */
static ebm_status compile_uncached(const cache_request *r, ir_graph *g, const ebmc_compile_options *co,
                                   const char *key, const char *why, ebm_model **out, ebm_error *err)
{
    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX_LEN], so[PATH_MAX_LEN + 16];
    snprintf(dir, sizeof dir, "%s/ebm-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot compile: no cache folder (%s) and no temporary folder (%s: %s)",
                        r->model, why, dir, strerror(errno));
    snprintf(so, sizeof so, "%s/model.so", dir);
    fprintf(stderr, "ebm: warning: %s; compiling %s without caching it\n", why, r->model);
    ebm_status st = compile_to(r, g, co, key, so, 0, err);
    if (!st)
        st = ebm_model_open(so, out, err);
    remove(so);
    rmdir(dir);
    return st;
}

/* Two tiles, whatever the thread count: the compiled tile changes a
 * sample's bits (Winograd F(4x4) or F(2x2), samples per convolution GEMM,
 * the tile-order sums of parameter gradients), so it must not follow
 * EBM_NUM_THREADS or the cores, or 1 and 2 threads would compute different
 * programs.  Two tiles keep both cores of a 2-core machine busy. */
#define CACHE_TILES_PER_BATCH 2

int64_t cache_tile_for_batch(int64_t batch)
{
    if (batch <= 1)
        return 0;
    int64_t tile = (batch + CACHE_TILES_PER_BATCH - 1) / CACHE_TILES_PER_BATCH;
    return tile < 64 ? tile : 0;
}

/* The cache entry of graph g (key): opened if present and good, else compiled
 * into place (or into a temporary folder when there is no usable cache). */
static ebm_status open_or_compile(const cache_request *r, ir_graph *g, const ebmc_compile_options *co,
                                  const char *key, ebm_model **out, ebm_error *err)
{
    char dir[PATH_MAX_LEN], name[96], path[PATH_MAX_LEN + 100], why[PATH_MAX_LEN + 64];
    if (cache_dir(dir, sizeof dir) != 0)
        return compile_uncached(r, g, co, key, "neither XDG_CACHE_HOME nor HOME is set", out, err);
    if (make_dirs(dir) != 0 || access(dir, W_OK | X_OK) != 0) {
        snprintf(why, sizeof why, "cannot use the cache folder %s: %s", dir, strerror(errno));
        return compile_uncached(r, g, co, key, why, out, err);
    }
    if (check_cache_dir(dir, why, sizeof why) != 0)
        return compile_uncached(r, g, co, key, why, out, err);
    char build[2048];
    ebm_status st = ebmc_cc_identity(NULL, CACHE_OPT_LEVEL, CACHE_TARGET, build, sizeof build, err);
    if (st)
        return st;
    if (r->sample_only) {   /* the whole model's entry serves too */
        cache_request whole = *r;
        whole.sample_only = 0;
        cache_name(&whole, key, build, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (open_cached(r, path, key, out))
            return EBM_OK;
    }
    cache_name(r, key, build, name, sizeof name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (open_cached(r, path, key, out))
        return EBM_OK;
    st = compile_to(r, g, co, key, path, 1, err);
    if (!st)
        st = ebm_model_open(path, out, err);
    return st;
}

int cache_have_jit(void)
{
#ifdef EBMC_HAVE_JIT
    return 1;
#else
    return 0;
#endif
}

/* --backend: 1 for the JIT, 0 for the C compiler, -1 (err set) otherwise. */
static int use_jit(const char *flag, ebm_error *err)
{
    if (!flag || strcmp(flag, "cc") == 0)
        return 0;
    if (strcmp(flag, "auto") == 0)
        return cache_have_jit();
    if (strcmp(flag, "jit") != 0) {
        ebm_fail(err, EBM_ERR_INVALID, "--backend '%s': expected jit, cc or auto", flag);
        return -1;
    }
    if (!cache_have_jit()) {
        ebm_fail(err, EBM_ERR_UNSUPPORTED, "--backend jit: this ebm was built without LLVM (configure with "
                 "-DEBMC_JIT=ON and LLVM 14+ and clang's libraries installed); use --backend cc");
        return -1;
    }
    return 1;
}

#ifdef EBMC_HAVE_JIT
/* The JIT on a thread of its own, so that this one can draw the progress
 * line while it compiles (cli_compile_wait), as it does while cc runs. */
typedef struct jit_run {
    const ebmc_jit_job *job;
    int one_tier;
    ebm_model *m;
    ebm_error err;
    ebm_status st;
    atomic_int done;
} jit_run;

/* One tier: compiled at the job's level, then opened (the descriptor checked
 * by libebm as one from a file is: ebm_model_open_code).  Two: opened on -O0
 * code, the optimised code moved in when a child process has it (jit.h). */
static void *jit_thread(void *arg)
{
    jit_run *r = arg;
    r->st = r->one_tier ? ebmc_jit_open(r->job, &r->m, &r->err) : ebmc_jit_open_tiered(r->job, &r->m, NULL, &r->err);
    atomic_store(&r->done, 1);
    return NULL;
}

static ebm_status run_jit(const ebmc_jit_job *job, int one_tier, cli_compile_line *line, ebm_model **out,
                          ebm_error *err)
{
    jit_run r = {.job = job, .one_tier = one_tier};
    pthread_t t;
    if (pthread_create(&t, NULL, jit_thread, &r) != 0) {   /* no thread: compile here, without the line */
        jit_thread(&r);
    } else {
        const double t0 = base_now_seconds();
        while (!atomic_load(&r.done)) {
            nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);   /* 0.1 s */
            cli_compile_wait(line, base_now_seconds() - t0);
        }
        pthread_join(t, NULL);
    }
    if (r.st && err)
        *err = r.err;
    *out = r.m;
    return r.st;
}

/* Compiles graph g in this process (jit.h) and opens it from memory: no C
 * compiler, no file, no cache.  The descriptor is checked by libebm as one
 * from a file is (ebm_model_open_code). */
static ebm_status open_jit(const cache_request *r, ir_graph *g, const ebmc_compile_options *co, const char *key,
                           ebm_model **out, ebm_error *err)
{
    ebmc_compile_options o = *co;
    o.source_hash = key;
    char *c = NULL;
    float *blob = NULL;
    int64_t blob_floats = 0;
    int units = 1;
    cli_compile_line line;
    cli_compile_begin(&line, "ebm", r->model);
    const char *verbose = getenv("EBMC_VERBOSE"), *tiers = getenv("EBMC_JIT_TIERS");
    const int one_tier = tiers && strcmp(tiers, "1") == 0;
    ebm_status st = ebmc_emit_model(g, &o, &c, &blob, &blob_floats, &units, err);
    if (!st) {
        ebmc_jit_job job = {.name = r->model, .c_source = c, .units = units, .blob = blob, .blob_floats = blob_floats,
                            .blob_align = EBMC_ALIGN, .opt_level = o.opt_level, .symbol = EBM_ABI_SYMBOL_NAME,
                            .verbose = verbose && verbose[0] && strcmp(verbose, "0") != 0};
        st = run_jit(&job, one_tier, &line, out, err);
    }
    free(c);
    free(blob);
    cli_compile_end(&line, st == EBM_OK,
                    one_tier ? "in process (--backend jit, not cached)"
                             : "in process at -O0 (--backend jit, not cached); optimised code follows in the background");
    return st;
}
#endif

ebm_status cache_open_model(const cache_request *r, ebm_model **out, ebm_error *err)
{
    *out = NULL;
    const int jit = use_jit(r->backend, err);
    if (jit < 0)
        return err ? err->code : EBM_ERR_INVALID;
    if (cli_file_is_elf(r->model)) {
        ebm_open_options o = {.trust_file = r->trust_file};
        ebm_status st = ebm_model_open_with(r->model, &o, out, err);
        if (!st && (st = check_head(r->model, *out, r->head_flag, err))) {
            ebm_model_close(*out);
            *out = NULL;
        }
        return st;
    }
    char key[48];
    struct stat sb;
    if (stat(r->model, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ebm_fail(err, EBM_ERR_IO, "%s: is a directory, expected an ONNX model or a compiled model (.so)",
                        r->model);
    ir_graph *g = NULL;
    ebmc_compile_options co;
    ebm_status st = prepare_graph(r, &g, &co, err);
#ifdef EBMC_HAVE_JIT
    if (!st && jit)   /* no cache entry: no key to compute (emitting the C for it costs time) */
        st = open_jit(r, g, &co, "jit", out, err);
    else
#endif
    {
        if (!st)
            st = graph_key(g, &co, key, sizeof key, err);
        if (!st)
            st = open_or_compile(r, g, &co, key, out, err);
    }
    if (!st && (st = load_graph_data(r, g, *out, err))) {
        ebm_model_close(*out);
        *out = NULL;
    }
    ir_graph_free(g);
    return st;
}
