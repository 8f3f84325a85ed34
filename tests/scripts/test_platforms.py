"""Platform checks of steps 1 and 3: Apple Silicon, arm64 Linux, Windows (Git Bash, WSL 2), the GPU image.

The machine is faked (`uname` answering -s/-m/-r, `docker info` reporting an engine), so
every platform's message is checked here on any machine, word for word: docs/platforms.md
quotes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripts_harness import ScriptSandbox, error_lines, make_placeholder_model, settings_env_defaults

IMAGE = settings_env_defaults()["TF_SERVING_IMAGE"]
GPU_IMAGE = f"{IMAGE}-gpu"
SMOKE_CONTAINER = "tfserving_half_plus_two"

APPLE_SILICON = {"FAKE_UNAME_S": "Darwin", "FAKE_UNAME_M": "arm64", "FAKE_DOCKER_ENGINE": "desktop-mac"}
ROSETTA_SETTING = (
    'turn off "Use Rosetta for x86_64/amd64 emulation on Apple Silicon" in Docker Desktop '
    "(Settings > General) so it emulates with QEMU"
)
GIT_BASH = {"FAKE_UNAME_S": "MINGW64_NT-10.0-19045", "FAKE_UNAME_M": "x86_64"}
WSL2 = {"FAKE_UNAME_S": "Linux", "FAKE_UNAME_R": "5.15.167.4-microsoft-standard-WSL2"}
WSL1 = {"FAKE_UNAME_S": "Linux", "FAKE_UNAME_R": "4.4.0-19041-Microsoft"}


@pytest.fixture
def box(sandbox: ScriptSandbox) -> ScriptSandbox:
    """The docker sandbox with a fake `uname` (and Git Bash's `cygpath`) and a model to serve."""
    sandbox.install_fake("uname")
    sandbox.install_fake("cygpath")
    make_placeholder_model(sandbox.model_base_dir, "MMModel")
    return sandbox


def start(box: ScriptSandbox, **env: str):
    result = box.run("03_start_server.sh", "start", env=env)
    box.run("03_start_server.sh", "stop")
    return result


def run_argv(
    box: ScriptSandbox, *before_image: str, image: str = IMAGE, source: Path | None = None
) -> list[str]:
    """Step 3's docker run, with options added before the image."""
    source = source or box.model_base_dir / "MMModel"
    return [
        "docker", "run", "-d", "--rm", "--name", box.container,
        "-p", f"127.0.0.1:{box.grpc_port}:8500",
        "-p", f"127.0.0.1:{box.rest_port}:8501",
        "--mount", f"type=bind,source={source},target=/models/MMModel",
        "-e", "MODEL_NAME=MMModel",
        *before_image,
        image,
    ]  # fmt: skip


# ---------------------------------------------------------------------------
# The fakes themselves: what the checks read
# ---------------------------------------------------------------------------


def test_the_fake_docker_info_reports_docker_desktop_on_apple_silicon(box: ScriptSandbox):
    plain = box.run("docker", "info", env={"FAKE_DOCKER_ENGINE": "desktop-mac"})
    assert " Operating System: Docker Desktop" in plain.stdout.splitlines()
    assert " Architecture: aarch64" in plain.stdout.splitlines()
    formatted = box.run(
        "docker",
        "info",
        "--format",
        "{{.OperatingSystem}}/{{.Architecture}}",
        env={"FAKE_DOCKER_ENGINE": "desktop-mac"},
    )
    assert formatted.stdout == "Docker Desktop/aarch64\n"
    wsl2 = box.run(
        "docker", "info", "--format", "{{.KernelVersion}}", env={"FAKE_DOCKER_ENGINE": "desktop-wsl2"}
    )
    assert wsl2.stdout == "5.15.167.4-microsoft-standard-WSL2\n"
    down = box.run("docker", "info", "--format", "{{.OperatingSystem}}", env={"FAKE_DOCKER_INFO": "fail"})
    assert (down.returncode, down.stdout) == (1, "")


def test_the_fake_uname_answers_the_kernel_release(box: ScriptSandbox):
    assert box.run("uname", "-r", env=WSL2).stdout == "5.15.167.4-microsoft-standard-WSL2\n"


# ---------------------------------------------------------------------------
# macOS
# ---------------------------------------------------------------------------


def test_apple_silicon_with_docker_desktop_names_the_rosetta_setting(box: ScriptSandbox):
    result = start(box, **APPLE_SILICON)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: this Mac is arm64 (Apple Silicon) and {IMAGE} is linux/amd64 only; run with "
        f"DOCKER_PLATFORM=linux/amd64 and {ROSETTA_SETTING} (under Rosetta TF Serving stops with "
        '"Illegal instruction": it needs AVX), or run with SERVING_BACKEND=emulator'
    ]
    assert ["docker", "info", "--format", "{{.OperatingSystem}}"] in box.docker_calls("info")


