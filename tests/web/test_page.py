"""web/index.html in headless Chromium, served from another origin than the emulator.

With ``--rest_api_enable_cors_support=true`` the page shows the model status, calls
:predict in both formats and draws exactly the numbers the server gives this test over
REST; without the flag the browser refuses, and the page says why and what to do.
"""

from __future__ import annotations

import pytest
from web_harness import MODEL_NAME, WEB_DIR, Server, free_port, get_json, post_json

POINTS = 41  # the page's default
CHART_LEFT, CHART_RIGHT = 56, 640 - 16  # the plot's x pixels for x = -1 and x = 1 (app.js CHART)
DONE = {"status": ("ok", "error"), "values": ("done", "error")}
REFUSAL = "answered, but without CORS headers, so the browser refused to let this page read the answer"
HOW_TO_START = [
    "Docker: add --rest_api_enable_cors_support=true after the image name in the docker run command.",
    "The emulator: add --rest_api_enable_cors_support=true to the python -m tfserving_emulator command.",
    "./03_start_server.sh has no option for it: docs/browser.md shows both commands.",
]

ROWS_JS = (
    "return [...document.querySelectorAll('#values tbody tr')]"
    ".map(r => [r.dataset.x, r.dataset.prediction, r.dataset.target]);"
)
LINE_JS = "return [...document.getElementById(arguments[0]).points].map(p => [p.x, p.y]);"


def fill(browser, element_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value)


def open_page(browser, url: str, base_url: str | None = None, model: str = MODEL_NAME) -> None:
    browser.get(url)
    browser.get_log("browser")  # start each test with an empty console
    if base_url is not None:
        fill(browser, "base-url", base_url)
    fill(browser, "model-name", model)


def click(browser, button_id: str, result_id: str) -> str:
    """Click a button and wait until ``result_id``'s data-state says the call is over."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.find_element(By.ID, button_id).click()
    result = browser.find_element(By.ID, result_id)
    WebDriverWait(browser, 60).until(lambda _: result.get_attribute("data-state") in DONE[result_id])
    return result.get_attribute("data-state")


def message(browser) -> list[str]:
    """The alert's paragraphs and list items, one string each ([] when it is hidden)."""
    return browser.execute_script(
        "const m = document.getElementById('message');"
        "return m.hidden ? [] : [...m.querySelectorAll('p, li')].map(e => e.textContent);"
    )


def console(browser) -> str:
    return "\n".join(entry["message"] for entry in browser.get_log("browser"))


def server_predictions(server: Server, xs: list[float], request_format: str) -> list[float]:
    """What the server answers this test, over REST, for the page's own x values."""
    ys = [x * x - 0.5 for x in xs]
    url = f"{server.url}/v1/models/{MODEL_NAME}:predict"
    if request_format == "row":
        instances = [
            {"tensor_info_input_x": [x], "tensor_info_input_y": [y]} for x, y in zip(xs, ys, strict=True)
        ]
        rows = post_json(url, {"signature_name": "your_prediction", "instances": instances})["predictions"]
    else:
        inputs = {"tensor_info_input_x": [[x] for x in xs], "tensor_info_input_y": [[y] for y in ys]}
        rows = post_json(url, {"signature_name": "your_prediction", "inputs": inputs})["outputs"]
    return [row[0] for row in rows]


def assert_line_draws(points: list[list[float]], values: list[float]) -> None:
    """One vertex per value, x from the left to the right edge, y an affine image of the value."""
    assert len(points) == len(values)
    assert (points[0][0], points[-1][0]) == (CHART_LEFT, CHART_RIGHT)
    low, high = values.index(min(values)), values.index(max(values))
    scale = (points[high][1] - points[low][1]) / (values[high] - values[low])
    assert scale < 0  # larger values are drawn higher up
    for (_, pixel), value in zip(points, values, strict=True):
        assert pixel == pytest.approx(points[low][1] + scale * (value - values[low]), abs=1e-3)


