"""Prometheus metrics, named as TF Serving names them.

TF Serving exports its monitoring counters on the REST port when started with
``--monitoring_config_file`` holding ``prometheus_config { enable: true }``. Metric
names are the internal paths with every character outside ``[a-zA-Z0-9_]`` turned into
``:``, e.g. ``/tensorflow/serving/request_count`` -> ``:tensorflow:serving:request_count``
(``util/prometheus_exporter.cc``).
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

from .errors import ServingError

DEFAULT_PATH = "/monitoring/prometheus/metrics"

# Latency buckets in microseconds (TF Serving uses exponential buckets: 10us * 1.8^i).
_BUCKETS = [10 * 1.8**i for i in range(33)]


def _monitoring_config_class():
    """``tensorflow_serving/config/monitoring_config.proto``, which the pip package lacks.

    Built from its two-message definition so the file is parsed exactly as the server does.
    """
    proto = descriptor_pb2.FileDescriptorProto(
        name="tfserving_emulator/monitoring_config.proto", package="tensorflow.serving", syntax="proto3"
    )
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=8, label=1)  # bool
    prometheus.field.add(name="path", number=2, type=9, label=1)  # string
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(
        name="prometheus_config", number=1, type=11, label=1, type_name=".tensorflow.serving.PrometheusConfig"
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


MonitoringConfig = _monitoring_config_class()


def read_monitoring_config(path: str):
    config = MonitoringConfig()
    try:
        with open(path, encoding="utf-8") as handle:
            text_format.Parse(handle.read(), config)
    except OSError as error:
        raise ServingError("NOT_FOUND", f"{path}; {error.strerror or error}") from None
    except text_format.ParseError as error:
        raise ServingError(
            "INVALID_ARGUMENT",
            f"Error parsing text-format tensorflow.serving.MonitoringConfig: {error}. Invalid protobuf file: '{path}'",
        ) from None
    return config


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(_BUCKETS, value)] += 1
        self.total += value
        self.count += 1


class Metrics:
    """Counters and histograms, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request_count: dict[tuple[str, str], int] = defaultdict(int)
        self._request_latency: dict[tuple[str, str, str], _Histogram] = defaultdict(_Histogram)
        self._runtime_latency: dict[tuple[str, str, str], _Histogram] = defaultdict(_Histogram)
        self._example_count: dict[str, int] = defaultdict(int)
        self._load_attempts: dict[tuple[str, str], int] = defaultdict(int)

    def record_request(
        self, model_name: str, api: str, entrypoint: str, status: str, latency_us: float
    ) -> None:
        with self._lock:
            self._request_count[(model_name, status)] += 1
            self._request_latency[(model_name, api, entrypoint)].observe(latency_us)

    def record_runtime(self, model_name: str, api: str, latency_us: float, examples: int = 0) -> None:
        with self._lock:
            self._runtime_latency[(model_name, api, "TF1")].observe(latency_us)
            if examples:
                self._example_count[model_name] += examples

    def record_load(self, model_path: str, status: str) -> None:
        with self._lock:
            self._load_attempts[(model_path, status)] += 1

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            lines.append("# TYPE :tensorflow:cc:saved_model:load_attempt_count counter")
            for (path, status), value in sorted(self._load_attempts.items()):
                lines.append(
                    f':tensorflow:cc:saved_model:load_attempt_count{{model_path="{path}",status="{status}"}} {value}'
                )
            lines.append("# TYPE :tensorflow:serving:request_count counter")
            for (model, status), value in sorted(self._request_count.items()):
                lines.append(
                    f':tensorflow:serving:request_count{{model_name="{model}",status="{status}"}} {value}'
                )
            lines.append("# TYPE :tensorflow:serving:request_example_count_total counter")
            for model, value in sorted(self._example_count.items()):
                lines.append(
                    f':tensorflow:serving:request_example_count_total{{model_name="{model}"}} {value}'
                )
            self._render_histograms(
                lines,
                ":tensorflow:serving:request_latency",
                ("model_name", "API", "entrypoint"),
                self._request_latency,
            )
            self._render_histograms(
                lines,
                ":tensorflow:serving:runtime_latency",
                ("model_name", "API", "runtime"),
                self._runtime_latency,
            )
        return "\n".join(lines) + "\n"

    @staticmethod
    def _render_histograms(lines, name, label_names, histograms) -> None:
        lines.append(f"# TYPE {name} histogram")
        for key, histogram in sorted(histograms.items()):
            labels = ",".join(f'{n}="{v}"' for n, v in zip(label_names, key, strict=True))
            cumulative = 0
            for bound, count in zip(_BUCKETS, histogram.counts, strict=False):
                cumulative += count
                lines.append(f'{name}_bucket{{{labels},le="{bound:g}"}} {cumulative}')
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {histogram.count}')
            lines.append(f"{name}_sum{{{labels}}} {histogram.total:g}")
            lines.append(f"{name}_count{{{labels}}} {histogram.count}")
