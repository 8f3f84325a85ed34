"""Build TF Serving's ``half_plus_two`` test model locally, with no download.

TensorFlow Serving's own smoke test serves ``saved_model_half_plus_two_cpu``, a tiny
SavedModel kept in the tensorflow/serving repository (``servables/tensorflow/testdata``).
``01_install_serving.sh`` downloads it; this module writes an equivalent one, so the
tutorial and its tests also work offline and without a copy of that repository.

What "equivalent" means here: the same graph and the same five signatures, built the way
the official generator ``saved_model_half_plus_two.py`` builds them — a TF1 graph saved
with ``SavedModelBuilder`` (``tf.compat.v1`` graph mode; no ``tf.function``, no object
graph), so every signature name, input/output alias, tensor name, dtype, shape and
method name is identical. The model computes

    y  = a * x  + b      a = 0.5, b = 2.0      (serving_default: x -> y)
    y2 = a * x  + c      c = 3.0
    y3 = a2 * x2 + c2    a2 = 0.5, c2 = 3.0    (separate variables, as upstream)

where ``x`` and ``x2`` come from parsing serialized ``tf.Example`` protos (``x2``
defaults to 0.0), so the classify and regress APIs work on it too:

    signature          method                         inputs                    outputs
    serving_default    tensorflow/serving/predict     x      <- x:0  [-1,1]     y       <- y:0
    classify_x_to_y    tensorflow/serving/classify    inputs <- tf_example:0    scores  <- y:0
    regress_x_to_y     tensorflow/serving/regress     inputs <- tf_example:0    outputs <- y:0
    regress_x_to_y2    tensorflow/serving/regress     inputs <- tf_example:0    outputs <- y2:0
    regress_x2_to_y3   tensorflow/serving/regress     inputs <- x2:0 [-1,1]     outputs <- y3:0

It also carries the asset ``assets/foo.txt`` (``asset-file-contents``), like upstream.

TF Serving looks for numbered version directories under a model's base path, so the
model goes to ``OUTPUT_BASE_DIR/00000123/`` (zero-padded like the official copy; the
server reads the name as version 123):

    python -m tutorial.make_half_plus_two ./downloads/half_plus_two            # version 123
    python -m tutorial.make_half_plus_two ./downloads/half_plus_two --version 124

The version directory appears in one step (built in a hidden sibling directory, then
renamed), because a running server polls the base path and must never see a
half-written version. An existing version is never overwritten.

From Python: ``make_half_plus_two(base_dir, version=123)`` returns the version directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tutorial.quiet_tensorflow import import_tensorflow_quietly

# Keep TensorFlow's start-up chatter out of the output: its log level, and two "no GPU"
# notes that TensorFlow 2.21 prints at import before it reads that level.
import_tensorflow_quietly()

import tensorflow as tf

tf1 = tf.compat.v1
signature_constants = tf1.saved_model.signature_constants

DEFAULT_VERSION = 123
ASSET_FILENAME = "foo.txt"
ASSET_CONTENTS = "asset-file-contents"


class VersionExistsError(FileExistsError):
    """The requested version directory is already there; we never overwrite a model."""


def version_dir_name(version: int) -> str:
    """``123`` -> ``00000123``: the official fixture's padding (TF Serving strips the zeros)."""
    return f"{version:08d}"


# ---------------------------------------------------------------------------
# 1. Signatures: the classify/regress helpers of the official generator
# ---------------------------------------------------------------------------


def _regression_signature(input_tensor: tf.Tensor, output_tensor: tf.Tensor):
    """One input aliased ``inputs`` and one output ``outputs``: what the Regress API expects."""
    return tf1.saved_model.signature_def_utils.build_signature_def(
        inputs={signature_constants.REGRESS_INPUTS: tf1.saved_model.utils.build_tensor_info(input_tensor)},
        outputs={signature_constants.REGRESS_OUTPUTS: tf1.saved_model.utils.build_tensor_info(output_tensor)},
        method_name=signature_constants.REGRESS_METHOD_NAME,
    )


def _classification_signature(input_tensor: tf.Tensor, scores_tensor: tf.Tensor):
    """Input ``inputs`` and a ``scores`` output only; with no ``classes`` the labels come back as ""."""
    return tf1.saved_model.signature_def_utils.build_signature_def(
        inputs={signature_constants.CLASSIFY_INPUTS: tf1.saved_model.utils.build_tensor_info(input_tensor)},
        outputs={
            signature_constants.CLASSIFY_OUTPUT_SCORES: tf1.saved_model.utils.build_tensor_info(scores_tensor)
        },
        method_name=signature_constants.CLASSIFY_METHOD_NAME,
    )


# ---------------------------------------------------------------------------
# 2. The graph and the SavedModel
# ---------------------------------------------------------------------------


