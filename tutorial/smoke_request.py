"""Step 1's smoke test: one REST predict request to half_plus_two, its answer checked exactly.

    python -m tutorial.smoke_request http://127.0.0.1:8501/v1/models/half_plus_two:predict \
        '{"instances": [1.0, 2.0, 5.0]}' '[2.5, 3.0, 4.5]'

Prints the response as the server sent it; exits 1 with one error line when the answer
is not the expected one. Standard library only (urllib), so step 1 needs nothing beyond
Python itself, not even curl.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

REQUEST_TIMEOUT_SECONDS = 30


def post(url: str, body: str) -> str:
    """The response body, also for an HTTP error (TF Serving explains itself in it)."""
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return response.read().decode()
    except urllib.error.HTTPError as err:
        return err.read().decode()
    except OSError as err:
        raise SystemExit(f"error: the predict request failed ({err}); is the server still running?") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tutorial.smoke_request", description=__doc__.split("\n")[0]
    )
    parser.add_argument("url")
    parser.add_argument("body", help="the JSON request body")
    parser.add_argument("expected", help="the expected predictions, as JSON")
    args = parser.parse_args(argv)
    text = post(args.url, args.body)
    print(f"response: {text.strip()}")
    try:
        predictions = json.loads(text)["predictions"]
    except (ValueError, KeyError, TypeError):
        raise SystemExit("error: the response has no predictions; the server log explains why") from None
    expected = json.loads(args.expected)
    if predictions != expected:
        raise SystemExit(
            f"error: expected predictions {expected}, got {predictions}; the server is not serving half_plus_two"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
