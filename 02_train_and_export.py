"""Step 2: train the blog's tiny network and export it as a SavedModel for TF Serving.

What this teaches (the walk-through, with its output: docs/train_and_export.md):
* The blog's model in TensorFlow 2: no placeholders, no sessions. A ``keras.Sequential``
  of two Dense layers, ``tf.GradientTape`` computes the gradients, Adam applies them.
* Signatures are the model's public API. We export the blog's ``your_prediction``
  unchanged (so the blog's clients still work) and a simpler ``serving_default``, with
  ``keras.export.ExportArchive`` (the Keras export that TF Serving can run).
* TF Serving's layout: ``<MODEL_BASE_DIR>/<MODEL_NAME>/<integer version>/saved_model.pb``
  plus ``variables/``. A new version is published atomically (written to a hidden
  directory, then renamed), because the server polls that folder and must never load a
  half-written model.
* A warm-up file (``assets.extra/tf_serving_warmup_requests``): sample requests the server
  replays at load time, so the first client does not pay for TensorFlow's lazy set-up
  (chapter 13 measures it; docs/warm_up.md).
* Checking an export the way the server will load it, and reading its signatures back
  (the same report as ``saved_model_cli show --all``).

Run it:

    python 02_train_and_export.py                  # next free version under trained_models/MMModel
    python 02_train_and_export.py --version 2 --seed 7

It prints the loss every 50 steps, the exported signatures and the final error, and draws
the fit to ``results/fit_v<version>.png``. Ctrl-C stops it with one line and exit code 130,
and never leaves a half-written version behind.
"""

# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tutorial import cli
from tutorial.settings import REPO_ROOT, load_settings


def parse_args(argv: list[str] | None, default_model_dir: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train the blog's MLP and export it for TF Serving.")
    parser.add_argument("--seed", type=int, default=1, help="seed for the data and the weights (default 1)")
    parser.add_argument("--steps", type=int, default=1000, help="training steps (default 1000)")
    parser.add_argument(
        "--version",
        type=int,
        help="version number to export (default: one above the highest existing version, or 1)",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=default_model_dir,
        help="folder holding the version directories (default $MODEL_BASE_DIR/$MODEL_NAME)",
    )
    parser.add_argument("--plot", type=Path, help="PNG of the fit (default results/fit_v<version>.png)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.version is not None and args.version < 0:
        parser.error("--version must be a non-negative integer")
    return args


if __name__ == "__main__":
    cli.before_tensorflow(lambda: parse_args(None, load_settings().model_dir))  # --help, typos, Ctrl-C

from tutorial.quiet_tensorflow import import_tensorflow_quietly

# Keep TensorFlow's start-up chatter out of the output: its log level, and the "no GPU"
# notes that TensorFlow 2.21 prints at import before it reads that level.
import_tensorflow_quietly()

import keras
import numpy as np
import tensorflow as tf

from tutorial.data import make_data, true_curve
from tutorial.export import (
    VersionExistsError,
    export_version,
    interrupted_message,
    next_version,
    unwritable_message,
    unwritable_reason,
    version_exists_message,
)
from tutorial.fit_plot import save_plot
from tutorial.saved_model_show import format_signatures
from tutorial.warmup_requests import (
    WARMUP_FILE,
    describe,
    read_warmup_file,
    replay_warmup_requests,
    tutorial_records,
    write_warmup_file,
)

HIDDEN_UNITS = 20
LEARNING_RATE = 0.001
LOG_EVERY = 50

# ---------------------------------------------------------------------------
# The model: the blog's Dense(20, relu) -> Dense(1), as a Keras Sequential model
# ---------------------------------------------------------------------------


def build_model(seed: int) -> keras.Sequential:
    """The blog's two tf.keras.layers.Dense layers; the same seed gives the same initial weights."""
    keras.utils.set_random_seed(seed)  # seeds Python, NumPy and TensorFlow at once
    return keras.Sequential(
        [keras.Input(shape=(1,)), keras.layers.Dense(HIDDEN_UNITS, activation="relu"), keras.layers.Dense(1)]
    )


# ---------------------------------------------------------------------------
# Training: the blog's loop, eagerly, with tf.GradientTape
# ---------------------------------------------------------------------------
# A custom step rather than model.fit: it shows the blog's loss and optimizer step by step,
# and prints the loss exactly every LOG_EVERY steps.


def train(model: keras.Model, x: np.ndarray, y: np.ndarray, steps: int, log=print) -> float:
    """Full-batch Adam on the blog's loss, tf.nn.l2_loss (half the sum of squared errors).

    Returns the last loss. ``log`` receives a line every LOG_EVERY steps.
    """
    # epsilon=1e-8 is tf.train.AdamOptimizer's default (Keras uses 1e-7), as in the blog.
    optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE, epsilon=1e-8)
    x, y = tf.constant(x), tf.constant(y)

    @tf.function  # traced once; each step then runs as one graph, much faster than op by op
    def train_step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = tf.nn.l2_loss(model(x, training=True) - y)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    loss = float("nan")
    for step in range(steps):
        loss = float(train_step())
        if step % LOG_EVERY == 0 or step == steps - 1:
            log(f"step {step:4d}  loss {loss:.6f}")
    return loss


# ---------------------------------------------------------------------------
# Signatures: what TF Serving exposes, written with keras.export.ExportArchive
# ---------------------------------------------------------------------------
# TF Serving loads a SavedModel with its C++ *session* loader (the TF1 path). ExportArchive
# saves the Keras variables so that loader finds them; tf.saved_model.save(model) or a
# tf.Module holding Keras 3 layers does not: the model loads, then the first request fails
# with "Could not find variable dense_1/bias". model.export(path) works but writes
# serving_default only. A signature's input names are the TensorSpec names and its output
# names are the keys of the returned dict.


def make_archive(model: keras.Model) -> keras.export.ExportArchive:
    batch_of_scalars = [None, 1]  # shape [-1, 1]: any number of rows, one value each
    archive = keras.export.ExportArchive()
    archive.track(model)  # its variables are saved with the archive

    # The blog's signature, unchanged: same names, dtypes, shapes and method name, so the
    # blog's clients work against this model. The label y is an input although the
    # prediction never uses it; TF Serving still requires every signature input in a request.
    def your_prediction(tensor_info_input_x, tensor_info_input_y):
        del tensor_info_input_y  # accepted, unused
        return {"tensor_info_pre_y": model(tensor_info_input_x)}

    archive.add_endpoint(
        "your_prediction",
        your_prediction,
        input_signature=[
            tf.TensorSpec(batch_of_scalars, tf.float32, name="tensor_info_input_x"),
            tf.TensorSpec(batch_of_scalars, tf.float32, name="tensor_info_input_y"),
        ],
    )

    # serving_default takes x alone. The blog's signature makes every client send a y it
    # never uses (and anyone calling the model does not know y: that is why they ask).
    # serving_default is also what REST and gRPC use when a request names no signature.
    archive.add_endpoint(
        "serving_default",
        lambda x: {"y": model(x)},
        input_signature=[tf.TensorSpec(batch_of_scalars, tf.float32, name="x")],
    )
    return archive


# ---------------------------------------------------------------------------
# Checking the export as the server will load it
# ---------------------------------------------------------------------------


def check_with_session_loader(export_dir: Path, x: np.ndarray, y: np.ndarray, expected: np.ndarray) -> None:
    """Load ``export_dir`` with the TF1 session loader (TF Serving's path) and run both signatures.

    tf.compat.v1 appears only here: the server is TF1-style C++, so this is the honest check.
    Raises RuntimeError if a signature's output differs from ``expected`` (the in-memory model).
    """
    # The loader's "deprecated, use tf.saved_model.load" warning does not apply: we want
    # exactly the old loader here.
    tf.get_logger().setLevel("ERROR")
    warmup_path = export_dir / WARMUP_FILE
    warmup_records = read_warmup_file(warmup_path) if warmup_path.exists() else []
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(export_dir))
        calls = {
            "your_prediction": ({"tensor_info_input_x": x, "tensor_info_input_y": y}, "tensor_info_pre_y"),
            "serving_default": ({"x": x}, "y"),
        }
        for signature_name, (inputs, output_name) in calls.items():
            signature = meta_graph.signature_def[signature_name]
            feed = {signature.inputs[name].name: value for name, value in inputs.items()}
            output = session.run(signature.outputs[output_name].name, feed_dict=feed)
            max_difference = float(np.max(np.abs(output - expected)))
            if max_difference > 1e-6:
                raise RuntimeError(
                    f"signature {signature_name} loaded through the session loader differs from "
                    f"the trained model by {max_difference}"
                )
        # A warm-up request that fails would fail the server's whole load: run each one now.
        replay_warmup_requests(session, meta_graph, warmup_records)


