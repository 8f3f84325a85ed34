"""Step 2: training fits the curve; the export is what TF Serving needs, published atomically."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2

from tutorial.data import make_data, true_curve
from tutorial.export import VersionExistsError, existing_versions, export_version, next_version
from tutorial.saved_model_show import format_signature_def, format_signatures, read_saved_model

MODEL_NAME = "MMModel"
PREDICT_METHOD = "tensorflow/serving/predict"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def signature_summary(signature) -> dict:
    """{"inputs": {alias: (dtype, shape)}, "outputs": {...}, "method_name": ...} of a SignatureDef."""

    def tensors(tensor_map):
        return {
            alias: (tf.dtypes.as_dtype(info.dtype).name, [dim.size for dim in info.tensor_shape.dim])
            for alias, info in tensor_map.items()
        }

    return {
        "inputs": tensors(signature.inputs),
        "outputs": tensors(signature.outputs),
        "method_name": signature.method_name,
    }


def serve_meta_graph(version_dir: Path):
    (meta_graph,) = read_saved_model(version_dir).meta_graphs
    assert list(meta_graph.meta_info_def.tags) == ["serve"]
    return meta_graph


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def test_the_blogs_data():
    x, y = make_data(seed=1)
    assert x.shape == y.shape == (300, 1)
    assert x.dtype == y.dtype == np.float32
    assert x[0, 0] == -1.0 and x[-1, 0] == 1.0
    noise = y - true_curve(x)
    assert 0.04 < float(np.std(noise)) < 0.06  # N(0, 0.05)
    assert np.array_equal(make_data(seed=1)[1], y)
    assert not np.array_equal(make_data(seed=2)[1], y)


def test_1000_steps_fit_the_curve(train_module):
    x, y = make_data(seed=1)
    model = train_module.build_model(seed=1)
    log_lines: list[str] = []
    final_loss = train_module.train(model, x, y, steps=1000, log=log_lines.append)

    mse = float(np.mean(np.square(model(x).numpy() - true_curve(x))))
    assert mse < 0.01
    logged = [re.fullmatch(r"step +(\d+)  loss (\d+\.\d{6})", line) for line in log_lines]
    assert all(logged), log_lines
    assert [int(match[1]) for match in logged] == [*range(0, 1000, 50), 999]
    losses = [float(match[2]) for match in logged]
    assert losses[-1] < losses[0] / 10
    assert f"{final_loss:.6f}" == logged[-1][2]


def test_the_model_is_the_blogs_two_dense_layers(train_module):
    # Dense(20, relu) -> Dense(1): a kernel and a bias per layer, as the blog's tf.keras.layers.Dense.
    model = train_module.build_model(seed=1)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert [layer.activation.__name__ for layer in model.layers] == ["relu", "linear"]
    assert [tuple(v.shape) for v in model.weights] == [(1, 20), (20,), (20, 1), (1,)]


def test_the_seed_fixes_the_weights(train_module):
    first, second, other = (train_module.build_model(seed=s).weights[0].numpy() for s in (1, 1, 2))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


def test_script_output(exported):
    out = exported.stdout
    assert out.startswith(
        "settings (settings.env, overridden by environment variables of the same name):\n"
        "  MODEL_NAME           = MMModel   (from the environment)\n"
    )
    assert f"  MODEL_BASE_DIR       = {exported.base_dir}   (from the environment)\n" in out
    assert "Training for 1000 steps (seed 1):\n" in out
    assert len(re.findall(r"^step +\d+  loss \d+\.\d+$", out, flags=re.M)) == 21
    assert f"Exported version 1 to {exported.version_dir}\n" in out
    assert f"Plot of the fit: {exported.plot}\n" in out
    mse = float(re.search(r"^Final MSE against x\^2 - 0\.5: (\d+\.\d+)$", out, flags=re.M)[1])
    assert mse < 0.01


def test_script_and_in_process_training_agree(train_module, exported):
    # Same seed, same data, same steps: the exported model is the one train() builds.
    x, y = make_data(seed=1)
    model = train_module.build_model(seed=1)
    train_module.train(model, x, y, steps=1000, log=lambda line: None)
    served = tf.saved_model.load(str(exported.version_dir)).signatures["serving_default"]
    np.testing.assert_allclose(served(x=tf.constant(x))["y"].numpy(), model(x).numpy(), atol=1e-6)


# ---------------------------------------------------------------------------
# The export
# ---------------------------------------------------------------------------


def test_layout(exported):
    assert sorted(p.name for p in exported.base_dir.iterdir()) == [MODEL_NAME]
    # Only the version directory: no staging directory left behind, nothing else to poll.
    assert sorted(p.name for p in exported.model_dir.iterdir()) == ["1"]
    version = exported.version_dir
    assert (version / "saved_model.pb").is_file()
    assert (version / "variables" / "variables.index").is_file()
    assert list((version / "variables").glob("variables.data-*-of-*"))
    assert oct(version.stat().st_mode & 0o777) == oct(0o755)  # readable by a server running as another user


def test_signatures_exactly(exported):
    signatures = serve_meta_graph(exported.version_dir).signature_def
    # __saved_model_init_op is TF2's variable-initialisation entry, not a servable signature.
    assert sorted(signatures) == ["__saved_model_init_op", "serving_default", "your_prediction"]
    assert signature_summary(signatures["your_prediction"]) == {
        "inputs": {"tensor_info_input_x": ("float32", [-1, 1]), "tensor_info_input_y": ("float32", [-1, 1])},
        "outputs": {"tensor_info_pre_y": ("float32", [-1, 1])},
        "method_name": PREDICT_METHOD,
    }
    assert signature_summary(signatures["serving_default"]) == {
        "inputs": {"x": ("float32", [-1, 1])},
        "outputs": {"y": ("float32", [-1, 1])},
        "method_name": PREDICT_METHOD,
    }


def test_your_prediction_matches_the_blogs_export(exported, shared_testdata):
    blog_version = shared_testdata / "seed_repo" / "trained_models" / "MMModel_2" / "1"
    if not blog_version.is_dir():
        pytest.skip("the blog's export is not in ../shared/testdata")
    blog = serve_meta_graph(blog_version).signature_def["your_prediction"]
    ours = serve_meta_graph(exported.version_dir).signature_def["your_prediction"]
    assert signature_summary(ours) == signature_summary(blog)


def test_session_loader_runs_both_signatures(exported):
    """TF Serving's C++ loader is the TF1 session loader; load and run the export through it."""
    x, y = make_data(seed=5)
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(exported.version_dir))
        blog, default = (
            meta_graph.signature_def["your_prediction"],
            meta_graph.signature_def["serving_default"],
        )
        x_name, y_name = blog.inputs["tensor_info_input_x"].name, blog.inputs["tensor_info_input_y"].name
        with_label = session.run(blog.outputs["tensor_info_pre_y"].name, {x_name: x, y_name: y})
        other_label = session.run(
            blog.outputs["tensor_info_pre_y"].name, {x_name: x, y_name: np.zeros_like(y)}
        )
        x_only = session.run(default.outputs["y"].name, {default.inputs["x"].name: x})

    assert with_label.shape == (300, 1)
    assert np.array_equal(with_label, other_label)  # y is accepted and unused
    assert np.array_equal(with_label, x_only)  # both signatures are the same model
    assert float(np.mean(np.abs(x_only - true_curve(x)))) < 0.05


