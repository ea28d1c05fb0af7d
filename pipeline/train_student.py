"""Stage train_student: the student baseline (student.model: GAF ResNet18 or the temporal CNN on
the raw accelerometer), cross-entropy only."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.data.fused_h5 import read_fused
from crosskd.training import paths
from crosskd.training.builders import student_spec
from crosskd.training.supervised import train_supervised

parser = stage_parser(__doc__)
parser.add_argument("--seed", type=int, required=True, help="training seed (one of train.seeds)")


def main(args, params):
    data = read_fused(paths.fused_file(params["data"]["dataset"]))
    train_supervised(params, student_spec(params, data), "student", args.seed,
                     stage=f"train_student@{args.seed}")


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