def _write_saved_model(export_dir: Path, asset_source_dir: Path) -> None:
    """Build the half_plus_two graph and save it to ``export_dir`` (which must not exist yet)."""
    builder = tf1.saved_model.builder.SavedModelBuilder(str(export_dir))

    with tf1.Session(graph=tf.Graph()) as sess:
        # Pin to the CPU as the official `--device=cpu` build does.
        with tf.device("/cpu:0"):
            # Variables, not constants, so that loading the model exercises restoring a checkpoint.
            a = tf1.Variable(0.5, name="a")
            b = tf1.Variable(2.0, name="b")
            c = tf1.Variable(3.0, name="c")

            # Serialized tf.Example protos in; classify/regress requests arrive in this form.
            # No static shape: the published _cpu model's `inputs` TensorInfo has unknown rank
            # (today's upstream script says shape=[None], but the served copy predates that).
            serialized_tf_example = tf1.placeholder(tf.string, name="tf_example")
            feature_configs = {
                "x": tf1.FixedLenFeature([1], dtype=tf.float32),
                "x2": tf1.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0]),
            }
            tf_example = tf1.parse_example(serialized_tf_example, feature_configs)
            # Old TF inferred [batch, 1] for these even from an unknown-rank input; today's
            # does not, so state it (static shape only, no op) to get the [-1,1] signatures.
            for parsed in tf_example.values():
                parsed.set_shape([None, 1])

            # tf.identity gives the tensors the stable names x:0, y:0, ... that the signatures
            # point at. Predict feeds x:0 directly, bypassing the parser.
            x = tf.identity(tf_example["x"], name="x")
            y = tf.identity(tf.add(tf.multiply(a, x), b), name="y")
            y2 = tf.identity(tf.add(tf.multiply(a, x), c), name="y2")

            x2 = tf.identity(tf_example["x2"], name="x2")
            # Separate variables for the x2 path, as upstream, so graph optimizers cannot fuse
            # the y and y3 computations.
            a2 = tf1.Variable(0.5, name="a2")
            c2 = tf1.Variable(3.0, name="c2")
            y3 = tf.identity(tf.add(tf.multiply(a2, x2), c2), name="y3")

        # The asset: the builder copies every file in the ASSET_FILEPATHS collection into
        # <export_dir>/assets/ and rewrites the constant's path at load time.
        asset_path = asset_source_dir / ASSET_FILENAME
        asset_path.write_text(ASSET_CONTENTS, encoding="utf-8")
        tf1.add_to_collection(tf1.GraphKeys.ASSET_FILEPATHS, tf.constant(str(asset_path)))
        filename_tensor = tf1.Variable(
            ASSET_FILENAME, name="filename_tensor", trainable=False, collections=[]
        )
        assign_filename_op = filename_tensor.assign(ASSET_FILENAME)

        predict_signature = tf1.saved_model.signature_def_utils.build_signature_def(
            inputs={"x": tf1.saved_model.utils.build_tensor_info(x)},
            outputs={"y": tf1.saved_model.utils.build_tensor_info(y)},
            method_name=signature_constants.PREDICT_METHOD_NAME,
        )
        signature_def_map = {
            "regress_x_to_y": _regression_signature(serialized_tf_example, y),
            "regress_x_to_y2": _regression_signature(serialized_tf_example, y2),
            "regress_x2_to_y3": _regression_signature(x2, y3),
            "classify_x_to_y": _classification_signature(serialized_tf_example, y),
            signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY: predict_signature,
        }

        sess.run(tf1.global_variables_initializer())
        builder.add_meta_graph_and_variables(
            sess,
            [tf1.saved_model.tag_constants.SERVING],
            signature_def_map=signature_def_map,
            assets_collection=tf1.get_collection(tf1.GraphKeys.ASSET_FILEPATHS),
            main_op=tf.group(assign_filename_op),
        )
    builder.save()


# ---------------------------------------------------------------------------
# 3. Atomic placement under the base path
# ---------------------------------------------------------------------------


def make_half_plus_two(base_dir: str | os.PathLike, version: int = DEFAULT_VERSION) -> Path:
    """Write half_plus_two as ``base_dir/<version, 8 digits>/`` and return that directory.

    Raises ``VersionExistsError`` if that version directory already exists.
    """
    if version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    base = Path(base_dir).resolve()
    target = base / version_dir_name(version)
    if target.exists():
        raise VersionExistsError(f"{target} already exists")
    base.mkdir(parents=True, exist_ok=True)

    # The staging directory's name starts with "." and is not an integer, so a server
    # polling `base` ignores it; the rename below is atomic on one filesystem.
    staging = Path(tempfile.mkdtemp(prefix=f".{version_dir_name(version)}.partial-", dir=base))
    try:
        asset_source = staging / "asset_source"
        asset_source.mkdir()
        export_dir = staging / "model"
        _write_saved_model(export_dir, asset_source)
        if target.exists():  # someone else created it while we were building
            raise VersionExistsError(f"{target} already exists")
        export_dir.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.make_half_plus_two",
        description="Write TF Serving's half_plus_two test model to OUTPUT_BASE_DIR/<version>/.",
    )
    parser.add_argument("output_base_dir", help="the model's base path; the version directory goes inside")
    parser.add_argument(
        "--version", type=int, default=DEFAULT_VERSION, help="version number (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    # The builder uses TF1 APIs on purpose; their deprecation notices are noise here.
    tf1.logging.set_verbosity(tf1.logging.ERROR)
    if args.version < 0:
        parser.error(f"--version must be a non-negative integer, got {args.version}")

    try:
        path = make_half_plus_two(args.output_base_dir, args.version)
    except VersionExistsError as err:
        print(f"error: {err}; pick another --version or remove it first.", file=sys.stderr)
        return 1
    print(f"Wrote half_plus_two version {args.version} to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
