#!/usr/bin/env bash
# Step 3: serve our own model (exported by 02_train_and_export.py) with TensorFlow Serving.
#
# The blog's step 3, made safe to repeat. The Docker command is the lesson, so it is built
# and shown here (docker_run_command): a named container (so `stop` is one command), --rm
# (nothing piles up), an absolute mount source (Docker refuses relative ones), ports on
# 127.0.0.1 only, a pinned image. Inside the container TF Serving always uses 8500 (gRPC)
# and 8501 (REST); GRPC_PORT and REST_PORT choose the host side (the blog's 8700 -> 8500).
# The bookkeeping around it (the model layout checked first, the record of what runs on
# which ports, waiting until the model is AVAILABLE instead of sleeping) is
# tutorial/server_state.py.
#
# With --config FILE it serves every model listed in a ModelServerConfig file (see
# docs/several_models.md). Its base paths are CONTAINER paths, /models/<folder>, because
# the whole MODEL_BASE_DIR is mounted at /models.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"

# What `start` serves, filled in by `server_state plan` (checked before anything starts).
SERVED_MODELS=""         # the models to wait for, space separated
SERVER_MODE=""           # "model NAME" or "config /abs/path/models.config"
CONFIG_FILE=""           # the host path of --config FILE, empty without --config
CONFIG_CONTAINER_PATH="" # the same file as the container sees it
MOUNT_SOURCE=""          # the host folder mounted into the container ...
MOUNT_TARGET=""          # ... and where the container sees it

# TF Serving assigns version labels *before* it loads a config's models, so a
# models.config with version_labels (chapter 7 leaves one) only starts with this flag.
CONFIG_MODE_FLAGS=(--allow_version_labels_for_unavailable_models=true)

usage() {
  cat <<'EOF'
usage: ./03_start_server.sh start [--config FILE] | stop | status | logs [-f] | -h|--help

  start            serve $MODEL_BASE_DIR/$MODEL_NAME; wait until it is AVAILABLE
  start --config FILE
                   serve every model in FILE, a ModelServerConfig text file inside
                   MODEL_BASE_DIR whose base_path values are container paths /models/<folder>
                   (re-read every MODEL_CONFIG_POLL_SECONDS, default 60)
  stop             stop the server (container or emulator process)
  status           ask the server for the model status (exit 0 AVAILABLE, 1 not, 3 not running)
  logs [-f]        show (or follow) the server log

Environment (defaults in settings.env): MODEL_NAME, MODEL_BASE_DIR, GRPC_PORT, REST_PORT,
SERVING_BACKEND=auto|docker|emulator, TF_SERVING_IMAGE, TF_SERVING_CONTAINER, RUN_DIR,
DOCKER_PLATFORM (e.g. linux/amd64), DOCKER_GPUS (e.g. all, with a -gpu image),
STARTUP_TIMEOUT (seconds, default 120). Platforms: docs/platforms.md.
EOF
}

# What runs on which ports, serving what: tutorial/server_state.py keeps the record.
server_state() {
  run_python_module tutorial.server_state "$@"
}

# ---- Start: the docker run command, or the emulator with the same flags ----

docker_run_command() {
  local arg
  local -a cmd=(docker run -d --rm --name "$TF_SERVING_CONTAINER"
    -p "127.0.0.1:$GRPC_PORT:8500" -p "127.0.0.1:$REST_PORT:8501")
  cmd+=(--mount "type=bind,source=$(docker_host_path "$MOUNT_SOURCE"),target=$MOUNT_TARGET")
  # Without a config file, the image's entrypoint serves /models/$MODEL_NAME.
  [[ -n $CONFIG_FILE ]] || cmd+=(-e "MODEL_NAME=$MODEL_NAME")
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_platform_args)
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_gpu_args)
  cmd+=("$TF_SERVING_IMAGE")
  # Arguments after the image go to tensorflow_model_server; the paths are the container's.
  if [[ -n $CONFIG_FILE ]]; then
    cmd+=("${CONFIG_MODE_FLAGS[@]}" "--model_config_file=$CONFIG_CONTAINER_PATH"
      "--model_config_file_poll_wait_seconds=$MODEL_CONFIG_POLL_SECONDS")
  fi
  printf '%s\n' "${cmd[@]}"
}

start_docker() {
  local arg
  local -a cmd=()
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_run_command)
  show_command "${cmd[@]}"
  # MSYS_NO_PATHCONV=1: keep Git Bash on Windows from rewriting the container paths.
  MSYS_NO_PATHCONV=1 "${cmd[@]}" >/dev/null ||
    die "docker run failed (output above); see docs/troubleshooting.md"
  server_state record --backend docker --mode "$SERVER_MODE" --models "$SERVED_MODELS"
}

# The emulator runs on the host, so in config mode it reads a copy of the file with
# /models/ replaced by the host MODEL_BASE_DIR (RUN_DIR/<file name>).
start_emulator() {
  local copy
  local -a flags=(--port="$GRPC_PORT" --rest_api_port="$REST_PORT")
  if [[ -n $CONFIG_FILE ]]; then
    copy=$(server_state emulator-config "$CONFIG_FILE") || exit 1
    flags+=("${CONFIG_MODE_FLAGS[@]}" --model_config_file="$copy"
      --model_config_file_poll_wait_seconds="$MODEL_CONFIG_POLL_SECONDS")
  else
    flags+=(--model_name="$MODEL_NAME" --model_base_path="$MODEL_BASE_DIR/$MODEL_NAME")
  fi
  show_command python -m tfserving_emulator "${flags[@]}"
  # In the background, detached from this terminal; its pid and log go to RUN_DIR.
  server_state launch-emulator --mode "$SERVER_MODE" --models "$SERVED_MODELS" -- "${flags[@]}"
}

