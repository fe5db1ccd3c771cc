"""Find data files in the data folder, or download them from their public homes and check them."""

import hashlib
import logging
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from src.errors import UserError

log = logging.getLogger(__name__)

POINT_AT_LOCAL = "put the files there, or point paths.data_dir=DIR (or RNNLAB_DATA_DIR=DIR) at a folder that has them"


@dataclass(frozen=True)
class Source:
    """Where a data set lives publicly: a zip whose `members` map archive paths to local paths, or
    (no members) one file saved as `single_file`."""

    url: str
    licence: str
    members: dict[str, str] = field(default_factory=dict)  # zip member -> path under the data folder
    sha256: dict[str, str] = field(default_factory=dict)  # path under the data folder -> sha256
    single_file: str = ""

    @property
    def files(self) -> list[str]:
        return list(self.members.values()) or [self.single_file]


PYTORCH_TUTORIAL_DATA = "https://download.pytorch.org/tutorial/data.zip"

NAMES_SHA256 = {
    "Arabic": "6f424a8dbe51cbbbabab7a57d38b617210125e4e3991f3c657cb79b8f104bafc",
    "Chinese": "49263ef55a8cb1740e841d65cad8214b2f9b5b869bc534c811746422496fa91e",
    "Czech": "145bbbd6d0816578f03388e92c264d39ef1c60df920b081d371fa5c5cc055a8e",
    "Dutch": "924f32b635170eae561f84538632138fc07d4c8bbd70ba3fb980de1ecc4d2af3",
    "English": "9cca037066d3d5989e24bc01801416162de506b5e28e15b7c092a47905d29bf2",
    "French": "81e65b36c60ed5b89a17422f6edcadbb89546f38ad69e960e64e7ba682012a95",
    "German": "7449cd590b97a733e18d613a4155decd77ec35dc5f8aadd7a82204dce4f051db",
    "Greek": "3555b5186de7f401e6d991b088e9e644ca3099116477818c25ab5793801389e6",
    "Irish": "cf8c7013256252a88d2503127b87282a11f21b2ff6db1bded68834c19a1ec058",
    "Italian": "f88414c27d0606a11a678b4859277828c2565d6cc4d9ee932deef6e94f3b35e4",
    "Japanese": "e0e717e114fec3e7eade4d9dabe0067c475f43147e36a22b47902ee76ad9e67f",
    "Korean": "cd54221ccb362a6cba4c78828838cf3268a0e59744767a37cf6ec4b74036b136",
    "Polish": "45bab898af2f60ed3a728bbf6980e28821011a7caa53227553b5785903a40826",
    "Portuguese": "50a8735f41f4f73757c8ce5b16cb0275cd86b2b214bcbc8c9805f508cb131c53",
    "Russian": "43b3e64ce351f77f1ac9e0cdf7566012d127f4371875fd25208845b5c9d6f7c3",
    "Scottish": "78d0252711d87d948ea86fe34826c51d2d794a8e52d15b5d6f7b6244d45d62dd",
    "Spanish": "1bcb462ed3316756a85781d68232bddae04498fdddd5d9219c53fd1fbdeba7a7",
    "Vietnamese": "f3f9e4164ab47601178a6e45b216464a64122f49d05541f24bf18a757253281d",
}

NAMES = Source(
    url=PYTORCH_TUTORIAL_DATA,
    licence="surnames from the PyTorch tutorials (BSD-3-Clause)",
    members={f"data/names/{lang}.txt": f"names/{lang}.txt" for lang in NAMES_SHA256},
    sha256={f"names/{lang}.txt": digest for lang, digest in NAMES_SHA256.items()},
)

ENG_FRA = Source(
    url=PYTORCH_TUTORIAL_DATA,
    licence="Tatoeba sentences, CC-BY 2.0 FR (tatoeba.org), via the PyTorch tutorials",
    members={"data/eng-fra.txt": "eng-fra.txt"},  # about 135k pairs; no fixed sha256 is published
)

DINOS = Source(
    url="https://raw.githubusercontent.com/vbvsharma/text-generation-with-an-rnn/master/dinos.txt",
    licence="dinosaur genus names (facts, no licence needed)",
    sha256={"dinos.txt": "0704eb65c34137226ad13023cfaa77edf70222aaaf3e2a926b9b791a25b025f6"},
    single_file="dinos.txt",
)


def user_file(data_dir: str | Path, name: str | Path) -> Path:
    """A data file or folder the user named (task.data.file=, task.data.path=): an absolute path as it
    is; a relative one where the user stands when it is there (the shell's meaning: Hydra keeps the
    working folder), else in the data folder (the data sets' own names: names, dinos.txt)."""
    path = Path(name).expanduser()
    if path.is_absolute() or not path.exists():
        return Path(data_dir) / path
    return path.resolve()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_files(source: Source, data_dir: str | Path) -> None:
    """Make sure every file of `source` is in `data_dir`, downloading the ones that are missing."""
    data_dir = Path(data_dir)
    missing = [rel for rel in source.files if not (data_dir / rel).is_file()]
    if not missing:
        return
    log.info("%d file(s) missing in %s (e.g. %s); downloading %s", len(missing), data_dir, missing[0], source.url)
    log.info("data licence: %s", source.licence)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"data folder {data_dir} cannot be created ({err.strerror}); {POINT_AT_LOCAL}") from err
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        archive = Path(tmp) / "download"
        _download(source.url, archive, data_dir, missing[0])
        _extract(source, archive, Path(tmp) / "files")
        for rel in missing:  # move into place only once everything is downloaded and checked
            target = data_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(tmp) / "files" / rel, target)


def _download(url: str, target: Path, data_dir: Path, missing: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(
            f"{missing} is not in {data_dir.resolve()} and downloading {url} failed ({reason}): "
            f"offline? {POINT_AT_LOCAL}"
        ) from err


def _extract(source: Source, archive: Path, out_dir: Path) -> None:
    """Unpack (or, for a single file, copy) the download into out_dir and check every sha256."""
    if not source.members:
        (out_dir / source.single_file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(archive, out_dir / source.single_file)
    else:
        try:
            with zipfile.ZipFile(archive) as zf:
                for member, rel in source.members.items():
                    (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(member) as src, open(out_dir / rel, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except (zipfile.BadZipFile, KeyError) as err:
            raise UserError(
                f"the download from {source.url} is not the expected archive ({err}); {POINT_AT_LOCAL}"
            ) from err
    for rel, expected in source.sha256.items():
        if sha256_of(out_dir / rel) != expected:
            raise UserError(
                f"{rel} from {source.url} fails its sha256 check (the file changed upstream?); {POINT_AT_LOCAL}"
            )
