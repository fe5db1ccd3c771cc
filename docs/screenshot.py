"""Regenerate the TensorBoard pictures of docs/tensorboard.md from real runs.

    python docs/screenshot.py            # trains the runs below into a temporary outputs/ folder
    python docs/screenshot.py LOGDIR     # only tensorboard.png, of the runs already under LOGDIR

1. `python -m src.train -m task=names model=rnn,lstm,gru trainer.max_epochs=3`, then TensorBoard's
   CUSTOM SCALARS tab (one chart per validation metric, every run on it): tensorboard.png;
2. then `python -m src.train task=dinos model=gru trainer.max_epochs=8` into the same outputs/: the
   same tab with both tasks (tensorboard_tasks.png) and the HPARAMS table, where each task's metrics
   are columns (tensorboard_hparams.png).

The runs are started in the temporary folder exactly as a user starts them in a checkout, so the run
folders have the names a user sees. Needs Chromium (Debian: apt-get install chromium). Starts
TensorBoard on loopback and lets headless Chromium render each view into a PNG beside this file.
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
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
SWEEP = ["-m", "task=names", "model=rnn,lstm,gru", "trainer.max_epochs=3"]
OTHER_TASK = ["task=dinos", "model=gru", "trainer.max_epochs=8"]
CUSTOM_SCALARS = ("custom_scalars", "1400,900")
# wide: the table shows 5 hyperparameters, then the metric columns (both tasks' test metrics come first)
HPARAMS = ("hparams", "2400,600")


def train(args: list[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "src.train", *args, "trainer.enable_progress_bar=false"]
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def shoot(chromium: str, logdir: Path, shots: dict[str, tuple[str, str]], profile: Path) -> None:
    """One PNG per file name -> (TensorBoard view, the part of the address after #; window size)."""
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
        time.sleep(3)  # the first reload of the event files
        for name, (view, size) in shots.items():
            out = HERE / name
            subprocess.run(
                [
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--user-data-dir={profile}",
                    f"--window-size={size}",
                    "--virtual-time-budget=15000",
                    f"--screenshot={out}",
                    f"http://127.0.0.1:{port}/#{view}",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("error: Chromium is not installed; apt-get install chromium (or give its path on PATH)")
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "chrome"
        if argv:
            shoot(chromium, Path(argv[0]), {"tensorboard.png": CUSTOM_SCALARS}, profile)
            return
        train(SWEEP, cwd=Path(tmp))
        shoot(chromium, Path(tmp) / "outputs", {"tensorboard.png": CUSTOM_SCALARS}, profile)
        train(OTHER_TASK, cwd=Path(tmp))
        views = {"tensorboard_tasks.png": CUSTOM_SCALARS, "tensorboard_hparams.png": HPARAMS}
        shoot(chromium, Path(tmp) / "outputs", views, profile)


if __name__ == "__main__":
    main(sys.argv[1:])
