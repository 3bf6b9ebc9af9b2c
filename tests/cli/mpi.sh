#!/usr/bin/env bash
# mpi.sh — `mpirun -np R ebm train|sample` (issue 21) on two ranks against one
# process: training (cd with its sharded sample buffer, and dsm) gives the
# same trained model, checkpoint, buffer and image bytes (and 4 ranks those of
# one process); a checkpoint of 2 ranks resumed in one process, one of one
# process resumed on 2 ranks and one of 4 ranks resumed on 2 end where a
# straight run does;
# the FID logged while training is one process's (each rank computes a share of the features);
# sampling writes the same .npy bytes (3 ranks: an uneven split of the chains);
# a batch the ranks cannot split is refused in one line; a rank that fails
# ends the whole job with its message, never a hang.  Skips when ebm was
# built without MPI.
set -u

BIN="${EBMC_BIN_DIR:?EBMC_BIN_DIR must point at the bin folder of the build}"
SRC="${EBMC_SOURCE_DIR:?EBMC_SOURCE_DIR must point at the source tree}"
EBM="$BIN/ebm"
if [ -z "${EBMC_MPIEXEC:-}" ]; then
    echo "cli_mpi: SKIPPED: ebm was built without MPI (EBMC_MPI=OFF, or no libopenmpi-dev at configure time)"
    exit 77
fi
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=lib/check.bash
. "$(dirname "${BASH_SOURCE[0]}")/lib/check.bash"
export XDG_CACHE_HOME="${XDG_CACHE_HOME:-$TMP/cache}"
export EBM_NUM_THREADS=1
# -q: no help banners from mpirun, so a refusal is ebm's one line; as root (CI) mpirun needs the flag
MPI=("$EBMC_MPIEXEC" -q --oversubscribe -x EBM_NUM_THREADS -x XDG_CACHE_HOME)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)
if [ -n "${EBMC_SANITIZE:-}" ]; then
    # ASan and UBSan check the ranks as any process, but not for leaks: OpenMPI 4.1 dlcloses
    # its components in MPI_Finalize, so what they keep until exit is reported from
    # "<unknown module>" stacks that no suppression can name (the one-process runs here keep
    # leak checking)
    echo "cli_mpi: sanitizer build: leak checking off in the mpirun ranks (OpenMPI's unloaded components)"
    MPI=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "${MPI[@]}" -x ASAN_OPTIONS)
fi
# every run is bounded: a hang fails the test instead of stalling CI
run2() { timeout 60 "${MPI[@]}" -np 2 "$@"; }

T2D="$SRC/tests/fixtures/tabular2d/model.onnx"
CD=(--data toy:rings --steps 12 --batch 32 --mcmc-steps 5 --step-size 0.05 --noise auto --grad-clip 0 --lr 1e-3
    --buffer-capacity 80 --eval-every 0 --seed 3)

# ---- training: cd with a sample buffer ------------------------------------------------------------
# capacity 80 is not a multiple of the batch: pushes wrap unaligned, so samples also move between ranks' shards
expect_ok "cd, one process" "$EBM" train "$T2D" "${CD[@]}" -o "$TMP/t1.onnx" --checkpoint "$TMP/c1.ckpt" \
    --buffer-out "$TMP/b1.npy" --png "$TMP/p1" --png-every 5
expect_ok "cd, 2 ranks" run2 "$EBM" train "$T2D" "${CD[@]}" -o "$TMP/t2.onnx" --checkpoint "$TMP/c2.ckpt" \
    --buffer-out "$TMP/b2.npy" --png "$TMP/p2" --png-every 5
check "cd: 2 ranks write the trained model of one process" cmp "$TMP/t1.onnx" "$TMP/t2.onnx"
check "cd: ... and its checkpoint (rank 0 gathers every rank's buffer shard)" cmp "$TMP/c1.ckpt" "$TMP/c2.ckpt"
check "cd: ... and its sample buffer" cmp "$TMP/b1.npy" "$TMP/b2.npy"
check "cd: ... and its images of the samples (step 5, step 10, final)" \
    bash -c "cmp '$TMP/p1-000005.png' '$TMP/p2-000005.png' && cmp '$TMP/p1-000010.png' '$TMP/p2-000010.png' && cmp '$TMP/p1.png' '$TMP/p2.png'"
