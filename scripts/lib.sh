# shellcheck shell=bash
# Shared by every shell script of the tutorial: settings, messages, backend choice, checks.
#
# Usage (from a script at the repository root):
#   source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
#   load_settings          # settings.env, overridden by the environment; exported
#   print_settings
#   select_backend         # sets BACKEND=docker|emulator and says why
#
# It only defines functions and a few constants; the caller sets `set -euo pipefail`.
# Written for bash 3.2 too (the macOS default): no associative arrays, no mapfile.

# The repository root, whatever directory the script was started from.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
SETTINGS_FILE="$REPO_ROOT/settings.env"
# Where the user ran the script: relative paths they type (in the environment or as
# arguments) mean "relative to here", even after a script changes directory.
CALLER_CWD=$PWD
DOCKER_INSTALL_URL="https://docs.docker.com/get-docker/"
# Keys of settings.env that are read from the environment (printed as such).
SETTINGS_FROM_ENV=" "
SETTINGS_KEYS=""

# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------

info() {
  printf '%s\n' "$*"
}

warn() {
  printf 'warning: %s\n' "$*" >&2
}

# One line, naming the fix, then a non-zero exit: the convention of every script here.
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Print a command the way a reader would type it, before running it: the scripts teach
# the commands, so they show them. Arguments with unusual characters get single quotes.
show_command() {
  local arg line="+"
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      line="$line $arg"
    else
      line="$line '${arg//\'/\'\\\'\'}'"
    fi
  done
  printf '%s\n' "$line"
}

banner() {
  printf '\n==== %s ====\n' "$*"
}

# A heading inside one script; lighter than banner(), which run_walkthrough.sh uses per step.
section() {
  printf '\n-- %s --\n' "$*"
}

# ---------------------------------------------------------------------------
# Paths
# ---------------------------------------------------------------------------