def test_plot_written(exported):
    data = exported.plot.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 10_000  # a real figure, not an empty canvas


def test_signatures_printed_like_saved_model_cli(exported):
    printed = format_signatures(exported.version_dir)
    assert printed in exported.stdout
    cli = Path(sys.executable).parent / "saved_model_cli"
    if not cli.exists():
        pytest.skip("saved_model_cli is not installed next to this Python")
    result = subprocess.run(
        [str(cli), "show", "--dir", str(exported.version_dir), "--all"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # Line for line the signature part of saved_model_cli's report (it goes on with ops and functions).
    assert printed.strip() in result.stdout
    assert printed.count("signature_def['") == 3


# ---------------------------------------------------------------------------
# The printer, on hand-made signatures
# ---------------------------------------------------------------------------


def tensor_info(name: str, dtype, dims: list[int] | None):
    proto = meta_graph_pb2.TensorInfo(name=name, dtype=dtype.as_datatype_enum)
    if dims is None:
        proto.tensor_shape.unknown_rank = True
    for size in dims or []:
        proto.tensor_shape.dim.add(size=size)
    return proto


def test_format_signature_def_exact_text():
    signature = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    # Inserted out of order: the printer sorts by alias, as saved_model_cli does.
    signature.inputs["tensor_info_input_y"].CopyFrom(tensor_info("Placeholder_1:0", tf.float32, [-1, 1]))
    signature.inputs["tensor_info_input_x"].CopyFrom(tensor_info("Placeholder:0", tf.float32, [-1, 1]))
    signature.outputs["tensor_info_pre_y"].CopyFrom(tensor_info("dense_1/BiasAdd:0", tf.float32, [-1, 1]))
    signature.outputs["anything"].CopyFrom(tensor_info("NoOp", tf.string, None))
    signature.outputs["scalar"].CopyFrom(tensor_info("s:0", tf.int64, []))
    signature.outputs["vector"].CopyFrom(tensor_info("v:0", tf.double, [-1]))
    assert format_signature_def("your_prediction", signature) == [
        "signature_def['your_prediction']:",
        "  The given SavedModel SignatureDef contains the following input(s):",
        "    inputs['tensor_info_input_x'] tensor_info:",
        "        dtype: DT_FLOAT",
        "        shape: (-1, 1)",
        "        name: Placeholder:0",
        "    inputs['tensor_info_input_y'] tensor_info:",
        "        dtype: DT_FLOAT",
        "        shape: (-1, 1)",
        "        name: Placeholder_1:0",
        "  The given SavedModel SignatureDef contains the following output(s):",
        "    outputs['anything'] tensor_info:",
        "        dtype: DT_STRING",
        "        shape: unknown_rank",
        "        name: NoOp",
        "    outputs['scalar'] tensor_info:",
        "        dtype: DT_INT64",
        "        shape: ()",
        "        name: s:0",
        "    outputs['tensor_info_pre_y'] tensor_info:",
        "        dtype: DT_FLOAT",
        "        shape: (-1, 1)",
        "        name: dense_1/BiasAdd:0",
        "    outputs['vector'] tensor_info:",
        "        dtype: DT_DOUBLE",
        "        shape: (-1)",
        "        name: v:0",
        "  Method name is: tensorflow/serving/predict",
    ]


# ---------------------------------------------------------------------------
# Version numbering and refusing to overwrite
# ---------------------------------------------------------------------------


def test_next_version(tmp_path):
    assert next_version(tmp_path / "missing") == 1
    assert next_version(tmp_path) == 1
    for name in ("1", "3", "007", "v9", "1.5", ".tmp-12-abc"):
        (tmp_path / name).mkdir()
    (tmp_path / "20").write_text("a file, not a version")
    assert existing_versions(tmp_path) == [1, 3, 7]
    assert next_version(tmp_path) == 8


def quick_main(train_module, model_dir: Path, plot: Path, *extra: str) -> int:
    """main() in-process with a 1-step training: the export logic is what is under test."""
    return train_module.main(["--model-dir", str(model_dir), "--steps", "1", "--plot", str(plot), *extra])


def test_versions_count_up_and_can_be_chosen(train_module, tmp_path, capsys):
    model_dir = tmp_path / MODEL_NAME
    assert quick_main(train_module, model_dir, tmp_path / "a.png") == 0
    assert quick_main(train_module, model_dir, tmp_path / "b.png") == 0
    assert quick_main(train_module, model_dir, tmp_path / "c.png", "--version", "10") == 0
    assert quick_main(train_module, model_dir, tmp_path / "d.png") == 0
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "10", "11", "2"]
    assert f"Exported version 11 to {model_dir / '11'}\n" in capsys.readouterr().out


def test_refuses_to_overwrite_a_version(train_module, tmp_path, capsys):
    model_dir = tmp_path / MODEL_NAME
    assert quick_main(train_module, model_dir, tmp_path / "a.png", "--version", "3") == 0
    before = {p: p.stat().st_mtime_ns for p in (model_dir / "3").rglob("*")}
    capsys.readouterr()

    assert quick_main(train_module, model_dir, tmp_path / "b.png", "--version", "3") == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: {model_dir / '3'} already exists; pass --version N with a new N, or remove that directory.\n"
    )
    assert "Training" not in captured.out  # refused before spending time on training
    assert {p: p.stat().st_mtime_ns for p in (model_dir / "3").rglob("*")} == before
    assert not (tmp_path / "b.png").exists()


