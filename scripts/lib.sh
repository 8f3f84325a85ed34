# shellcheck shell=bash
# Shared by every shell script of the tutorial: messages, settings, backend choice, checks.
#
# Usage (from a script at the repository root):
#   source "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
#   load_settings          # settings.env, overridden by the environment; exported
#   print_settings
#   select_backend         # sets BACKEND=docker|emulator and says why
#
# The shell shows the commands a learner should see (docker pull/run/stop/logs); the
# bookkeeping behind them (settings, state, checks, waiting) is Python in tutorial/,
# called as `python -m tutorial.<module>`. Those modules print one "error: ..." line and
# exit non-zero when something is wrong, so a failed call here ends the script with it.
#
# It only defines functions and a few constants; the caller sets `set -euo pipefail`.
# Written for bash 3.2 too (the macOS default): no associative arrays, no mapfile.

# The repository root, whatever directory the script was started from.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# Where the user ran the script: paths are shown relative to it.
CALLER_CWD=$PWD

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

# How to show a path to the reader: relative to where they ran the script when it is
# below it (what they would type), absolute otherwise.
display_path() {
  local path=$1
  case $path in
    "$CALLER_CWD"/*) printf '%s\n' "${path#"$CALLER_CWD"/}" ;;
    *) printf '%s\n' "$path" ;;
  esac
}

# The command line the user ran, to quote in "try again with ..." messages.
script_invocation() {
  local script=$1
  shift
  printf '%s\n' "./${script##*/}${*:+ $*}"
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
    die "python3 was not found; install Python 3.10 to 3.13 (https://www.python.org/downloads/) and run ./run_walkthrough.sh"
  fi
}

# Run `python -m MODULE ...` with this repository's modules, from any directory. Python
# puts the current directory first on sys.path, so it runs from the repository root: a
# folder called `tutorial` where the user stands (another checkout) must not shadow ours.
# TUTORIAL_CALLER_CWD passes on where the user is, for the relative paths they type.
run_python_module() {
  local python
  python=$(python_bin)
  (cd "$REPO_ROOT" && TUTORIAL_CALLER_CWD=$CALLER_CWD PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
    exec "$python" -m "$@")
}

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

# ---------------------------------------------------------------------------
# Settings: tutorial/settings.py is the one reader of settings.env
# ---------------------------------------------------------------------------

# Export every setting (and STARTUP_TIMEOUT, MODEL_CONFIG_POLL_SECONDS), resolved and
# checked. Python prints `export KEY='value'` lines, each value quoted for the shell.
# It also sets SETTINGS_DESCRIPTION, the block print_settings shows (one Python start, not two).
load_settings() {
  local exports
  exports=$(run_python_module tutorial.settings --shell) || exit 1
  eval "$exports"
}

print_settings() {
  printf '%s\n' "$SETTINGS_DESCRIPTION"
}

# ---------------------------------------------------------------------------
# Backend: Docker (the real TF Serving) or the pure-Python emulator
# ---------------------------------------------------------------------------

# Sets BACKEND to docker or emulator from SERVING_BACKEND (auto asks `docker info`),
# and always says why. For Docker it also checks the CLI and that the daemon answers:
# if not, it says so in one line (after the backend line) and the script ends.
select_backend() {
  local choice BACKEND_REASON status=0
  choice=$(run_python_module tutorial.server_backend choose) || status=$?
  eval "$choice"
  info "backend: $BACKEND ($BACKEND_REASON)"
  export BACKEND
  ((status == 0)) || exit "$status"
}

# container_state NAME: running, stopped or absent.
container_state() {
  run_python_module tutorial.server_backend container-state "$1"
}

# ---------------------------------------------------------------------------
# Platforms: Apple Silicon, arm64 Linux, Windows (Git Bash, WSL 2), the GPU image.
# docs/platforms.md explains every message printed here.
# ---------------------------------------------------------------------------

