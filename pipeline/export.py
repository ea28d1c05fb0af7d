"""Stage export: the selected student (or seed ensemble) -> ONNX fp32 + int8, deploy metrics."""

import sys

from crosskd.cli import run_stage, stage_parser
from crosskd.deploy.stage import export_run

parser = stage_parser(__doc__)

if __name__ == "__main__":
    sys.exit(run_stage(parser, lambda a, p: export_run(p)))
