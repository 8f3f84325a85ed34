"""What chapter 9 measures, and how it reports it: a table, ratios and a chart.

A ``Result`` is one protocol at one batch size; the JSON file holds a list of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # draw to a file; no display needed
import matplotlib.pyplot as plt


@dataclass
class Result:
    protocol: str
    batch_size: int
    requests: int
    concurrency: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    throughput_rows_per_s: float
    throughput_requests_per_s: float
    request_bytes: int


def format_table(results: list[Result]) -> str:
    header = (
        f"{'protocol':<8} {'batch':>7} {'request':>10} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} "
        f"{'rows/s':>11} {'req/s':>8}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        lines.append(
            f"{result.protocol:<8} {result.batch_size:>7} {format_bytes(result.request_bytes):>10} "
            f"{result.p50_ms:>9.2f} {result.p95_ms:>9.2f} {result.p99_ms:>9.2f} "
            f"{result.throughput_rows_per_s:>11,.0f} {result.throughput_requests_per_s:>8.1f}"
        )
    return "\n".join(lines)


def format_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1000 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def speedups(results: list[Result]) -> list[str]:
    """One line per batch size: how much faster gRPC's median request was than REST's."""
    by_key = {(r.protocol, r.batch_size): r for r in results}
    lines = []
    for batch_size in sorted({r.batch_size for r in results}):
        grpc_result, rest_result = by_key[("grpc", batch_size)], by_key[("rest", batch_size)]
        ratio = rest_result.p50_ms / grpc_result.p50_ms
        lines.append(f"  batch {batch_size:>7}: REST p50 / gRPC p50 = {ratio:.2f}")
    return lines


def save_chart(path: Path, results: list[Result], title: str) -> None:
    """Latency (p50 line, band up to p99) and throughput against batch size, both log-log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure, (latency_axes, throughput_axes) = plt.subplots(1, 2, figsize=(11, 4.5))
    styles = {"grpc": ("gRPC (tensor_content)", "tab:blue", "o"), "rest": ("REST (JSON)", "tab:orange", "s")}
    for protocol, (label, color, marker) in styles.items():
        rows = sorted((r for r in results if r.protocol == protocol), key=lambda r: r.batch_size)
        batch_sizes = [r.batch_size for r in rows]
        latency_axes.plot(
            batch_sizes, [r.p50_ms for r in rows], marker=marker, color=color, label=f"{label} p50"
        )
        latency_axes.fill_between(
            batch_sizes, [r.p50_ms for r in rows], [r.p99_ms for r in rows], color=color, alpha=0.2
        )
        throughput_axes.plot(
            batch_sizes, [r.throughput_rows_per_s for r in rows], marker=marker, color=color, label=label
        )
    latency_axes.set_title("Latency per request (line p50, band up to p99)")
    latency_axes.set_ylabel("milliseconds")
    throughput_axes.set_title("Throughput")
    throughput_axes.set_ylabel("rows per second")
    batch_sizes = sorted({r.batch_size for r in results})
    for axes in (latency_axes, throughput_axes):
        axes.set_xscale("log")
        axes.set_yscale("log")
        # Ticks at the measured batch sizes, written out (300 reads better than 10^2.5).
        axes.set_xticks(batch_sizes, labels=[f"{size:,}" for size in batch_sizes])
        axes.minorticks_off()
        axes.set_xlabel("batch size (rows per request)")
        axes.grid(True, which="major", alpha=0.4)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
