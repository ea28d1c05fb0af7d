"""Stage gaf: Gramian Angular Field images of the accelerometer into data/gaf/<dataset>.h5."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.config import get, positive_int
from crosskd.data.gaf import gaf_dataset

parser = stage_parser(__doc__)
parser.add_argument("--fused-dir", default="data/fused",
                    help="folder holding <dataset>.h5 from fuse")
parser.add_argument("--out-dir", default="data/gaf",
                    help="folder that gets <dataset>.h5 of GAF images")


def main(args, params):
    name = get(params, "data.dataset")
    gaf_dataset(f"{args.fused_dir}/{name}.h5", f"{args.out_dir}/{name}.h5",
                image_size=positive_int(params, "gaf.image_size"),
                methods=list(get(params, "gaf.methods")))


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
