"""Step 4: call the served model over gRPC, as the blog's client did, in TensorFlow 2.

What it teaches (the walk-through, with its output: docs/grpc_client.md):
* a gRPC channel to TF Serving, and why to raise its 4 MB message limit;
* the three calls a client needs: GetModelStatus (is my model loaded?), GetModelMetadata
  (which inputs does the signature want?) and Predict, whose request holds a ModelSpec and
  one TensorProto per input (tf.make_tensor_proto; TF1's tf.contrib.util is gone).

    python 04_grpc_client.py                               # the blog's signature, your_prediction
    python 04_grpc_client.py --signature serving_default   # sends x only
"""

from tutorial import cli


def parse_args(argv: list[str] | None = None):
    parser, settings = cli.client_parser("Call the served model over gRPC.", "gRPC")
    parser.add_argument("--signature", default="your_prediction", help="signature (default your_prediction)")
    parser.add_argument("--version", type=int, help="ask for this version (default: the latest loaded)")
    return settings, cli.parse_client_args(parser, argv)


if __name__ == "__main__":
    cli.before_tensorflow(parse_args)  # --help, flag mistakes and Ctrl-C answer at once

from tutorial.quiet_tensorflow import import_tensorflow_quietly

import_tensorflow_quietly()  # TensorFlow without the "no GPU" notes it prints at import

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from tutorial.client_errors import describe_grpc_error
from tutorial.client_output import print_fit, signature_report
from tutorial.data import make_data


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    cli.print_settings(settings)
    # gRPC refuses to receive over 4 MB (~1M floats) unless told; TF Serving accepts up to 2 GB.
    limits = [("grpc.max_send_message_length", 2**31 - 1), ("grpc.max_receive_message_length", 2**31 - 1)]
    channel = grpc.insecure_channel(f"{args.host}:{args.port}", options=limits)  # not grpc.beta's
    spec = model_pb2.ModelSpec(name=settings.model_name)  # which model each call is about
    if args.version is not None:
        spec.version.value = args.version  # without a version, the latest loaded one answers
    signatures = get_model_metadata_pb2.SignatureDefMap()  # filled by GetModelMetadata
    try:
        # 1. Is the model loaded? ModelService.GetModelStatus lists its versions and states.
        model_service = model_service_pb2_grpc.ModelServiceStub(channel)
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
        status = model_service.GetModelStatus(request, timeout=args.timeout)  # seconds to wait for it
        print(f"\nGetModelStatus {spec.name}:")
        for version_status in status.model_version_status:
            state = get_model_status_pb2.ModelVersionStatus.State.Name(version_status.state)
            error = version_status.status.error_message
            print(f"  version {version_status.version}: {state}" + (f" ({error})" if error else ""))

        # 2. What does the signature expect? GetModelMetadata sends the SignatureDefs the server
        #    loaded, packed in a google.protobuf.Any; "signature_def" is the only field it knows.
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=spec, metadata_field=["signature_def"]
        )
        metadata = stub.GetModelMetadata(request, timeout=args.timeout)
        metadata.metadata["signature_def"].Unpack(signatures)
        served = metadata.model_spec.version.value  # the version that answered
        print(f"\nGetModelMetadata {spec.name}: version {served}, signature {args.signature!r}")
        print(signature_report(args.signature, signatures.signature_def))

        # 3. Predict: the signature's name, and one TensorProto per input, keyed by its name.
        request = predict_pb2.PredictRequest(model_spec=spec)
        request.model_spec.signature_name = args.signature
        x, y = make_data(seed=0)  # the blog drew fresh noise for y; a fixed seed keeps the output stable
        if args.signature == "your_prediction":
            # The blog's signature wants the label too, although the model ignores it.
            request.inputs["tensor_info_input_x"].CopyFrom(tf.make_tensor_proto(x, dtype=tf.float32))
            request.inputs["tensor_info_input_y"].CopyFrom(tf.make_tensor_proto(y, dtype=tf.float32))
        else:
            request.inputs["x"].CopyFrom(tf.make_tensor_proto(x, dtype=tf.float32))
        print(f"\nPredict: {len(x)} rows to {spec.name}, signature {args.signature!r}")
        result = stub.Predict(request, timeout=args.timeout)
    except grpc.RpcError as error:  # a failed call raises, with a status code and the server's message
        context = cli.call_context(settings, args, "gRPC", known_signatures=signatures.signature_def)
        return cli.fail(describe_grpc_error(error, context))
    finally:
        channel.close()

    # The reply holds one TensorProto per output. TF Serving fills the typed field float_val
    # (the blog read it directly); tf.make_ndarray turns any encoding back into an array.
    output_name = "tensor_info_pre_y" if args.signature == "your_prediction" else "y"
    print_fit(x, tf.make_ndarray(result.outputs[output_name]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
