"""Stage distill / distill_progressive: an accelerometer student distilled from skeleton
teachers, with one loss method (kd, logits, fitnet, at, sp, cc, rkd, dask, acs, acs_equal,
ce) and one schedule: pretrained (frozen teachers from train_teacher) or progressive (PSKD:
teachers train alongside the student, k teacher epochs per student epoch)."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.losses import loss_names
from crosskd.training.distill import SCHEDULES
from crosskd.training.distill_run import distill_run

parser = stage_parser(__doc__)
parser.add_argument("--method", required=True, choices=loss_names(), metavar="METHOD",
                    help=f"distillation loss: one of {', '.join(loss_names())}")
parser.add_argument("--schedule", default="pretrained", choices=SCHEDULES,
                    help="pretrained: frozen teachers from train_teacher; progressive: PSKD, "
                    "teachers train alongside the student")
parser.add_argument("--seed", type=int, required=True, help="training seed (one of train.seeds)")


def main(args, params):
    stage = "distill" if args.schedule == "pretrained" else "distill_progressive"
    distill_run(params, args.method, args.schedule, args.seed,
                f"{stage}@{args.method}-{args.seed}")  # the DVC stage name


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
