"""Every flag of TF Serving 2.21's ``main.cc``, parsed as TensorFlow's flag parser parses it.

The table below is copied from ``tensorflow_serving/model_servers/main.cc`` (names, in its
order) and ``server.h`` (types and defaults). Each flag is accepted; one the emulator does
not act on logs one line, and only when it is set to something other than its default.
Parsing follows ``tensorflow/core/util/command_line_flags.cc``: ``--name=value``, bare
``--name`` for bools, ``Couldn't interpret value ...`` for bad values, and arguments no flag
takes left over for ``main.cc``'s ``unknown argument: ...``.
"""

from __future__ import annotations

import os

import pytest
from emulator_harness import REPO_ROOT, run_emulator_to_exit

from tfserving_emulator.model_servers.flags import FLAG_SPECS, NOT_EMULATED, not_emulated_lines, parse, usage
from tfserving_emulator.model_servers.server import _grpc_threads, _model_server_config
from tfserving_emulator.util.errors import ServingError

FAILURE_EXIT = 255  # main() returns -1
CPUS = len(os.sched_getaffinity(0))
FOUR_PER_CPU = 4 * CPUS  # server.h: 4.0 * port::NumSchedulableCPUs()

MAIN_CC_FLAGS = [
    ("port", "int32", 8500),
    ("grpc_socket_path", "string", ""),
    ("rest_api_port", "int32", 0),
    ("rest_api_num_threads", "int32", FOUR_PER_CPU),
    ("rest_api_timeout_in_ms", "int32", 30000),
    ("rest_api_enable_cors_support", "bool", False),
    ("enable_batching", "bool", False),
    ("allow_version_labels_for_unavailable_models", "bool", False),
    ("batching_parameters_file", "string", ""),
    ("enable_per_model_batching_parameters", "bool", False),
    ("model_config_file", "string", ""),
    ("model_config_file_poll_wait_seconds", "int32", 0),
    ("model_name", "string", "default"),
    ("model_base_path", "string", ""),
    ("num_load_threads", "int32", 0),
    ("num_unload_threads", "int32", 0),
    ("max_num_load_retries", "int32", 5),
    ("load_retry_interval_micros", "int64", 60_000_000),
    ("file_system_poll_wait_seconds", "int32", 1),
    ("flush_filesystem_caches", "bool", True),
    ("tensorflow_session_parallelism", "int64", 0),
    ("tensorflow_session_config_file", "string", ""),
    ("tensorflow_intra_op_parallelism", "int64", 0),
    ("tensorflow_inter_op_parallelism", "int64", 0),
    ("use_alts_credentials", "bool", False),
    ("ssl_config_file", "string", ""),
    ("platform_config_file", "string", ""),
    ("per_process_gpu_memory_fraction", "float", 0.0),
    ("saved_model_tags", "string", "serve"),
    ("grpc_channel_arguments", "string", ""),
    ("grpc_max_threads", "int32", FOUR_PER_CPU),
    ("enable_model_warmup", "bool", True),
    ("num_request_iterations_for_warmup", "int32", 0),
    ("version", "bool", False),
    ("monitoring_config_file", "string", ""),
    ("remove_unused_fields_from_bundle_metagraph", "bool", True),
    ("prefer_tflite_model", "bool", False),
    ("num_tflite_pools", "int32", CPUS),
    ("num_tflite_interpreters_per_pool", "int32", 1),
    ("enable_signature_method_name_check", "bool", False),
    ("xla_cpu_compilation_enabled", "bool", False),
    ("xla_gpu_compilation_enabled", "bool", False),
    ("enable_profiler", "bool", True),
    ("thread_pool_factory_config_file", "string", ""),
    ("mixed_precision", "string", ""),
    ("skip_initialize_tpu", "bool", False),
    ("enable_grpc_healthcheck_service", "bool", False),
    ("enable_serialization_as_tensor_content", "bool", False),
]
NAMES = [name for name, _, _ in MAIN_CC_FLAGS]

