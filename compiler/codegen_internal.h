/* codegen_internal.h — what the scheduler, the memory planner, the C backend
 * and the C-compiler driver share (not a public header; tests include it to
 * check plans).
 *
 * The pipeline of ebmc_compile_model:
 *   energy graph -> ebmc_build_program (energy, score, param_grad)
 *   -> ebmc_pass_schedule (memory-aware topological order, renumbers nodes)
 *   -> ebmc_cg_program_build (storage of every value, live ranges, arena plan)
 *   -> C text (codegen_c.c, codegen_c_kernels.c) -> ebmc_cc_run (cc.c).
 */
#ifndef EBMC_CODEGEN_INTERNAL_H
#define EBMC_CODEGEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "autodiff.h"
#include "codegen.h"

#ifndef EBMC_VERSION_STRING
#define EBMC_VERSION_STRING "0.1.0"
#endif

/* Every arena buffer and every parameter starts on this boundary (bytes);
 * equals EBM_ABI_ALIGN. */
#define EBMC_ALIGN 64
/* Default samples per program call. */
#define EBMC_DEFAULT_TILE 64
/* The automatic tile is halved until the largest arena fits this. */
#define EBMC_ARENA_BUDGET ((int64_t)256 << 20)
/* ... and then, down to EBMC_CACHE_TILE, while half a tile's samples add more
 * than EBMC_CACHE_BUDGET / 2 to it (bytes that scale with the tile: the
 * activations; not the prologue's transformed weights). */
#define EBMC_CACHE_BUDGET ((int64_t)4 << 20)
#define EBMC_CACHE_TILE 16

/* runtime/ebm_abi.h and runtime/ebm_philox.h as text, generated at build time
 * (CMakeLists.txt), so the copies written next to the generated C can never
 * drift from the headers libebm is built with. */
extern const char ebmc_text_ebm_abi_h[];
extern const char ebmc_text_ebm_philox_h[];

/* ---- graph facts shared by the scheduler and the backend ------------------------ */

typedef enum ebmc_view {
    EBMC_VIEW_NONE = 0,   /* a value with storage of its own */
    EBMC_VIEW_ALIAS,      /* same bytes as its operand: RESHAPE, or a TRANSPOSE that
                             only moves size-1 axes */
    EBMC_VIEW_MATMUL_T,   /* a TRANSPOSE of the last two axes read only by MATMULs, which
                             read its operand with BLAS's transpose flag instead (not a
                             weight-only one ebmc_gemm_packs_transpose wants computed) */
} ebmc_view;

typedef struct ebmc_graph_info {
    int n;
    int *user_start;         /* users of node i: users[user_start[i] .. user_start[i+1]) */
    int *users;              /* one entry per operand reference */
    unsigned char *view;     /* ebmc_view per node */
    int *root;               /* the node whose storage holds node i's value (i unless a view) */
    unsigned char *invariant;/* no graph input upstream and a static shape: weight-only
                                values, computed once per call (the prologue) */
    unsigned char *output;   /* node i is a graph output */
} ebmc_graph_info;

ebm_status ebmc_graph_info_make(const ir_graph *g, ebmc_graph_info *gi, ebm_error *err);
void ebmc_graph_info_free(ebmc_graph_info *gi);

/* Bytes of a value of shape s at batch size n, rounded up to EBMC_ALIGN; -1 on overflow. */
int64_t ebmc_value_bytes(const ir_shape *s, int64_t n);
/* Bytes of `floats` floats, rounded up to EBMC_ALIGN; -1 on overflow. */
int64_t ebmc_float_bytes(int64_t floats);

/* ---- scheduling (schedule.c; the pass is declared in passes.h) ------------------ */

/* A topological order of g (order[k] = id of the k-th node to run) that keeps
 * the live arena bytes low, sizes taken at batch size n. */
