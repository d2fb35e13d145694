#!/bin/bash
# The cpu comparison (singing and drums), two systems at a time on one core each; resumable: run it again.
# Usage: nohup bash /work/bench-cpu-v4/run.sh > /work/bench-cpu-v4/run.log 2>&1 &
cd /work/main && source .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 MALLOC_ARENA_MAX=1
OUT=/work/bench-cpu-v4
declare -A DATA=([singing]=/work/bench-cpu/data-singing-cpu [drums]=/work/bench-cpu-drums/data-drums-cpu)
lane() {
  for item in "$@"; do
    task=${item%%:*}; sys=${item#*:}
    echo "$(date +%T) start $task $sys"
    graphfx bench --preset cpu --task "$task" --decoder "$sys" --data "${DATA[$task]}" --out "$OUT/$task" \
      >> "$OUT/$task-${sys//[+@]/_}.log" 2>&1 || echo "$(date +%T) FAILED $task $sys"
    echo "$(date +%T) done $task $sys"
  done
}
lane singing:tokengt singing:tokengt+source singing:single_stage drums:tokengt drums:autoencoder &
lane singing:no_latent singing:node_by_node singing:autoencoder drums:no_latent &
wait
# Rows that reuse a trained run (evaluation only).
lane singing:prior singing:no_latent_sampled singing:tokengt@consensus singing:no_latent@consensus \
     drums:prior drums:no_latent_sampled drums:tokengt@consensus drums:no_latent@consensus