# The argument that sets each not-emulated flag to a non-default value, and its one line.
NOT_EMULATED_LINES = {
    "rest_api_num_threads": ("--rest_api_num_threads=3", "the REST server starts one thread per connection"),
    "num_load_threads": (
        "--num_load_threads=3",
        "versions load one at a time on the file-system polling thread",
    ),
    "num_unload_threads": (
        "--num_unload_threads=3",
        "versions unload one at a time on the file-system polling thread",
    ),
    "flush_filesystem_caches": (
        "--flush_filesystem_caches=false",
        "TensorFlow's Python API has no call that flushes file-system caches",
    ),
    "use_alts_credentials": (
        "--use_alts_credentials",
        "ALTS works only on Google Cloud; the gRPC port is plaintext",
    ),
    "platform_config_file": ("--platform_config_file=x", "only the TensorFlow platform is served"),
    "per_process_gpu_memory_fraction": (
        "--per_process_gpu_memory_fraction=0.5",
        "a GPU option; the emulator runs models on the CPU",
    ),
    "remove_unused_fields_from_bundle_metagraph": (
        "--remove_unused_fields_from_bundle_metagraph=false",
        "a memory saving only; the loaded graph is kept whole",
    ),
    "num_tflite_interpreters_per_pool": (
        "--num_tflite_interpreters_per_pool=3",
        "each request runs on one TF Lite interpreter (no batch splitting)",
    ),
    "xla_cpu_compilation_enabled": ("--xla_cpu_compilation_enabled", "XLA JIT is left as TensorFlow sets it"),
    "xla_gpu_compilation_enabled": (
        "--xla_gpu_compilation_enabled",
        "XLA:GPU is a GPU option; the emulator runs models on the CPU",
    ),
    "thread_pool_factory_config_file": (
        "--thread_pool_factory_config_file=x",
        "inference runs on the request's own thread",
    ),
    "mixed_precision": ("--mixed_precision=x", "the mixed-precision graph rewrite is not applied"),
    "skip_initialize_tpu": ("--skip_initialize_tpu", "a TPU option; only TPU builds initialise a TPU"),
}


def non_default_argument(name: str, kind: str, default: object) -> tuple[str, object]:
    """An argument that sets the flag to a value other than its default, and that value."""
    if kind == "bool":
        return (f"--{name}=false", False) if default else (f"--{name}", True)
    if kind == "string":
        return f"--{name}=/some/value", "/some/value"
    if kind == "float":
        return f"--{name}=0.25", 0.25
    return f"--{name}={int(default) + 7}", int(default) + 7


def test_the_specs_are_main_cc_s_flags_in_its_order_then_bind_address():
    assert [(s.name, s.type, s.default) for s in FLAG_SPECS] == [
        *MAIN_CC_FLAGS,
        ("bind_address", "string", "127.0.0.1"),
    ]


def test_help_texts_are_main_cc_s_word_for_word():
    helps = {spec.name: spec.help for spec in FLAG_SPECS}
    assert helps["port"] == "TCP port to listen on for gRPC/HTTP API. Disabled if port set to zero."
    # main.cc's string pieces miss a space here; the binary prints "filesystemfor".
    assert helps["model_config_file_poll_wait_seconds"] == (
        "Interval in seconds between each poll of the filesystemfor model_config_file. If unset or "
        "set to zero, poll will be done exactly once and not periodically. Setting this to negative "
        "is reserved for testing purposes only."
    )
    assert helps["tensorflow_intra_op_parallelism"] == (
        "Number of threads to use to parallelize the executionof an individual op. Auto-configured "
        "by default.Note that this option is ignored if --platform_config_file is non-empty."
    )
    assert helps["version"] == "Display version"
    assert helps["grpc_max_threads"] == "Max grpc server threads to handle grpc messages."
    assert helps["enable_serialization_as_tensor_content"] == (
        "Enable serialization of predict response as tensor content."
    )


