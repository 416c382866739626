"""The peer stack: Prometheus scraping prometheus-blackbox-exporter, started here on loopback.

Both come from the Debian packages (`prometheus`, `prometheus-blackbox-exporter`); when one is
missing it is installed with apt-get (as root, or through `sudo -n`). The benchmark never uses
the packages' own services: it starts its own two processes with generated configs in a temp
folder, measures those pids, and stops them. Any other prometheus or blackbox process running
on the machine is reported, since it would share the CPU.

    python bench/blackbox.py --checks 3000 --interval 5 --duration 60   # the peer alone
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

from common import (
    Target,
    cpu_seconds,
    free_port,
    http_get,
    memory_mb,
    paths,
    print_table,
    save,
    stop,
    target_timing,
    wait_for,
)

PACKAGES = {
    "prometheus": "prometheus",
    "prometheus-blackbox-exporter": "prometheus-blackbox-exporter",
}


def ensure_installed() -> None:
    missing = [pkg for binary, pkg in PACKAGES.items() if shutil.which(binary) is None]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(missing)} with apt-get", flush=True)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def foreign_processes(own: set[int]) -> list[str]:
    """Prometheus or blackbox processes we did not start (the packages' services, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith(("prometheus", "blackbox")):
            found.append(f"{entry.name} {comm}")
    return found


def seconds(value: float) -> str:
    return f"{int(value * 1000)}ms"


def write_configs(
    work: Path, targets: list[str], interval: float, timeout: float, exporter: str
) -> tuple[Path, Path]:
    blackbox = work / "blackbox.yml"
    blackbox.write_text(
        "modules:\n"
        "  http_2xx:\n"
        "    prober: http\n"
        f"    timeout: {seconds(timeout)}\n"
        "    http:\n"
        "      preferred_ip_protocol: ip4\n"
    )
    prometheus = work / "prometheus.yml"
    config = {
        "global": {"scrape_interval": seconds(interval), "scrape_timeout": seconds(timeout)},
        "scrape_configs": [
            {
                "job_name": "blackbox",
                "metrics_path": "/probe",
                "params": {"module": ["http_2xx"]},
                "static_configs": [{"targets": targets}],
                # As the blackbox_exporter README shows: the target becomes a parameter and the
                # instance label, and the scrape goes to the exporter.
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": exporter},
                ],
            }
        ],
    }
    prometheus.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return blackbox, prometheus


def run_peer(
    work: Path, checks: int, interval: float, duration: float, *, timeout: float, query: str = ""
) -> dict[str, object]:
    """Probe `checks` paths of a fresh target every `interval` for `duration` s; measure the stack."""
    ensure_installed()
    work.mkdir(parents=True, exist_ok=True)
    target = Target(work)
    exporter = f"127.0.0.1:{free_port()}"
    web = f"127.0.0.1:{free_port()}"
    urls = [target.url(p) for p in paths(checks, query)]
    blackbox_yml, prometheus_yml = write_configs(work, urls, interval, timeout, exporter)
    log = (work / "peer.log").open("w")
    bbx = subprocess.Popen(
        [
            "prometheus-blackbox-exporter",
            f"--config.file={blackbox_yml}",
            f"--web.listen-address={exporter}",
        ],
        stdout=log,
        stderr=log,
    )
    prom = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={prometheus_yml}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address={web}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=log,
    )
    result: dict[str, object] = {
        "system": "prometheus+blackbox",
        "checks": checks,
        "interval_s": interval,
    }
    try:
        others = foreign_processes({bbx.pid, prom.pid})
        if others:
            print(
                f"warning: other prometheus/blackbox processes share the CPU: {others}", flush=True
            )
        result["foreign_processes"] = others
        wait_for(
            lambda: _ready(f"http://{web}/-/ready") and _ready(f"http://{exporter}/metrics"),
            60,
            "the peer",
        )
        # Prometheus hands targets to its scrapers some seconds after start: measure once every
        # target has been scraped at least once, as the monitor's window starts once all run.
        setup = time.monotonic()
        wait_for(
            lambda: _query(web, 'count(up{job="blackbox"})') == checks,
            120 + interval,
            "every target scraped",
            step=0.5,
        )
        result["startup_s"] = time.monotonic() - setup
        begin = time.time()
        cpu0 = cpu_seconds(bbx.pid) + cpu_seconds(prom.pid)
        time.sleep(duration)
        cpu1 = cpu_seconds(bbx.pid) + cpu_seconds(prom.pid)
        end = time.time()
        rss = {name: memory_mb(p.pid) for name, p in (("blackbox", bbx), ("prometheus", prom))}
        stored = _stored(web, begin, end)
    finally:
        stop(prom)
        stop(bbx)
        log.close()
        arrivals = target.stop()
    planned = checks * (end - begin) / interval
    timing = target_timing(arrivals, interval, begin, end)
    result.update(timing)
    result.update(
        {
            "window_s": end - begin,
            "planned": planned,
            "done_pct": 100 * timing["probes_at_target"] / planned,
            "stored": stored,
            "stored_pct": 100 * stored / planned if stored is not None else None,
            "cpu_s": cpu1 - cpu0,
            "cpu_ms_per_probe": (cpu1 - cpu0) * 1000 / max(1, timing["probes_at_target"]),
            "rss_mb": sum(now for now, _ in rss.values()),
            "peak_rss_mb": sum(peak for _, peak in rss.values()),
            "peak_rss_blackbox_mb": rss["blackbox"][1],
            "peak_rss_prometheus_mb": rss["prometheus"][1],
        }
    )
    return result


def _ready(url: str) -> bool:
    try:
        http_get(url, timeout=2)
        return True
    except OSError:
        return False


def _stored(web: str, begin: float, end: float) -> float | None:
    """probe_success samples Prometheus holds for the window: results actually recorded."""
    query = f'sum(count_over_time(probe_success{{job="blackbox"}}[{int(end - begin)}s]))'
    return _query(web, query, at=end)


def _query(web: str, query: str, at: float | None = None) -> float | None:
    params = {"query": query} if at is None else {"query": query, "time": f"{at:.3f}"}
    url = f"http://{web}/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        data = json.loads(http_get(url, timeout=30))
        values = data["data"]["result"]
        return float(values[0]["value"][1]) if values else 0.0
    except (OSError, KeyError, ValueError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="monitor-peer-"))
    row = run_peer(work, args.checks, args.interval, args.duration, timeout=min(args.interval, 5))
    print_table(
        [row],
        [
            (k, k)
            for k in (
                "checks",
                "interval_s",
                "done_pct",
                "stored_pct",
                "late_p50_ms",
                "late_p99_ms",
                "late_max_ms",
                "cpu_ms_per_probe",
                "peak_rss_mb",
            )
        ],
    )
    print(f"json: {save('blackbox', row, args.json)}; work folder {work}")
    shutil.rmtree(work / "tsdb", ignore_errors=True)


if __name__ == "__main__":
    main()
