/* ebm_dist.c — ebm_dist.h over MPI (OpenMPI), or the one-process case.
 *
 * Exchanges are collectives over MPI_COMM_WORLD with the default error
 * handler (a failed MPI call ends the job), started non-blocking and waited
 * for by wait_quietly: MPI's blocking calls poll without pause, so a rank
 * waiting for rank 0 (its FID statistics, its writes) would take a core
 * from it on a machine with no core to spare.  Counts above INT_MAX
 * floats are refused rather than split: a gradient of 8 GB per rank is far
 * beyond the models ebmc trains.
 */
#include "ebm_dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef EBMC_HAVE_MPI
#include <mpi.h>
#endif

#ifdef EBMC_HAVE_MPI
/* Waits for req: a short spin (an exchange within a step is usually
 * microseconds away), then sleeps of 50 us, then 500 us once the wait is long. */
static void wait_quietly(MPI_Request *req)
{
    for (long i = 0;; i++) {
        int done = 0;
        MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        if (i < 200)
            continue;
        struct timespec ts = {0, i < 2200 ? 50000 : 500000};
        nanosleep(&ts, NULL);
    }
}
#endif

static int dist_rank = 0, dist_size = 1, dist_started = 0, dist_settled = 0, dist_quiet = 0;

int ebm_dist_quiet(void)
{
    return dist_quiet;
}

void ebm_dist_set_settled(int quiet)
{
    dist_settled = 1;
    dist_quiet = quiet;
}

int ebm_dist_settled(void)
{
    return dist_settled;
}

/* The size of the job mpirun (OpenMPI, MPICH/Hydra or a PMIx launcher) says
 * this process belongs to; 0 when not launched by one. */
static int launched_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return atoi(v);
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

int ebm_dist_available(void)
{
#ifdef EBMC_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef EBMC_HAVE_MPI
/* An OpenMPI job whose ranks all run on this machine talks through shared
 * memory whatever the messaging layer (PML) is, but choosing the PML probes
 * every network library first (libfabric, PSM, UCX: the "cm" and "ucx"
 * PMLs), which took 0.21 s of the 0.44 s that `mpirun -np 2 ebm --version`
 * takes here.  So such a job gets OpenMPI's ob1 PML (shared memory through
 * its vader transport) unless the user chose a PML (OMPI_MCA_pml or
 * --mca pml, which mpirun passes as that variable).  A job over several
 * machines keeps OpenMPI's own choice (UCX on InfiniBand). */
static void prefer_shared_memory(void)
{
    const char *size = getenv("OMPI_COMM_WORLD_SIZE"), *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (size && local && *size && strcmp(size, local) == 0 && !getenv("OMPI_MCA_pml"))
        setenv("OMPI_MCA_pml", "ob1", 0);
}
#endif

ebm_status ebm_dist_init(int *argc, char ***argv, ebm_error *err)
{
    const int n = launched_size();
#ifdef EBMC_HAVE_MPI
    if (n < 1)
        return EBM_OK;
    prefer_shared_memory();
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return ebm_fail(err, EBM_ERR_IO, "MPI_Init failed (launched by mpirun as one of %d processes)", n);
    dist_started = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size);
    return EBM_OK;
#else
    (void)argc;
    (void)argv;
    if (n > 1)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "this ebm was built without MPI (EBMC_MPI=OFF or no "
                        "libopenmpi-dev at build time), so it cannot run as one of %d processes of mpirun: rebuild "
                        "with MPI, or run one process", n);
    return EBM_OK;
#endif
}

int ebm_dist_rank(void)
{
    return dist_rank;
}

int ebm_dist_size(void)
{
    return dist_size;
}

ebm_status ebm_dist_allgather(void *user, float *all, int64_t count, ebm_error *err)
{
    (void)user;
    if (dist_size <= 1)
        return EBM_OK;
    if (count < 0 || count > INT_MAX)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "MPI exchange of %lld floats per rank: more than %d",
                        (long long)count, INT_MAX);
#ifdef EBMC_HAVE_MPI
    MPI_Request req;
    MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, all, (int)count, MPI_FLOAT, MPI_COMM_WORLD, &req);
    wait_quietly(&req);
#else
    (void)all;