def test_usage_is_laid_out_as_flags_usage_does():
    lines = usage().splitlines()
    assert lines[:2] == ["usage: python -m tfserving_emulator", "Flags:"]
    assert len(lines) == 2 + len(FLAG_SPECS)
    by_name = {line.split("=")[0].lstrip("\t-"): line for line in lines[2:]}
    # "\t%-33s\t%s\t%s": the flag and its default padded to 33, its type, its help.
    assert by_name["port"] == (
        "\t--port=8500                      \tint32\tTCP port to listen on for gRPC/HTTP API. "
        "Disabled if port set to zero."
    )
    assert by_name["model_name"].startswith('\t--model_name="default"           \tstring\tname of model')
    assert by_name["load_retry_interval_micros"].startswith(
        "\t--load_retry_interval_micros=60000000\tint64\tThe interval"
    )
    assert by_name["per_process_gpu_memory_fraction"].startswith(
        "\t--per_process_gpu_memory_fraction=0.000000\tfloat\tFraction"
    )
    assert by_name["enable_model_warmup"].startswith("\t--enable_model_warmup=true       \tbool\tEnables")
    assert by_name["grpc_max_threads"].startswith(
        "\t" + f"--grpc_max_threads={FOUR_PER_CPU}".ljust(33) + "\tint32\tMax grpc"
    )


def test_every_flag_left_out_keeps_its_default():
    command_line = parse([])
    assert (command_line.unknown, command_line.bad_values, command_line.ok) == ([], [], True)
    for name, _, default in MAIN_CC_FLAGS:
        assert getattr(command_line.flags, name) == default, name
    assert command_line.flags.given == ()


@pytest.mark.parametrize(("name", "kind", "default"), MAIN_CC_FLAGS, ids=NAMES)
def test_every_flag_is_accepted(name, kind, default):
    argument, value = non_default_argument(name, kind, default)
    command_line = parse([argument])
    assert (command_line.unknown, command_line.bad_values, command_line.ok) == ([], [], True)
    assert getattr(command_line.flags, name) == value
    assert command_line.flags.given == (name,)


@pytest.mark.parametrize(("name", "kind", "default"), MAIN_CC_FLAGS, ids=NAMES)
def test_a_not_emulated_flag_logs_one_line_only_when_changed(name, kind, default):
    argument, _ = non_default_argument(name, kind, default)
    lines = not_emulated_lines(parse([argument]).flags)
    if name in NOT_EMULATED_LINES:
        (line,) = lines
        assert line.startswith(f"--{name}=")
        assert line.endswith(f" is not emulated and has no effect: {NOT_EMULATED_LINES[name][1]}")
    else:
        assert lines == []  # it works
    shown_default = {True: "true", False: "false"}.get(default, default) if kind == "bool" else default
    assert not_emulated_lines(parse([f"--{name}={shown_default}"]).flags) == []


def test_the_not_emulated_table_is_the_emulators():
    assert set(NOT_EMULATED) == set(NOT_EMULATED_LINES)
    for name, (argument, reason) in NOT_EMULATED_LINES.items():
        value = argument.partition("=")[2] or "true"
        assert not_emulated_lines(parse([argument]).flags) == [
            f"--{name}={value} is not emulated and has no effect: {reason}"
        ]


def test_not_emulated_lines_come_in_main_cc_order_one_each():
    flags = parse(
        ["--platform_config_file=a", "--rest_api_num_threads=2", "--rest_api_num_threads=3", "--port=9"]
    ).flags
    assert not_emulated_lines(flags) == [
        "--rest_api_num_threads=3 is not emulated and has no effect: the REST server starts one thread per "
        "connection",
        "--platform_config_file=a is not emulated and has no effect: only the TensorFlow platform is served",
    ]


def test_a_float_is_shown_as_the_float32_it_became():
    flags = parse(["--per_process_gpu_memory_fraction=0.1"]).flags
    assert flags.per_process_gpu_memory_fraction == pytest.approx(0.1, rel=1e-7)
    assert not_emulated_lines(flags)[0].startswith("--per_process_gpu_memory_fraction=0.1 is not emulated")


