/* model_cache.h — a compiled model for any MODEL argument of `ebm`.
 *
 * A shared object (recognised by content) is opened as is, with libebm's
 * checks (cache_request.trust_file skips the owner/permission one).  An ONNX
 * model is imported (head resolved, front end run) and compiled once into the
 * cache folder, $XDG_CACHE_HOME/ebmc (else ~/.cache/ebmc; created 0700, and
 * used only if it is the user's own and closed to others), under a name keyed
 * by its graph, not its bytes: the FNV-1a hash of the C the code generator
 * emits for it (file name, metadata and parameter values left out) and of its
 * large non-parameter constants, with the ebmc version, the ABI version, the
 * build (ebmc_cc_identity: the code generator's revision, the C compiler's
 * resolved path and `--version`, every flag, the target), this CPU's features
 * (the target is native), the --energy-head flag, whether the dsm_grad
 * program is wanted (cache_request.dsm), the tile, and whether the entry
 * leaves param_grad out (cache_request.sample_only: sampling and evaluation
 * compile only the programs they run, a third less C; such a request takes
 * the whole model's entry when there is one).  Weights are data: the
 * opened model gets the file's own parameter values and ebm.* metadata
 * (ebm_model_set_meta), so another file of the same graph (other seeds, a
 * retrained model) reuses the compiled code.  A cached file is opened with
 * every check of libebm, never trusted: one that fails them (damaged,
 * planted, not the user's) is removed and rebuilt with a warning; one whose
 * recorded graph key differs, or that lacks the dsm_grad program when it is
 * wanted, is rebuilt.
 * If the cache folder cannot be made or used, the model is compiled into a
 * private temporary folder that is removed once the .so is loaded.
 *
 * The tools may link the compiler; libebm never does.
 */
#ifndef EBMC_MODEL_CACHE_H
#define EBMC_MODEL_CACHE_H

#include "ebm.h"

typedef struct cache_request {
    const char *model;        /* path given on the command line */
    const char *head_flag;    /* --energy-head value, or NULL */
    int dsm;                  /* compile the dsm_grad program too (ebmc --dsm) */
    int sample_only;          /* energy, score and Langevin suffice: a new entry leaves param_grad out */
    int64_t tile;             /* samples per program call; 0 = ebmc's choice */
    int trust_file;           /* a compiled model given by the user: skip the owner/permission check (--trust-file) */
    const char *backend;      /* --backend value (jit, cc, auto), or NULL: the default (cc) */
} cache_request;

/* The option row of the commands that compile an ONNX model (ebm eval,
 * sample, train): cache_request.backend.  The default is cc, also in a build
 * with the JIT: a warm cache opens in milliseconds, and the JIT's cold
 * compile is no faster than the C compiler's (HACKING.md, "The JIT"). */
#define CACHE_OPT_BACKEND                                                                                         \
    {.name = "backend", .metavar = "jit|cc|auto",                                                               \
     .help = "how an ONNX model is compiled: cc (the default) with the system C compiler into the cache "       \
             "(~/.cache/ebmc, reused by later runs), jit in this process with LLVM (no C compiler, no cache: "  \
             "compiled on every run; needs a build with LLVM), auto: jit when this build has it, else cc"}

/* Whether this build has the JIT backend. */
int cache_have_jit(void);

/* The option row of every command that opens a MODEL (ebm info, eval,
 * sample, train): cache_request.trust_file. */
#define CACHE_OPT_TRUST_FILE                                                                                      \
    {.name = "trust-file",                                                                                      \
     .help = "open a compiled model (.so) even when it is not owned by you or root, or is writable by others: "  \
             "you vouch for it (every other check still applies: ELF structure, digests of code and weights, "    \
             "CPU features)"}

/* A tile that splits a batch of `batch` samples into two tiles, for two
 * threads: ceil(batch / 2) when that is below ebmc's default of 64, else 0
 * (ebmc's choice); 0 as well when batch is unknown (<= 1).  A function of the
 * batch alone, never of the thread count: results are the same bytes on any
 * number of threads only for the same compiled program. */
int64_t cache_tile_for_batch(int64_t batch);

/* Opens (compiling first if needed) the model of r.  With a compiled model
 * and a head flag, the head it was compiled with must match. */
ebm_status cache_open_model(const cache_request *r, ebm_model **out, ebm_error *err);

/* The cache folder, without creating it: $XDG_CACHE_HOME/ebmc if that is an
 * absolute path, else $HOME/.cache/ebmc; -1 if neither is set. */
int cache_dir(char *buf, size_t size);

#endif /* EBMC_MODEL_CACHE_H */