# The engine's "Operating System" from `docker info`: "Docker Desktop" for Docker Desktop
# (macOS, Windows, Linux), the VM's or host's distribution otherwise; empty if it does not
# answer. Bounded: `docker info` can hang while Docker Desktop is starting.
docker_operating_system() {
  run_with_timeout 20 docker info --format '{{.OperatingSystem}}' 2>/dev/null || true
}

# tensorflow/serving publishes linux/amd64 images only, so an arm64 machine runs them
# emulated (DOCKER_PLATFORM=linux/amd64). The binary is built with AVX (its .bazelrc:
# build:release --copt=-mavx): Rosetta has no AVX and TF Serving dies with "Illegal
# instruction"; QEMU emulates AVX. Which of the two Docker Desktop uses is a setting the
# CLI cannot read, so the message on a Mac always names it.
warn_if_arm64() {
  local machine
  machine=$(uname -m)
  case $machine in
    arm64 | aarch64) ;;
    *) return 0 ;;
  esac
  if [[ $(uname -s) == Darwin ]]; then
    warn_apple_silicon "$machine"
  elif [[ -z ${DOCKER_PLATFORM:-} ]]; then
    warn "this machine is $machine and $TF_SERVING_IMAGE has no official arm64 image; run with DOCKER_PLATFORM=linux/amd64 after registering QEMU for amd64 (docker run --privileged --rm tonistiigi/binfmt --install amd64; emulated, slower) or SERVING_BACKEND=emulator"
  fi
}

warn_apple_silicon() {
  local machine=$1 engine rosetta
  engine=$(docker_operating_system)
  if [[ $engine == "Docker Desktop" ]]; then
    rosetta='turn off "Use Rosetta for x86_64/amd64 emulation on Apple Silicon" in Docker Desktop (Settings > General) so it emulates with QEMU'
  else
    rosetta="have your Docker engine${engine:+ ($engine)} emulate amd64 with QEMU, not Rosetta"
  fi
  if [[ -z ${DOCKER_PLATFORM:-} ]]; then
    warn "this Mac is $machine (Apple Silicon) and $TF_SERVING_IMAGE is linux/amd64 only; run with DOCKER_PLATFORM=linux/amd64 and $rosetta (under Rosetta TF Serving stops with \"Illegal instruction\": it needs AVX), or run with SERVING_BACKEND=emulator"
  else
    warn "DOCKER_PLATFORM=$DOCKER_PLATFORM on Apple Silicon: $rosetta, or TF Serving stops with \"Illegal instruction\" (it needs AVX, which Rosetta lacks); or run with SERVING_BACKEND=emulator"
  fi
}

# `--platform X` when DOCKER_PLATFORM is set; print one argument per line.
docker_platform_args() {
  if [[ -n ${DOCKER_PLATFORM:-} ]]; then
    printf '%s\n' --platform "$DOCKER_PLATFORM"
  fi
}

# `--gpus X` when DOCKER_GPUS is set (for `docker run` only; `docker pull` has no such
# option). It needs a -gpu image and the NVIDIA Container Toolkit; see docs/platforms.md.
docker_gpu_args() {
  if [[ -n ${DOCKER_GPUS:-} ]]; then
    printf '%s\n' --gpus "$DOCKER_GPUS"
  fi
}

# A setting that cannot take effect is said, never silently dropped. The GPU checks
# apply to the official images, whose GPU builds are the tags ending in -gpu.
warn_about_gpu_settings() {
  local backend=$1 name
  if [[ $backend != docker ]]; then
    for name in DOCKER_PLATFORM DOCKER_GPUS; do
      [[ -z ${!name:-} ]] ||
        warn "$name=${!name} is an option of docker run and has no effect with the emulator, which runs on this machine's CPU; unset it, or use SERVING_BACKEND=docker"
    done
    return 0
  fi
  [[ $TF_SERVING_IMAGE == tensorflow/serving:* ]] || return 0
  if [[ -n ${DOCKER_GPUS:-} && $TF_SERVING_IMAGE != *-gpu ]]; then
    warn "DOCKER_GPUS=$DOCKER_GPUS with $TF_SERVING_IMAGE, a CPU build: it will not use the GPU; set TF_SERVING_IMAGE=$TF_SERVING_IMAGE-gpu"
  elif [[ -z ${DOCKER_GPUS:-} && $TF_SERVING_IMAGE == *-gpu ]]; then
    warn "$TF_SERVING_IMAGE without DOCKER_GPUS sees no GPU and runs on the CPU; set DOCKER_GPUS=all"
  fi
}