# ---------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    args = parse_args(argv, default_model_dir=settings.model_dir)
    cli.print_settings(settings)
    model_dir = args.model_dir.resolve()
    version = next_version(model_dir) if args.version is None else args.version
    # Fail before training, not after: a taken version number, or a folder we cannot write.
    if (model_dir / str(version)).exists():
        return cli.fail(version_exists_message(model_dir / str(version)))
    if reason := unwritable_reason(model_dir):
        return cli.fail(unwritable_message(model_dir, reason))

    with cli.interrupt_once() as interrupted:
        try:
            return train_and_export(args, model_dir, version)
        except BaseException:
            # Whatever TensorFlow raised on its way out, Ctrl-C is the cause: say that in one
            # line. export_version has already removed the half-written staging directory.
            if interrupted():
                print(interrupted_message(model_dir, version), file=sys.stderr)
                return cli.INTERRUPTED_EXIT_CODE
            raise


def train_and_export(args: argparse.Namespace, model_dir: Path, version: int) -> int:
    x, y = make_data(args.seed)
    model = build_model(seed=args.seed)
    print(f"\nTraining for {args.steps} steps (seed {args.seed}):")
    train(model, x, y, args.steps)
    fitted = model(x).numpy()

    archive = make_archive(model)

    def write_and_check(staging_dir: Path) -> None:
        archive.write_out(str(staging_dir), verbose=False)
        # Sample requests for the server to replay at load time (warm-up). Written before the
        # rename, like the rest of the version: a server must never load it without them.
        write_warmup_file(staging_dir, tutorial_records(model_dir.name))
        # Verified *before* the rename: a model the server cannot run is never published.
        check_with_session_loader(staging_dir, x, y, fitted)

    try:
        version_dir = export_version(model_dir, version, write_and_check)
    except VersionExistsError as err:
        return cli.fail(version_exists_message(err.version_dir))
    print(f"\nExported version {version} to {version_dir}")
    print(f"{describe(version_dir / WARMUP_FILE)}, in {WARMUP_FILE.as_posix()}")
    print(format_signatures(version_dir))

    plot_path = args.plot or REPO_ROOT / "results" / f"fit_v{version}.png"
    save_plot(plot_path, x, y, fitted, version)
    print(f"\nPlot of the fit: {plot_path}")

    mse = float(np.mean(np.square(fitted - true_curve(x))))
    print(f"Final MSE against x^2 - 0.5: {mse:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
