"""A realistic customer-churn table with a learnable signal, nulls, dates and categories.

    python examples/churn/generate.py --rows 5000 --out churn.csv
    python examples/churn/generate.py --rows 5000 --month 2 --drift --out churn-2.csv

Month 1 is the reference. ``--drift`` makes a later month the way production drifts: prices go up,
more month-to-month contracts, more support calls, and a payment method the model never saw.
The generator itself ships with mloop (``mloop.demo_data``), so ``mloop demo --data-only DIR``
writes the README tour's files on an installed package too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mloop.demo_data import generate, write


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--month", type=int, default=1)
    parser.add_argument("--drift", action="store_true", help="make this month drift from month 1")
    parser.add_argument("--out", type=Path, required=True, help="a .csv or .parquet path")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error(f"--rows must be 1 or more; got {args.rows}")
    frame = generate(args.rows, seed=args.seed, month=args.month, drift=args.drift)
    write(frame, args.out)
    print(f"wrote {len(frame)} rows to {args.out} (churn rate {frame['churned'].mean():.1%})")


if __name__ == "__main__":
    main()