#endif
    return EBM_OK;
}

ebm_status ebm_dist_gather_rows(const float *mine, int64_t rows, int64_t numel, float *all, ebm_error *err)
{
    if (dist_size <= 1) {
        if (all != mine && rows > 0)
            memcpy(all, mine, (size_t)(rows * numel) * sizeof(float));
        return EBM_OK;
    }
    if (rows < 0 || rows > INT_MAX || numel < 1 || numel > INT_MAX)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "MPI gather of %lld rows of %lld floats: more than %d",
                        (long long)rows, (long long)numel, INT_MAX);
#ifdef EBMC_HAVE_MPI
    MPI_Datatype row;
    MPI_Type_contiguous((int)numel, MPI_FLOAT, &row);
    MPI_Type_commit(&row);
    int n = (int)rows, *counts = NULL, *displs = NULL;
    if (dist_rank == 0) {
        counts = calloc((size_t)dist_size, sizeof *counts);
        displs = calloc((size_t)dist_size, sizeof *displs);
        if (!counts || !displs)
            ebm_dist_abort(1);
    }
    MPI_Request req;
    MPI_Igather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD, &req);
    wait_quietly(&req);
    if (dist_rank == 0)
        for (int r = 1; r < dist_size; r++)
            displs[r] = displs[r - 1] + counts[r - 1];
    const void *send = dist_rank == 0 && mine == all ? MPI_IN_PLACE : (const void *)mine;
    MPI_Igatherv(send, n, row, all, counts, displs, row, 0, MPI_COMM_WORLD, &req);
    wait_quietly(&req);
    MPI_Type_free(&row);
    free(counts);
    free(displs);
#else
    (void)mine;
    (void)all;
#endif
    return EBM_OK;
}

ebm_status ebm_dist_alltoallv(void *user, const float *send, const int64_t *sendcounts, float *recv,
                              const int64_t *recvcounts, ebm_error *err)
{
    (void)user;
    if (dist_size <= 1)
        return EBM_OK;
    int *c = calloc((size_t)(4 * dist_size), sizeof *c);
    if (!c)
        return ebm_fail(err, EBM_ERR_NOMEM, "MPI exchange: out of memory");
    int64_t so = 0, ro = 0;
    for (int r = 0; r < dist_size; r++) {
        c[r] = (int)sendcounts[r];
        c[dist_size + r] = (int)so;
        c[2 * dist_size + r] = (int)recvcounts[r];
        c[3 * dist_size + r] = (int)ro;
        so += sendcounts[r];
        ro += recvcounts[r];
        if (sendcounts[r] < 0 || recvcounts[r] < 0 || so > INT_MAX || ro > INT_MAX) {
            free(c);
            return ebm_fail(err, EBM_ERR_UNSUPPORTED, "MPI exchange of more than %d floats per rank", INT_MAX);
        }
    }
#ifdef EBMC_HAVE_MPI
    MPI_Request req;
    MPI_Ialltoallv(send, c, c + dist_size, MPI_FLOAT, recv, c + 2 * dist_size, c + 3 * dist_size, MPI_FLOAT,
                   MPI_COMM_WORLD, &req);
    wait_quietly(&req);
#else
    (void)send;
    (void)recv;
#endif
    free(c);
    return EBM_OK;
}

ebm_status ebm_dist_bcast(float *x, int64_t count, ebm_error *err)
{
    if (dist_size <= 1)
        return EBM_OK;
    if (count < 0 || count > INT_MAX)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "MPI broadcast of %lld floats: more than %d", (long long)count,
                        INT_MAX);
#ifdef EBMC_HAVE_MPI
    MPI_Request req;
    MPI_Ibcast(x, (int)count, MPI_FLOAT, 0, MPI_COMM_WORLD, &req);
    wait_quietly(&req);
#else
    (void)x;
#endif
    return EBM_OK;
}

void ebm_dist_share(int64_t n, int64_t *first, int64_t *count)
{
    const int64_t R = dist_size, r = dist_rank, q = n / R, extra = n % R;
    *first = r * q + (r < extra ? r : extra);
    *count = q + (r < extra ? 1 : 0);
}

/* After a local status every rank has: the first failing rank (-1: none)
 * into *first, and an error on every rank when one failed. */