# Collapse ".", ".." and repeated slashes of an absolute path without touching the disk
# (the path may not exist yet, e.g. the folder a model is about to be exported to).
normalize_path() {
  local path=$1 part result=""
  local -a parts
  IFS=/ read -r -a parts <<<"$path"
  for part in ${parts[@]+"${parts[@]}"}; do
    case $part in
      "" | .) ;;
      ..) result=${result%/*} ;;
      *) result="$result/$part" ;;
    esac
  done
  printf '%s\n' "${result:-/}"
}

# resolve_path BASE VALUE: VALUE as an absolute path, relative ones taken from BASE.
resolve_path() {
  local base=$1 value=$2
  case $value in
    \~) value=$HOME ;;
    \~/*) value="$HOME/${value#\~/}" ;;
  esac
  case $value in
    /*) ;;
    *) value="$base/$value" ;;
  esac
  normalize_path "$value"
}

# How to show a path to the reader: relative to where they ran the script when it is
# below it (what they would type), absolute otherwise.
display_path() {
  local path=$1
  case $path in
    "$CALLER_CWD"/*) printf '%s\n' "${path#"$CALLER_CWD"/}" ;;
    *) printf '%s\n' "$path" ;;
  esac
}

# ---------------------------------------------------------------------------
# Settings: settings.env, each key overridden by a non-empty environment variable
# ---------------------------------------------------------------------------

# Keys ending in _DIR are paths. From settings.env they are relative to the repository;
# from the environment, relative to the caller's directory (tutorial/settings.py agrees).
_setting_value() {
  local key=$1 file_value=$2 env_value=$3
  if [[ -n $env_value ]]; then
    case $key in
      *_DIR) resolve_path "$CALLER_CWD" "$env_value" ;;
      *) printf '%s\n' "$env_value" ;;
    esac
  else
    case $key in
      *_DIR) resolve_path "$REPO_ROOT" "$file_value" ;;
      *) printf '%s\n' "$file_value" ;;
    esac
  fi
}

_check_port_setting() {
  local key=$1 value=$2
  [[ $value =~ ^[0-9]+$ ]] || die "$key='$value' is not a port number; set it to an integer 1-65535"
  ((10#$value >= 1 && 10#$value <= 65535)) || die "$key=$value is out of range; set it to an integer 1-65535"
}

# Parse settings.env (never `source` it: it is data, not code) and export every key.
load_settings() {
  local line key file_value env_value value
  [[ -f $SETTINGS_FILE ]] || die "settings file $SETTINGS_FILE is missing; restore it from the repository (git checkout settings.env)"
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'} # tolerate a settings.env saved with Windows line endings
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]] ||
      die "settings.env: not a KEY=VALUE line: '$line'; fix that line"
    key=${BASH_REMATCH[1]}
    file_value=${BASH_REMATCH[2]}
    # Trim the spaces around the value, as tutorial/settings.py does.
    file_value=${file_value#"${file_value%%[![:space:]]*}"}
    file_value=${file_value%"${file_value##*[![:space:]]}"}
    env_value=$(printenv "$key" || true)
    [[ -n $env_value ]] && SETTINGS_FROM_ENV="$SETTINGS_FROM_ENV$key "
    value=$(_setting_value "$key" "$file_value" "$env_value")
    printf -v "$key" '%s' "$value"
    # shellcheck disable=SC2163  # exporting the variable named by $key is the point
    export "$key"
    SETTINGS_KEYS="$SETTINGS_KEYS $key"
  done <"$SETTINGS_FILE"

  # A script started by another one (run_walkthrough.sh) inherits every setting as an
  # exported, already resolved value; keep reporting where each value really came from.
  if [[ -n ${TUTORIAL_SETTINGS_FROM_ENV:-} ]]; then
    SETTINGS_FROM_ENV=$TUTORIAL_SETTINGS_FROM_ENV
  else
    export TUTORIAL_SETTINGS_FROM_ENV=$SETTINGS_FROM_ENV
  fi

  _check_port_setting GRPC_PORT "$GRPC_PORT"
  _check_port_setting REST_PORT "$REST_PORT"
  GRPC_PORT=$((10#$GRPC_PORT))
  REST_PORT=$((10#$REST_PORT))
  case $SERVING_BACKEND in
    auto | docker | emulator) ;;
    *) die "SERVING_BACKEND='$SERVING_BACKEND'; use one of: auto, docker, emulator" ;;
  esac
  [[ $GRPC_PORT != "$REST_PORT" ]] ||
    die "GRPC_PORT and REST_PORT are both $GRPC_PORT; give them different values, e.g. REST_PORT=$((GRPC_PORT + 1))"
}

print_settings() {
  local key value note
  info "settings ($(display_path "$SETTINGS_FILE"), overridden by environment variables of the same name):"
  for key in $SETTINGS_KEYS; do
    value=$(printenv "$key" || true)
    note=""
    [[ $SETTINGS_FROM_ENV == *" $key "* ]] && note="   (from the environment)"
    printf '  %-21s= %s%s\n' "$key" "$value" "$note"
  done
}

# ---------------------------------------------------------------------------
# Python: the repository's virtualenv when there is one, else the system python3
# ---------------------------------------------------------------------------

python_bin() {
  if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
    printf '%s\n' "$REPO_ROOT/.venv/bin/python"
  elif [[ -x "$REPO_ROOT/.venv/Scripts/python.exe" ]]; then # a venv made by Windows Python
    printf '%s\n' "$REPO_ROOT/.venv/Scripts/python.exe"
  elif command -v python3 >/dev/null 2>&1; then
    command -v python3
  else
    die "python3 was not found; install Python 3.9 or newer (https://www.python.org/downloads/) and run ./run_walkthrough.sh"
  fi
}

# Run `python -m MODULE ...` with the repository importable, from any directory.
run_python_module() {
  local python
  python=$(python_bin)
  PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" "$python" -m "$@"
}

# ---------------------------------------------------------------------------
# Backend: Docker (the real TF Serving) or the pure-Python emulator
# ---------------------------------------------------------------------------

# run_with_timeout SECONDS COMMAND...: bounded where coreutils `timeout` exists (stock
# macOS has none; there the command simply runs unbounded).
run_with_timeout() {
  local seconds=$1
  shift
  if command -v timeout >/dev/null 2>&1; then
    timeout "$seconds" "$@"
  else
    "$@"
  fi
}

# `docker info` can hang while Docker Desktop is still starting.
_docker_info() {
  run_with_timeout 30 docker info
}

# Why the daemon is unusable, as one line ("" when it answers). `docker info` prints the
# client section to stdout even when the server part fails; the reason is on stderr.
docker_daemon_problem() {
  local output
  if output=$(_docker_info 2>&1 >/dev/null); then
    return 0
  fi
  output=$(printf '%s\n' "$output" | grep -v '^[[:space:]]*$' | tail -n 1)
  output=${output#ERROR: }
  printf '%s\n' "${output:-docker info failed}"
}

# Sets BACKEND to docker or emulator from SERVING_BACKEND, and always says why.
select_backend() {
  local problem
  case $SERVING_BACKEND in
    docker)
      BACKEND=docker
      info "backend: docker (SERVING_BACKEND=docker)"
      ;;
    emulator)
      BACKEND=emulator
      info "backend: emulator (SERVING_BACKEND=emulator)"
      ;;
    auto)
      if ! command -v docker >/dev/null 2>&1; then
        BACKEND=emulator
        info "backend: emulator (the docker command was not found; install Docker to use the real TF Serving)"
      else
        problem=$(docker_daemon_problem)
        if [[ -z $problem ]]; then
          BACKEND=docker
          info "backend: docker (docker info answered)"
        else
          BACKEND=emulator
          info "backend: emulator (docker info failed: $problem)"
        fi
      fi
      ;;
  esac
  export BACKEND
}

# For the Docker backend: the CLI and a daemon that answers, or one line saying what to do.
require_docker() {
  local problem hint=""
  command -v docker >/dev/null 2>&1 ||
    die "the docker command was not found; install Docker ($DOCKER_INSTALL_URL) or run with SERVING_BACKEND=emulator"
  problem=$(docker_daemon_problem)
  if [[ -n $problem ]]; then
    # The blog's first step: on Linux the socket belongs to the docker group.
    [[ $problem == *"ermission denied"* ]] &&
      hint="add yourself to the docker group (sudo usermod -aG docker \$USER, then log in again), "
    die "Docker is installed but its daemon did not answer (docker info: $problem); ${hint}start Docker ($DOCKER_INSTALL_URL) or run with SERVING_BACKEND=emulator"
  fi
}

# tensorflow/serving publishes linux/amd64 images only; on Apple Silicon or arm64 Linux
# the pull fails ("no matching manifest") unless the platform is forced.
warn_if_arm64() {
  local machine
  machine=$(uname -m)
  case $machine in
    arm64 | aarch64)
      if [[ -z ${DOCKER_PLATFORM:-} ]]; then
        warn "this machine is $machine and $TF_SERVING_IMAGE has no official arm64 image; run with DOCKER_PLATFORM=linux/amd64 (emulated, slower) or SERVING_BACKEND=emulator"
      fi
      ;;
  esac
}

# container_state NAME: running, stopped or absent.
container_state() {
  local running
  if ! running=$(docker container inspect -f '{{.State.Running}}' "$1" 2>/dev/null); then
    echo absent
  elif [[ $running == true ]]; then
    echo running
  else
    echo stopped
  fi
}

# `--platform X` when DOCKER_PLATFORM is set; print one argument per line.
docker_platform_args() {
  if [[ -n ${DOCKER_PLATFORM:-} ]]; then
    printf '%s\n' --platform "$DOCKER_PLATFORM"
  fi
}

# The host path for a Docker bind mount. Under Git Bash (MSYS) Docker Desktop wants the
# C:/... form. (The scripts also run `docker run` with MSYS_NO_PATHCONV=1, because Git
# Bash would otherwise rewrite `target=/models/x` into `C:/Program Files/Git/models/x`.)
docker_host_path() {
  local path=$1
  case $(uname -s) in
    MINGW* | MSYS* | CYGWIN*)
      if command -v cygpath >/dev/null 2>&1; then
        cygpath -m "$path"
        return
      fi
      ;;
  esac
  printf '%s\n' "$path"
}

# ---------------------------------------------------------------------------
# Ports and readiness
# ---------------------------------------------------------------------------

# require_free_port PORT VARIABLE COMMAND...: dies naming the port, its variable, and the
# command line to retry with another port.
require_free_port() {
  local port=$1 variable=$2
  shift 2
  if ! run_python_module tutorial.ports "$port" >/dev/null; then
    die "port $port ($variable) is already in use; stop what is using it or choose another: $variable=$((port + 1)) $*"
  fi
}

# wait_until_available URL TIMEOUT [--pid PID | --container NAME]: prints the status JSON;
# on failure prints the one-line reason to stderr and returns 1.
wait_until_available() {
  local url=$1 timeout=$2
  shift 2
  run_python_module tutorial.wait_available --url "$url" --timeout "$timeout" "$@"
}

# ---------------------------------------------------------------------------
# Model layout
# ---------------------------------------------------------------------------

# Integer-named subfolders of DIR (what TF Serving accepts as versions), one per line.
version_dirs() {
  local dir=$1 entry name
  for entry in "$dir"/*; do
    name=${entry##*/}
    [[ -d $entry && $name =~ ^[0-9]+$ ]] && printf '%s\n' "$name"
  done
  return 0
}

# True when DIR holds at least one version folder with a SavedModel inside.
has_servable_version() {
  local dir=$1 version
  for version in $(version_dirs "$dir"); do
    if [[ -f "$dir/$version/saved_model.pb" || -f "$dir/$version/saved_model.pbtxt" ]]; then
      return 0
    fi
  done
  return 1
}

# True while process PID runs. A zombie counts as gone: it has exited, and only its
# parent (for a detached server, whichever process adopted it) has not collected it.
process_alive() {
  local pid=$1 state
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
  [[ $state != Z* ]]
}

# The command line the user ran, to quote in "try again with ..." messages.
script_invocation() {
  local script=$1
  shift
  printf '%s\n' "./${script##*/}${*:+ $*}"
}
