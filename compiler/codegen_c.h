/* codegen_c.h — the C backend's internals: the text buffer, the kernel
 * emitters (one file per kernel family: codegen_c_kernels.c names and
 * dispatches), the Langevin epilogue, the generated GEMM and the helper text.
 * They read a planned program (plan.h) and write what its kernel descriptors
 * say (kernel_select.h); no choice is made here.  codegen_c.c writes the
 * whole file.
 */
#ifndef EBMC_CODEGEN_C_H
#define EBMC_CODEGEN_C_H

#include <stddef.h>
#include <stdint.h>

#include "codegen.h"
#include "plan.h"

#ifndef EBMC_VERSION_STRING
#define EBMC_VERSION_STRING "0.1.0"
#endif

/* ---- text (codegen_c_text.c) ------------------------------------------------------------ */

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
/* The start of node id's kernel's definition ("static void NAME(int64_t n")
 * or, with call, of its call ("    NAME(n"), n only when the kernel takes it;
 * returns the separator before the next parameter. */
const char *ebmc_emit_kernel_open(ebmc_buf *b, const ebmc_cg_program *p, int id, int call);
/* Emits node id's kernel function; ORs the helpers it needs into *helpers. */
ebm_status ebmc_emit_kernel(ebmc_buf *b, const ebmc_cg_program *p, int id, unsigned *helpers,
                            ebm_error *err);
/* Writes the call of node id's kernel (a line of a prologue or body). */
void ebmc_emit_kernel_call(ebmc_buf *b, const ebmc_cg_program *p, int id);
/* The prologue's code that prepares node id's weights (p->kern[id].pro_floats > 0:
 * a Winograd convolution's transformed kernels). */
void ebmc_emit_kernel_prologue(ebmc_buf *b, const ebmc_cg_program *p, int id);
/* Emits ebmk_<op>(x, ...) in float for every elementwise op (fused loops call them). */
void ebmc_emit_float_ops(ebmc_buf *b);
/* Whether ebmk_<op> takes the op's float attribute as a last argument P. */
int ebmc_float_op_takes_p(ir_op op);
/* Emits the helper functions named in `helpers`. */
void ebmc_emit_helpers(ebmc_buf *b, unsigned helpers);

/* ---- kernel families (codegen_c_fused.c, _loops.c, _matmul.c, _conv.c, _pool.c) ------------ */

/* A fused group's whole function (signature, comment, loop) and its call. */
void ebmc_emit_fused(ebmc_buf *b, const ebmc_cg_program *p, int last);
void ebmc_emit_fused_call(ebmc_buf *b, const ebmc_cg_program *p, int last);
/* Each of these emits the body of node id's kernel function (after its signature). */
void ebmc_emit_reduce(ebmc_buf *b, const ebmc_cg_program *p, int id);
void ebmc_emit_movement(ebmc_buf *b, const ebmc_cg_program *p, int id);
/* Returns whether the generated GEMM (EBMC_HELP_GEMM) is used. */
int ebmc_emit_matmul(ebmc_buf *b, const ebmc_cg_program *p, int id);
void ebmc_emit_conv(ebmc_buf *b, const ebmc_cg_program *p, int id);
void ebmc_emit_pool(ebmc_buf *b, const ebmc_cg_program *p, int id);

/* The Langevin update fused into the score loop k (ebmc_langevin_kernel, kernel_select.h): */
/* Emits that loop as `static int <kernel>_langevin(n, ..., lx, leps, le, lv)`
 * (ebm_lv: the update's constants) and, for the body, the line
 * `return <kernel>_langevin(n, ..., X, eps, <energy>, lv);`. */
void ebmc_emit_langevin_kernel(ebmc_buf *b, const ebmc_cg_program *p, int k, int score);
void ebmc_emit_langevin_call(ebmc_buf *b, const ebmc_cg_program *p, int k, int score, int energy);

/* ---- the generated GEMM (codegen_c_gemm.c) ------------------------------------------------ */

/* (The form of a product, ebmc_gemm_form, is chosen by kernel_select.c.) */
/* The helper text (ebmk_gemm_nn, ebmk_gemm_nt), emitted once when EBMC_HELP_GEMM is set. */
void ebmc_emit_gemm_helpers(ebmc_buf *b);
/* The call `<ind>ebmk_gemm_<form>(m, k, n, a, w, c);` (NT_COPY: a block that
 * transposes w into a local array first). */
void ebmc_emit_gemm_call(ebmc_buf *b, const char *ind, ebmc_gemm_form form, const char *m, int64_t k, int64_t n,
                         const char *a, const char *w, const char *c);

/* ---- the kernels, once each, in translation units (codegen_c_units.c) ---- */

typedef struct ebmc_unit_kernel {
    char *text;         /* its comment and function, as emitted */
    char name[160];
    const char *code;   /* in text: what follows "EBM_SHARED void <name>" (NULL: not found) */
    uint64_t hash;      /* of code */
    int alias;          /* an earlier kernel with the same code, whose name this one's #defines to; -1 */
    int cost;           /* estimated compile cost */
    int unit;           /* 0 .. units-1 */
} ebmc_unit_kernel;

typedef struct ebmc_units {
    ebmc_unit_kernel *k;   /* the kernels of every program, in program and node order */
    int n, cap;
    int units;             /* translation units: 1 .. EBMC_CC_MAX_UNITS */
} ebmc_units;

struct ebmc_model;
/* Emits every program's kernels (ORing the helpers they need into *helpers),
 * finds the repeats and deals the rest to units. */
ebm_status ebmc_units_collect(const struct ebmc_model *m, ebmc_units *u, unsigned *helpers, ebm_error *err);
/* The kernels' prototypes and the repeats' #defines (in every unit). */
void ebmc_units_emit_shared(ebmc_buf *b, const ebmc_units *u);
/* The kernels of one unit. */
void ebmc_units_emit_unit(ebmc_buf *b, const ebmc_units *u, int unit);
void ebmc_units_free(ebmc_units *u);

#endif /* EBMC_CODEGEN_C_H */
