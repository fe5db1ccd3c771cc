"""The prose holds: every file, module, function and option the README and the documentation site name
exists; the site builds with warnings as errors; the README stays short and links to a page for every
task. (tests/test_readme.py runs their shell commands.)"""

import ast
import importlib
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import yaml

from src.paths import CHECKOUT

README = CHECKOUT / "README.md"
DOCS = CHECKOUT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
# the documents the project writes for a reader; the reports pasted into docs/ (quality, fair_cells_*,
# defaults) are records of past runs, quoted as they were written
REPORTS = {"quality.md", "fair_cells_dinos.md", "fair_cells_names.md"}
PROSE = [page for page in PAGES if page.name not in REPORTS]

# a path of the project's code, config, benchmarks or tests: src/train.py, conf/task/<task>.yaml, tests/
PATH = re.compile(r"(?<![\w./<>-])((?:src|conf|benchmarks|tests|hydra_plugins)/[\w./<>*-]*)")
# a backticked dotted Python name: `src.analysis.stats.holm`, `RecurrentTask.training_step`, `stats.corpus_bleu()`
DOTTED = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\(\))?`")
# a backticked config key, bare or set: `task.data.file=my.txt`, `model.param_budget=N`
GROUPS = r"task\.data|task\.module|model|callbacks|fair_cells|hydra\.sweeper|hydra\.launcher"
KEY = re.compile(rf"(?<![\w./])((?:{GROUPS})\.\w+)")
FILE_SUFFIXES = {"py", "md", "yaml", "txt", "tsv", "ckpt", "png", "json", "jsonl", "log", "journal", "db", "out", "zip"}


def rel(page: Path) -> str:
    return str(page.relative_to(CHECKOUT))


def code_spans(text: str) -> list[str]:
    """The text of every inline code span and fenced block (where names and paths are written)."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return fenced + inline


def named_paths(page: Path) -> set[str]:
    text = page.read_text()
    return {m.rstrip(".,:;)") for m in PATH.findall(text)}


def exists(path: str) -> bool:
    """The path is in the checkout; a `<placeholder>` or `*` stands for any name."""
    if "<" in path or "*" in path:
        pattern = re.sub(r"<[^>]*>", "*", path).rstrip("/")
        return any(CHECKOUT.glob(pattern))
    return (CHECKOUT / path).exists()


def module_name(file: Path) -> str:
    """src/nn/gates.py -> src.nn.gates; a package's __init__.py -> the package."""
    parts = file.relative_to(CHECKOUT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def src_modules() -> dict[str, list[str]]:
    """Every module of src/ by its last name (stats -> [src.analysis.stats], language_model -> two)."""
    found: dict[str, list[str]] = {}
    for file in (CHECKOUT / "src").rglob("*.py"):
        dotted = module_name(file)
        found.setdefault(dotted.split(".")[-1], []).append(dotted)
    return found


@cache
def src_classes() -> dict[str, list[str]]:
    """Every class defined in src/, by name -> the modules that define it."""
    found: dict[str, list[str]] = {}
    for file in (CHECKOUT / "src").rglob("*.py"):
        module = module_name(file)
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(module)
    return found


def resolves(module: str, attrs: list[str]) -> bool:
    try:
        obj = importlib.import_module(module)
    except ImportError:
        return False
    for attr in attrs:
        if not hasattr(obj, attr):
            try:  # a submodule not imported by its package
                obj = importlib.import_module(f"{obj.__name__}.{attr}")
                continue
            except (ImportError, AttributeError):
                return False
        obj = getattr(obj, attr)
    return True


def python_name_exists(name: str) -> bool | None:
    """True or False for a name that reads as the project's Python (`src.x.y`, `benchmarks.x`,
    `module.function` of a src module, `Class.method` of a src class); None for anything else: a file
    name (stats.py), a config key (fair_cells.seeds), torch's own (nn.LSTM, torch.load)."""
    parts = name.split(".")
    if parts[-1] in FILE_SUFFIXES or any(".".join(parts[:n]) in config_keys() for n in range(2, len(parts) + 1)):
        return None
    if parts[0] in ("src", "benchmarks"):
        for cut in range(len(parts), 0, -1):
            module = ".".join(parts[:cut])
            try:
                importlib.import_module(module)
            except ImportError:
                continue
            return resolves(module, parts[cut:])
        return False
    for module in src_modules().get(parts[0], []) + src_classes().get(parts[0], []):
        attrs = parts[1:] if module.split(".")[-1] == parts[0] else parts
        if resolves(module, attrs):
            return True
    if resolves("torch", parts):  # nn.LSTM, nn.GRU: torch's
        return None
    if parts[0] in src_modules() or parts[0] in src_classes():
        return False
    return None


@cache
def config_keys() -> set[str]:
    """Every dotted key the configs define, as the command line names it (task.data.file, model.cell,
    fair_cells.search.lr, hydra.sweeper.workers, hydra.launcher.partition)."""
    keys: set[str] = set()

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str):
                    keys.add(f"{prefix}{key}")
                    walk(f"{prefix}{key}.", value)

    for file in (CHECKOUT / "conf").rglob("*.yaml"):
        data = yaml.safe_load(file.read_text()) or {}
        group = file.relative_to(CHECKOUT / "conf").parts[0]
        if group == "model":
            walk("model.", data)
        elif group == "hydra":  # conf/hydra/<launcher|sweeper>/<name>.yaml: hydra.<launcher|sweeper>.*
            walk(f"hydra.{file.parent.name}.", data)
        else:
            walk("", data)
    return keys


def test_every_named_path_exists():
    missing = [f"{rel(page)}: {path}" for page in PAGES for path in sorted(named_paths(page)) if not exists(path)]
    assert not missing, "paths the docs name that are not in the checkout:\n" + "\n".join(missing)


def test_every_named_python_name_resolves():
    checked, missing = 0, []
    for page in PROSE:
        spans = code_spans(page.read_text())  # src.* and benchmarks.* anywhere in code; other names as a whole span
        names = {m for span in spans for m in re.findall(r"(?<![\w/.])(?:src|benchmarks)(?:\.\w+)+", span)}
        names |= set(DOTTED.findall(page.read_text()))
        for name in sorted(names):
            found = python_name_exists(name)
            checked += found is not None
            if found is False:
                missing.append(f"{rel(page)}: {name}")
    assert checked > 30  # the pages name the code they describe, and this test reads them
    assert not missing, "Python names the docs give that do not exist:\n" + "\n".join(missing)


def test_every_named_option_is_in_the_configs():
    keys, missing = config_keys(), []
    for page in PROSE:
        for span in code_spans(page.read_text()):
            for key in KEY.findall(span):
                if key not in keys and key.split(".")[-1] not in FILE_SUFFIXES:
                    missing.append(f"{rel(page)}: {key}")
    assert not missing, "options the docs name that no config under conf/ has:\n" + "\n".join(sorted(set(missing)))


def test_readme_is_short_and_links_to_a_page_for_every_task():
    text = README.read_text()
    lines = text.count("\n")
    assert lines <= 300, f"README.md has {lines} lines; keep it under 300 and move the rest into docs/"
    tasks = sorted(p.stem for p in (CHECKOUT / "conf" / "task").glob("*.yaml"))
    unlinked = [t for t in tasks if f"](docs/tasks/{t}.md)" not in text]
    assert not unlinked, f"tasks without a link to their page docs/tasks/<task>.md in the README: {unlinked}"
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), "the README holds nothing dated: dated figures go to docs/"
    assert not re.search(r"\bissue \d+", text, re.I), "no issue numbers in the README"


def headings(page: Path) -> set[str]:
    """The anchors MkDocs gives a page's headings (the toc extension's slugify)."""
    slugs = set()
    for title in re.findall(r"^#+\s+(.*)$", re.sub(r"```.*?```", "", page.read_text(), flags=re.S), re.M):
        slug = re.sub(r"[^\w\s-]", "", re.sub(r"`|\*", "", title)).strip().lower()
        slugs.add(re.sub(r"[-\s]+", "-", slug))
    return slugs


