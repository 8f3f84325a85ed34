#!/usr/bin/env bash
# Step 3: serve our own model (exported by 02_train_and_export.py) with TensorFlow Serving.
#
# The blog's step 3, made safe to repeat: the model layout is checked before the server
# starts (TF Serving only loads integer-named version folders, and otherwise waits
# forever in silence); the container gets a name, `--rm`, an absolute mount path and
# localhost-only ports; and the script waits until the model is AVAILABLE through the
# status API instead of sleeping and hoping.
#
#   gRPC  localhost:$GRPC_PORT   -> container port 8500 (the blog's 8700 -> 8500)
#   REST  localhost:$REST_PORT   -> container port 8501
#
# With --config FILE it serves every model listed in a ModelServerConfig file (see
# 07_labels.py and 08_several_models.py). Base paths in that file are CONTAINER paths, /models/<folder>,
# because the whole MODEL_BASE_DIR is mounted at /models.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"

# Filled in by load_state_paths / parse_config.
PID_FILE=""
LOG_FILE=""
BACKEND_FILE=""
MODE_FILE=""
MODELS_FILE=""
CONFIG_FILE=""           # the host path of --config FILE, empty without --config
CONFIG_CONTAINER_PATH="" # the same file as the container sees it
SERVED_MODELS=""           # the models to wait for, space separated

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
DOCKER_PLATFORM (e.g. linux/amd64), STARTUP_TIMEOUT (seconds, default 120).
EOF
}

load_state_paths() {
  PID_FILE="$RUN_DIR/server.pid"
  LOG_FILE="$RUN_DIR/server.log"
  BACKEND_FILE="$RUN_DIR/server.backend"
  MODE_FILE="$RUN_DIR/server.mode"
  MODELS_FILE="$RUN_DIR/server.models"
}

# ---------------------------------------------------------------------------
# 1. Check the model layout before starting anything
# ---------------------------------------------------------------------------

# Subfolders that are not integers, e.g. "v1, 0.1": TF Serving skips them without a word.
non_version_dirs() {
  local dir=$1 entry name found=""
  for entry in "$dir"/*; do
    name=${entry##*/}
    if [[ -d $entry && ! $name =~ ^[0-9]+$ ]]; then
      found="${found:+$found, }$name"
    fi
  done
  printf '%s\n' "$found"
}

# $dir must hold <integer>/saved_model.pb; otherwise say exactly what is wrong and the fix.
check_model_layout() {
  local dir=$1 shown others first_version
  shown=$(display_path "$dir")
  [[ -d $MODEL_BASE_DIR ]] ||
    die "the model folder $(display_path "$MODEL_BASE_DIR") does not exist; train and export the model first: python 02_train_and_export.py"
  [[ -d $dir ]] ||
    die "no model folder $shown; export the model first (python 02_train_and_export.py) or set MODEL_NAME to a folder of $(display_path "$MODEL_BASE_DIR")"
  has_servable_version "$dir" && return 0

  if [[ -f $dir/saved_model.pb || -f $dir/saved_model.pbtxt ]]; then
    die "saved_model.pb is directly in $shown; TF Serving only loads integer-named version folders: move saved_model.pb and variables/ into $shown/1/"
  fi
  first_version=$(version_dirs "$dir" | head -n 1)
  if [[ -n $first_version ]]; then
    die "$shown/$first_version has no saved_model.pb; export the SavedModel into it: python 02_train_and_export.py"
  fi
  others=$(non_version_dirs "$dir")
  if [[ -n $others ]]; then
    die "no integer-named version folder in $shown (found: $others); TF Serving silently skips other names: rename it, e.g. mv $shown/${others%%, *} $shown/1"
  fi
  die "no version directory: put the SavedModel in $shown/1/ (TF Serving only loads integer-named subfolders); run python 02_train_and_export.py"
}

# ---------------------------------------------------------------------------
# 2. models.config mode: one file, seen from the host and from the container
# ---------------------------------------------------------------------------

# FIELD values ('...' or "...") of a text-format ModelServerConfig, comments removed.
config_values() {
  local file=$1 field=$2
  sed -e 's/#.*//' "$file" |
    grep -oE "(^|[^A-Za-z0-9_])${field}[[:space:]]*:[[:space:]]*(\"[^\"]*\"|'[^']*')" |
    sed -E "s/^.*${field}[[:space:]]*:[[:space:]]*[\"']//; s/[\"']\$//" || true
}

