/* exec.h — the reference executor: a plain, obviously-correct interpreter of
 * the core IR.  It is the oracle every later pass and the code generator are
 * tested against, so clarity beats speed: one loop nest per op, OpenBLAS for
 * matmul and (through im2col) for convolution.
 *
 * It runs in float32 (what compiled models do) or float64 (for finite-
 * difference gradient checks).  In float64 mode the float32 constants are
 * widened and every op is computed in double.
 */
#ifndef EBMC_EXEC_H
#define EBMC_EXEC_H

#include <stdint.h>

#include "ir.h"

typedef enum ebmc_dtype { EBMC_F32, EBMC_F64 } ebmc_dtype;

/* Runs g with the batch size bound to n (n >= 0; n = 0 gives empty results).
 * inputs[i] holds graph input i (g->inputs order), outputs[j] receives graph
 * output j; each is a dense C-order array of dt with the node's shape, N = n.
 * The caller allocates everything; nothing is kept after the call. */
ebm_status ebmc_exec(const ir_graph *g, int64_t n, ebmc_dtype dt,
                     const void *const *inputs, void *const *outputs, ebm_error *err);

/* Evaluates one non-source node: in[k] holds operand k's value (shape from the
 * graph, N = n), out receives the node's value.  Used by constant folding. */
ebm_status ebmc_exec_node(const ir_graph *g, int id, int64_t n, ebmc_dtype dt,
                          const void *const *in, void *out, ebm_error *err);

#endif /* EBMC_EXEC_H */
