/* ebmk_check.c — compiles the kernel headers of compiler/kernels/ as ordinary
 * C, in the order a generated model.c carries them (ebmc_emit_helpers), under
 * the project's -Wall -Wextra -Werror and the flags models are compiled with
 * (compiler/cc.c).  CMakeLists.txt builds it once per target the kernels
 * have a path for (-march=native, x86-64, haswell), so every #if branch that
 * a machine can reach is checked at build time, not only when a model is
 * compiled.  It defines nothing: the kernels are static, and the tests
 * (tests/unit/test_gemm.c, test_kernels.c) run them.
 */
#include "ebmk_math.h"
#include "ebmk_conv.h"
#include "ebmk_wino.h"
#include "ebmk_pool.h"
#include "ebmk_gemm.h"
