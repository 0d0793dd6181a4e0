"""Install the ``erp5`` kernelspec: ``python -m erp5_kernel.install [--sys-prefix|--user]``.

The kernelspec runs this Python (``sys.executable``), so the kernel always finds the
package it was installed from.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "erp5"
DISPLAY_NAME = "ERP5"


def kernel_json(python: str | None = None) -> dict:
    """The kernelspec's ``kernel.json`` content."""
    return {
        "argv": [python or sys.executable, "-m", "erp5_kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }


def write_kernelspec(kernels_dir: Path, python: str | None = None) -> Path:
    """Write ``<kernels_dir>/erp5/kernel.json`` directly; return the kernelspec directory."""
    directory = Path(kernels_dir) / KERNEL_NAME
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kernel.json").write_text(json.dumps(kernel_json(python), indent=1) + "\n")
    return directory


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec where Jupyter looks for it; return the installed directory."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        source = write_kernelspec(Path(tmp))
        return KernelSpecManager().install_kernel_spec(
            str(source), KERNEL_NAME, user=user, prefix=prefix
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m erp5_kernel.install", description="Install the ERP5 kernelspec."
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="into the user's Jupyter data dir")
    where.add_argument("--sys-prefix", action="store_true", help="into this Python's prefix")
    where.add_argument("--prefix", help="into PREFIX/share/jupyter/kernels")
    args = parser.parse_args(argv)
    prefix = sys.prefix if args.sys_prefix else args.prefix
    path = install(user=args.user, prefix=prefix)
    print(f"Installed kernelspec {KERNEL_NAME!r} ({DISPLAY_NAME}) in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
