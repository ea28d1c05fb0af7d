"""Stage skeletons: MediaPipe Pose on the RGB videos of datasets without skeletons (MMAct);
a pass-through for datasets that ship them. Per-video results are cached in --cache-dir,
so a re-run only processes new or changed videos."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.config import get
from crosskd.data.skeletons import skeletons_stage

parser = stage_parser(__doc__)
parser.add_argument("--raw-root", default="data/raw", help="folder holding <dataset>/ from fetch")
parser.add_argument("--out-dir", default="data/skeletons", help="folder that gets <dataset>/")
parser.add_argument("--cache-dir", default=".cache/pose",
                    help="per-video pose cache (outside DVC outputs, survives re-runs)")


def main(args, params):
    name = get(params, "data.dataset")
    skeletons_stage(params, f"{args.raw_root}/{name}", f"{args.out_dir}/{name}", args.cache_dir)


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
