"""Stage report: metrics/ablation.json and reports/ablation.md from every run's test metrics."""

import sys
from pathlib import Path

from crosskd.cli import run_stage, stage_parser
from crosskd.report import write_report

parser = stage_parser(__doc__)
parser.add_argument("--json", default="metrics/ablation.json",
                    help="the table as JSON (DVC metrics)")
parser.add_argument("--markdown", default="reports/ablation.md", help="the table as Markdown")


def main(args, params):
    write_report(params, args.json, args.markdown)
    print(Path(args.markdown).read_text())


if __name__ == "__main__":
    sys.exit(run_stage(parser, main))