# Relative to the caller's directory, or else to MODEL_BASE_DIR; it must lie inside
# MODEL_BASE_DIR, the one folder the container sees (as /models).
resolve_config_file() {
  local given=$1 path base
  path=$(resolve_path "$CALLER_CWD" "$given")
  if [[ ! -f $path && $given != /* && -f $MODEL_BASE_DIR/$given ]]; then
    path=$(resolve_path "$MODEL_BASE_DIR" "$given")
  fi
  [[ -f $path ]] ||
    die "config file $given not found; write a ModelServerConfig file inside $(display_path "$MODEL_BASE_DIR") (see 07_labels.py) and pass its path"
  [[ -d $MODEL_BASE_DIR ]] ||
    die "the model folder $(display_path "$MODEL_BASE_DIR") does not exist; train and export the model first: python 02_train_and_export.py"
  # Compare symlink-free paths: the same folder can be reached through a symlinked
  # directory (e.g. a home folder that links to a data disk).
  path="$(cd "$(dirname "$path")" && pwd -P)/${path##*/}"
  base=$(cd "$MODEL_BASE_DIR" && pwd -P)
  case $path in
    "$base"/*) ;;
    *) die "config file $given is outside MODEL_BASE_DIR; move it into $(display_path "$MODEL_BASE_DIR")/, the folder mounted at /models in the container, and pass that path" ;;
  esac
  CONFIG_FILE=$path
  CONFIG_CONTAINER_PATH="/models/${path#"$base"/}"
}

# Every base_path must be a container path /models/<folder> whose host twin,
# MODEL_BASE_DIR/<folder>, holds a servable version.
check_config_base_paths() {
  local shown_config base_path folder host_dir count=0
  shown_config=$(display_path "$CONFIG_FILE")
  while IFS= read -r base_path; do
    [[ -n $base_path ]] || continue
    count=$((count + 1))
    case $base_path in
      /models/?*) ;;
      "$MODEL_BASE_DIR"/*)
        die "base_path '$base_path' in $shown_config is a host path, but the server reads it inside the container: write base_path: '/models/${base_path#"$MODEL_BASE_DIR"/}'"
        ;;
      *)
        die "base_path '$base_path' in $shown_config is not a container path; MODEL_BASE_DIR is mounted at /models, so write base_path: '/models/<folder in $(display_path "$MODEL_BASE_DIR")>'"
        ;;
    esac
    folder=${base_path#/models/}
    folder=${folder%/}
    host_dir=$(resolve_path "$MODEL_BASE_DIR" "$folder")
    [[ -d $host_dir ]] ||
      die "base_path '$base_path' in $shown_config means $(display_path "$host_dir") on this machine (MODEL_BASE_DIR is mounted at /models), which does not exist; write base_path: '/models/<folder in $(display_path "$MODEL_BASE_DIR")>'"
    check_model_layout "$host_dir"
  done < <(config_values "$CONFIG_FILE" base_path)
  ((count > 0)) ||
    die "$shown_config lists no model (no base_path); write model_config_list { config { name: '...' base_path: '/models/...' model_platform: 'tensorflow' } }"
}

parse_config() {
  resolve_config_file "$1"
  check_config_base_paths
  SERVED_MODELS=$(config_values "$CONFIG_FILE" name | tr '\n' ' ')
  SERVED_MODELS=${SERVED_MODELS% }
  [[ -n $SERVED_MODELS ]] ||
    die "$(display_path "$CONFIG_FILE") has a base_path without a name; give every config a name: '...'"
}

# The emulator runs on the host, so it gets a copy with /models/ replaced by the host
# MODEL_BASE_DIR. Written to a temporary file and renamed, because the server re-reads it.
write_emulator_config() {
  local copy="$RUN_DIR/${CONFIG_FILE##*/}" replacement
  replacement=$(printf '%s' "$MODEL_BASE_DIR" | sed -e 's/[\\&#]/\\&/g')
  mkdir -p "$RUN_DIR"
  sed -E "s#(base_path[[:space:]]*:[[:space:]]*[\"'])/models/#\\1$replacement/#g" "$CONFIG_FILE" >"$copy.tmp"
  mv "$copy.tmp" "$copy"
  printf '%s\n' "$copy"
}

