#!/usr/bin/env bash
# Protocol 8 (BENCHMARKS.md): the paper profile on one GPU. Both students (compact temporal
# CNN; GAF ResNet18 at 224 px), both protocols, seeds 0-2, the baseline and every method,
# each seed training its own teachers (the GAF student reuses the compact one's: same seed,
# same protocol, same teacher params); all 12 jobs side by side on the one GPU. Start CUDA
# MPS first (nvidia-cuda-mps-control -d): small kernels of many processes then overlap.
#
#   benchmarks/paper_profile_gpu.sh FUSED.h5 OUTDIR [SECONDS] [KINDS]
#
# SECONDS bounds the whole script (default 530); a job still running then is stopped and
# its log keeps the rows it finished. KINDS: "cnn", "gaf" or both (the default). OUTDIR gets
# one log and --out JSON per job, gpu.log (utilisation every 20 s), the validation pick of
# each student x protocol (benchmarks/seed_select.py), and the compact student's picked and
# baseline model files (models-<protocol>.tar) for export on a CPU. Exit status 1 when a job
# failed (a job stopped at the time limit is not a failure). Environment: PYTHON (default
# python3); P8_METHODS, the runs after each baseline (default: all, PSKD last; "" for none);
# P8_EXTRA, more -S overrides for every job; and P8_SEEDS (default "0 1 2"), for a smoke run
# on a CPU.
set -u
set -f  # no pathname expansion: overrides such as -S data.actions=[1,22] pass as written
py=${PYTHON:-python3}
fused=$(realpath "$1"); out=$(realpath -m "$2"); budget=${3:-530}; kinds=${4:-cnn gaf}
for k in $kinds; do
    [[ $k == cnn || $k == gaf ]] || { echo "KINDS: unknown $k (cnn, gaf)" >&2; exit 2; }
done
has() { [[ " $kinds " == *" $1 "* ]]; }
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
mkdir -p "$out"
export PYTHONPATH="$repo/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CROSSKD_QUIET=1
methods=${P8_METHODS-logits kd fitnet at sp cc rkd dask acs_equal acs acs:progressive}
protocols="cross_subject trial_split"; seeds=${P8_SEEDS:-0 1 2}
end=$((SECONDS + budget))
(while sleep 20; do nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
 done) >"$out/gpu.log" 2>&1 &
sampler=$!
trap 'kill $sampler 2>/dev/null' EXIT
jobs_=() names=()
run() {  # name protocol seed [student_table args...]; 124 when no time is left
    local name=$1 protocol=$2 seed=$3 left=$((end - SECONDS)); shift 3
    ((left > 0)) || return 124
    timeout --signal=TERM "$left" "$py" "$repo/benchmarks/student_table.py" \
        --fused "$fused" --protocol "$protocol" --seeds "$seed" --methods $methods \
        -S data.actions=all -S profile=paper -S train.threads=1 ${P8_EXTRA:-} "$@" \
        --workdir "$work/$name" --out "$out/$name.json" >"$out/$name.log" 2>&1
}
if has cnn; then
    for p in $protocols; do for s in $seeds; do
        run "cnn-$p-s$s" "$p" "$s" --train-teachers -S student.model=temporal_cnn &
        jobs_+=($!) names+=("cnn-$p-s$s")
    done; done
fi
if has gaf; then
    # The gaf stage's code at the paper profile's 224 px (gasf only: the student's input).
    dataset=$("$py" - "$repo/params.yaml" "$work/gaf.yaml" <<'EOF'
import sys, yaml
params = yaml.safe_load(open(sys.argv[1]))
params["profile"] = "paper"
params["gaf"]["methods"] = ["gasf"]
yaml.safe_dump(params, open(sys.argv[2], "w"))
print(params["data"]["dataset"])
EOF
)
    mkdir -p "$work/fused" && ln -s "$fused" "$work/fused/$dataset.h5"
    if ! (time "$py" "$repo/pipeline/gaf.py" --params "$work/gaf.yaml" \
              --fused-dir "$work/fused" --out-dir "$work/gaf") >"$out/gaf-render.log" 2>&1; then
        echo "paper_profile_gpu: GAF rendering failed, see $out/gaf-render.log" >&2
        kinds=${kinds//gaf/} failed=1
    fi
fi
if has gaf; then
    for p in $protocols; do for s in $seeds; do
        gaf=(-S student.model=gaf_resnet18 --gaf "$work/gaf/$dataset.h5")
        if has cnn; then  # the same seed's teachers, once the cnn job has them
            teachers=$work/cnn-$p-s$s/models
            (while [[ ! -e $teachers/teacher_fu/s$s/model.pt ]]; do
                 ((SECONDS < end)) || exit 124; sleep 5
             done
             run "gaf-$p-s$s" "$p" "$s" --teachers "$teachers" "${gaf[@]}") &
        else
            run "gaf-$p-s$s" "$p" "$s" --train-teachers "${gaf[@]}" &
        fi
        jobs_+=($!) names+=("gaf-$p-s$s")
    done; done
fi
for i in "${!jobs_[@]}"; do
    wait "${jobs_[$i]}"; rc=$?
    case $rc in
        0) ;;
        124) echo "paper_profile_gpu: ${names[$i]} stopped at the time limit" >&2 ;;
        *) echo "paper_profile_gpu: ${names[$i]} failed ($rc), see $out/${names[$i]}.log" >&2
           failed=1 ;;
    esac
done
for k in $kinds; do for p in $protocols; do
    logs=()
    for s in $seeds; do [[ -e $out/$k-$p-s$s.log ]] && logs+=("$out/$k-$p-s$s.log"); done
    ((${#logs[@]})) || continue
    # every candidate must have every seed: a job cut short cannot win on fewer seeds
    "$py" "$repo/benchmarks/seed_select.py" "${logs[@]}" --seeds $seeds \
        >"$out/pick-$k-$p.txt" 2>&1 || continue
    pick=$("$py" "$repo/benchmarks/seed_select.py" "${logs[@]}" --seeds $seeds --selected)
    if [[ $k == cnn ]]; then  # 1.5 MB a file; the ResNet18's 45 MB stay behind
        files=()
        for s in $seeds; do for run in student_baseline "distill_$pick"; do
            f=cnn-$p-s$s/models/$run/s$s/model.pt
            [[ -e $work/$f ]] && files+=("$f")
        done; done
        ((${#files[@]})) && tar cf "$out/models-$p.tar" -C "$work" "${files[@]}"
    fi
done; done
echo "paper_profile_gpu: done in ${SECONDS}s; work in $work"
exit "${failed:-0}"