def test_refusal_from_the_command_line_is_one_line(exported, script_runner):
    result = script_runner(
        "02_train_and_export.py",
        "--version",
        "1",
        env={"MODEL_BASE_DIR": str(exported.base_dir), "MODEL_NAME": MODEL_NAME},
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {exported.version_dir} already exists; pass --version N with a new N, or remove that directory."
    ]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--steps", "0"], "--steps must be at least 1"),
        (["--version", "-1"], "--version must be a non-negative integer"),
    ],
)
def test_bad_options_are_rejected(train_module, tmp_path, option, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_module.main(["--model-dir", str(tmp_path), *option])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_default_plot_path(train_module, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "REPO_ROOT", tmp_path)
    assert (
        train_module.main(["--model-dir", str(tmp_path / MODEL_NAME), "--steps", "1", "--version", "4"]) == 0
    )
    assert (tmp_path / "results" / "fit_v4.png").read_bytes().startswith(PNG_MAGIC)
    # The plot never goes into the model folder that the server polls.
    assert sorted(p.name for p in (tmp_path / MODEL_NAME).iterdir()) == ["4"]


# ---------------------------------------------------------------------------
# Atomic export
# ---------------------------------------------------------------------------


def test_export_version_stages_under_a_hidden_non_integer_name(tmp_path):
    seen = {}

    def write(staging_dir: Path) -> None:
        seen["staging"] = staging_dir
        seen["versions_while_writing"] = existing_versions(tmp_path)
        (staging_dir / "saved_model.pb").write_bytes(b"model")

    version_dir = export_version(tmp_path, 3, write)
    staging = seen["staging"]
    assert staging.parent == tmp_path
    assert staging.name.startswith(".tmp-3-") and not staging.name.isdigit()
    assert seen["versions_while_writing"] == []  # nothing a polling server would load
    assert version_dir == tmp_path / "3"
    assert (version_dir / "saved_model.pb").read_bytes() == b"model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["3"]


def test_failed_write_leaves_nothing(tmp_path):
    def write(staging_dir: Path) -> None:
        (staging_dir / "variables").mkdir()
        (staging_dir / "saved_model.pb").write_bytes(b"half")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        export_version(tmp_path, 1, write)
    assert list(tmp_path.iterdir()) == []


def test_version_appearing_while_writing_is_not_replaced(tmp_path):
    def write(staging_dir: Path) -> None:
        (staging_dir / "saved_model.pb").write_bytes(b"mine")
        (tmp_path / "2").mkdir()  # another export wins the race (an empty dir os.rename would replace)

    with pytest.raises(VersionExistsError) as error:
        export_version(tmp_path, 2, write)
    assert error.value.version_dir == tmp_path / "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2"]
    assert list((tmp_path / "2").iterdir()) == []


def test_script_save_failing_midway_publishes_no_version(train_module, tmp_path, monkeypatch):
    real_save = tf.saved_model.save

    def save_then_fail(obj, export_dir, **kwargs):
        real_save(obj, export_dir, **kwargs)  # a complete model on disk ...
        shutil.rmtree(Path(export_dir) / "variables")  # ... then half of it is lost
        raise OSError("No space left on device")

    monkeypatch.setattr(train_module.tf.saved_model, "save", save_then_fail)
    with pytest.raises(OSError, match="No space left on device"):
        quick_main(train_module, tmp_path / MODEL_NAME, tmp_path / "fit.png")
    assert list((tmp_path / MODEL_NAME).iterdir()) == []


def test_script_publishes_nothing_the_session_loader_cannot_run(train_module, tmp_path, monkeypatch):
    def broken_check(export_dir, *args):
        raise RuntimeError(f"{export_dir} does not run")

    monkeypatch.setattr(train_module, "check_with_session_loader", broken_check)
    with pytest.raises(RuntimeError, match=r"/\.tmp-1-[^/]+ does not run"):
        quick_main(train_module, tmp_path / MODEL_NAME, tmp_path / "fit.png")
    assert list((tmp_path / MODEL_NAME).iterdir()) == []
