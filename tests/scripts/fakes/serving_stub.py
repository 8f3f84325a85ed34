"""What the fake ``docker run`` starts: a tiny server that answers like TF Serving.

``serve``: listens on the REST port (and the gRPC port, so it counts as taken) and
answers ``GET /v1/models/<name>`` with version 123 AVAILABLE and
``POST /v1/models/<name>:predict`` with half_plus_two's 0.5 * x + 2.
``never_ready``: keeps running but never opens a port, like TF Serving waiting for a
model that never loads.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATUS = {
    "model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
    ]
}


class Handler(BaseHTTPRequestHandler):
    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body, indent=4).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/v1/models/"):
            self._reply(200, STATUS)
        else:
            self._reply(404, {"error": f"Malformed request: GET {self.path}"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path.endswith(":predict"):
            self._reply(200, {"predictions": [0.5 * x + 2.0 for x in body["instances"]]})
        else:
            self._reply(404, {"error": f"Malformed request: POST {self.path}"})

    def log_message(self, format: str, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["serve", "never_ready"], default="serve")
    parser.add_argument("--rest-port", type=int)
    parser.add_argument("--grpc-port", type=int)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    with open(args.log, "w", encoding="utf-8") as log:
        log.write(
            "I tensorflow_serving/model_servers/server.cc:77] Building single TensorFlow model file config\n"
        )
        if args.mode == "never_ready":
            for i in range(25):
                log.write(f"W file_system_storage_path_source.cc:268] No versions of servable found ({i})\n")
            log.flush()
            while True:
                time.sleep(1)
        if args.grpc_port:
            grpc = socket.socket()
            grpc.bind(("127.0.0.1", args.grpc_port))
            grpc.listen()
            log.write(f"I server.cc:423] Running gRPC ModelServer at 0.0.0.0:{args.grpc_port} ...\n")
        server = ThreadingHTTPServer(("127.0.0.1", args.rest_port), Handler)
        log.write(f"I server.cc:444] Exporting HTTP/REST API at:localhost:{args.rest_port} ...\n")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
