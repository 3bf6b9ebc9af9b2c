/* cc.h — the system C compiler driver: writes a generated model's C, its
 * weights blob and the runtime headers it includes into a work folder, and
 * runs the compiler to a shared object (temporary file + rename).  cc.c.
 */
#ifndef EBMC_CC_H
#define EBMC_CC_H

#include <stdint.h>

#include "ebm_status.h"

/* runtime/ebm_abi.h and runtime/ebm_philox.h as text, generated at build time
 * (CMakeLists.txt), so the copies written next to the generated C can never
 * drift from the headers libebm is built with. */
extern const char ebmc_text_ebm_abi_h[];
extern const char ebmc_text_ebm_philox_h[];

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

#endif /* EBMC_CC_H */
