"""Regenerate docs/tensorboard.png, the README's picture of TensorBoard, from a real run.

    python docs/screenshot.py [LOGDIR]     # default: train names for 3 epochs into a temporary folder

Needs Chromium (Debian: apt-get install chromium). Starts TensorBoard on loopback, lets headless
Chromium render the scalars dashboard, and writes the PNG beside this file.
"""

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the SCALARS dashboard (it draws with SVG, which headless Chromium renders) on the validation metrics
VIEW = "#scalars&tagFilter=val%2F(acc%7Cf1%7Closs)%24&_smoothingWeight=0"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]  # fmt: skip


def train_a_run(logdir: Path) -> None:
    cmd = [sys.executable, "-m", "src.train", "task=names", "model=gru", "trainer.max_epochs=3",
           "trainer.enable_progress_bar=false", f"hydra.run.dir={logdir / 'names_gru'}"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=HERE.parent)


def main(argv: list[str]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("error: Chromium is not installed; apt-get install chromium (or give its path on PATH)")
    with tempfile.TemporaryDirectory() as tmp:
        logdir = Path(argv[0]) if argv else Path(tmp) / "outputs"
        if not argv:
            train_a_run(logdir)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        tensorboard = Path(sys.executable).parent / "tensorboard"
        serve = [str(tensorboard), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)]
        server = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(60):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            out = HERE / "tensorboard.png"
            subprocess.run(
                [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/chrome", "--window-size=1400,900",
                 "--virtual-time-budget=15000", f"--screenshot={out}", f"http://127.0.0.1:{port}/{VIEW}"],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main(sys.argv[1:])
