"""The generated half_plus_two is the official ``saved_model_half_plus_two_cpu``'s twin.

Everything else in this suite serves the generated model, so this is where we prove
that it is a faithful stand-in: same signatures (byte-for-byte protos), same
variables, same asset, same answers.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import tensorflow as tf

from tutorial.make_half_plus_two import VersionExistsError, main, make_half_plus_two

tf1 = tf.compat.v1


def load_and_run(version_dir, fetches, feeds):
    """Load with the TF1 session loader (what TF Serving uses) and run once."""
    with tf1.Session(graph=tf.Graph()) as sess:
        meta_graph = tf1.saved_model.loader.load(sess, ["serve"], str(version_dir))
        return meta_graph, sess.run(fetches, feeds)


def example(**features) -> bytes:
    feature = {k: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) for k, v in features.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_signature_defs_equal_the_official_cpu_model(half_plus_two_version_dir, shared_tf_serving):
    official = shared_tf_serving / "saved_model_half_plus_two_cpu" / "00000123"
    ours, _ = load_and_run(half_plus_two_version_dir, "y:0", {"x:0": [[1.0]]})
    theirs, _ = load_and_run(official, "y:0", {"x:0": [[1.0]]})
    assert sorted(ours.signature_def) == sorted(theirs.signature_def)
    for name in theirs.signature_def:
        # Identical protos: aliases, tensor names, dtypes, shapes and method names.
        assert ours.signature_def[name] == theirs.signature_def[name], name
    assert list(ours.meta_info_def.tags) == ["serve"]


def test_signatures_are_the_five_of_the_cpu_model(half_plus_two_version_dir):
    meta_graph, _ = load_and_run(half_plus_two_version_dir, "y:0", {"x:0": [[1.0]]})
    methods = {name: sig.method_name for name, sig in meta_graph.signature_def.items()}
    assert methods == {
        "serving_default": "tensorflow/serving/predict",
        "classify_x_to_y": "tensorflow/serving/classify",
        "regress_x_to_y": "tensorflow/serving/regress",
        "regress_x_to_y2": "tensorflow/serving/regress",
        "regress_x2_to_y3": "tensorflow/serving/regress",
    }
    predict = meta_graph.signature_def["serving_default"]
    assert predict.inputs["x"].name == "x:0"
    assert [d.size for d in predict.inputs["x"].tensor_shape.dim] == [-1, 1]
    assert predict.outputs["y"].name == "y:0"
    assert meta_graph.signature_def["classify_x_to_y"].inputs["inputs"].tensor_shape.unknown_rank


def test_half_plus_two_of_1_2_5(half_plus_two_version_dir):
    _, y = load_and_run(half_plus_two_version_dir, "y:0", {"x:0": [[1.0], [2.0], [5.0]]})
    assert y.ravel().tolist() == [2.5, 3.0, 4.5]


def test_example_parsing_paths(half_plus_two_version_dir):
    # x2 is absent from the first example, so it takes its default 0.0: y3 = 0.5*0 + 3.
    feeds = {"tf_example:0": [example(x=2.0), example(x=4.0, x2=2.0)]}
    _, (y, y2, y3) = load_and_run(half_plus_two_version_dir, ["y:0", "y2:0", "y3:0"], feeds)
    assert y.ravel().tolist() == [3.0, 4.0]
    assert y2.ravel().tolist() == [4.0, 5.0]
    assert y3.ravel().tolist() == [3.0, 4.0]


def test_variables_and_asset(half_plus_two_version_dir):
    reader = tf.train.load_checkpoint(str(half_plus_two_version_dir / "variables" / "variables"))
    values = {name: float(reader.get_tensor(name)) for name in ("a", "b", "c", "a2", "c2")}
    assert values == {"a": 0.5, "b": 2.0, "c": 3.0, "a2": 0.5, "c2": 3.0}
    assert (half_plus_two_version_dir / "assets" / "foo.txt").read_text() == "asset-file-contents"
    assert half_plus_two_version_dir.name == "00000123"


def test_version_is_zero_padded_and_nothing_is_left_behind(tmp_path):
    path = make_half_plus_two(tmp_path / "hpt", version=7)
    assert path == tmp_path / "hpt" / "00000007"
    assert sorted(p.name for p in (tmp_path / "hpt").iterdir()) == ["00000007"]
    assert sorted(p.name for p in path.iterdir()) == ["assets", "saved_model.pb", "variables"]
    with pytest.raises(VersionExistsError):
        make_half_plus_two(tmp_path / "hpt", version=7)


def test_cli_writes_then_refuses_to_overwrite(tmp_path, capsys):
    base = tmp_path / "hpt"
    assert main([str(base), "--version", "42"]) == 0
    assert capsys.readouterr().out == f"Wrote half_plus_two version 42 to {base / '00000042'}\n"
    saved_model = (base / "00000042" / "saved_model.pb").read_bytes()

    assert main([str(base), "--version", "42"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"error: {base / '00000042'} already exists; pick another --version or remove it first."
    ]
    assert (base / "00000042" / "saved_model.pb").read_bytes() == saved_model


def test_module_entry_point_exit_code(tmp_path, repo_root):
    base = tmp_path / "hpt"
    make_half_plus_two(base)  # default version 123
    result = subprocess.run(
        [sys.executable, "-m", "tutorial.make_half_plus_two", str(base)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert f"error: {base / '00000123'} already exists" in result.stderr
    assert sorted(p.name for p in base.iterdir()) == ["00000123"]
