#!/usr/bin/env bash
# Step 1: install TensorFlow Serving and prove it answers.
#
# The blog's first step, made repeatable: pull a pinned tensorflow/serving image, serve
# TF Serving's own test model `half_plus_two` (y = 0.5 * x + 2), and send it
#     POST /v1/models/half_plus_two:predict   {"instances": [1.0, 2.0, 5.0]}
# expecting {"predictions": [2.5, 3.0, 4.5]}. If that works, the server side of the
# tutorial works, before any model of our own is involved.
#
# Backend (SERVING_BACKEND in settings.env): `docker` runs the real server in a
# container; `emulator` runs the pure-Python stand-in `python -m tfserving_emulator`
# with the same flags; `auto` picks Docker when `docker info` answers.
#
# The smoke-test server is always stopped when the script ends, however it ends.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"

readonly SMOKE_MODEL_NAME=half_plus_two
readonly SMOKE_CONTAINER=tfserving_half_plus_two
readonly SERVING_REPO_URL=https://github.com/tensorflow/serving
# The folder of the official test model inside the tensorflow/serving repository.
readonly SMOKE_MODEL_REPO_PATH=tensorflow_serving/servables/tensorflow/testdata/saved_model_half_plus_two_cpu
readonly SMOKE_REQUEST='{"instances": [1.0, 2.0, 5.0]}'
readonly SMOKE_EXPECTED='[2.5, 3.0, 4.5]'

# What the EXIT trap must clean up; set once something is started.
STARTED_CONTAINER=""
STARTED_PID=""

usage() {
  cat <<EOF
usage: ./01_install_serving.sh [-h|--help]

Install TensorFlow Serving (docker pull $TF_SERVING_IMAGE, or use the emulator) and
run its half_plus_two smoke test on http://localhost:\$REST_PORT.

Environment (defaults in settings.env): SERVING_BACKEND=auto|docker|emulator,
TF_SERVING_IMAGE, REST_PORT, GRPC_PORT (emulator), SMOKE_TEST_DIR, RUN_DIR,
DOCKER_PLATFORM (e.g. linux/amd64 on arm64 machines), DOCKER_GPUS (e.g. all, with a -gpu image),
STARTUP_TIMEOUT (seconds, default 120). Platforms: docs/platforms.md.
EOF
}

# ---- 1. Install: pull the pinned image (Docker) or check the emulator can be imported ----

pull_image() {
  local -a cmd=(docker pull)
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_platform_args)
  cmd+=("$TF_SERVING_IMAGE")
  show_command "${cmd[@]}"
  "${cmd[@]}" && return 0
  # Offline with the image already present is fine: say so and carry on.
  docker image inspect "$TF_SERVING_IMAGE" >/dev/null 2>&1 &&
    { warn "could not pull $TF_SERVING_IMAGE; using the copy already on this machine" && return 0; }
  die "docker pull $TF_SERVING_IMAGE failed (output above); check your network, or that the tag exists on https://hub.docker.com/r/tensorflow/serving/tags, or run with SERVING_BACKEND=emulator"
}

# `--version`, as with the real binary: it also proves TensorFlow imports.
check_emulator_installed() {
  local output
  show_command python -m tfserving_emulator --version
  if ! output=$(run_python_module tfserving_emulator --version 2>&1); then
    die "the emulator cannot start with $(python_bin) ($(printf '%s\n' "$output" | tail -n 1)); install the requirements first: ./run_walkthrough.sh (or: python3 -m pip install -r requirements.txt)"
  fi
  # Only its own lines: TensorFlow may add start-up chatter on stderr.
  printf '%s\n' "$output" | grep -E '^(TensorFlow ModelServer|TensorFlow Library):' || true
}

# ---- 2. The half_plus_two test model: download it, or build an equivalent offline ----