# Windows: Git Bash (MSYS/MINGW/Cygwin) talks to Docker Desktop with Windows paths;
# WSL 2 (kernel release "5.15.167.4-microsoft-standard-WSL2"; WSL 1's is "4.4.0-19041-Microsoft")
# reads /mnt/c through a bridge.
windows_shell() {
  case $(uname -s) in
    MINGW* | MSYS* | CYGWIN*) printf '%s\n' git-bash ;;
    *)
      case $(uname -r) in
        *-microsoft-standard*) printf '%s\n' wsl2 ;;
        *-Microsoft) printf '%s\n' wsl1 ;;
      esac
      ;;
  esac
}

# note_windows BACKEND FOLDER: what applies on Windows to a server that will read FOLDER.
note_windows() {
  local backend=$1 folder=$2
  case $(windows_shell) in
    git-bash)
      [[ $backend == docker ]] &&
        info "platform: Git Bash on Windows: docker runs with MSYS_NO_PATHCONV=1 and the mount source as $(docker_host_path "$folder") (a Windows path), for Docker Desktop"
      ;;
    wsl1)
      [[ $backend == docker ]] &&
        warn "this is WSL 1, which Docker Desktop does not serve; convert the distro in PowerShell (wsl --set-version <distro> 2) or run with SERVING_BACKEND=emulator"
      ;;
    wsl2) warn_if_windows_drive "$folder" ;;
  esac
  return 0
}

# From WSL 2, /mnt/<drive>/ is the Windows disk through a file-sharing bridge: every read
# (the model load, the server's poll of the folder every second, Docker's bind mount)
# crosses it. The Linux file system (~) is native speed.
warn_if_windows_drive() {
  local folder=$1 fix
  case $folder in
    /mnt/[a-zA-Z]/*) ;;
    *) return 0 ;;
  esac
  case $REPO_ROOT in
    /mnt/[a-zA-Z]/*) fix="put the tutorial in the Linux file system: cp -r \"$REPO_ROOT\" ~/ and run it from there" ;;
    *) fix="copy it into the Linux file system (cp -r \"$folder\" ~/) and point the setting at the copy" ;;
  esac
  warn "$(display_path "$folder") is on the Windows drive /mnt/${folder:5:1}; from WSL 2 every file access crosses to Windows, slowly (the model load, the server's poll of the folder every second, Docker's mount); $fix"
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

# check_platform BACKEND FOLDER: every platform note and warning, before anything starts.
check_platform() {
  local backend=$1 folder=$2
  [[ $backend == docker ]] && warn_if_arm64
  warn_about_gpu_settings "$backend"
  note_windows "$backend" "$folder"
}

# ---------------------------------------------------------------------------
# Ports and readiness
# ---------------------------------------------------------------------------

# require_free_port PORT VARIABLE COMMAND...: dies naming the port, its variable, and the
# command line to retry with another port.
require_free_port() {
  local port=$1 variable=$2
  shift 2
  run_python_module tutorial.ports "$port" --variable "$variable" --retry "$*" || exit 1
}

# wait_until_available URL TIMEOUT [--pid PID | --container NAME]: prints the status JSON;
# on failure prints the one-line reason to stderr and returns 1.
wait_until_available() {
  local url=$1 timeout=$2
  shift 2
  run_python_module tutorial.wait_available --url "$url" --timeout "$timeout" "$@"
}
