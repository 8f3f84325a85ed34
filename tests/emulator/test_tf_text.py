"""Models that use TF Text ops load and answer, as in the real binary (which links them).

A ``tf.Module`` tokenizing with ``tensorflow_text.WhitespaceTokenizer`` is exported in
the test's temporary directory; its graph holds ``TFText>WhitespaceTokenizeWithOffsetsV2``,
an op TensorFlow alone does not know (without registration the load fails with
``Op type not registered 'TFText>WhitespaceTokenizeWithOffsetsV2'``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from emulator_harness import REPO_ROOT, serve
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

TEXT_OP = "TFText>WhitespaceTokenizeWithOffsetsV2"


def export_tokenizer(version_dir: Path) -> None:
    """``tokens`` (padded with "") and ``count`` per sentence."""
    import tensorflow as tf
    import tensorflow_text as text

    class Tokenizer(tf.Module):
        def __init__(self):
            super().__init__()
            self.tokenizer = text.WhitespaceTokenizer()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
        def __call__(self, sentences):
            tokens = self.tokenizer.tokenize(sentences)
            return {"tokens": tokens.to_tensor(default_value=""), "count": tokens.row_lengths()}

    module = Tokenizer()
    tf.saved_model.save(module, str(version_dir), signatures=module.__call__)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("tf_text") / "tokenizer"
    export_tokenizer(base / "1")
    return base


@pytest.fixture(scope="module")
def served(tokenizer_dir):
    with serve(["--model_name=tokenizer", f"--model_base_path={tokenizer_dir}"]) as server:
        yield server


def test_the_export_needs_an_op_tensorflow_alone_lacks(tokenizer_dir):
    """In a fresh process (no tensorflow_text imported) the graph's only unknown op is TF Text's."""
    script = (
        "import sys; from tensorflow.core.protobuf import saved_model_pb2\n"
        "from tfserving_emulator.servables.custom_ops import unknown_op_types\n"
        "model = saved_model_pb2.SavedModel.FromString(open(sys.argv[1], 'rb').read())\n"
        "print(sorted(unknown_op_types(model)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tokenizer_dir / "1" / "saved_model.pb")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-1] == f"['{TEXT_OP}']"


def test_tokenizer_predicts_over_grpc(served):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tokenizer"
    request.inputs["sentences"].dtype = types_pb2.DT_STRING
    request.inputs["sentences"].string_val.extend([b"hello tensorflow serving", b"tf text"])
    request.inputs["sentences"].tensor_shape.dim.add().size = 2
    response = served.grpc.prediction.Predict(request, timeout=60)
    assert list(response.outputs["count"].int64_val) == [3, 2]
    tokens = response.outputs["tokens"]
    assert [d.size for d in tokens.tensor_shape.dim] == [2, 3]
    assert list(tokens.string_val) == [b"hello", b"tensorflow", b"serving", b"tf", b"text", b""]


def test_tokenizer_predicts_over_rest(served):
    reply = served.rest.post("/v1/models/tokenizer:predict", {"instances": ["a b", "c"]})
    assert (reply.status, reply.json()) == (
        200,
        {"predictions": [{"count": 2, "tokens": ["a", "b"]}, {"count": 1, "tokens": ["c", ""]}]},
    )
