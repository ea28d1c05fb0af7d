"""Stage fuse: align, resample and normalise every clip into data/fused/<dataset>.h5."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.config import get
from crosskd.data.fuse import fuse_dataset

parser = stage_parser(__doc__)
parser.add_argument("--raw-root", default="data/raw", help="folder holding <dataset>/ from fetch")
parser.add_argument("--skeleton-root", default="data/skeletons",
                    help="the skeletons stage's output (used by datasets without skeletons)")
parser.add_argument("--out-dir", default="data/fused", help="folder that gets <dataset>.h5")


def main(args, params):
    name = get(params, "data.dataset")
    fuse_dataset(params, f"{args.raw_root}/{name}", f"{args.out_dir}/{name}.h5",
                 skeleton_dir=f"{args.skeleton_root}/{name}")


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