@pytest.mark.parametrize(
    ("argument", "name", "value"),
    [
        ("--port= 9000", "port", 9000),  # sscanf's %d skips leading white space
        ("--port=+9000", "port", 9000),
        ("--port=-1", "port", -1),
        ("--port=4294967297", "port", 1),  # stored in an int32 by truncation
        ("--load_retry_interval_micros=99999999999999999999", "load_retry_interval_micros", 2**63 - 1),
        ("--per_process_gpu_memory_fraction=1e-1", "per_process_gpu_memory_fraction", 0.10000000149011612),
        ("--per_process_gpu_memory_fraction=0x1p-2", "per_process_gpu_memory_fraction", 0.25),
        ("--model_name=", "model_name", ""),
        ("--model_name=a=b", "model_name", "a=b"),
        ("--enable_batching=false", "enable_batching", False),
        ("--enable_model_warmup", "enable_model_warmup", True),
    ],
)
def test_values_are_read_as_scanf_reads_them(argument, name, value):
    command_line = parse([argument])
    assert (command_line.unknown, command_line.bad_values) == ([], [])
    assert getattr(command_line.flags, name) == value


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("--port=abc", "Couldn't interpret value abc for flag port."),
        ("--port=8500x", "Couldn't interpret value 8500x for flag port."),
        ("--port=85 00", "Couldn't interpret value 85 00 for flag port."),
        ("--port=", "Couldn't interpret value  for flag port."),
        ("--port=0x10", "Couldn't interpret value 0x10 for flag port."),
        (
            "--load_retry_interval_micros=1.5",
            "Couldn't interpret value 1.5 for flag load_retry_interval_micros.",
        ),
        (
            "--per_process_gpu_memory_fraction=half",
            "Couldn't interpret value half for flag per_process_gpu_memory_fraction.",
        ),
        (
            "--per_process_gpu_memory_fraction=1_0",
            "Couldn't interpret value 1_0 for flag per_process_gpu_memory_fraction.",
        ),
        # Bool flags: only bare, =true and =false; the message shows what follows the name.
        ("--enable_batching=1", "Couldn't interpret value =1 for flag enable_batching."),
        ("--enable_batching=True", "Couldn't interpret value =True for flag enable_batching."),
        ("--enable_batchingx", "Couldn't interpret value x for flag enable_batching."),
        ("--versions", "Couldn't interpret value s for flag version."),
    ],
)
def test_bad_values_get_tensorflows_message(argument, message):
    command_line = parse([argument])
    assert command_line.bad_values == [message]
    assert command_line.unknown == []
    assert command_line.ok is False


@pytest.mark.parametrize(
    ("argv", "unknown"),
    [
        (["--port", "9000"], ["--port", "9000"]),  # only --name=value: the value is another argument
        (["--no_such_flag=1"], ["--no_such_flag=1"]),
        (["-port=9000"], ["-port=9000"]),
        (["--PORT=9000"], ["--PORT=9000"]),
        (["serve"], ["serve"]),
        (["--port=1", "--", "--model_name=x"], ["--", "--model_name=x"]),  # "--" ends the flags
    ],
)
def test_arguments_no_flag_takes_are_left_over(argv, unknown):
    command_line = parse(argv)
    assert command_line.unknown == unknown
    assert command_line.ok is True  # Flags::Parse succeeds; main.cc reports them
    assert command_line.flags.model_name == "default"


def test_help_fails_the_parse_only_when_it_is_the_first_left_over():
    assert parse(["--port=1", "--help"]).ok is False
    assert parse(["--nope", "--help"]).ok is True


def test_grpc_max_threads_sizes_the_pool_when_given():
    assert _grpc_threads(parse(["--grpc_max_threads=3"]).flags) == 3
    assert _grpc_threads(parse([]).flags) is None  # the emulator's own default, 2 x the CPUs


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (
            ["--port=0", "--model_base_path=/m"],
            "INVALID_ARGUMENT: At least one of server_options.grpc_port or server_options.grpc_socket_path "
            "must be set.",
        ),
        (
            ["--use_alts_credentials", "--ssl_config_file=/s", "--model_base_path=/m"],
            "INVALID_ARGUMENT: Either use_alts_credentials must be false or ssl_config_file must be empty.",
        ),
        (
            ["--batching_parameters_file=/b", "--model_base_path=/m"],
            "INVALID_ARGUMENT: server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true.",
        ),
        (
            [
                "--tensorflow_session_parallelism=2",
                "--tensorflow_intra_op_parallelism=2",
                "--tensorflow_inter_op_parallelism=2",
                "--model_base_path=/m",
            ],
            "INVALID_ARGUMENT: Either configure server_options.tensorflow_session_parallelism or "
            "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism) "
            "separately. You cannot configure all.",
        ),
    ],
)
def test_start_up_checks_of_server_cc(argv, status):
    with pytest.raises(ServingError) as raised:
        _model_server_config(parse(argv).flags)
    assert raised.value.status_string() == status