check "cd: training moved the weights" bash -c "! cmp -s '$T2D' '$TMP/t1.onnx'"

# ---- resume a checkpoint of 2 ranks in one process -----------------------------------------------------
expect_ok "cd, 2 ranks, first 6 steps" run2 "$EBM" train "$T2D" "${CD[@]}" --steps 6 -o "$TMP/h.onnx" \
    --checkpoint "$TMP/h.ckpt"
expect_ok "cd, one process resumes to 12" "$EBM" train "$T2D" "${CD[@]}" -o "$TMP/r.onnx" --resume "$TMP/h.ckpt"
check "resumed with another number of ranks: the model of a straight run" cmp "$TMP/t1.onnx" "$TMP/r.onnx"
expect_ok "cd, one process, first 6 steps" "$EBM" train "$T2D" "${CD[@]}" --steps 6 -o "$TMP/h1.onnx" \
    --checkpoint "$TMP/h1.ckpt"
check "the checkpoint of 2 ranks at step 6 is that of one process" cmp "$TMP/h.ckpt" "$TMP/h1.ckpt"
expect_ok "cd, 2 ranks resume one process's checkpoint to 12 (each keeps its shard)" run2 "$EBM" train "$T2D" \
    "${CD[@]}" -o "$TMP/r2.onnx" --resume "$TMP/h1.ckpt" --checkpoint "$TMP/r2.ckpt"
check "... the model of a straight run" cmp "$TMP/t1.onnx" "$TMP/r2.onnx"
check "... and its checkpoint" cmp "$TMP/c1.ckpt" "$TMP/r2.ckpt"

# ---- 4 ranks (batch 64: four blocks of 16), a buffer of 3 pushes and a half; resumed on 2 ----------------
CD4=(--data toy:rings --steps 10 --batch 64 --mcmc-steps 5 --step-size 0.05 --noise auto --grad-clip 0 --lr 1e-3
     --buffer-capacity 224 --reinit 0.2 --eval-every 0 --seed 5)
expect_ok "cd, batch 64, one process" "$EBM" train "$T2D" "${CD4[@]}" -o "$TMP/q1.onnx" --checkpoint "$TMP/q1.ckpt"
expect_ok "cd, batch 64, 4 ranks" timeout 90 "${MPI[@]}" -np 4 "$EBM" train "$T2D" "${CD4[@]}" -o "$TMP/q4.onnx" \
    --checkpoint "$TMP/q4.ckpt"
check "4 ranks: the model of one process" cmp "$TMP/q1.onnx" "$TMP/q4.onnx"
check "4 ranks: ... and its checkpoint" cmp "$TMP/q1.ckpt" "$TMP/q4.ckpt"
expect_ok "cd, batch 64, 4 ranks, first 5 steps" timeout 90 "${MPI[@]}" -np 4 "$EBM" train "$T2D" "${CD4[@]}" \
    --steps 5 -o "$TMP/qh.onnx" --checkpoint "$TMP/qh.ckpt"
expect_ok "cd, batch 64, 2 ranks resume the 4 ranks' checkpoint" run2 "$EBM" train "$T2D" "${CD4[@]}" \
    -o "$TMP/qr.onnx" --resume "$TMP/qh.ckpt"
check "resumed on 2 ranks from 4: the model of a straight run" cmp "$TMP/q1.onnx" "$TMP/qr.onnx"

# ---- training: dsm --------------------------------------------------------------------------------
DSM=(--data toy:moons --objective dsm --sigma 0.3 --steps 10 --batch 32 --lr 1e-3 --eval-every 0 --seed 1)
expect_ok "dsm, one process" "$EBM" train "$T2D" "${DSM[@]}" -o "$TMP/d1.onnx"
expect_ok "dsm, 2 ranks" run2 "$EBM" train "$T2D" "${DSM[@]}" -o "$TMP/d2.onnx"
check "dsm: 2 ranks write the trained model of one process" cmp "$TMP/d1.onnx" "$TMP/d2.onnx"

