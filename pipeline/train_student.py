"""Stage train_student: the student baseline (student.model: GAF ResNet18 or the temporal CNN on
the raw accelerometer), cross-entropy only."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.training.builders import load_fused_for, student_spec
from crosskd.training.supervised import train_supervised

parser = stage_parser(__doc__)
parser.add_argument("--seed", type=int, required=True, help="training seed (one of train.seeds)")


def main(args, params):
    data = load_fused_for(params)
    train_supervised(params, data, student_spec(params, data), "student", args.seed,
                     stage=f"train_student@{args.seed}")


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
