#!/usr/bin/env bash
# Run the whole test suite: lint (ruff, shellcheck) and pytest.
#
# Usage: ./run_tests.sh [pytest arguments...]
#
# Creates .venv and installs requirements-dev.txt the first time (and again when the
# requirement files change), so a fresh clone needs nothing but Python 3.11.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${REPO_ROOT}/.venv"

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
}

ensure_venv() {
  if [[ ! -x "${VENV}/bin/python" ]]; then
    echo "== creating ${VENV}"
    python3 -m venv "${VENV}"
  fi
  local stamp="${VENV}/.requirements-dev.sha256"
  local wanted
  # Hash with Python, not sha256sum: macOS has no sha256sum.
  wanted="$(cat "${REPO_ROOT}/requirements.txt" "${REPO_ROOT}/requirements-dev.txt" |
    "${VENV}/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
  if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${wanted}" ]]; then
    echo "== installing requirements-dev.txt into ${VENV}"
    "${VENV}/bin/python" -m pip install --quiet --upgrade pip
    "${VENV}/bin/python" -m pip install --quiet -r "${REPO_ROOT}/requirements-dev.txt"
    echo "${wanted}" >"${stamp}"
  fi
}

lint() {
  echo "== ruff"
  "${VENV}/bin/ruff" check "${REPO_ROOT}"
  "${VENV}/bin/ruff" format --check "${REPO_ROOT}"
}

main() {
  if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    usage
    exit 0
  fi
  cd "${REPO_ROOT}"
  ensure_venv
  lint
  echo "== pytest"
  exec "${VENV}/bin/python" -m pytest "$@"
}

main "$@"
