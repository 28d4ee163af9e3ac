#!/usr/bin/env bash
# The main job, end to end, on the embedded default (SQLite + a local folder): `make demo`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
MLOOP="$HERE/.venv/bin/mloop"
DIR="${1:-$HERE/.demo}"
rm -rf "$DIR"
mkdir -p "$DIR"
cd "$DIR"
step() { printf '\n\033[1m$ mloop %s\033[0m\n' "$*"; "$MLOOP" "$@"; }
step init .
step artifacts verify