def test_the_batching_check_belongs_to_the_tensorflow_platform():
    flags = parse(
        ["--batching_parameters_file=/b", "--platform_config_file=/p", "--model_base_path=/m"]
    ).flags
    assert _model_server_config(flags) is not None


def test_port_zero_is_allowed_with_a_unix_socket():
    flags = parse(["--port=0", "--grpc_socket_path=/tmp/s", "--model_base_path=/m"]).flags
    assert _model_server_config(flags) is not None


# The process: what it prints and how it exits.


def test_a_bad_value_logs_the_error_prints_the_usage_and_exits():
    result = run_emulator_to_exit(["--port=abc", "--enable_batching=1"])
    assert result.returncode == FAILURE_EXIT
    lines = result.stdout.splitlines()
    errors = [
        line.split("] ", 1) for line in lines if " E tensorflow/core/util/command_line_flags.cc] " in line
    ]
    assert [message for _, message in errors] == [
        "Couldn't interpret value abc for flag port.",
        "Couldn't interpret value =1 for flag enable_batching.",
    ]
    assert [line for line in lines if "] " not in line] == usage().splitlines()


def test_help_prints_the_usage_and_exits():
    result = run_emulator_to_exit(["--help"])
    assert (result.returncode, result.stdout) == (FAILURE_EXIT, usage())


def test_an_unknown_argument_prints_its_name_and_the_usage():
    result = run_emulator_to_exit(["--port", "9000"])
    assert (result.returncode, result.stdout) == (FAILURE_EXIT, "unknown argument: --port\n" + usage())


def test_grpc_max_threads_below_one_is_refused():
    result = run_emulator_to_exit(["--grpc_max_threads=0", "--model_base_path=/m"])
    assert result.returncode == FAILURE_EXIT
    assert result.stdout.splitlines()[-1].endswith("] --grpc_max_threads must be at least 1, got 0")


def test_not_emulated_flags_log_one_line_each_at_start_up():
    result = run_emulator_to_exit(
        [
            "--per_process_gpu_memory_fraction=0.5",
            "--rest_api_num_threads=3",
            "--platform_config_file=/platform.config",
            "--flush_filesystem_caches=true",  # its default: no line
            "--enable_model_warmup=false",  # works: no line
        ]
    )
    assert result.returncode == FAILURE_EXIT  # no model given
    lines = [
        line.split("] ", 1)[1] for line in result.stdout.splitlines() if " W tfserving_emulator] " in line
    ]
    assert lines == [
        "--rest_api_num_threads=3 is not emulated and has no effect: the REST server starts one thread per "
        "connection",
        "--platform_config_file=/platform.config is not emulated and has no effect: only the TensorFlow "
        "platform is served",
        "--per_process_gpu_memory_fraction=0.5 is not emulated and has no effect: a GPU option; the emulator "
        "runs models on the CPU",
    ]
    assert result.stdout.splitlines()[-1] == (
        "Failed to start server. Error: INVALID_ARGUMENT: Both server_options.model_base_path and "
        "server_options.model_config_file are empty!"
    )


def _flag_table(page: str) -> dict[str, str]:
    """The Flags table of an emulator page: flag name -> its 'in the emulator' column."""
    rows = {}
    for line in (REPO_ROOT / page).read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`--") and cells[0].endswith("`"):
            rows[cells[0].strip("`").removeprefix("--")] = cells[-1]
    return rows


@pytest.mark.parametrize(
    ("page", "not_emulated_prefix"),
    [("docs/emulator.md", "not emulated: "), ("docs/zh-CN/emulator.md", "未模拟")],
)
def test_the_docs_flag_table_names_every_flag_and_what_is_not_emulated(page, not_emulated_prefix):
    # The page and the code say the same: a flag marked "not emulated" there is exactly one
    # that logs the line here (with the same reason, on the English page), and no other.
    table = _flag_table(page)
    assert list(table) == [spec.name for spec in FLAG_SPECS]
    marked = {name for name, text in table.items() if text.startswith(not_emulated_prefix)}
    assert marked == set(NOT_EMULATED)
    if page == "docs/emulator.md":
        for name, reason in NOT_EMULATED.items():
            assert table[name].startswith(f"not emulated: {reason}"), name
