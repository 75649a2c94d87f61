#!/usr/bin/env bash
# The whole test suite: lint, types, layer contract, then pytest on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff";          ruff check mailgate tests scripts
echo "== mypy --strict"; mypy
echo "== import layers"; lint-imports
echo "== pytest (SQLite)"
pytest "$@"

pg=${MAILGATE_TEST_PG:-postgresql://root@127.0.0.1:5432/test}
if python -c "import psycopg,sys; psycopg.connect(sys.argv[1], connect_timeout=3).close()" "$pg" 2>/dev/null; then
  echo "== pytest (PostgreSQL at ${pg%%/test})"
  MAILGATE_TEST_DB=postgresql MAILGATE_TEST_PG="$pg" pytest -m "not slow" "$@"
else
  echo "== SKIPPED pytest (PostgreSQL): no server reachable at $pg"
  if [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is required in CI" >&2
    exit 1
  fi
fi

# The benchmark in its short mode, so that it cannot rot: small sizes, figures that mean little;
# it fails only when a row breaks (scripts/bench.py --short).
echo "== benchmark (short)"
python scripts/bench.py --short
