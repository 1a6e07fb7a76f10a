"""Build and install the probe engine wheel (``probe_engine/``) for the end-to-end tests."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

SOURCE = Path(__file__).parent / "probe_engine"
DIST = "patroni_mpp_e2eprobe"
VERSION = "0.1.0"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(out_dir: Path) -> Path:
    """Write ``patroni_mpp_e2eprobe-0.1.0-py3-none-any.whl`` into ``out_dir`` from the probe sources."""
    dist_info = f"{DIST}-{VERSION}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        files[path.relative_to(SOURCE).as_posix()] = path.read_bytes()
    files[f"{dist_info}/METADATA"] = (
        "Metadata-Version: 2.1\n"
        "Name: patroni-mpp-e2eprobe\n"
        f"Version: {VERSION}\n"
        "Summary: probe engine for the patroni-mpp end-to-end tests\n"
        "Requires-Dist: patroni-mpp>=0.1,<0.2\n"
        "Requires-Dist: pydantic>=2.6,<3\n"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: patroni-mpp-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{dist_info}/entry_points.txt"] = b"[patroni.mpp]\ne2eprobe = patroni_mpp_e2eprobe\n"
    record = [_record_line(name, data) for name, data in files.items()]
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out_dir / f"{DIST}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def install_wheel(wheel: Path, target: Path) -> None:
    """Install ``wheel`` into ``target`` (a directory to put on ``PYTHONPATH``) with pip."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        check=True,
    )  # fmt: skip
