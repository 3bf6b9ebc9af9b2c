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

void ebmc_emit_helpers(ebmc_buf *b, unsigned helpers)
{
    if (helpers & EBMC_HELP_FLOAT) {
        ebmc_buf_puts(b, ebmc_text_ebmk_math_h);
        ebmc_emit_float_ops(b);   /* per op, from ir/ops.def: they call ebmk_expf & co. */
    }
    if (helpers & EBMC_HELP_CONV) {
        ebmc_buf_puts(b, ebmc_text_ebmk_conv_h);
        ebmc_buf_puts(b, ebmc_text_ebmk_wino_h);
    }
    if (helpers & EBMC_HELP_POOL)
        ebmc_buf_puts(b, ebmc_text_ebmk_pool_h);
    if (helpers & EBMC_HELP_GEMM)
        ebmc_emit_gemm_helpers(b);
}
