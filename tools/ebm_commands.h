/* ebm_commands.h — the `ebm` subcommands that live in files of their own
 * (ebm.c dispatches to them). */
#ifndef EBMC_EBM_COMMANDS_H
#define EBMC_EBM_COMMANDS_H

#include "cli_common.h"

/* ebm sample: Langevin sampling with a compiled model (ebm_sample.c). */
extern const cli_cmd sample_cmd;
int run_sample(const cli_args *a);

/* ebm train: persistent contrastive divergence / score matching (ebm_train.c). */
extern const cli_cmd train_cmd;
int run_train(const cli_args *a);

/* ebm score: FID and class coverage of samples against data (ebm_score.c). */
extern const cli_cmd score_cmd;
int run_score(const cli_args *a);

#endif /* EBMC_EBM_COMMANDS_H */
