#!/usr/bin/env bash
# Run mailgate on the embedded defaults: SQLite under ./var, SMTP on 127.0.0.1:2525,
# outbound mail to ./var/outbox-maildir/. Writes a .env with a fresh secret on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/mailgate init >/dev/null
exec .venv/bin/mailgate run "$@"
