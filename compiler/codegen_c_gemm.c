/* codegen_c_gemm.c — the generated C's own matrix multiply for "activations x
 * weights": C[m x N] = A[m x K] * B, where B is a weight matrix (a parameter
 * or a value computed only from parameters and constants) and m is the
 * tile's row count, known only at run time, while K and N are constants.
 * The kernels are real C in compiler/kernels/ebmk_gemm.h (embedded into the
 * model when it needs them); this file writes their calls, in the form
 * kernel_select.c picks per shape.
 *
 * Why not cblas_sgemm: for the small and medium products of an MLP on a tile
 * of 1..64 samples, OpenBLAS spends much of its time packing both operands
 * and dispatching, and its kernel is chosen by the environment (pinned to
 * Haswell), not by the -march the model is compiled with.  These kernels
 * read both operands in place (no packing, no allocation) and are compiled
 * with the model's -march: AVX-512, AVX(2) or plain SSE vectors.
 *
 * Two forms, picked by the layout of B (ebmc_gemm_form):
 *   - NN, B = W with W [K, N] row-major: each output row is a sum of rows of
 *     W scaled by A's entries; vectorised across j, blocked over rows and
 *     column vectors (AVX-512: 6 rows x 4 vectors, 24 accumulators, the 4 W
 *     vectors held in registers).  Every element is acc = 0; for k = 0..K-1:
 *     acc = fma(a[i,k], w[k,j], acc).  For K >= EBMK_NN_PANEL_K, strips of 64
 *     columns with W's rows in blocks of EBMK_NN_KC (the sums wait in C
 *     between blocks: a stored float is the exact accumulator, so the chain
 *     goes on unchanged); for a shorter K, panels of columns with the row
 *     blocks outside (no 4K-aliasing stalls when N is a multiple of 1024).
 *     bench/gemm_micro.c times it on the models' shapes: 6x4 over 4x4 took
 *     its hot-cache rate from ~142 to ~205 GFLOP/s on Zen 5 (1 thread).
 *   - NT, B = W^T with W [N, K] row-major (ONNX Gemm transB=1, the forward
 *     pass of a Linear layer): each output is a dot product of two contiguous
 *     rows, vectorised across k: lane l accumulates k = l, l+VL, ... by fma
 *     (a zero-padded last vector when VL does not divide K), then the lanes
 *     are summed by a fixed halving tree.
 * Both orders depend only on K, N and the vector width, never on m or on
 * which rows share a block, so a sample's result is bitwise independent of
 * the tile size (libebm's promise).
 *
 * Convolutions use the NN form the other way round: weights on the left,
 * C[co x P] = W[co x K] * COL[K x P] with the chunk's pixel columns P known
 * only at run time (im2col, Winograd's 16 products, and the input gradient
 * on W^T copied per group by ebmk_transpose).  Each element's sum is again
 * in k order whatever P is, so convolutions too give a sample the same bits
 * in any tile or chunk.  Without FMA hardware, fma is a multiply
 * then an add, again the same for every block.
 *
 * A W^T with a short K would waste most vector lanes in the NT form; such a
 * transpose is computed once per call in the weight-only prologue instead
 * (graph_info.c asks kernel_select.c's ebmc_gemm_packs_transpose) and the
 * product runs as NN; kernel_select.c picks the form of each product.
 */
#include "codegen_c.h"

/* compiler/kernels/ebmk_gemm.h, embedded at build time. */
extern const char ebmc_text_ebmk_gemm_h[];

void ebmc_emit_gemm_helpers(ebmc_buf *b)
{
    ebmc_buf_puts(b, ebmc_text_ebmk_gemm_h);
}

void ebmc_emit_gemm_call(ebmc_buf *b, const char *ind, ebmc_gemm_form form, const char *m, int64_t k, int64_t n,
                         const char *a, const char *w, const char *c)
{
    if (form == EBMC_GEMM_NT_COPY) {
        ebmc_buf_printf(b,
                        "%s{\n"
                        "%s    float wt[%lld];   /* W^T */\n"
                        "%s    ebmk_transpose(%lld, %lld, %s, wt);\n"
                        "%s    ebmk_gemm_nt(%s, %lld, %lld, %s, wt, %s);\n"
                        "%s}\n",
                        ind, ind, (long long)(k * n), ind, (long long)k, (long long)n, w, ind, m, (long long)k,
                        (long long)n, a, c, ind);
        return;
    }
    ebmc_buf_printf(b, "%sebmk_gemm_%s(%s, %lld, %lld, %s, %s, %s);\n", ind, form == EBMC_GEMM_NT ? "nt" : "nn", m,
                    (long long)k, (long long)n, a, w, c);
}