# Sparse, blob-less, shallow clone: only that one folder's files are downloaded, not the
# whole tensorflow/serving history the blog cloned. Returns non-zero on any failure,
# leaving the reason in $1.
download_smoke_model() {
  local error_log=$1 staging
  command -v git >/dev/null 2>&1 || { echo "git is not installed" >"$error_log" && return 1; }
  mkdir -p "$(dirname "$SMOKE_TEST_DIR")"
  staging=$(mktemp -d "$(dirname "$SMOKE_TEST_DIR")/.half_plus_two.download.XXXXXX")
  show_command git clone --depth 1 --filter=blob:none --sparse "$SERVING_REPO_URL" "$(display_path "$staging/serving")"
  show_command git -C "$(display_path "$staging/serving")" sparse-checkout set "$SMOKE_MODEL_REPO_PATH"
  # GIT_TERMINAL_PROMPT=0: fail instead of asking for credentials when the network is odd.
  if GIT_TERMINAL_PROMPT=0 run_with_timeout 300 git clone --quiet --depth 1 --filter=blob:none --sparse \
    "$SERVING_REPO_URL" "$staging/serving" 2>"$error_log" &&
    GIT_TERMINAL_PROMPT=0 run_with_timeout 300 git -C "$staging/serving" sparse-checkout set \
      "$SMOKE_MODEL_REPO_PATH" 2>>"$error_log" &&
    run_python_module tutorial.model_layout first-version "$staging/serving/$SMOKE_MODEL_REPO_PATH" >/dev/null; then
    mv "$staging/serving/$SMOKE_MODEL_REPO_PATH" "$SMOKE_TEST_DIR"
    rm -rf "$staging"
    return 0
  fi
  [[ -s $error_log ]] || echo "the folder $SMOKE_MODEL_REPO_PATH was not in the checkout" >"$error_log"
  rm -rf "$staging"
  return 1
}

prepare_smoke_model() {
  local shown error_log reason version
  shown=$(display_path "$SMOKE_TEST_DIR")
  # The first version folder with a SavedModel in it (exit 1 when there is none).
  if version=$(run_python_module tutorial.model_layout first-version "$SMOKE_TEST_DIR"); then
    info "smoke-test model: already in $shown (version $version)"
    return 0
  fi
  [[ ! -e $SMOKE_TEST_DIR || -d $SMOKE_TEST_DIR ]] ||
    die "SMOKE_TEST_DIR $shown is a file, not a directory; remove it (rm $shown) or set SMOKE_TEST_DIR to a folder"
  if [[ -d $SMOKE_TEST_DIR ]]; then
    rmdir "$SMOKE_TEST_DIR" 2>/dev/null ||
      die "$shown exists but holds no version folder with a saved_model.pb; remove it (rm -rf $shown) and run this script again"
  fi
  error_log=$(mktemp)
  if download_smoke_model "$error_log"; then
    info "smoke-test model: downloaded saved_model_half_plus_two_cpu from $SERVING_REPO_URL into $shown"
  else
    # The last non-empty line: git's actual complaint, without the noise before it.
    reason=$(grep -v '^[[:space:]]*$' "$error_log" | tail -n 1 || true)
    info "smoke-test model: download failed (${reason}); building an equivalent locally instead:"
    show_command python -m tutorial.make_half_plus_two "$shown"
    run_python_module tutorial.make_half_plus_two "$SMOKE_TEST_DIR" ||
      die "could not build half_plus_two locally (output above); it needs TensorFlow: run ./run_walkthrough.sh, which installs requirements.txt"
    info "smoke-test model: generated locally with python -m tutorial.make_half_plus_two into $shown"
  fi
  rm -f "$error_log"
}

# ---- 3. Serve it ----

start_docker_server() {
  local source
  # A container left over from an interrupted run would block the name; it is ours.
  if [[ $(container_state "$SMOKE_CONTAINER") != absent ]]; then
    info "removing the leftover container $SMOKE_CONTAINER"
    docker rm -f "$SMOKE_CONTAINER" >/dev/null
  fi
  require_free_port "$REST_PORT" REST_PORT "$(script_invocation "$0")"
  # Docker needs an absolute host path for a bind mount (a relative one is an error).
  source=$(docker_host_path "$SMOKE_TEST_DIR")
  local -a cmd=(docker run -d --rm --name "$SMOKE_CONTAINER"
    -p "127.0.0.1:${REST_PORT}:8501"
    --mount "type=bind,source=$source,target=/models/$SMOKE_MODEL_NAME"
    -e "MODEL_NAME=$SMOKE_MODEL_NAME")
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_platform_args)
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_gpu_args)
  cmd+=("$TF_SERVING_IMAGE")
  show_command "${cmd[@]}"
  STARTED_CONTAINER=$SMOKE_CONTAINER
  # MSYS_NO_PATHCONV=1: keep Git Bash on Windows from rewriting the container paths.
  MSYS_NO_PATHCONV=1 "${cmd[@]}" >/dev/null || die "docker run failed (output above); see docs/troubleshooting.md"
}

