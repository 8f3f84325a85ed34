"""A deliberately large model for chapter 12: where batching pays, even on a CPU.

The tutorial's own model (Dense(20) -> Dense(1)) costs almost nothing per run, so merging
runs saves almost nothing. This one has the same signature (``serving_default``: float32
``x`` [batch, 1] -> ``y`` [batch, 1]) and two hidden layers of 2048 units: 4.2 million
weights, 17 MB of float32. A one-row run reads all of them to do 4 million multiply-adds
(memory-bound); a 32-row run reads them once for 32 rows, so its cost per row falls many
times over. Large models on CPUs and any model on a GPU or TPU behave like this one.

The weights are random (seeded): the chapter measures speed, not predictions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tutorial.quiet_tensorflow import import_tensorflow_quietly

WIDTH = 2048
NAME = "WideModel"


def export_wide_model(version_dir: Path, width: int = WIDTH, seed: int = 0) -> None:
    """Write a SavedModel to ``version_dir`` (replaced if it exists)."""
    import_tensorflow_quietly()
    import tensorflow as tf

    rng = np.random.default_rng(seed)

    def weights(rows: int, cols: int) -> tf.Variable:
        # He initialisation keeps the activations finite through the relu layers.
        scale = np.float32(np.sqrt(2.0 / rows))
        return tf.Variable(rng.standard_normal((rows, cols), dtype=np.float32) * scale)

    class Wide(tf.Module):
        def __init__(self):
            super().__init__()
            self.layers = [weights(1, width), weights(width, width), weights(width, 1)]

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def serve(self, x):
            hidden = tf.nn.relu(tf.matmul(x, self.layers[0]))
            hidden = tf.nn.relu(tf.matmul(hidden, self.layers[1]))
            return {"y": tf.matmul(hidden, self.layers[2])}

    if version_dir.exists():
        shutil.rmtree(version_dir)
    module = Wide()
    tf.saved_model.save(module, str(version_dir), signatures={"serving_default": module.serve})
