"""Memory of a server process under the read pages: its resident set size before and after
wrk loads each page of bench/read_paths.py (GraphQL documents), for this tree and an
older checkout, alternating; a fresh process per variant and round.

    git worktree add /tmp/before <commit>
    .venv/bin/python bench/read_memory.py --old /tmp/before [--connections 32]
                                          [--seconds 10] [--rounds 2] [--database-url URL]

Prints, per variant and round, the RSS at start, after each page and at its peak
(VmHWM), then the medians of the growth. What a page leaves behind for the collector
shows here: rows kept alive past their response age into the collector's older
generations, and the process grows with the load.
"""

import statistics
from pathlib import Path

import loadgen
import read_paths


def _status_mib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # kB
    raise LookupError(field)


def run(url: str, old: Path | None, rounds: int, seconds: float, connections: int) -> None:
    assert old is not None  # --old is required
    pages = {
        name: graphql
        for name, (graphql, _) in read_paths.page_scripts(*read_paths.seeded(url)).items()
    }
    variants: dict[str, Path | None] = {"this tree": None, f"old ({old})": old}
    print(f"backend={url.split(':', 1)[0]} connections={connections} {seconds}s per page")
    print(f"machine: {loadgen.uptime()}")
    growth: dict[str, list[float]] = {name: [] for name in variants}
    peaks: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(rounds):
        order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in order:
            # The older checkout is served as it was (`--plain`: no bare routes).
            with loadgen.server_process(url, checkout=variants[name], plain=True) as (base, proc):
                start = _status_mib(proc.pid, "VmRSS")
                line = f"  round {round_ + 1} {name:24} start {start:6.1f} MiB"
                for page, script in pages.items():
                    rate, _, errors = loadgen.wrk(
                        base, script, connections=connections, seconds=seconds
                    )
                    assert errors == 0, f"{name}: {errors} failed requests on {page}"
                    line += f" | {page.split('(')[0].strip()} {rate:6.1f}/s"
                    line += f" {_status_mib(proc.pid, 'VmRSS'):6.1f} MiB"
                end, peak = _status_mib(proc.pid, "VmRSS"), _status_mib(proc.pid, "VmHWM")
                print(f"{line} | peak {peak:6.1f} MiB", flush=True)
                growth[name].append(end - start)
                peaks[name].append(peak - start)
    print(f"machine after: {loadgen.uptime()}")
    print("medians: RSS growth after the three pages (and peak growth)")
    for name in variants:
        print(
            f"  {name:24} {statistics.median(growth[name]):6.1f} MiB"
            f" (peak {statistics.median(peaks[name]):6.1f} MiB)"
        )


def main() -> None:
    read_paths.main_of(run, __doc__, old_required=True, rounds=2, seconds=10, connections=32)


if __name__ == "__main__":
    main()