# ---- FID under mpirun: every rank computes its share of the features (chunks of 256 samples) --------------
# 96 training images (one chunk: rank 1 has none of the reference's) and 300 chains (two chunks, one a rank)
CNN="$TMP/cnn.onnx"
expect_ok "cnn preset" "$EBM" init --preset cnn --seed 1 -o "$CNN"
IMG=(--data "$SRC/tests/data/fid/a.npy" --steps 4 --batch 32 --mcmc-steps 3 --eval-every 2 --eval-samples 300
     --log-every 2 --seed 2)
expect_ok "FID, one process" "$EBM" train "$CNN" "${IMG[@]}" -o "$TMP/f1.onnx" --log "$TMP/f1.csv"
expect_ok "FID, 2 ranks" run2 "$EBM" train "$CNN" "${IMG[@]}" -o "$TMP/f2.onnx" --log "$TMP/f2.csv"
check "FID: logged at steps 2 and 4, finite and > 0" awk -F, 'NR > 1 { n++; if (!($11 + 0 > 0)) bad = 1 } END { exit bad || n != 2 }' \
    "$TMP/f1.csv"
check "FID: 2 ranks log the values of one process" cmp <(cut -d, -f1-11 "$TMP/f1.csv") <(cut -d, -f1-11 "$TMP/f2.csv")
check "FID: ... and write its model" cmp "$TMP/f1.onnx" "$TMP/f2.onnx"

# ---- sampling: 32 chains (the compiled model of the cd runs), 11 + 11 + 10 on 3 ranks ---------------------
S=(-n 32 --steps 30 --step-size 0.05 --noise auto --seed 9)
expect_ok "sample, one process" "$EBM" sample "$T2D" "${S[@]}" -o "$TMP/s1.npy" --energy "$TMP/e1.npy"
expect_ok "sample, 3 ranks" timeout 60 "${MPI[@]}" -np 3 "$EBM" sample "$T2D" "${S[@]}" -o "$TMP/s3.npy" \
    --energy "$TMP/e3.npy"
check "sample: the same .npy bytes" cmp "$TMP/s1.npy" "$TMP/s3.npy"
check "sample: the same energies" cmp "$TMP/e1.npy" "$TMP/e3.npy"

# ---- refusals and failures -------------------------------------------------------------------------
expect_fail "a batch 3 ranks cannot split: one line" 1 "--batch 32 cannot be split over 3 processes;must divide 2" \
    timeout 60 "${MPI[@]}" -np 3 "$EBM" train "$T2D" "${CD[@]}" -o "$TMP/x.onnx"
expect_fail "ranks started with different arguments: one line" 2 "different arguments" \
    timeout 60 "${MPI[@]}" -np 1 "$EBM" sample "$T2D" -n 4 -o "$TMP/x.npy" : -np 1 "$EBM" sample "$T2D" -n 5 -o "$TMP/x.npy"
# rank 0 alone writes checkpoints: its failure at step 2 ends rank 1, which waits in step 3's exchange
run2 "$EBM" train "$T2D" "${CD[@]}" -o "$TMP/x.onnx" --checkpoint "$TMP/no/such/dir/c.ckpt" --checkpoint-every 2 \
    >"$TMP/out" 2>"$TMP/stderr"
code=$?
check "rank 0 failing mid-run ends the job (no hang: exit $code)" test "$code" -ne 0 -a "$code" -ne 124
check "... with rank 0's message" grep -q "no/such/dir/c.ckpt: cannot create" "$TMP/stderr"
check "... and which rank failed" grep -q "rank 0 of 2 failed: ending all 2 processes" "$TMP/stderr"
check "... and no trained model" test ! -e "$TMP/x.onnx"
# rank 1 alone gets a bad thread count: its message, and the job ends
timeout 60 "${MPI[@]}" -np 1 "$EBM" sample "$T2D" "${S[@]}" -o "$TMP/y.npy" : \
    -np 1 -x EBM_NUM_THREADS=bogus "$EBM" sample "$T2D" "${S[@]}" -o "$TMP/y.npy" >"$TMP/out" 2>"$TMP/stderr"
code=$?
check "rank 1 failing ends the job (no hang: exit $code)" test "$code" -ne 0 -a "$code" -ne 124
check "... with rank 1's message" grep -q "EBM_NUM_THREADS = 'bogus'" "$TMP/stderr"
check "... and which rank failed" grep -q "rank 1 of 2 failed" "$TMP/stderr"
check "... and no samples" test ! -e "$TMP/y.npy"

finish
