#!/usr/bin/env bash
# The whole tutorial in one command: install, train, serve, call over gRPC and REST.
#
#   ./run_walkthrough.sh
#
# 1. makes a virtualenv in .venv (once) and installs requirements.txt into it (again
#    only when requirements.txt changed: a hash of it is kept in .venv);
# 2. runs the numbered steps in order:
#      01_install_serving.sh       TF Serving (Docker or the emulator) + half_plus_two smoke test
#      02_train_and_export.py      train the blog's model, export trained_models/MMModel/<version>
#      03_start_server.sh start    serve it, wait until AVAILABLE
#      04_grpc_client.py           call it over gRPC
#      05_rest_client.py           call it over REST
#    and with --all the lessons after them, on the same server:
#      06_hot_swap.py              a new version while requests keep coming
#      07_labels.py                version labels: canary, promote, rollback
#      08_several_models.py        three models on one server
#      09_benchmark.py             gRPC against REST, 1 to 100,000 rows per request
#    and the production chapters, each on a throw-away server of its own:
#      10_tls.py                   TLS and mutual TLS on the gRPC port
#      11_health_checks.py         the gRPC health service, and SIGTERM under load
#      12_batching.py              request batching, measured on two models
#      13_warm_up.py               the first request after a swap, with and without warm-up
# 3. stops the server at the end, also when a step fails or you press Ctrl-C.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"

VENV_DIR="$REPO_ROOT/.venv"
REQUIREMENTS="$REPO_ROOT/requirements.txt"
REQUIREMENTS_STAMP="$VENV_DIR/.requirements.sha256"

SERVER_STARTED=""

usage() {
  cat <<'EOF'
usage: ./run_walkthrough.sh [--no-install] [--all] [-h|--help]

Runs steps 01 to 05 of the tutorial and stops the server at the end.

  --no-install   use the Python environment as it is (no .venv creation, no pip install),
                 e.g. when you manage TensorFlow yourself (conda, a GPU build)
  --all          then chapters 06 to 13 too (hot swap, labels, several models, benchmark,
                 TLS, health checks, batching, warm-up; about ten more minutes)

Settings come from settings.env and can be overridden per run, e.g.
  SERVING_BACKEND=emulator GRPC_PORT=9000 ./run_walkthrough.sh
EOF
}

# ---------------------------------------------------------------------------
# 1. Python environment
# ---------------------------------------------------------------------------

# A python3 for creating the virtualenv: TensorFlow 2.21 needs 3.10 to 3.13.
system_python() {
  local candidate
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  die "no Python 3.10-3.13 found (TensorFlow needs one); install it from https://www.python.org/downloads/ and run ./run_walkthrough.sh again"
}

ensure_venv() {
  if [[ -x $VENV_DIR/bin/python || -x $VENV_DIR/Scripts/python.exe ]]; then
    info "virtualenv: $(display_path "$VENV_DIR") (exists)"
    return 0
  fi
  local python
  python=$(system_python)
  show_command "$python" -m venv "$(display_path "$VENV_DIR")"
  "$python" -m venv "$VENV_DIR" ||
    die "could not create $(display_path "$VENV_DIR") (output above); on Debian/Ubuntu install the venv module: sudo apt-get install python3-venv"
}

requirements_hash() {
  "$(python_bin)" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
    "$REQUIREMENTS"
}

# pip is slow even when there is nothing to do, so only run it when requirements.txt
# differs from the last successful install.
install_requirements() {
  local wanted
  [[ -f $REQUIREMENTS ]] || die "requirements.txt is missing; restore it from the repository (git checkout requirements.txt)"
  wanted=$(requirements_hash)
  if [[ -f $REQUIREMENTS_STAMP && $(cat "$REQUIREMENTS_STAMP") == "$wanted" ]]; then
    info "requirements: unchanged since the last install (stamp $(display_path "$REQUIREMENTS_STAMP"))"
    return 0
  fi
  show_command python -m pip install -r requirements.txt
  "$(python_bin)" -m pip install -r "$REQUIREMENTS" ||
    die "pip install -r requirements.txt failed (output above); check your network or proxy (pip --proxy) and run ./run_walkthrough.sh again"
  printf '%s\n' "$wanted" >"$REQUIREMENTS_STAMP"
}

# ---------------------------------------------------------------------------
# 2. The steps
# ---------------------------------------------------------------------------

# The failing step has already printed its one-line error naming the fix; add only
# where the walkthrough stopped, and pass its exit code on.
step_failed() {
  local status=$1 title=$2
  printf '\n==== Stopped at step "%s" (exit code %s); the error above says what to fix ====\n' \
    "$title" "$status" >&2
  exit "$status"
}

run_step() {
  local title=$1 status=0
  shift
  banner "$title"
  show_command "$@"
  "$@" || status=$?
  ((status == 0)) || step_failed "$status" "$title"
}

run_python_step() {
  local title=$1 script=$2 status=0
  banner "$title"
  show_command python "$script"
  "$(python_bin)" "$script" || status=$?
  ((status == 0)) || step_failed "$status" "$title"
}

stop_server_at_exit() {
  if [[ -n $SERVER_STARTED ]]; then
    banner "Stopping the server"
    "$REPO_ROOT/03_start_server.sh" stop || true
  fi
}

# Chapters 6 to 9 build on the server of steps 2 and 3; each leaves it as the next expects.
# Chapters 10 to 13 start (and stop) servers of their own on free ports beside it.
run_later_chapters() {
  run_python_step "6. A new version while requests keep coming" 06_hot_swap.py
  run_python_step "7. Version labels: canary, promote, rollback" 07_labels.py
  run_python_step "8. Several models on one server" 08_several_models.py
  run_python_step "9. gRPC or REST? The benchmark" 09_benchmark.py
  run_python_step "10. TLS on the gRPC port" 10_tls.py
  run_python_step "11. Health checks and SIGTERM" 11_health_checks.py
  run_python_step "12. Request batching" 12_batching.py
  run_python_step "13. Model warm-up" 13_warm_up.py
}

main() {
  local install=yes all=""
  while (($# > 0)); do
    case $1 in
      -h | --help)
        usage
        return 0
        ;;
      --no-install) install="" ;;
      --all) all=yes ;;
      *)
        usage >&2
        die "unknown argument '$1'; use --no-install, --all or no argument"
        ;;
    esac
    shift
  done
  # Resolve and export the settings once: the steps run from the repository root, and a
  # relative path given in the environment must keep meaning "relative to where you ran
  # this". Each step prints them (and its backend choice) itself.
  load_settings
  cd "$REPO_ROOT"

  banner "0. Python environment"
  if [[ -n $install ]]; then
    ensure_venv
    install_requirements
  else
    info "--no-install: using $(python_bin) as it is"
  fi

  trap stop_server_at_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  run_step "1. Install TensorFlow Serving and smoke-test it" ./01_install_serving.sh
  run_python_step "2. Train the model and export a SavedModel" 02_train_and_export.py
  SERVER_STARTED=yes
  run_step "3. Serve the model" ./03_start_server.sh start
  run_python_step "4. Call it over gRPC" 04_grpc_client.py
  run_python_step "5. Call it over REST" 05_rest_client.py
  if [[ -n $all ]]; then
    run_later_chapters
  fi

  banner "Done"
  info "Every step worked. To keep a server running afterwards: ./03_start_server.sh start"
  if [[ -z $all ]]; then
    info "Next, with a server running: python 06_hot_swap.py (chapters 6 to 13; or ./run_walkthrough.sh --all)"
  fi
}

# Sourcing the file (tests do) defines the functions without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
