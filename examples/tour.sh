#!/usr/bin/env bash
# The feature tour, end to end, on the embedded default (SQLite + a local folder): `make tour`.
# (`make demo` tells the closed loop as a story: `mloop demo`.)
# init → add data → validate → train → register → gate → approve → promote → rollback → lineage → audit
# → deploy → serve → predict over HTTP → canary + shadow → endpoint rollback → batch predict → logs
# → a drifted month of traffic → labels later → drift → monitor (estimate beside realised) → alert
#   delivered to a webhook → HTML report
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${MLOOP_DEMO_BIN:-$HERE/.venv/bin}"   # the venv `make demo` built (override to use another)
PY="$BIN/python"
MLOOP="$BIN/mloop"
DIR="${1:-$HERE/.demo-tour}"
rm -rf "$DIR"
mkdir -p "$DIR/data"
cd "$DIR"
export COLUMNS="${COLUMNS:-160}"

say() { printf '\n\033[1;34m# %s\033[0m\n' "$*"; }
step() { printf '\033[1m$ mloop %s\033[0m\n' "$*"; "$MLOOP" "$@"; }
client() { printf '\033[1m$ python examples/churn/client.py %s\033[0m\n' "$*"; "$PY" "$HERE/examples/churn/client.py" "$@"; }
# A step that must fail with exit 1 (a check said no): the demo goes on only if it did.
expect_check_failure() {
  printf '\033[1m$ mloop %s\033[0m   (expected to fail)\n' "$*"
  set +e; "$MLOOP" "$@"; code=$?; set -e
  if [ "$code" -ne 1 ]; then echo "expected exit 1, got $code" >&2; exit 1; fi
  echo "→ exit 1, as expected"
}

say "A workspace: mloop.toml + .mloop/ (SQLite store, content-addressed artifacts)"
step init .

say "Two months of customer data (month 2 has drifted: prices up, a new payment method), and new customers to score"
"$PY" "$HERE/examples/churn/generate.py" --rows 5000 --month 1 --out data/churn-2026-01.csv
"$PY" "$HERE/examples/churn/generate.py" --rows 5000 --month 2 --drift --out data/churn-2026-02.csv
"$PY" "$HERE/examples/churn/generate.py" --rows 200 --month 1 --seed 7 --out data/new-customers.csv

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

say "Deploy the champion: endpoint churn, revision 1, following churn@champion as the alias moves"
step deploy churn churn@champion --reason "first endpoint"

# The server runs in the background; whatever happens next, the script stops it on the way out.
SERVER_PID=""
RECEIVER_PID=""
stop_server() {
  if [ -n "$RECEIVER_PID" ]; then kill -TERM "$RECEIVER_PID" 2>/dev/null || true; fi
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "Serve every endpoint on loopback; --port 0 picks a free port, and the first line is the URL"
printf '\033[1m$ mloop serve --port 0 > serve.log 2>&1 &\033[0m\n'
"$MLOOP" serve --port 0 >serve.log 2>&1 &
SERVER_PID=$!
URL=""
for _ in $(seq 600); do  # up to a minute for the first line
  URL="$(sed -n 's/^serving \(http[^ ]*\).*/\1/p' serve.log)"
  [ -n "$URL" ] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat serve.log >&2; echo "mloop serve exited" >&2; exit 1; fi
  sleep 0.1
done
if [ -z "$URL" ]; then cat serve.log >&2; echo "mloop serve printed no URL in 60 s" >&2; exit 1; fi
cat serve.log
client ready "$URL" --revision churn=1

say "Real requests over HTTP: one customer (200, with probabilities and a prediction id), then two broken rows (422, every reason)"
client predict "$URL" churn --data data/new-customers.csv

say "A canary and a shadow: churn@3 answers 20% of requests, churn@2 scores a copy of each (logged, never returned)"
step deploy churn churn@champion --canary churn@3 --weight 20 --shadow churn@2 --reason "try churn@3 on 20% of traffic"
client ready "$URL" --revision churn=2
client traffic "$URL" churn --data data/new-customers.csv --requests 48
sleep 1.5  # the server writes readiness and shadow agreement to its status file every second
step endpoints show churn

say "Roll the endpoint back: revision 1 re-applied as revision 3 (the canary and the shadow are gone)"
step endpoints rollback churn --reason "demo: the canary can wait"
client ready "$URL" --revision churn=3
step endpoints history churn

say "Score month 2 as a batch file: rows with the unseen payment method are rejected, with their reasons"
expect_check_failure predict churn@champion --input data/churn-2026-02.csv --output scored-2026-02.csv
printf '\033[1m$ head -4 scored-2026-02.rejects.csv\033[0m\n'
head -4 scored-2026-02.rejects.csv
step jobs ls

say "The prediction log: every answer (primary, canary, shadow) with its inputs, model, revision and latency"
step logs churn --limit 5

say "Is month 2 like the training data? Each column compared with churn@1's stored profile"
expect_check_failure drift churn@1 data/churn-2026-02.csv

say "A month of production traffic: month 2's customers call the served model (the new payment method is refused, 422)"
client month "$URL" churn --data data/churn-2026-02.csv

say "A monitor for the endpoint, with an on-call webhook receiver on loopback that is down for its first two posts"
"$PY" "$HERE/examples/churn/receiver.py" --port-file receiver.port --fail-first 2 >receiver.log 2>&1 &
RECEIVER_PID=$!
for _ in $(seq 100); do [ -s receiver.port ] && break; sleep 0.1; done
cat >>mloop.toml <<TOML

[monitors.churn]
window = "1h"
thresholds = ["drift_share <= 0.3", "estimated.roc_auc >= 0.75", "realised.roc_auc >= 0.75", "latency_p99_ms <= 250"]
segments = ["contract"]
webhooks = ["http://127.0.0.1:$(cat receiver.port)/alerts"]
webhook_backoff_s = 0.2
TOML
printf '\033[1m$ tail -7 mloop.toml\033[0m\n'
tail -7 mloop.toml

say "Before any label is back, the model's own probabilities estimate its performance (CBPE)"
expect_check_failure monitor churn

say "The labels arrive later, joined to the predictions by customer id (the routing key of each request)"
step feedback churn --input data/churn-2026-02.csv --label-column churned --key-column customer_id

say "The monitor again: drift explained in plain words, estimated and realised AUC side by side, alerts delivered, a report written"
expect_check_failure monitor churn --report monitor-report.html
step alerts ls --endpoint churn
kill -TERM "$RECEIVER_PID" 2>/dev/null || true
printf '\033[1m$ cat receiver.log\033[0m\n'
cat receiver.log
printf '\033[1m$ ls -l monitor-report.html\033[0m   (one self-contained file: open it in a browser, offline)\n'
ls -l monitor-report.html

say "Stop the server: SIGTERM answers what is in flight, flushes the log and exits 0"
printf '\033[1m$ kill -TERM %s\033[0m\n' "$SERVER_PID"
kill -TERM "$SERVER_PID"
set +e; wait "$SERVER_PID"; code=$?; set -e
SERVER_PID=""
if [ "$code" -ne 0 ]; then cat serve.log >&2; echo "mloop serve exited $code after SIGTERM" >&2; exit 1; fi
echo "→ mloop serve exited 0"

say "Every blob re-hashed"
step artifacts verify
printf '\n\033[1;32mdemo finished in %s\033[0m\n' "$DIR"
