"""Stage fetch: produce data/raw/<dataset>/ from the source params.yaml names."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.data.fetch import fetch_dataset

parser = stage_parser(__doc__)
parser.add_argument("--out-root", default="data/raw", help="folder that gets <dataset>/")
parser.add_argument("--downloads", default="data/downloads",
                    help="where url downloads (and partial downloads, for resume) are kept")

if __name__ == "__main__":
    sys.exit(run_stage(parser, lambda a, p: fetch_dataset(p, a.out_root, a.downloads)))
