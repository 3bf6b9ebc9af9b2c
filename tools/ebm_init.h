/* ebm_init.h — `ebm init`: a new energy network as an ONNX model, from a
 * preset or a JSON configuration (tools/ebm_init.c; ebm.c dispatches). */
#ifndef EBMC_EBM_INIT_H
#define EBMC_EBM_INIT_H

#include "cli_common.h"

extern const cli_cmd init_cmd;
int run_init(const cli_args *a);

#endif /* EBMC_EBM_INIT_H */