ebm_status ebmc_schedule_order(const ir_graph *g, int64_t n, int *order, ebm_error *err);
/* Renumbers g so that order[k] becomes node k (order must be topological). */
ebm_status ebmc_graph_permute(ir_graph *g, const int *order, ebm_error *err);
/* Peak live arena bytes when g runs in its node order at batch size n (the
 * quantity the scheduler minimises; for tests and --verbose). */
int64_t ebmc_schedule_peak_bytes(const ir_graph *g, int64_t n);

/* ---- loop fusion (fuse.c) ------------------------------------------------------------ */

/* Most arrays (inputs or stored results) one fused loop takes. */
#define EBMC_FUSE_MAX_IO 16

/* Whether node id may be computed inside a fused elementwise loop (pattern
 * class ELEMWISE/BROADCAST, a scalar expression or a broadcast, at most 3 operands). */
int ebmc_fusible(const ir_graph *g, const ebmc_graph_info *gi, int id);
/* A reduction that may end a fused group (fuse.c). */
int ebmc_fuse_sink(const ir_graph *g, const ebmc_graph_info *gi, int id);
/* group[i] = the node whose kernel computes node i: for a fused group, its
 * largest id; i for every other computed node; -1 for sources and views.
 * group has g->n_nodes entries. */
ebm_status ebmc_fuse_groups(const ir_graph *g, const ebmc_graph_info *gi, int *group, ebm_error *err);
/* Renumbers g (a topological order again) so each group is a run of
 * consecutive ids ending at its kernel's node; group[] is renumbered with it. */
ebm_status ebmc_fuse_order(ir_graph *g, int *group, ebm_error *err);

/* ---- memory planning (memplan.c) ---------------------------------------------------- */

typedef struct ebmc_buffer {
    int64_t size;     /* bytes, a multiple of EBMC_ALIGN */
    int first, last;  /* live from schedule position first to last, inclusive */
    int node;         /* the value (or, for scratch, the node) it belongs to */
    int scratch;      /* 1: a kernel's temporary (e.g. an im2col matrix) */
    int64_t offset;   /* assigned by ebmc_memplan_place */
} ebmc_buffer;

/* Gives every buffer an offset so that buffers live at the same time never
 * overlap; *arena_bytes receives the arena size.  All live ranges are seen at
 * once and the largest buffers are placed first, each in the best-fitting gap
 * (Glow, TFLite's greedy-by-size). */
ebm_status ebmc_memplan_place(ebmc_buffer *b, int nb, int64_t *arena_bytes, ebm_error *err);
/* Checks a plan: aligned offsets, everything inside the arena, and no two
 * buffers with overlapping live ranges overlapping in memory. */
ebm_status ebmc_memplan_check(const ebmc_buffer *b, int nb, int64_t arena_bytes, ebm_error *err);

/* ---- one program, ready for code emission (codegen_c.c) ------------------------------ */

typedef enum ebmc_store {
    EBMC_STORE_NONE = 0, /* not computed (a view or a dead value) */
    EBMC_STORE_ARENA,    /* arena bytes [offset, offset + size) */
    EBMC_STORE_INPUT,    /* graph input `slot` (0: x; 1: param_grad's sample weights or
                            dsm_grad's target, both "SW" in the C) */
    EBMC_STORE_PARAM,    /* the weights array, `offset` floats in (from the parameter table) */
    EBMC_STORE_REG,      /* a fused intermediate: a local variable of its group's loop */
    EBMC_STORE_CONST,    /* a non-parameter constant: a static array in the C, or `offset`
                            floats into the embedded blob when offset >= 0 */
} ebmc_store;

typedef struct ebmc_cg_value {
    ebmc_store store;
    int64_t offset;
    int kernel;           /* the node whose kernel computes it (its fused group's last
                             node, or itself), -1 for sources and views */
    int slot;             /* STORE_INPUT */
    int param;            /* STORE_PARAM: index in the model's parameter table */
    int buffer;           /* index in bufs of its arena buffer, or -1 */
    int scratch_buffer;   /* the kernel's scratch buffer, or -1 */
    int64_t scratch_floats;
    int pro_buffer;       /* weights the kernel reads prepared by the prologue (a
                             Winograd convolution's transformed kernels), or -1 */
    int64_t pro_floats;
} ebmc_cg_value;

