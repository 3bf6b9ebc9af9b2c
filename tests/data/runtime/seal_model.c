/* seal_model.c — records the code and weights digests in a hand-written fake
 * model (quadratic_model.c), as ebmc does for the models it compiles
 * (compiler/seal.c), so libebm's checks see a consistent file.  Test data
 * tooling, not product:  seal_model FILE.so */
#include <stdio.h>

#include "cc.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seal_model FILE.so\n");
        return 2;
    }
    ebm_error err = {0};
    if (ebmc_seal_model(argv[1], &err) != EBM_OK) {
        fprintf(stderr, "seal_model: %s\n", err.msg);
        return 1;
    }
    return 0;
}