def test_readme_links_into_docs_point_at_files_and_headings():
    links = re.findall(r"\]\(((?:docs|data)/[^)#\s]+)(?:#([^)\s]+))?\)", README.read_text())
    assert len(links) > 20
    broken = []
    for target, anchor in links:
        page = CHECKOUT / target
        if not page.is_file():
            broken.append(target)
        elif anchor and anchor not in headings(page):
            broken.append(f"{target}#{anchor}")
    assert not broken, f"README links to what does not exist: {broken}"


def test_no_placeholders_in_shell_blocks():
    """`<run>` pasted into a shell is a redirection: commands name real folders (ckpt=outputs/names)."""
    found = []
    for page in PAGES:
        for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                command = re.sub(r"\s+#\s.*$", "", line.strip())
                if not command.startswith("#") and re.search(r"<\w[^>]*>", command):
                    found.append(f"{rel(page)}: {command}")
    assert not found, "placeholders in shell blocks:\n" + "\n".join(found)


def test_data_readme_gives_the_data_folders_in_the_codes_order_and_every_data_set():
    text = (CHECKOUT / "data" / "README.md").read_text()
    order = [text.find(s) for s in ("RNNLAB_DATA_DIR", "../shared/data", "`data/` in the checkout")]
    assert -1 not in order and order == sorted(order), order
    from src.data import download

    files = {f for source in (download.NAMES, download.DINOS, download.ENG_FRA) for f in source.files}
    missing = [f for f in files if f.split("/")[0] not in text]
    assert not missing, f"data sets the code reads that data/README.md does not list: {missing}"


def test_the_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`, as `make docs` and CI run it: a broken link, a missing anchor, a page
    left out of the nav or a docstring mkdocstrings cannot render fails it."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("index.html", "tasks/names/index.html", "api/stats/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    assert "src.analysis.stats.holm" in (tmp_path / "site" / "api" / "stats" / "index.html").read_text()


def test_every_picture_in_docs_is_shown_on_a_page():
    shown = {
        (page.parent / target).resolve()
        for page in PAGES
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text())
    }
    unshown = [rel(p) for p in sorted(DOCS.rglob("*.png")) if p.resolve() not in shown]
    assert not unshown, f"pictures in docs/ that no page shows: {unshown}"