@pytest.mark.parametrize("request_format", ["row", "columnar"])
def test_status_and_prediction_with_cors(browser, page_url, cors_server, request_format):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, page_url, cors_server.url)
    Select(browser.find_element(By.ID, "request-format")).select_by_value(request_format)
    assert click(browser, "status-button", "status") == "ok"
    assert browser.find_element(By.ID, "status").text == "version 1: AVAILABLE"

    assert click(browser, "predict-button", "values") == "done"
    rows = browser.execute_script(ROWS_JS)
    xs = [float(x) for x, _, _ in rows]
    assert xs == [-1 + (2 * i) / (POINTS - 1) for i in range(POINTS)]  # the page's np.linspace
    drawn = [float(prediction) for _, prediction, _ in rows]
    assert drawn == server_predictions(cors_server, xs, request_format)  # exactly, not approximately
    targets = [float(target) for _, _, target in rows]
    assert targets == [x * x - 0.5 for x in xs]
    assert_line_draws(browser.execute_script(LINE_JS, "prediction-line"), drawn)
    assert_line_draws(browser.execute_script(LINE_JS, "target-line"), targets)
    assert message(browser) == []


def test_a_server_error_is_readable_because_errors_carry_cors_headers(browser, page_url, cors_server):
    open_page(browser, page_url, cors_server.url, model="Nope")
    status, body = get_json(f"{cors_server.url}/v1/models/Nope")
    assert (status, body) == (404, {"error": "Could not find any versions of model Nope"})
    assert click(browser, "status-button", "status") == "error"
    assert message(browser) == [
        "The server refused the request: HTTP 404: Could not find any versions of model Nope"
    ]
    assert click(browser, "predict-button", "values") == "error"
    assert message(browser) == [
        "The server refused the request: HTTP 404: Servable not found for request: Latest(Nope)"
    ]


def test_without_the_flag_the_browser_refuses_and_the_page_says_why(browser, page_url, plain_server):
    open_page(browser, page_url, plain_server.url)
    origin = page_url.removesuffix("/index.html")
    expected = [
        f"The server at {plain_server.url} {REFUSAL} (this page is another origin: {origin}). "
        "TF Serving sends them only when it runs with --rest_api_enable_cors_support=true.",
        *HOW_TO_START,
    ]
    assert click(browser, "status-button", "status") == "error"
    assert message(browser) == expected
    assert "No 'Access-Control-Allow-Origin' header is present on the requested resource" in console(browser)

    assert click(browser, "predict-button", "values") == "error"
    assert message(browser) == expected
    assert "Response to preflight request doesn't pass access control check" in console(browser)
    assert browser.execute_script(ROWS_JS) == []


def test_no_server_at_the_address_is_told_apart_from_a_refusal(browser, page_url):
    address = f"http://127.0.0.1:{free_port()}"
    open_page(browser, page_url, address)
    assert click(browser, "status-button", "status") == "error"
    assert message(browser) == [
        f"No server answers at {address}. Check the URL, or start TF Serving with "
        "--rest_api_enable_cors_support=true.",
        *HOW_TO_START,
    ]


def test_opened_from_a_file_the_status_works_but_the_preflight_is_refused(browser, cors_server):
    # Origin "null" gets Access-Control-Allow-Origin: * on the GET, but TF Serving answers a
    # preflight whose Origin has no http:// or https:// with 400.
    open_page(browser, (WEB_DIR / "index.html").as_uri(), cors_server.url)
    assert click(browser, "status-button", "status") == "ok"
    assert click(browser, "predict-button", "values") == "error"
    assert message(browser)[0] == (
        'This page was opened from a file, so its origin is "null", and TF Serving refuses the '
        "preflight of a POST from an origin that is not http:// or https://. Serve the folder instead: "
        "python -m http.server 8000 --directory web, open http://localhost:8000/, and run TF Serving "
        "with --rest_api_enable_cors_support=true."
    )
    assert "It does not have HTTP ok status." in console(browser)


def test_a_point_count_out_of_range_is_refused_before_any_request(browser, page_url, cors_server):
    open_page(browser, page_url, cors_server.url)
    fill(browser, "point-count", "1")
    assert click(browser, "predict-button", "values") == "error"
    assert message(browser) == ["Points in [-1, 1] must be a whole number from 2 to 1000."]