server_log_tail() {
  if [[ $BACKEND == docker ]]; then
    docker logs --tail 20 "$TF_SERVING_CONTAINER" 2>&1 || true
  else
    tail -n 20 "$RUN_DIR/server.log" 2>/dev/null || true
  fi
}

# Wait for every model; on failure show the log, stop the server, and say why.
wait_for_models() {
  local error_file reason status=0
  error_file=$(mktemp)
  server_state wait 2>"$error_file" || status=$?
  reason=$(sed 's/^error: //' "$error_file")
  rm -f "$error_file"
  ((status != 0)) || return 0
  # Ctrl-C: its one line, and 130 as every script here exits on an interrupt.
  ((status != 130)) || { printf 'error: %s\n' "$reason" >&2 && exit 130; }
  info "last 20 lines of the server log:"
  server_log_tail
  if ((status == 2)); then # the server exited by itself
    server_state clear
    [[ $BACKEND == docker ]] &&
      die "$reason; --rm removed the container with its log, so run the same docker run without -d to watch it fail"
    die "$reason; the server log is above (all of it: ./03_start_server.sh logs)"
  fi
  cmd_stop >/dev/null
  die "$reason; the server log is above (stopped the server; docs/troubleshooting.md lists the common causes)"
}

print_addresses() {
  local model
  info "gRPC: localhost:$GRPC_PORT"
  for model in $SERVED_MODELS; do
    info "REST: http://localhost:$REST_PORT/v1/models/$model"
  done
}

# start while a server is up: fine (exit 0) when it is the same server, on the same
# ports; otherwise `server_state check-start` has said how to switch.
say_already_running() {
  local running=$1
  info "the $running server is already running"
  if [[ -n $CONFIG_FILE && $running == emulator ]]; then
    # Docker reads the mounted file itself; the emulator's copy may be older than the file.
    server_state emulator-config "$CONFIG_FILE" >/dev/null
    info "refreshed the emulator's copy of $(display_path "$CONFIG_FILE"); it is re-read within $MODEL_CONFIG_POLL_SECONDS s"
  fi
  print_addresses
}

cmd_start() {
  local running retry plan
  retry=$(script_invocation "$0" start "$@")
  case ${1:-} in
    --config) [[ -n ${2:-} ]] || die "--config needs a file: ./03_start_server.sh start --config $(display_path "$MODEL_BASE_DIR")/models.config" ;;
    "") ;;
    *) die "unknown option '$1' for start; use: ./03_start_server.sh start [--config FILE]" ;;
  esac
  (($# <= 2)) || die "unexpected argument '$3' for start; use: ./03_start_server.sh start [--config FILE]"
  plan=$(server_state plan ${2:+--config "$2"}) || exit 1
  eval "$plan"
  select_backend
  check_platform "$BACKEND" "$MOUNT_SOURCE"

  # Is a server up already (which, on which ports)? Else: are both ports free?
  running=$(server_state check-start --backend "$BACKEND" --mode "$SERVER_MODE" \
    --models "$SERVED_MODELS" --retry "$retry") || exit 1
  if [[ -n $running ]]; then
    say_already_running "$running"
    return 0
  fi
  if [[ $BACKEND == docker ]]; then
    start_docker
  else
    start_emulator
  fi
  wait_for_models
  info "TF Serving is up ($BACKEND backend):"
  print_addresses
  info "stop it with: ./03_start_server.sh stop"
}

# ---- Stop, status, logs ----

cmd_stop() {
  local running
  running=$(server_state running) || exit 1
  # The emulator, if it runs, is stopped by Python, which also forgets the record.
  server_state stop-emulator
  if [[ $running == *docker* ]]; then
    show_command docker stop "$TF_SERVING_CONTAINER"
    docker stop "$TF_SERVING_CONTAINER" >/dev/null
  fi
  if [[ -n $running ]]; then
    info "server stopped"
  else
    info "no server is running"
  fi
}

cmd_logs() {
  local follow="" source
  case ${1:-} in
    -f | --follow) follow=yes ;;
    "") ;;
    *) die "unknown option '$1' for logs; use: ./03_start_server.sh logs [-f]" ;;
  esac
  source=$(server_state log-source) || exit 1
  if [[ $source == docker ]]; then
    docker logs ${follow:+--follow} "$TF_SERVING_CONTAINER"
  elif [[ -n $follow ]]; then
    tail -n +1 -f "$source"
  else
    cat "$source"
  fi
}

main() {
  local command=${1:-}
  case $command in
    -h | --help | help)
      usage
      return 0
      ;;
    start | logs) shift ;;
    stop | status)
      (($# == 1)) || die "$command takes no arguments; use: ./03_start_server.sh $command"
      shift
      ;;
    "")
      usage >&2
      die "no command given; use: ./03_start_server.sh start (or stop, status, logs)"
      ;;
    *)
      usage >&2
      die "unknown command '$command'; use one of: start, stop, status, logs"
      ;;
  esac
  load_settings
  # Settings matter when starting or asking; stop and logs stay short.
  case $command in start | status) print_settings ;; esac
  case $command in
    start) cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) server_state status ;;
    logs) cmd_logs "$@" ;;
  esac
}

# Sourcing the file (tests do) defines the functions without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
