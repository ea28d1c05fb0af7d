"""Stage train_teacher: an Adaptive-GCN teacher on skeleton (sk) or skeleton + IMU (fu)."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.training.builders import TEACHERS, load_fused_for, teacher_spec
from crosskd.training.supervised import train_supervised

parser = stage_parser(__doc__)
parser.add_argument("--teacher", required=True, choices=sorted(TEACHERS),
                    help="sk: skeleton only; fu: skeleton fused with the IMU")
parser.add_argument("--seed", type=int, required=True, help="training seed (one of train.seeds)")


def main(args, params):
    data = load_fused_for(params)
    spec = teacher_spec(args.teacher, params, data)
    train_supervised(params, data, spec, "teacher", args.seed,
                     stage=f"train_teacher@{args.teacher}-{args.seed}")


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
