"use strict";
// Calls TensorFlow Serving's REST API from the browser: model status, :predict, a chart.
// A classic script, not a module: browsers refuse modules on pages opened from a file.
// docs/browser.md quotes the part between the two "docs/browser.md" lines word for word.

// -- docs/browser.md: the fetch calls -------------------------------------------------------

const SIGNATURE = "your_prediction"; // the blog's signature, exported by 02_train_and_export.py

// TF Serving answers 200 with JSON, or an error status with {"error": "<message>"}.
class ServerError extends Error {
  constructor(status, message) {
    super(`HTTP ${status}: ${message}`);
    this.status = status;
  }
}

async function readAnswer(reply) {
  const text = await reply.text();
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new ServerError(reply.status, `not a TF Serving answer: ${text.slice(0, 80)}`);
  }
  if (!reply.ok) {
    throw new ServerError(reply.status, answer.error);
  }
  return answer;
}

// GET /v1/models/<name>: the state of each version. A GET without custom headers is a
// "simple" request: the browser sends it at once, but lets the page read the answer only
// if it carries Access-Control-Allow-Origin.
async function modelStatus(baseUrl, modelName) {
  const reply = await fetch(`${baseUrl}/v1/models/${encodeURIComponent(modelName)}`);
  return (await readAnswer(reply)).model_version_status;
}

// POST /v1/models/<name>:predict. The JSON Content-Type makes it a "preflighted" request:
// the browser first asks with OPTIONS, and sends the POST only if the answer allows it.
async function predict(baseUrl, modelName, xs, format) {
  const ys = xs.map((x) => x * x - 0.5); // your_prediction takes a y too, and ignores it
  const body =
    format === "row"
      ? // Row format: one object per example; the answer is "predictions".
        {
          signature_name: SIGNATURE,
          instances: xs.map((x, i) => ({ tensor_info_input_x: [x], tensor_info_input_y: [ys[i]] })),
        }
      : // Columnar format: one nested list per input; the answer is "outputs".
        {
          signature_name: SIGNATURE,
          inputs: { tensor_info_input_x: xs.map((x) => [x]), tensor_info_input_y: ys.map((y) => [y]) },
        };
  const reply = await fetch(`${baseUrl}/v1/models/${encodeURIComponent(modelName)}:predict`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await readAnswer(reply);
  return (format === "row" ? answer.predictions : answer.outputs).map((row) => row[0]);
}

// -- end of docs/browser.md's quote ---------------------------------------------------------

// A fetch that fails with a TypeError never shows the page why: the browser hides both
// "nothing listens there" and "it answered without CORS headers". A second request in
// "no-cors" mode tells them apart: it resolves (with an unreadable answer) when a server
// answered at all, and fails when none did.
async function explainFetchFailure(baseUrl, modelName) {
  if (location.protocol === "file:") {
    return fileOriginMessage();
  }
  try {
    await fetch(`${baseUrl}/v1/models/${encodeURIComponent(modelName)}`, { mode: "no-cors" });
  } catch {
    return noServerMessage(baseUrl);
  }
  return corsRefusalMessage(baseUrl);
}

const CORS_FLAG = "--rest_api_enable_cors_support=true";

function corsRefusalMessage(baseUrl) {
  return [
    text(
      "p",
      `The server at ${baseUrl} answered, but without CORS headers, so the browser refused to ` +
        `let this page read the answer (this page is another origin: ${location.origin}). ` +
        "TF Serving sends them only when it runs with ",
      code(CORS_FLAG),
      ".",
    ),
    howToStart(),
  ];
}

function noServerMessage(baseUrl) {
  return [
    text("p", `No server answers at ${baseUrl}. Check the URL, or start TF Serving with `, code(CORS_FLAG), "."),
    howToStart(),
  ];
}

function fileOriginMessage() {
  return [
    text(
      "p",
      'This page was opened from a file, so its origin is "null", and TF Serving refuses the ' +
        "preflight of a POST from an origin that is not http:// or https://. Serve the folder instead: ",
      code("python -m http.server 8000 --directory web"),
      ", open http://localhost:8000/, and run TF Serving with ",
      code(CORS_FLAG),
      ".",
    ),
    howToStart(),
  ];
}

function howToStart() {
  const list = document.createElement("ul");
  list.append(
    text("li", "Docker: add ", code(CORS_FLAG), " after the image name in the docker run command."),
    text("li", "The emulator: add ", code(CORS_FLAG), " to the python -m tfserving_emulator command."),
    text("li", code("./03_start_server.sh"), " has no option for it: docs/browser.md shows both commands."),
  );
  return list;
}

// -- the page -------------------------------------------------------------------------------

// An element holding text and other elements; text never goes through innerHTML, so a
// server's error message shows as it is.
function text(tag, ...parts) {
  const element = document.createElement(tag);
  element.append(...parts);
  return element;
}

function code(content) {
  return text("code", content);
}

function settings() {
  return {
    baseUrl: document.getElementById("base-url").value.trim().replace(/\/+$/, ""),
    modelName: document.getElementById("model-name").value.trim(),
    format: document.getElementById("request-format").value,
    points: Number(document.getElementById("point-count").value),
  };
}

// x evenly spaced on [-1, 1], both ends included (the blog's np.linspace(-1, 1, n)).
function evenlySpaced(count) {
  return Array.from({ length: count }, (_, i) => -1 + (2 * i) / (count - 1));
}

function showMessage(parts) {
  const message = document.getElementById("message");
  message.replaceChildren(...parts);
  message.hidden = parts.length === 0;
}

async function failureMessage(error, baseUrl, modelName) {
  if (error instanceof ServerError) {
    return [text("p", `The server refused the request: ${error.message}`)];
  }
  if (error instanceof TypeError) {
    return explainFetchFailure(baseUrl, modelName);
  }
  return [text("p", `Unexpected error: ${error}`)];
}

async function onStatus() {
  const { baseUrl, modelName } = settings();
  const status = document.getElementById("status");
  status.dataset.state = "pending";
  status.textContent = `GET ${baseUrl}/v1/models/${modelName} ...`;
  showMessage([]);
  try {
    const versions = await modelStatus(baseUrl, modelName);
    status.textContent = versions.map((v) => `version ${v.version}: ${v.state}`).join("; ");
    status.dataset.state = "ok";
  } catch (error) {
    status.textContent = "No status.";
    showMessage(await failureMessage(error, baseUrl, modelName));
    status.dataset.state = "error";
  }
}

async function onPredict() {
  const { baseUrl, modelName, format, points } = settings();
  const table = document.getElementById("values");
  if (!Number.isInteger(points) || points < 2 || points > 1000) {
    showMessage([text("p", "Points in [-1, 1] must be a whole number from 2 to 1000.")]);
    table.dataset.state = "error";
    return;
  }
  table.dataset.state = "pending";
  showMessage([]);
  clearResults(); // never leave an earlier answer on show next to a new failure
  const xs = evenlySpaced(points);
  try {
    const predictions = await predict(baseUrl, modelName, xs, format);
    const targets = xs.map((x) => x * x - 0.5);
    fillTable(xs, predictions, targets);
    drawChart(xs, predictions, targets);
    table.dataset.state = "done";
  } catch (error) {
    showMessage(await failureMessage(error, baseUrl, modelName));
    table.dataset.state = "error";
  }
}

function clearResults() {
  document.querySelector("#values tbody").replaceChildren();
  document.getElementById("chart").replaceChildren();
}

// Each row keeps the exact numbers in data attributes (what was sent and what came back);
// the cells show them rounded.
function fillTable(xs, predictions, targets) {
  const rows = xs.map((x, i) => {
    const row = document.createElement("tr");
    row.dataset.x = String(x);
    row.dataset.prediction = String(predictions[i]);
    row.dataset.target = String(targets[i]);
    row.append(text("td", x.toFixed(3)), text("td", predictions[i].toFixed(4)), text("td", targets[i].toFixed(4)));
    return row;
  });
  document.querySelector("#values tbody").replaceChildren(...rows);
}

// -- the chart: inline SVG, no library --------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const CHART = { width: 640, height: 400, left: 56, right: 16, top: 16, bottom: 40 };

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, String(value));
  }
  return element;
}