typedef struct ebmc_cg_program {
    ebmc_program kind;
    const char *prefix;   /* "energy", "score", "param_grad": names in the C */
    ir_graph *g;          /* scheduled: node order is execution order */
    ebmc_graph_info info;
    ebmc_cg_value *v;     /* per node */
    ebmc_buffer *bufs;
    int n_bufs;
    int64_t tile;
    int64_t arena_bytes;  /* planned */
    int64_t sum_bytes;    /* sum of all buffer sizes (what one buffer per value would take) */
} ebmc_cg_program;

/* Builds program `kind` from the energy graph, schedules it and plans its
 * arena for `tile` samples.  Parameters are matched to the table later
 * (param = -1, offset = -1 until then). */
ebm_status ebmc_cg_program_build(const ir_graph *energy, ebmc_program kind, int64_t tile,
                                 ebmc_cg_program **out, ebm_error *err);
/* Re-plans the arena for another tile (the schedule does not change). */
ebm_status ebmc_cg_program_plan(ebmc_cg_program *p, int64_t tile, ebm_error *err);
void ebmc_cg_program_free(ebmc_cg_program *p);

/* ---- text ------------------------------------------------------------------------------ */

typedef struct ebmc_buf {
    char *s;
    size_t len, cap;
    int oom;   /* an append failed: the text is incomplete */
} ebmc_buf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void ebmc_buf_printf(ebmc_buf *b, const char *fmt, ...);
void ebmc_buf_puts(ebmc_buf *b, const char *s);
/* s as the body of a C string literal (escapes quotes, backslashes, control
 * and non-ASCII bytes; splits "??" so no trigraph can form). */
void ebmc_buf_c_string(ebmc_buf *b, const char *s);
/* s made safe inside a C comment (no end-of-comment, no newlines). */
void ebmc_buf_c_comment(ebmc_buf *b, const char *s);
/* An exact C float literal ("1.5f", "-INFINITY"); returns buf. */
const char *ebmc_float_literal(float v, char *buf, size_t size);

/* ---- kernels (codegen_c_kernels.c) ------------------------------------------------------ */

/* Which shared helpers of the generated file the kernels need. */
enum { EBMC_HELP_CONV = 1u << 0, EBMC_HELP_POOL = 1u << 1, EBMC_HELP_FLOAT = 1u << 2, EBMC_HELP_GEMM = 1u << 3 };

/* The C expression of a value's first element as `const float *` (or float *
 * for computed values), e.g. "((float *)(A + 4096))", "X", "(W + 128)". */
void ebmc_value_ptr(const ebmc_cg_program *p, int id, char *buf, size_t size);
/* The name of node id's kernel function, e.g. "score_k12_matmul_fc1_Gemm". */
void ebmc_kernel_name(const ebmc_cg_program *p, int id, char *buf, size_t size);
/* Whether node id's kernel takes the batch size n. */
int ebmc_kernel_uses_n(const ebmc_cg_program *p, int id);
/* Emits node id's kernel function; ORs the helpers it needs into *helpers. */
ebm_status ebmc_emit_kernel(ebmc_buf *b, const ebmc_cg_program *p, int id, unsigned *helpers,
                            ebm_error *err);
/* Writes the call of node id's kernel (a line of a prologue or body). */
void ebmc_emit_kernel_call(ebmc_buf *b, const ebmc_cg_program *p, int id);
/* Floats of scratch node id's kernel needs at p->tile (im2col matrices), 0 for most. */
int64_t ebmc_kernel_scratch_floats(const ebmc_cg_program *p, int id);
/* Floats of weights node id's kernel wants prepared once per call by the
 * prologue (0: none), and the prologue's code that prepares them. */