# ---------------------------------------------------------------------------
# 3. Which server is running (if any)
# ---------------------------------------------------------------------------

emulator_running() {
  local pid args
  [[ -f $PID_FILE ]] || return 1
  pid=$(cat "$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] && process_alive "$pid" || return 1
  # A pid file that survived a reboot may name some other process now.
  if args=$(ps -p "$pid" -o args= 2>/dev/null); then
    [[ $args == *tfserving_emulator* ]] || return 1
  fi
  return 0
}

docker_container_running() {
  command -v docker >/dev/null 2>&1 && [[ $(container_state "$TF_SERVING_CONTAINER") == running ]]
}

# Prints emulator, docker or nothing.
running_backend() {
  if emulator_running; then
    echo emulator
  elif docker_container_running; then
    echo docker
  fi
}

running_models() {
  if [[ -s $MODELS_FILE ]]; then
    cat "$MODELS_FILE"
  else
    echo "$MODEL_NAME"
  fi
}

record_models() {
  # shellcheck disable=SC2086  # one model name per line
  printf '%s\n' $SERVED_MODELS >"$MODELS_FILE"
}

print_addresses() {
  local model
  info "gRPC: localhost:$GRPC_PORT"
  for model in $(running_models); do
    info "REST: http://localhost:$REST_PORT/v1/models/$model"
  done
}

current_mode() {
  if [[ -n $CONFIG_FILE ]]; then
    echo "config $CONFIG_FILE"
  else
    echo "model $MODEL_NAME"
  fi
}

# start while a server is up: fine (exit 0) when it is the same backend serving the same
# thing; otherwise one line on how to switch.
handle_already_running() {
  local running=$1 mode running_mode=""
  mode=$(current_mode)
  [[ -f $MODE_FILE ]] && running_mode=$(cat "$MODE_FILE")
  if [[ $running != "$BACKEND" ]]; then
    die "the $running backend is already serving; stop it first to switch to $BACKEND: ./03_start_server.sh stop"
  fi
  if [[ -n $running_mode && $running_mode != "$mode" ]]; then
    die "the server is already running with a different setup ($running_mode); stop it first: ./03_start_server.sh stop"
  fi
  info "the $running server is already running"
  if [[ -n $CONFIG_FILE ]]; then
    # The config may have changed since the start: remember its models, and (Docker
    # reads the mounted file itself) refresh the emulator's translated copy.
    record_models
    if [[ $running == emulator ]]; then
      write_emulator_config >/dev/null
      info "refreshed the emulator's copy of $(display_path "$CONFIG_FILE"); it is re-read within ${MODEL_CONFIG_POLL_SECONDS:-60} s"
    fi
  fi
  print_addresses
}

# ---------------------------------------------------------------------------
# 4. Start: Docker or the emulator
# ---------------------------------------------------------------------------

docker_run_command() {
  local mount_source arg
  local -a cmd=(docker run -d --rm --name "$TF_SERVING_CONTAINER"
    -p "127.0.0.1:$GRPC_PORT:8500" -p "127.0.0.1:$REST_PORT:8501")
  if [[ -n $CONFIG_FILE ]]; then
    mount_source=$(docker_host_path "$MODEL_BASE_DIR")
    cmd+=(--mount "type=bind,source=$mount_source,target=/models")
  else
    mount_source=$(docker_host_path "$MODEL_BASE_DIR/$MODEL_NAME")
    cmd+=(--mount "type=bind,source=$mount_source,target=/models/$MODEL_NAME" -e "MODEL_NAME=$MODEL_NAME")
  fi
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_platform_args)
  cmd+=("$TF_SERVING_IMAGE")
  # Arguments after the image go to tensorflow_model_server; the paths are the container's.
  if [[ -n $CONFIG_FILE ]]; then
    cmd+=("${CONFIG_MODE_FLAGS[@]}" "--model_config_file=$CONFIG_CONTAINER_PATH"
      "--model_config_file_poll_wait_seconds=${MODEL_CONFIG_POLL_SECONDS:-60}")
  fi
  printf '%s\n' "${cmd[@]}"
}

