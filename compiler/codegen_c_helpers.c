/* codegen_c_helpers.c — the kernel helpers a generated model.c carries when
 * its kernels need them (ebmc_emit_kernel ORs EBMC_HELP_* bits into a mask).
 * The helpers are real C in compiler/kernels/, one header per family,
 * compiled and tested as ordinary C; their text is embedded here at build
 * time (cmake/embed_text.cmake) and copied into the model in this order,
 * which is the order ebmk_check.c includes them in.
 */
#include "codegen_c.h"

extern const char ebmc_text_ebmk_math_h[];
extern const char ebmc_text_ebmk_conv_h[];
extern const char ebmc_text_ebmk_wino_h[];
extern const char ebmc_text_ebmk_pool_h[];

/* The kernels the generated C calls by name, by family (kernels/ebmk_linked.def). */
static const struct {
    unsigned family;
    const char *name;
} linked[] = {
#define EBMK_LINKED(family, name) {EBMC_HELP_##family, #name},
#include "kernels/ebmk_linked.def"
#undef EBMK_LINKED
};

/* Inert unless EBMK_LINKED_ISA is defined, as the JIT's quick tier does
 * (compiler/jit.h, linked_kernels): then the vector path of the compiled
 * kernels (kernels/ebmk_linked.c) must be the one this compile takes... */
static const char linked_check[] =
    "#if defined(EBMK_LINKED_ISA) && EBMK_LINKED_ISA != defined(__AVX512F__) * 4 + defined(__AVX__) * 2 + "
    "defined(__FMA__)\n"
    "#error \"the compiled kernels (EBMK_LINKED_ISA) are for another vector path than this CPU's\"\n"
    "#endif\n";

/* ... and the calls of a family's kernels go to their compiled copies
 * (ebmk_linked_<name>), from the text after its header on; the kernels'
 * bodies here are then never compiled (unused static functions). */
static void emit_linked(ebmc_buf *b, unsigned family)
{
    ebmc_buf_puts(b, "#ifdef EBMK_LINKED_ISA   /* the JIT's quick tier: these come compiled (compiler/jit.h) */\n");
    for (size_t k = 0; k < sizeof linked / sizeof linked[0]; k++)
        if (linked[k].family == family)
            ebmc_buf_printf(b, "extern __typeof__(ebmk_%s) ebmk_linked_%s;\n#define ebmk_%s ebmk_linked_%s\n",
                            linked[k].name, linked[k].name, linked[k].name, linked[k].name);
    ebmc_buf_puts(b, "#endif\n\n");
}

void ebmc_emit_helpers(ebmc_buf *b, unsigned helpers)
{
    if (helpers)
        ebmc_buf_puts(b, linked_check);
    if (helpers & EBMC_HELP_FLOAT) {
        ebmc_buf_puts(b, ebmc_text_ebmk_math_h);
        emit_linked(b, EBMC_HELP_FLOAT);   /* before the ops that call ebmk_expf & co. */
        ebmc_emit_float_ops(b);   /* per op, from ir/ops.def: they call ebmk_expf & co. */
    }
    if (helpers & EBMC_HELP_CONV) {
        ebmc_buf_puts(b, ebmc_text_ebmk_conv_h);
        ebmc_buf_puts(b, ebmc_text_ebmk_wino_h);
        emit_linked(b, EBMC_HELP_CONV);
    }
    if (helpers & EBMC_HELP_POOL) {
        ebmc_buf_puts(b, ebmc_text_ebmk_pool_h);
        emit_linked(b, EBMC_HELP_POOL);
    }
    if (helpers & EBMC_HELP_GEMM) {
        ebmc_emit_gemm_helpers(b);
        emit_linked(b, EBMC_HELP_GEMM);
    }
}