static ebm_status agree(ebm_status st, int *first, ebm_error *err)
{
    *first = ebm_dist_first_failure(st != EBM_OK);
    if (*first < 0 || st)
        return st;
    return ebm_fail(err, EBM_ERR_NUMERIC, "rank %d of %d failed (its message is in its output)", *first, dist_size);
}

ebm_status ebm_dist_sample(ebm_ctx *ctx, float *x, int64_t n, int64_t numel, const ebm_sampler_params *p,
                           float *energy, ebm_sampler_stats *stats, int *first_failed, ebm_error *err)
{
    *first_failed = -1;
    if (dist_size <= 1 || p->kind != EBM_SAMPLER_LANGEVIN) {
        ebm_status st = dist_rank == 0 ? ebm_sampler_run(ctx, x, n, p, energy, NULL, stats, err) : EBM_OK;
        return dist_size <= 1 ? st : agree(st, first_failed, err);
    }
    int64_t lo, cnt;
    ebm_dist_share(n, &lo, &cnt);
    ebm_ctx_set_sample_base(ctx, lo);
    ebm_status st = cnt > 0 ? ebm_sampler_run(ctx, x + lo * numel, cnt, p, energy ? energy + lo : NULL, NULL, stats,
                                              err)
                            : EBM_OK;
    ebm_ctx_set_sample_base(ctx, 0);
    if ((st = agree(st, first_failed, err)))
        return st;
    /* in place: rank 0's rows are where they belong */
    st = ebm_dist_gather_rows(x + lo * numel, cnt, numel, dist_rank == 0 ? x : NULL, err);
    if (!st && energy)
        st = ebm_dist_gather_rows(energy + lo, cnt, 1, dist_rank == 0 ? energy : NULL, err);
    return st;
}

int ebm_dist_same_args(int argc, char **argv)
{
    if (dist_size <= 1)
        return 1;
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a over the arguments and their ends */
    for (int i = 0; i < argc; i++)
        for (const char *c = argv[i];; c++) {
            h = (h ^ (unsigned char)*c) * 0x100000001b3ull;
            if (!*c)
                break;
        }
#ifdef EBMC_HAVE_MPI
    uint64_t *all = calloc((size_t)dist_size, sizeof *all);
    if (!all)
        ebm_dist_abort(1);
    MPI_Request req;
    MPI_Iallgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    wait_quietly(&req);
    int same = 1;
    for (int r = 0; r < dist_size; r++)
        same &= all[r] == all[0];
    free(all);
    return same;
#else
    return 1;
#endif
}

int ebm_dist_first_failure(int failed)
{
    if (dist_size <= 1)
        return failed ? 0 : -1;
#ifdef EBMC_HAVE_MPI
    int *all = calloc((size_t)dist_size, sizeof *all);
    if (!all)
        ebm_dist_abort(1);
    int mine = failed != 0;
    MPI_Request req;
    MPI_Iallgather(&mine, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD, &req);
    wait_quietly(&req);
    int first = -1;
    for (int r = 0; r < dist_size && first < 0; r++)
        if (all[r])
            first = r;
    free(all);
    return first;
#else
    return failed ? 0 : -1;
#endif
}

ebm_status ebm_dist_settle(ebm_status st, ebm_error *err)
{
    if (dist_size <= 1)
        return st;
    int first = ebm_dist_first_failure(st != EBM_OK);
    if (first < 0)
        return EBM_OK;
    ebm_dist_set_settled(first != dist_rank);
    return st ? st : ebm_fail(err, EBM_ERR_INVALID, "rank %d of %d failed", first, dist_size);
}

_Noreturn void ebm_dist_abort(int code)
{
    fflush(stdout);
    fflush(stderr);
#ifdef EBMC_HAVE_MPI
    if (dist_started && dist_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}

void ebm_dist_finalize(void)
{
#ifdef EBMC_HAVE_MPI
    if (dist_started) {
        if (dist_size > 1) {   /* rank 0 may still be writing: wait for it here, quietly */
            MPI_Request req;
            MPI_Ibarrier(MPI_COMM_WORLD, &req);
            wait_quietly(&req);
        }
        MPI_Finalize();
        dist_started = 0;
    }
#endif
}
