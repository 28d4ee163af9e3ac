#!/usr/bin/env bash
# The main job, end to end, on the embedded default (SQLite + a local folder): `make demo`.
# init → add data → validate → train → register → gate → approve → promote → rollback → lineage → audit
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="$HERE/.venv/bin/python"
MLOOP="$HERE/.venv/bin/mloop"
DIR="${1:-$HERE/.demo}"
rm -rf "$DIR"
mkdir -p "$DIR/data"
cd "$DIR"
export COLUMNS="${COLUMNS:-160}"

say() { printf '\n\033[1;34m# %s\033[0m\n' "$*"; }
step() { printf '\033[1m$ mloop %s\033[0m\n' "$*"; "$MLOOP" "$@"; }
# A step that must fail with exit 1 (a check said no): the demo goes on only if it did.
expect_check_failure() {
  printf '\033[1m$ mloop %s\033[0m   (expected to fail)\n' "$*"
  set +e; "$MLOOP" "$@"; code=$?; set -e
  if [ "$code" -ne 1 ]; then echo "expected exit 1, got $code" >&2; exit 1; fi
  echo "→ exit 1, as expected"
}

say "A workspace: mloop.toml + .mloop/ (SQLite store, content-addressed artifacts)"
step init .

say "Two months of customer data; month 2 has drifted (prices up, a new payment method)"
"$PY" "$HERE/examples/churn/generate.py" --rows 5000 --month 1 --out data/churn-2026-01.csv
"$PY" "$HERE/examples/churn/generate.py" --rows 5000 --month 2 --drift --out data/churn-2026-02.csv

say "Snapshot month 1: hash, schema, profile. The same bytes again are the same version."
step data add churn data/churn-2026-01.csv
step data add churn data/churn-2026-01.csv
step data show churn@1

say "Validate month 2 against month 1's schema: the unseen payment method is a violation"
expect_check_failure data validate churn data/churn-2026-02.csv

say "Train and register three models on the same split: decent, deliberately worse, better"
step train --data churn@1 --target churned --model logistic --param C=0.0005 --seed 11 --experiment churn --register churn
step models promote churn 1 --to champion --reason "first production model"
step train --data churn@1 --target churned --model random_forest --param n_estimators=1 --param max_depth=1 --seed 11 --experiment churn --register churn
expect_check_failure models promote churn 2 --to champion
step train --data churn@1 --target churned --model logistic --param C=1.0 --seed 11 --experiment churn --register churn

say "The production gate wants a human approval, a latency budget and a bootstrap-confirmed gain"
expect_check_failure models promote churn 3 --to champion --gate production
step models approve churn 3 --note "reviewed metrics, segment recall and the signature"
step models promote churn 3 --to champion --gate production --reason "higher AUC on the same holdout"

say "Roll back, then read the whole story back"
step models rollback churn --reason "demo: support saw odd scores"
step models history churn
step models lineage churn@3
step audit --model churn
step runs ls

say "The same loop from a Python script (examples/churn/train.py uses the Python API)"
"$PY" "$HERE/examples/churn/train.py" --data data/churn-2026-01.csv --out models/churn-script

say "Export the better model to ONNX; the export is scored against the model on held-out rows first"
step models export churn@3 --onnx models/churn-3.onnx

say "Every blob re-hashed"
step artifacts verify
printf '\n\033[1;32mdemo finished in %s\033[0m\n' "$DIR"