# TF Serving assigns version labels *before* it loads a config's models, so a
# models.config with version_labels (chapter 7 leaves one) only starts with this flag.
CONFIG_MODE_FLAGS=(--allow_version_labels_for_unavailable_models=true)

start_docker() {
  local arg
  local -a cmd=()
  while IFS= read -r arg; do cmd+=("$arg"); done < <(docker_run_command)
  # A stopped container of ours that --rm has not removed yet would block the name.
  if [[ $(container_state "$TF_SERVING_CONTAINER") == stopped ]]; then
    docker rm -f "$TF_SERVING_CONTAINER" >/dev/null
  fi
  show_command "${cmd[@]}"
  # MSYS_NO_PATHCONV=1: keep Git Bash on Windows from rewriting the container paths.
  MSYS_NO_PATHCONV=1 "${cmd[@]}" >/dev/null || die "docker run failed (output above); see the troubleshooting table in README.md"
}

start_emulator() {
  local python
  local -a flags=(--port="$GRPC_PORT" --rest_api_port="$REST_PORT")
  if [[ -n $CONFIG_FILE ]]; then
    flags+=("${CONFIG_MODE_FLAGS[@]}" --model_config_file="$(write_emulator_config)"
      --model_config_file_poll_wait_seconds="${MODEL_CONFIG_POLL_SECONDS:-60}")
  else
    flags+=(--model_name="$MODEL_NAME" --model_base_path="$MODEL_BASE_DIR/$MODEL_NAME")
  fi
  python=$(python_bin)
  show_command python -m tfserving_emulator "${flags[@]}"
  # In the background and detached from this terminal (setsid where it exists, nohup):
  # the server outlives this script, and a Ctrl-C typed later does not reach it.
  local -a detach=(nohup)
  command -v setsid >/dev/null 2>&1 && detach=(setsid nohup)
  PYTHONPATH="$REPO_ROOT" "${detach[@]}" "$python" -m tfserving_emulator "${flags[@]}" \
    >"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
}

server_log_tail() {
  if [[ $BACKEND == docker ]]; then
    docker logs --tail 20 "$TF_SERVING_CONTAINER" 2>&1 || true
  else
    tail -n 20 "$LOG_FILE" 2>/dev/null || true
  fi
}

# Wait for every model; on failure show the log, stop the server, and say why.
wait_for_models() {
  local model url reason error_file status
  local -a alive=(--container "$TF_SERVING_CONTAINER")
  [[ $BACKEND == emulator ]] && alive=(--pid "$(cat "$PID_FILE")")
  error_file=$(mktemp)
  for model in $SERVED_MODELS; do
    url="http://127.0.0.1:$REST_PORT/v1/models/$model"
    info "waiting for $model to become AVAILABLE (up to $STARTUP_TIMEOUT s): GET $url"
    if ! status=$(wait_until_available "$url" "$STARTUP_TIMEOUT" "${alive[@]}" 2>"$error_file"); then
      reason=$(sed 's/^error: //' "$error_file")
      rm -f "$error_file"
      info "last 20 lines of the server log:"
      server_log_tail
      if [[ $BACKEND == docker && $(container_state "$TF_SERVING_CONTAINER") == absent ]]; then
        clear_state
        die "$reason; --rm removed the container with its log, so run the same docker run without -d to watch it fail"
      fi
      if [[ $BACKEND == emulator ]] && ! emulator_running; then
        clear_state
        die "$reason; the server log is above (all of it: ./03_start_server.sh logs)"
      fi
      stop_server >/dev/null
      die "$reason; the server log is above (stopped the server; README.md lists the common causes)"
    fi
    info "$status"
  done
  rm -f "$error_file"
}