def test_apple_silicon_with_the_platform_set_still_names_the_rosetta_setting(box: ScriptSandbox):
    """Whether Docker Desktop emulates with Rosetta or QEMU is not visible to the CLI."""
    result = start(box, **APPLE_SILICON, DOCKER_PLATFORM="linux/amd64")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: DOCKER_PLATFORM=linux/amd64 on Apple Silicon: {ROSETTA_SETTING}, or TF Serving stops with "
        '"Illegal instruction" (it needs AVX, which Rosetta lacks); or run with SERVING_BACKEND=emulator'
    ]
    assert box.docker_calls("run") == [run_argv(box, "--platform", "linux/amd64")]


def test_apple_silicon_with_another_engine_is_told_to_use_qemu(box: ScriptSandbox):
    result = start(box, **{**APPLE_SILICON, "FAKE_DOCKER_ENGINE": "linux"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: this Mac is arm64 (Apple Silicon) and {IMAGE} is linux/amd64 only; run with "
        "DOCKER_PLATFORM=linux/amd64 and have your Docker engine (Ubuntu 24.04.2 LTS) emulate amd64 with "
        'QEMU, not Rosetta (under Rosetta TF Serving stops with "Illegal instruction": it needs AVX), '
        "or run with SERVING_BACKEND=emulator"
    ]


def test_step_1_on_apple_silicon_warns_before_the_pull(box: ScriptSandbox):
    smoke = Path(box.env["SMOKE_TEST_DIR"])
    make_placeholder_model(smoke.parent, smoke.name)
    result = box.run("01_install_serving.sh", env={**APPLE_SILICON, "DOCKER_PLATFORM": "linux/amd64"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: DOCKER_PLATFORM=linux/amd64 on Apple Silicon: {ROSETTA_SETTING}, or TF Serving stops with "
        '"Illegal instruction" (it needs AVX, which Rosetta lacks); or run with SERVING_BACKEND=emulator'
    ]
    assert box.docker_calls("pull") == [["docker", "pull", "--platform", "linux/amd64", IMAGE]]


def test_an_intel_mac_has_nothing_to_be_told(box: ScriptSandbox):
    result = start(box, FAKE_UNAME_S="Darwin", FAKE_UNAME_M="x86_64", FAKE_DOCKER_ENGINE="desktop-mac")
    assert (result.returncode, result.stderr) == (0, "")
    assert box.docker_calls("info") == [["docker", "info"]]
    assert box.docker_calls("run") == [run_argv(box)]


def test_the_emulator_backend_on_apple_silicon_needs_no_warning(box: ScriptSandbox):
    result = box.lib("load_settings; check_platform emulator /tmp/models", env=APPLE_SILICON)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert box.docker_calls() == []


# ---------------------------------------------------------------------------
# arm64 Linux
# ---------------------------------------------------------------------------


def test_arm64_linux_names_the_qemu_registration_and_asks_docker_nothing_more(box: ScriptSandbox):
    result = start(box, FAKE_UNAME_S="Linux", FAKE_UNAME_M="aarch64")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: this machine is aarch64 and {IMAGE} has no official arm64 image; run with "
        "DOCKER_PLATFORM=linux/amd64 after registering QEMU for amd64 (docker run --privileged --rm "
        "tonistiigi/binfmt --install amd64; emulated, slower) or SERVING_BACKEND=emulator"
    ]
    assert box.docker_calls("info") == [["docker", "info"]]


# ---------------------------------------------------------------------------
# Windows
# ---------------------------------------------------------------------------


def test_git_bash_says_how_paths_reach_docker_desktop(box: ScriptSandbox, tmp_path: Path):
    env_log = tmp_path / "docker_env.jsonl"
    result = start(box, **GIT_BASH, FAKE_DOCKER_ENV_LOG=str(env_log))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    windows_path = f"C:/msys64{box.model_base_dir}/MMModel"
    assert (
        f"platform: Git Bash on Windows: docker runs with MSYS_NO_PATHCONV=1 and the mount source as "
        f"{windows_path} (a Windows path), for Docker Desktop"
    ) in result.stdout.splitlines()
    assert box.docker_calls("run") == [run_argv(box, source=Path(windows_path))]
    run_index = [call[1] for call in box.docker_calls()].index("run")
    assert json.loads(env_log.read_text().splitlines()[run_index]) == {"MSYS_NO_PATHCONV": "1"}


def test_git_bash_with_the_emulator_prints_no_docker_note(box: ScriptSandbox):
    result = box.lib("load_settings; check_platform emulator /c/Users/me/models", env=GIT_BASH)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_wsl2_on_the_linux_file_system_is_quiet(box: ScriptSandbox):
    result = start(box, **WSL2, FAKE_DOCKER_ENGINE="desktop-wsl2")
    assert (result.returncode, result.stderr) == (0, "")
    assert not [line for line in result.stdout.splitlines() if line.startswith("platform:")]


@pytest.mark.parametrize("backend", ["docker", "emulator"])
def test_wsl2_with_the_checkout_on_the_windows_drive_is_told_to_copy_it(box: ScriptSandbox, backend: str):
    checkout = "/mnt/c/Users/me/tfserving tutorial"
    result = box.lib(
        f'load_settings; REPO_ROOT="{checkout}"; check_platform {backend} "{checkout}/trained_models/MMModel"',
        env=WSL2,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {checkout}/trained_models/MMModel is on the Windows drive /mnt/c; from WSL 2 every file "
        "access crosses to Windows, slowly (the model load, the server's poll of the folder every second, "
        f'Docker\'s mount); put the tutorial in the Linux file system: cp -r "{checkout}" ~/ and run it from there'
    ]


def test_wsl2_with_only_the_models_on_the_windows_drive_is_told_to_copy_them(box: ScriptSandbox):
    folder = "/mnt/d/exports/MMModel"
    result = box.lib(f"load_settings; check_platform docker {folder}", env=WSL2)
    assert result.stderr.splitlines() == [
        f"warning: {folder} is on the Windows drive /mnt/d; from WSL 2 every file access crosses to Windows, "
        "slowly (the model load, the server's poll of the folder every second, Docker's mount); "
        f'copy it into the Linux file system (cp -r "{folder}" ~/) and point the setting at the copy'
    ]


def test_a_windows_drive_path_outside_wsl_is_not_a_concern(box: ScriptSandbox):
    result = box.lib(
        "load_settings; check_platform docker /mnt/c/models", env={"FAKE_UNAME_R": "6.8.0-45-generic"}
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_wsl1_cannot_use_docker_desktop(box: ScriptSandbox):
    result = box.lib("load_settings; check_platform docker /home/me/models", env=WSL1)
    assert result.stderr.splitlines() == [
        "warning: this is WSL 1, which Docker Desktop does not serve; convert the distro in PowerShell "
        "(wsl --set-version <distro> 2) or run with SERVING_BACKEND=emulator"
    ]
    quiet = box.lib("load_settings; check_platform emulator /home/me/models", env=WSL1)
    assert quiet.stderr == ""


# ---------------------------------------------------------------------------
# The GPU image
# ---------------------------------------------------------------------------


def test_the_gpu_image_runs_with_gpus_all(box: ScriptSandbox):
    result = start(box, TF_SERVING_IMAGE=GPU_IMAGE, DOCKER_GPUS="all")
    assert (result.returncode, result.stderr) == (0, "")
    assert box.docker_calls("run") == [run_argv(box, "--gpus", "all", image=GPU_IMAGE)]
    shown = [line for line in result.stdout.splitlines() if line.startswith("+ docker run")]
    assert shown == [" ".join(["+", *run_argv(box, "--gpus", "all", image=GPU_IMAGE)])]


def test_gpus_and_platform_both_come_before_the_image(box: ScriptSandbox):
    result = start(box, TF_SERVING_IMAGE=GPU_IMAGE, DOCKER_GPUS="device=0", DOCKER_PLATFORM="linux/amd64")
    assert result.returncode == 0, result.stderr
    assert box.docker_calls("run") == [
        run_argv(box, "--platform", "linux/amd64", "--gpus", "device=0", image=GPU_IMAGE)
    ]


def test_step_1_passes_gpus_to_run_but_not_to_pull(box: ScriptSandbox):
    smoke = Path(box.env["SMOKE_TEST_DIR"])
    make_placeholder_model(smoke.parent, smoke.name)
    result = box.run("01_install_serving.sh", env={"TF_SERVING_IMAGE": GPU_IMAGE, "DOCKER_GPUS": "all"})
    assert (result.returncode, result.stderr) == (0, "")
    assert box.docker_calls("pull") == [["docker", "pull", GPU_IMAGE]]
    assert box.docker_calls("run") == [
        [
            "docker", "run", "-d", "--rm", "--name", SMOKE_CONTAINER,
            "-p", f"127.0.0.1:{box.rest_port}:8501",
            "--mount", f"type=bind,source={smoke},target=/models/half_plus_two",
            "-e", "MODEL_NAME=half_plus_two",
            "--gpus", "all",
            GPU_IMAGE,
        ]
    ]  # fmt: skip


def test_without_the_nvidia_toolkit_docker_run_fails_in_one_line(box: ScriptSandbox):
    result = start(box, TF_SERVING_IMAGE=GPU_IMAGE, DOCKER_GPUS="all", FAKE_DOCKER_GPUS="none")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].',
        "error: docker run failed (output above); see docs/troubleshooting.md",
    ]
    assert error_lines(result.stderr) == [
        "error: docker run failed (output above); see docs/troubleshooting.md"
    ]


