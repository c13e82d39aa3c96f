#!/usr/bin/env python3
"""Seed 000's Fig. 4 (issue #27): the verdict's p-value against the number of evidence samples per
t-test draw, for each suspect. The evidence file is rewritten with each draw size (params.draw_size;
the samples, the owner's SHA-256 and the seeds are kept) and `mown verify --report` gives the p-value
and the rule's score. Negatives calibrate every verdict as usual.
  python3 bench/near_boundary_fig4.py --evidence nb.evidence.json --negatives NEG_DIR \\
      --sizes 2,4,6,8,10,15,20,30 SUSPECT ...
"""
import argparse
import json
import os
import subprocess
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evidence", required=True)
    ap.add_argument("--negatives", required=True)
    ap.add_argument("--sizes", default="2,4,6,8,10,15,20,30")
    ap.add_argument("--mown", default=os.environ.get("MOWN", "target/release/mown"))
    ap.add_argument("--extra", default="", help="extra `mown verify` arguments, e.g. --pooled-threshold")
    ap.add_argument("suspects", nargs="+")
    a = ap.parse_args()
    evidence = json.load(open(a.evidence))
    sizes = [int(s) for s in a.sizes.split(",")]
    print(f"# evidence {a.evidence}: {evidence['params'].get('n')} samples kept, "
          f"{evidence['params']['draws']} draws; p-value (and verdict) per draw size")
    print("suspect".ljust(60) + "".join(f"m={m}".rjust(18) for m in sizes))
    with tempfile.TemporaryDirectory() as tmp:
        for suspect in a.suspects:
            row = []
            for m in sizes:
                evidence["params"]["draw_size"] = m
                path = os.path.join(tmp, f"nb-{m}.json")
                json.dump(evidence, open(path, "w"))
                report = os.path.join(tmp, "report.json")
                cmd = [a.mown, "verify", "--evidence", path, "--suspect", suspect, "--negatives", a.negatives,
                       "--report", report] + a.extra.split()
                run = subprocess.run(cmd, capture_output=True, text=True)
                if not os.path.exists(report):
                    row.append("error".rjust(18))
                    continue
                r = json.load(open(report))
                verdict, p = r.get("decision", "?"), r.get("p_value")
                row.append(f"{p:.2e} {str(verdict)[:3]}".rjust(18) if isinstance(p, (int, float)) else str(verdict).rjust(18))
                os.remove(report)
            name = os.path.basename(suspect)
            print(name[:60].ljust(60) + "".join(row), flush=True)


if __name__ == "__main__":
    main()