cmd_start() {
  local running
  case ${1:-} in
    --config)
      [[ -n ${2:-} ]] || die "--config needs a file: ./03_start_server.sh start --config $(display_path "$MODEL_BASE_DIR")/models.config"
      parse_config "$2"
      ;;
    "")
      check_model_layout "$MODEL_BASE_DIR/$MODEL_NAME"
      SERVED_MODELS=$MODEL_NAME
      ;;
    *) die "unknown option '$1' for start; use: ./03_start_server.sh start [--config FILE]" ;;
  esac
  select_backend
  [[ $BACKEND == docker ]] && { require_docker; warn_if_arm64; }

  running=$(running_backend)
  if [[ -n $running ]]; then
    handle_already_running "$running"
    return 0
  fi

  require_free_port "$GRPC_PORT" GRPC_PORT "$(script_invocation "$0" start "$@")"
  require_free_port "$REST_PORT" REST_PORT "$(script_invocation "$0" start "$@")"
  mkdir -p "$RUN_DIR"
  rm -f "$PID_FILE"
  if [[ $BACKEND == docker ]]; then
    start_docker
  else
    start_emulator
  fi
  # Record what runs, so stop/status/logs and a second start know.
  echo "$BACKEND" >"$BACKEND_FILE"
  current_mode >"$MODE_FILE"
  record_models

  wait_for_models
  info "TF Serving is up ($BACKEND backend):"
  print_addresses
  info "stop it with: ./03_start_server.sh stop"
}

# ---------------------------------------------------------------------------
# 5. Stop, status, logs
# ---------------------------------------------------------------------------

clear_state() {
  rm -f "$PID_FILE" "$BACKEND_FILE" "$MODE_FILE" "$MODELS_FILE"
}

stop_emulator() {
  local pid waited=0
  pid=$(cat "$PID_FILE")
  info "stopping the emulator (pid $pid)"
  kill "$pid" 2>/dev/null || true
  # It is not our child, so `wait` cannot be used: poll until it is gone.
  while process_alive "$pid" && ((waited < 100)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if process_alive "$pid"; then
    warn "the emulator did not exit within 10 s of SIGTERM; sending SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
  fi
}

stop_server() {
  local stopped=""
  if emulator_running; then
    stop_emulator
    stopped=yes
  fi
  if docker_container_running; then
    show_command docker stop "$TF_SERVING_CONTAINER"
    docker stop "$TF_SERVING_CONTAINER" >/dev/null
    stopped=yes
  fi
  clear_state
  if [[ -n $stopped ]]; then
    info "server stopped"
  else
    info "no server is running"
  fi
}

cmd_status() {
  local running model failed="" error_file
  running=$(running_backend)
  if [[ -z $running ]]; then
    info "no server is running (start one: ./03_start_server.sh start)"
    return 3
  fi
  if [[ $running == docker ]]; then
    info "backend: docker (container $TF_SERVING_CONTAINER, image $TF_SERVING_IMAGE)"
  else
    info "backend: emulator (pid $(cat "$PID_FILE"), log $(display_path "$LOG_FILE"))"
  fi
  error_file=$(mktemp)
  for model in $(running_models); do
    info "GET http://localhost:$REST_PORT/v1/models/$model"
    if ! wait_until_available "http://127.0.0.1:$REST_PORT/v1/models/$model" 0 2>"$error_file"; then
      failed="$failed$(sed 's/^error: //' "$error_file") "
    fi
  done
  rm -f "$error_file"
  print_addresses
  [[ -z $failed ]] || die "${failed% }; see the server log: ./03_start_server.sh logs"
}

cmd_logs() {
  local follow=""
  case ${1:-} in
    -f | --follow) follow=yes ;;
    "") ;;
    *) die "unknown option '$1' for logs; use: ./03_start_server.sh logs [-f]" ;;
  esac
  if [[ $(running_backend) != docker && -f $LOG_FILE ]]; then
    if [[ -n $follow ]]; then
      tail -n +1 -f "$LOG_FILE"
    else
      cat "$LOG_FILE"
    fi
  elif command -v docker >/dev/null 2>&1 && [[ $(container_state "$TF_SERVING_CONTAINER") != absent ]]; then
    docker logs ${follow:+--follow} "$TF_SERVING_CONTAINER"
  else
    die "no server log yet; start the server first: ./03_start_server.sh start"
  fi
}

main() {
  local command=${1:-}
  case $command in
    -h | --help | help)
      usage
      return 0
      ;;
    start | stop | status | logs) shift ;;
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
  : "${STARTUP_TIMEOUT:=120}"
  # Settings matter when starting or asking; stop and logs stay short.
  case $command in start | status) print_settings ;; esac
  load_state_paths
  cd "$REPO_ROOT"
  case $command in
    start) cmd_start "$@" ;;
    stop) stop_server ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
  esac
}

# Sourcing the file (tests do) defines the functions without running anything.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
