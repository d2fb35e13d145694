"""Where a result came from: the git revision and the machine (for checkpoints and benchmark files)."""
import json
import os
import platform
import subprocess
import time
from pathlib import Path


def git_revision() -> str:
    """Short hash of the checkout graphfx runs from, or ``"unknown"``."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def hardware() -> dict:
    """CPU model, core counts and system."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "logical_cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "machine": platform.machine(), "system": f"{platform.system()} {platform.release()}"}


def write_result(path: str, result: dict) -> str:
    """Writes a benchmark's ``result`` as JSON to ``path``, stamped with ``git``, ``hardware`` and ``date``
    (creating the folder); returns ``path``."""
    stamped = {**result, "git": git_revision(), "hardware": hardware(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(stamped, f, indent=1)
        f.write("\n")
    return path