start_emulator_server() {
  local python log
  require_free_port "$GRPC_PORT" GRPC_PORT "$(script_invocation "$0")"
  require_free_port "$REST_PORT" REST_PORT "$(script_invocation "$0")"
  mkdir -p "$RUN_DIR"
  log="$RUN_DIR/half_plus_two_smoke.log"
  python=$(python_bin)
  local -a flags=(--port="$GRPC_PORT" --rest_api_port="$REST_PORT"
    --model_name="$SMOKE_MODEL_NAME" --model_base_path="$SMOKE_TEST_DIR")
  show_command python -m tfserving_emulator "${flags[@]}"
  # From the repository root, so `-m` finds this checkout's emulator (see run_python_module).
  (cd "$REPO_ROOT" && PYTHONPATH="$REPO_ROOT" exec "$python" -m tfserving_emulator "${flags[@]}") >"$log" 2>&1 &
  STARTED_PID=$!
}

# The EXIT trap: stop whatever this script started, whichever way it exits.
stop_smoke_server() {
  if [[ -n $STARTED_CONTAINER ]]; then
    info "stopping the smoke-test container: docker stop $STARTED_CONTAINER"
    docker stop "$STARTED_CONTAINER" >/dev/null 2>&1 || true
  fi
  if [[ -n $STARTED_PID ]] && kill -0 "$STARTED_PID" 2>/dev/null; then
    info "stopping the smoke-test emulator (pid $STARTED_PID)"
    kill "$STARTED_PID" 2>/dev/null || true
    wait "$STARTED_PID" 2>/dev/null || true
  fi
}

wait_for_smoke_model() {
  local url="http://127.0.0.1:$REST_PORT/v1/models/$SMOKE_MODEL_NAME" status error_file
  local -a alive=(--pid "$STARTED_PID")
  [[ -n $STARTED_CONTAINER ]] && alive=(--container "$STARTED_CONTAINER")
  info "waiting for half_plus_two to become AVAILABLE (up to ${STARTUP_TIMEOUT} s): GET $url"
  error_file=$(mktemp)
  if ! status=$(wait_until_available "$url" "$STARTUP_TIMEOUT" "${alive[@]}" 2>"$error_file"); then
    info "last 20 lines of the server log:"
    if [[ -n $STARTED_CONTAINER ]]; then
      docker logs --tail 20 "$STARTED_CONTAINER" 2>&1 || info "(no log: the container is gone; --rm removed it)"
    else
      tail -n 20 "$RUN_DIR/half_plus_two_smoke.log" || true
    fi
    die "$(sed 's/^error: //' "$error_file"); the server log is above"
  fi
  rm -f "$error_file"
  info "model status:"
  info "$status"
}

# ---- 4. The smoke test itself: one REST predict request, checked exactly ----

run_smoke_test() {
  info "request:  POST http://localhost:$REST_PORT/v1/models/$SMOKE_MODEL_NAME:predict"
  info "          $SMOKE_REQUEST"
  run_python_module tutorial.smoke_request "http://127.0.0.1:$REST_PORT/v1/models/$SMOKE_MODEL_NAME:predict" \
    "$SMOKE_REQUEST" "$SMOKE_EXPECTED" || exit 1
  info "smoke test passed: half_plus_two answered $SMOKE_EXPECTED ($BACKEND backend)"
}

main() {
  load_settings
  case ${1:-} in
    -h | --help)
      usage
      return 0
      ;;
    "") ;;
    *)
      usage >&2
      die "unknown argument '$1'; this script takes no arguments (settings come from settings.env and the environment)"
      ;;
  esac
  print_settings
  select_backend
  trap stop_smoke_server EXIT
  # Turn Ctrl-C / kill into a normal exit so the EXIT trap stops the server.
  trap 'exit 130' INT
  trap 'exit 143' TERM

  check_platform "$BACKEND" "$SMOKE_TEST_DIR"

  section "1. Install"
  if [[ $BACKEND == docker ]]; then
    pull_image
  else
    check_emulator_installed
  fi

  section "2. The half_plus_two test model"
  prepare_smoke_model

  section "3. Serve it"
  if [[ $BACKEND == docker ]]; then
    start_docker_server
  else
    start_emulator_server
  fi
  wait_for_smoke_model

  section "4. Smoke test"
  run_smoke_test
}

# Sourcing the file (tests do) defines the functions without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
