"""Stage evaluate: test accuracy, macro F1, per-class scores and confusion matrix of a model."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.evaluation import evaluate_run

parser = stage_parser(__doc__)
parser.add_argument("--model", required=True, help="run name stem, e.g. teacher_sk")
parser.add_argument("--seed", type=int, required=True, help="the seed the model was trained with")

if __name__ == "__main__":
    sys.exit(run_stage(parser, lambda a, p: evaluate_run(p, a.model, a.seed,
                                                         f"evaluate@{a.model}-{a.seed}")))
