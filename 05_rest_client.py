"""Step 5: call the served model over REST, and check that REST, gRPC and the SavedModel agree.

What it teaches (the walk-through, with its output: docs/rest_client.md):
* TF Serving's REST API with nothing but requests: GET /v1/models/<name> (status),
  GET /v1/models/<name>/metadata (signatures), POST /v1/models/<name>[/versions/<n>]:predict;
* the two JSON request formats, row ("instances") and columnar ("inputs"), and that a
  request without "signature_name" goes to serving_default;
* what an error looks like: an HTTP status and {"error": "<message>"};
* that REST, gRPC and the SavedModel loaded here give the same numbers (to 1e-6, see
  tutorial/agreement.py for why not to the bit).

    python 05_rest_client.py
    python 05_rest_client.py --version 1
"""

from tutorial import cli


def parse_args(argv: list[str] | None = None):
    parser, settings = cli.client_parser("Call the served model over REST and compare with gRPC.", "REST")
    grpc_port_help = "gRPC port, for the agreement check (default $GRPC_PORT, %(default)s)"
    parser.add_argument("--grpc-port", type=int, default=settings.grpc_port, help=grpc_port_help)
    parser.add_argument("--version", type=int, help="version for the pinned request (default: served one)")
    return settings, cli.parse_client_args(parser, argv)


if __name__ == "__main__":
    cli.before_tensorflow(parse_args)  # --help, flag mistakes and Ctrl-C answer at once

from tutorial.quiet_tensorflow import import_tensorflow_quietly

import_tensorflow_quietly()  # TensorFlow without the "no GPU" notes it prints at import

import grpc
import requests

from tutorial import agreement
from tutorial.client_errors import REST_ERRORS, checked_json, describe_grpc_error, describe_rest_failure
from tutorial.client_output import show_json, signature_report
from tutorial.data import make_data
from tutorial.rest_metadata import require_signatures, signatures_from_metadata

SIGNATURES = ("your_prediction", "serving_default")  # what step 2 exports


def walkthrough(settings, args) -> int:
    model_url = f"http://{args.host}:{args.port}/v1/models/{settings.model_name}"
    session = requests.Session()  # one connection, kept open for every call

    # TF Serving answers 200 with JSON, or an error status with {"error": "<message>"}.
    def get(path: str = "") -> dict:
        print(f"\nGET {model_url}{path}")
        return checked_json(session.get(model_url + path, timeout=args.timeout))

    def post(path: str, body: dict, title: str) -> dict:
        print(f"\nPOST {model_url}{path}  ({title})")
        show_json("  request", body, rows=2)
        reply = checked_json(session.post(model_url + path, json=body, timeout=args.timeout))
        show_json("  reply  ", reply)
        return reply

    print(f"\nREST endpoint: {model_url}")

    # 1. Status: GET /v1/models/<name>. Versions come as strings: JSON has no int64.
    for version in get()["model_version_status"]:
        error = version["status"].get("error_message", "")
        print(f"  version {version['version']}: {version['state']}" + (f" ({error})" if error else ""))

    # 2. Metadata: GET /v1/models/<name>/metadata, the SignatureDefs as protobuf JSON.
    metadata = get("/metadata")
    served_version = int(metadata["model_spec"]["version"])  # the version that answered
    signatures = signatures_from_metadata(metadata)
    require_signatures(signatures, SIGNATURES, settings.model_name, served_version)
    print("\n\n".join(signature_report(name, signatures) for name in SIGNATURES))

    # 3. Predict, row format: a list of examples, each an object keyed by input name.
    x, y = make_data(seed=0)  # the rows 04_grpc_client.py sends
    pairs = zip(x.tolist(), y.tolist(), strict=True)  # tolist(): JSON has no NumPy floats
    rows = [{"tensor_info_input_x": a, "tensor_info_input_y": b} for a, b in pairs]
    row_body = {"signature_name": "your_prediction", "instances": rows}
    row_reply = post(":predict", row_body, "row format, signature your_prediction")  # {"predictions": [...]}

    # 4. Predict, columnar format: one nested list per input; the reply's key is "outputs".
    inputs = {"tensor_info_input_x": x.tolist(), "tensor_info_input_y": y.tolist()}
    columnar_body = {"signature_name": "your_prediction", "inputs": inputs}
    columnar_reply = post(":predict", columnar_body, "columnar format, signature your_prediction")

    # 5. serving_default needs no signature_name, and x alone: each instance is just x's value.
    default_body = {"instances": x.tolist()}
    default_reply = post(":predict", default_body, "row format, no signature_name: serving_default")

    # 6. Pinned to a version: /versions/<n>:predict. Without it, the server picks the latest.
    pinned = served_version if args.version is None else args.version
    pinned_reply = post(f"/versions/{pinned}:predict", default_body, "serving_default")

    # 7. A deliberate mistake: the blog's two inputs without "signature_name" go to
    #    serving_default, whose one input is x, and the server says so.
    print(f"\nPOST {model_url}:predict  (deliberately wrong: your_prediction's inputs, no signature_name)")
    wrong_body = {"instances": rows[:2]}
    show_json("  request", wrong_body)
    wrong_reply = session.post(f"{model_url}:predict", json=wrong_body, timeout=args.timeout)
    print(f"  reply: HTTP {wrong_reply.status_code} {wrong_reply.reason}")
    print("  " + wrong_reply.text.replace("\n", "\n  "))

    # 8. REST, gRPC and the SavedModel on disk must agree.
    print(f"\nAgreement check, version {pinned}, {len(x)} rows:")
    grpc_target = f"{args.host}:{args.grpc_port}"
    from_grpc = agreement.predict_grpc(grpc_target, settings.model_name, pinned, args.timeout, x, y)
    rest_replies = {
        "REST row (your_prediction)": row_reply["predictions"],
        "REST columnar (your_prediction)": columnar_reply["outputs"],
        "REST serving_default": default_reply["predictions"],
        f"REST /versions/{pinned}": pinned_reply["predictions"],
    }
    local = agreement.predict_local(settings.model_dir, pinned, x)  # the SavedModel, in this process
    return agreement.report(x, rest_replies, from_grpc, local)


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    cli.print_settings(settings)
    try:
        return walkthrough(settings, args)
    except grpc.RpcError as error:  # from the agreement check's gRPC call
        return cli.fail(describe_grpc_error(error, cli.call_context(settings, args, "gRPC", "--grpc-port")))
    except (requests.RequestException, *REST_ERRORS) as error:
        context = cli.call_context(settings, args, "REST", signature="your_prediction")
        return cli.fail(describe_rest_failure(error, context))


if __name__ == "__main__":
    raise SystemExit(main())
