/* train_internal.h — what runtime/train.c (the trainer) and
 * runtime/train_ckpt.c (its checkpoints) share: the trainer record.
 * Not installed: users see the opaque handle of train.h. */
#ifndef EBM_TRAIN_INTERNAL_H
#define EBM_TRAIN_INTERNAL_H

#include <stdint.h>

#include "train.h"

/* The divergence guard's in-memory copy of the state (train.c). */
typedef struct ebm__snapshot {
    int64_t step;
    double lr;
    float alpha;
    float *w, *m, *v, *ema;
    ebm_buffer *buf;
} ebm__snapshot;

struct ebm_trainer {
    ebm_model *m;
    const ebm_abi_model *d;
    ebm_ctx *ctx;
    ebm_train_config cfg;
    ebm_train_data data;
    int64_t B, numel, wn;
    float *w;                 /* the model's live weights */
    unsigned char *train;     /* [wn]: 1 where a trainable parameter lives */
    float *x;                 /* [2B, numel]: data, then samples */
    float *e, *wts;           /* [2B] */
    float *grad;              /* [wn] */
    float *target;            /* dsm: [B, numel] */
    float *adam_m, *adam_v, *ema;
    ebm_buffer *buf;          /* its draw counter is the step (fake_batch sets it) */
    ebm_batcher batcher;
    int64_t *idx;             /* [B] */
    int64_t step;
    double lr;                /* cfg.lr halved at each of the `restores` restores */
    int restores;             /* 0..cfg.max_restores */
    float alpha;              /* the sampler's step size (adaptive and MALA carry it over) */
    ebm__snapshot snap;
    /* Data-parallel steps (ebm_trainer_set_comm): this rank's samples are
     * [lo, lo + share) of the data and of the model samples; everything else is
     * the same on every rank.  One process: rank 0 of 1, share = B. */
    ebm_train_comm comm;
    int64_t lo, share;
    int64_t block;            /* samples per parameter-gradient block (ebm_train_grad_block) */
    int64_t slot;             /* floats per rank in `gathered`: a status, then 2 * share / block blocks */
    float *gathered;          /* [comm.size * slot] */
    float *egather;           /* [comm.size * (1 + 2 * share)]: a status and the energies per rank */
    /* Several ranks: buf (and snap.buf) is this rank's shard (ebm_buffer_shard in groups of B: batch
     * row i's pushes land on the rank of row i while pushes stay aligned); each step's draw and push
     * are planned on every rank and the samples move between a slot's rank and a row's. */
    int64_t *slots;           /* [B]: the ring slot of each row of the step's draw, then of its push */
    float *xsend, *xrecv;     /* [B * numel]: samples leaving and reaching this rank */
    int64_t *sendc, *recvc;   /* [comm.size]: floats to and from each rank */
    ebm_buffer *full;         /* rank 0, after ebm_trainer_gather: the whole buffer */
};

/* n zeroed floats (at least one, so that n = 0 is not an allocation failure). */
float *ebm__falloc(int64_t n);

/* One Adam step of step t->step + 1 on the trainable weights from t->grad
 * (both bias corrections, 1 - beta1^k and 1 - beta2^k), then the EMA. */
void ebm__adam_update(ebm_trainer *t);

/* Copies the live state into t->snap (what the divergence guard goes back to). */
ebm_status ebm__snapshot_take(ebm_trainer *t, ebm_error *err);

#endif /* EBM_TRAIN_INTERNAL_H */