int64_t ebmc_kernel_prologue_floats(const ebmc_cg_program *p, int id);
void ebmc_emit_kernel_prologue(ebmc_buf *b, const ebmc_cg_program *p, int id);
/* Emits ebmk_<op>(x, ...) in float for every elementwise op (fused loops call them). */
void ebmc_emit_float_ops(ebmc_buf *b);
/* Emits the helper functions named in `helpers`. */
void ebmc_emit_helpers(ebmc_buf *b, unsigned helpers);

/* The Langevin program fuses its update (clip, scale, noise, clamp) into the
 * loop computing the score: the kernel of the score program that loop is
 * (score: the node of its "score" output), or -1 when the update must run
 * as a loop of its own.  It must be an elementwise loop over [N, ...] with a
 * sample's numel, the body's last kernel (x changes in it), compute no other
 * output (the energy), and read x, if at all, where it writes it. */
int ebmc_langevin_kernel(const ebmc_cg_program *p, int score);
/* Emits that loop as `static int <kernel>_langevin(n, ..., lx, leps, le, lv)`
 * (ebm_lv: the update's constants) and, for the body, the line
 * `return <kernel>_langevin(n, ..., X, eps, <energy>, lv);`. */
void ebmc_emit_langevin_kernel(ebmc_buf *b, const ebmc_cg_program *p, int k, int score);
void ebmc_emit_langevin_call(ebmc_buf *b, const ebmc_cg_program *p, int k, int score, int energy);

/* ---- the generated GEMM (codegen_c_gemm.c) ------------------------------------------------ */

/* How C[m x k] * B[k x n] with a weight matrix B runs: cblas_sgemm, or the
 * generated kernel with B = W [k, n] row-major (NN) or B = W^T, W [n, k] (NT),
 * or NT on a copy of B transposed at each call (NT_COPY: B = W [k, n] with a
 * handful of columns, where NN would fill a vector with n lanes per k). */
typedef enum ebmc_gemm_form { EBMC_GEMM_BLAS = 0, EBMC_GEMM_NN, EBMC_GEMM_NT, EBMC_GEMM_NT_COPY } ebmc_gemm_form;

/* The form for constant k and n; trans_b: B is read as the transpose of its
 * operand.  A function of the shape only, never of the tile's row count. */
ebmc_gemm_form ebmc_gemm_form_of(int64_t k, int64_t n, int trans_b);
/* Whether a weight-only transpose giving a B [k, n] should be computed once
 * (in the prologue) rather than read transposed, so the product runs as NN. */
int ebmc_gemm_packs_transpose(int64_t k, int64_t n);
/* The helper text (ebmk_gemm_nn, ebmk_gemm_nt), emitted once when EBMC_HELP_GEMM is set. */
void ebmc_emit_gemm_helpers(ebmc_buf *b);
/* The call `<ind>ebmk_gemm_<form>(m, k, n, a, w, c);` (NT_COPY: a block that
 * transposes w into a local array first). */
void ebmc_emit_gemm_call(ebmc_buf *b, const char *ind, ebmc_gemm_form form, const char *m, int64_t k, int64_t n,
                         const char *a, const char *w, const char *c);

/* ---- the C compiler (cc.c) ---------------------------------------------------------------- */

typedef struct ebmc_cc_job {
    const char *cc;           /* compiler command (a name on PATH or a path) */
    int opt_level;            /* 0..3 */
    const char *target_cpu;   /* "native", "generic" or a -march value */
    const char *c_source;     /* the model's C */
    const float *blob;        /* the weights blob */
    int64_t blob_floats;
    const char *out_path;     /* the shared object to write (temp file + rename) */
    int keep_temps;           /* keep the work folder and print its path on stderr */
    int verbose;              /* print the command and its time on stderr */
} ebmc_cc_job;

ebm_status ebmc_cc_run(const ebmc_cc_job *job, ebm_error *err);
/* A monotonic clock in seconds, for --verbose timings. */
double ebmc_now_seconds(void);

#endif /* EBMC_CODEGEN_INTERNAL_H */
