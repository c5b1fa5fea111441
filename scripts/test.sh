#!/bin/sh
# Set up (as root, on Debian 12) and run every check: ruff, mypy --strict, pytest.
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
.venv/bin/ruff check daemon client tests
.venv/bin/mypy --strict daemon/vnetd client/vnetctl
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
