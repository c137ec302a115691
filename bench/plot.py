"""The size sweep as a picture: throughput and latency of the signed-in request
against the number of stored sessions (matplotlib, from ``pip install '.[bench]'``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_sizes(sizes: list[dict[str, Any]], path: Path, note: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    points = sorted(sizes, key=lambda item: item["stored_sessions"])
    stored = [item["stored_sessions"] for item in points]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    throughput.plot(stored, [item["rps"] for item in points], "o-", color="tab:blue")
    throughput.set_title("Signed-in GET /profile: throughput")
    throughput.set_ylabel("requests/s")
    throughput.set_ylim(bottom=0)
    latency.plot(stored, [item["p50_ms"] for item in points], "o-", label="p50")
    latency.plot(stored, [item["p99_ms"] for item in points], "s--", label="p99")
    latency.set_title("Signed-in GET /profile: latency")
    latency.set_ylabel("ms")
    latency.set_ylim(bottom=0)
    latency.legend()
    for axes in (throughput, latency):
        axes.set_xscale("log")
        axes.set_xlabel("stored sessions (PostgreSQL)")
        axes.grid(True, which="both", alpha=0.3)
    figure.suptitle(f"sessapp on PostgreSQL, waitress 4 threads; {note}".rstrip("; "))
    figure.savefig(path, dpi=100)
    plt.close(figure)