def test_gpus_with_the_cpu_image_is_said(box: ScriptSandbox):
    result = start(box, DOCKER_GPUS="all")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: DOCKER_GPUS=all with {IMAGE}, a CPU build: it will not use the GPU; "
        f"set TF_SERVING_IMAGE={GPU_IMAGE}"
    ]


def test_the_gpu_image_without_gpus_is_said(box: ScriptSandbox):
    result = start(box, TF_SERVING_IMAGE=GPU_IMAGE)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"warning: {GPU_IMAGE} without DOCKER_GPUS sees no GPU and runs on the CPU; set DOCKER_GPUS=all"
    ]
    assert box.docker_calls("run") == [run_argv(box, image=GPU_IMAGE)]


def test_docker_only_settings_with_the_emulator_are_said(box: ScriptSandbox):
    env = {"DOCKER_GPUS": "all", "DOCKER_PLATFORM": "linux/amd64"}
    result = box.lib("load_settings; check_platform emulator /tmp/models", env=env)
    assert result.stderr.splitlines() == [
        f"warning: {name}={value} is an option of docker run and has no effect with the emulator, which runs "
        "on this machine's CPU; unset it, or use SERVING_BACKEND=docker"
        for name, value in (("DOCKER_PLATFORM", "linux/amd64"), ("DOCKER_GPUS", "all"))
    ]


def test_another_image_gets_its_gpus_without_a_guess_about_its_build(box: ScriptSandbox):
    result = start(box, TF_SERVING_IMAGE="my-serving-build:1.0", DOCKER_GPUS="all")
    assert (result.returncode, result.stderr) == (0, "")
    assert box.docker_calls("run") == [run_argv(box, "--gpus", "all", image="my-serving-build:1.0")]