function drawChart(xs, predictions, targets) {
  const values = predictions.concat(targets);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const pad = (high - low) * 0.05 || 0.5;
  const [yMin, yMax] = [low - pad, high + pad];
  const plotWidth = CHART.width - CHART.left - CHART.right;
  const plotHeight = CHART.height - CHART.top - CHART.bottom;
  const px = (x) => CHART.left + ((x + 1) / 2) * plotWidth;
  const py = (y) => CHART.top + ((yMax - y) / (yMax - yMin)) * plotHeight;
  const line = (ys, className, id) =>
    svg("polyline", { id, class: className, points: xs.map((x, i) => `${px(x)},${py(ys[i])}`).join(" ") });

  const chart = document.getElementById("chart");
  chart.replaceChildren(...axes(px, py, yMin, yMax), line(targets, "target", "target-line"), line(predictions, "prediction", "prediction-line"));
}

// The smallest of 1, 2, 2.5 and 5 times a power of ten that is at least ``rough``: round ticks.
function niceStep(rough) {
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= rough);
}

function axes(px, py, yMin, yMax) {
  const parts = [];
  const bottom = CHART.height - CHART.bottom;
  const right = CHART.width - CHART.right;
  parts.push(svg("line", { class: "axis", x1: CHART.left, y1: bottom, x2: right, y2: bottom }));
  parts.push(svg("line", { class: "axis", x1: CHART.left, y1: CHART.top, x2: CHART.left, y2: bottom }));
  for (const x of [-1, -0.5, 0, 0.5, 1]) {
    parts.push(svg("line", { class: "tick", x1: px(x), y1: bottom, x2: px(x), y2: bottom + 5 }));
    const label = svg("text", { x: px(x), y: bottom + 20, "text-anchor": "middle" });
    label.textContent = String(x);
    parts.push(label);
  }
  const step = niceStep((yMax - yMin) / 6);
  for (let y = Math.ceil(yMin / step) * step; y <= yMax; y += step) {
    parts.push(svg("line", { class: "tick", x1: CHART.left - 5, y1: py(y), x2: CHART.left, y2: py(y) }));
    const label = svg("text", { x: CHART.left - 8, y: py(y) + 4, "text-anchor": "end" });
    label.textContent = String(Number(y.toFixed(6))); // 0.25, not 0.25000000000000006
    parts.push(label);
  }
  const xLabel = svg("text", { x: right, y: CHART.height - 4, "text-anchor": "end" });
  xLabel.textContent = "x";
  parts.push(xLabel);
  return parts;
}

// A status shown for one server must not stay next to the address of another.
function forgetStatus() {
  const status = document.getElementById("status");
  status.textContent = "Not asked yet.";
  status.dataset.state = "idle";
}

document.getElementById("base-url").addEventListener("input", forgetStatus);
document.getElementById("model-name").addEventListener("input", forgetStatus);
document.getElementById("status-button").addEventListener("click", onStatus);
document.getElementById("predict-button").addEventListener("click", onPredict);
