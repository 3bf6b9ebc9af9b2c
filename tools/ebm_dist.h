/* ebm_dist.h — the processes of `mpirun -np R ebm train|sample`: MPI behind a
 * small interface, so that nothing else includes mpi.h and libebm never links
 * it.  Built without MPI (EBMC_MPI=OFF, or libopenmpi-dev absent) every call
 * is the one-process case: rank 0 of 1.
 *
 * MPI starts only when this process was launched by mpirun/mpiexec (its
 * environment says so), so a plain `ebm ...` never initialises MPI.  Every
 * exchange keeps rank order, so results depend on the data, never on timing.
 */
#ifndef EBM_DIST_H
#define EBM_DIST_H

#include <stdint.h>

#include "ebm.h"
#include "ebm_status.h"
#include "sampler.h"

/* Starts MPI when launched by mpirun.  Fails (with a message in err) when
 * launched as one of several processes by an ebm built without MPI. */
ebm_status ebm_dist_init(int *argc, char ***argv, ebm_error *err);
int ebm_dist_rank(void);
int ebm_dist_size(void);
/* 1 when this ebm was built with MPI. */
int ebm_dist_available(void);

/* Every rank's count floats, its own already at all[rank * count], into
 * all[] in rank order on every rank (ebm_train_comm's allgather; user is
 * unused). */
ebm_status ebm_dist_allgather(void *user, float *all, int64_t count, ebm_error *err);

/* Rows of numel floats: rank r's `rows` (counts may differ) into all[] on
 * rank 0 in rank order (all may be NULL elsewhere; on rank 0, mine may be
 * all itself: its rows are first). */
ebm_status ebm_dist_gather_rows(const float *mine, int64_t rows, int64_t numel, float *all, ebm_error *err);

/* ebm_train_comm's alltoallv: sendcounts[q] floats of send[] (rank order)
 * to each rank q, recvcounts[q] from each into recv[] (user is unused). */
ebm_status ebm_dist_alltoallv(void *user, const float *send, const int64_t *sendcounts, float *recv,
                              const int64_t *recvcounts, ebm_error *err);

/* Rank 0's count floats x[] into x[] on every rank. */
ebm_status ebm_dist_bcast(float *x, int64_t count, ebm_error *err);

/* Rank r's rows of n split over the ranks: [*first, *first + *count), the
 * first n % R ranks one more. */
void ebm_dist_share(int64_t n, int64_t *first, int64_t *count);

/* Chains x[n, numel] split over the ranks: each rank runs its share
 * (ebm_dist_share) of the sampler p with Langevin noise keyed by the global
 * row (ebm_ctx_set_sample_base), so the samples are those of one process
 * running all n; rank 0 then holds every row of x and of energy (may be
 * NULL).  The plain Langevin sampler only (the others adapt on the whole
 * batch: with them rank 0 runs all chains and the others wait).  Every rank
 * returns an error when one failed, *first_failed naming the first (-1:
 * none; a caller that ends on it marks the failure settled). */
ebm_status ebm_dist_sample(ebm_ctx *ctx, float *x, int64_t n, int64_t numel, const ebm_sampler_params *p,
                           float *energy, ebm_sampler_stats *stats, int *first_failed, ebm_error *err);

/* 1 when every rank was started with the same arguments (the ranks of one
 * job must agree on every setting, or their steps would part ways). */
int ebm_dist_same_args(int argc, char **argv);

/* A point every rank reaches: returns the first rank whose `failed` is
 * nonzero, or -1 when none. */
int ebm_dist_first_failure(int failed);

/* A point every rank reaches with its status: when any rank failed, every
 * rank fails (the failure is settled), and only the first failing rank is
 * to say why (ebm_dist_quiet on the others), so an error all ranks share (a
 * batch R cannot split) is one line. */
ebm_status ebm_dist_settle(ebm_status st, ebm_error *err);
/* 1 when another rank says why the job failed. */
int ebm_dist_quiet(void);

/* A failure every rank knows of (a usage error on every rank, or one an
 * ebm_dist_first_failure point reported): the job ends with exit codes, no
 * abort; quiet: another rank says why.  Any other failure on one rank ends
 * the job by ebm_dist_abort. */
void ebm_dist_set_settled(int quiet);
int ebm_dist_settled(void);

/* Ends every process of the job with exit code `code` (MPI_Abort); a plain
 * exit in one process. */
_Noreturn void ebm_dist_abort(int code);

/* Leaves MPI (after the last exchange; a no-op when not started). */
void ebm_dist_finalize(void);

#endif /* EBM_DIST_H */
