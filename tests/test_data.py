"""Unit tier: the names data, its quirks, its splits and its bad-input messages."""

import urllib.error
from pathlib import Path

import pytest
import torch

from src.data import download
from src.data.batching import PaddedSequences, pad
from src.data.names import read_labelled_names, split_rows
from src.data.vocab import NAMES_ALPHABET, PAD, Vocab, fold_to_ascii
from src.errors import UserError


def test_alphabet_is_the_courses_57_symbols():
    assert len(NAMES_ALPHABET) == 57 and NAMES_ALPHABET.endswith(" .,;'")


def test_vocab_round_trip_and_folding():
    vocab = Vocab(NAMES_ALPHABET, specials=[PAD])
    assert fold_to_ascii("Bélanger Émile Ślusarski") == "Belanger Emile Slusarski"
    kept, dropped = vocab.clean("Zoë-Smith2")
    assert (kept, dropped) == ("ZoeSmith", "-2")
    ids = vocab.encode(kept)
    assert vocab.id(PAD) == 0 and 0 not in ids and len(vocab) == 58
    assert "".join(vocab.decode(ids + [0, 0])) == kept
    assert Vocab.from_dict(vocab.to_dict()) == vocab


def test_padded_batches_are_trimmed_to_their_longest_member():
    tokens, lengths = pad([[1, 2, 3, 4, 5], [6], [7, 8]], 0)
    assert tokens.shape == (3, 5) and lengths.tolist() == [5, 1, 2]
    data = PaddedSequences(tokens, lengths, torch.tensor([0, 1, 2]))
    batch = data.__getitems__([1, 2])
    assert batch.tokens.tolist() == [[6, 0], [7, 8]]
    assert batch.lengths.tolist() == [1, 2] and batch.targets.tolist() == [1, 2]


def test_both_layouts_read_the_same_rows(data_dir: Path, tmp_path: Path):
    rows = read_labelled_names(data_dir / "names")
    tsv = tmp_path / "names.tsv"
    tsv.write_text("".join(f"{name}\t{language}\n" for name, language in rows), encoding="utf-8")
    assert read_labelled_names(tsv) == rows


def test_junk_lines_accents_and_blank_lines_are_handled(data_dir: Path, datamodule):
    dm = datamodule("names", data_dir)
    dm.setup()
    everything = set()
    for ds in dm.datasets.values():
        everything |= {"".join(dm.spec.vocab.decode(row.tolist())) for row in ds.tokens}
    assert "To The First Page" not in everything and "Belanger" in everything
    assert dm.spec.labels == ["Italian", "Japanese", "Russian"]


def test_grouped_split_keeps_each_name_in_one_split():
    rows = [(f"n{i % 50}", "A" if i % 3 else "B") for i in range(300)]  # repeats and names under two labels
    train, val, test = split_rows(rows, "grouped", 0.1, 0.1, seed=0)
    names = [{n for n, _ in part} for part in (train, val, test)]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert len(train) + len(val) + len(test) == len(set(rows))  # exact repeats dropped
    assert split_rows(rows, "grouped", 0.1, 0.1, seed=0) == (train, val, test)  # fixed seed, same split


def test_classic_split_keeps_every_row_and_leaks():
    rows = [(f"n{i % 50}", "A") for i in range(300)]
    train, val, test = split_rows(rows, "classic", 0.1, 0.1, seed=0)
    assert len(train) + len(val) + len(test) == 300 and len(test) == 30
    assert {n for n, _ in train} & {n for n, _ in test}  # the leak the grouped split avoids


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Rossi\tItalian\nBianchi\n", r"names.tsv:2: malformed line 'Bianchi'; expected name<TAB>Language"),
        ("Rossi\t\n", r"names.tsv:1: the language after the tab is empty"),
    ],
)
def test_malformed_tsv_names_file_and_line(tmp_path: Path, content: str, message: str):
    (tmp_path / "names.tsv").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_labelled_names(tmp_path / "names.tsv")


def test_non_utf8_file_names_its_line(tmp_path: Path):
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "French.txt").write_bytes(b"Dupont\nB\xe9langer\n")
    with pytest.raises(UserError, match=r"French.txt:2: not UTF-8"):
        read_labelled_names(folder)


def test_missing_data_offline_says_which_url_failed_and_what_to_do(tmp_path: Path, monkeypatch, datamodule):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    dm = datamodule("names", tmp_path / "empty")
    with pytest.raises(UserError) as err:
        dm.prepare_data()
    message = str(err.value)
    assert download.PYTORCH_TUTORIAL_DATA in message and "paths.data_dir=DIR" in message
    assert "RNNLAB_DATA_DIR" in message and "\n" not in message
    assert not list((tmp_path / "empty").glob("names/*"))  # nothing half-downloaded left behind


def test_download_extracts_checks_and_places_the_files(tmp_path: Path, monkeypatch):
    import io
    import zipfile

    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as zf:
        zf.writestr("data/names/Korean.txt", "Kim\nLee\n")
    source = download.Source(
        url="https://example.invalid/data.zip",
        licence="test",
        members={"data/names/Korean.txt": "names/Korean.txt"},
        sha256={"names/Korean.txt": download.hashlib.sha256(b"Kim\nLee\n").hexdigest()},
    )
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload.getvalue()))
    download.ensure_files(source, tmp_path)
    assert (tmp_path / "names" / "Korean.txt").read_text() == "Kim\nLee\n"

    (tmp_path / "names" / "Korean.txt").unlink()
    bad = download.Source(source.url, "test", source.members, {"names/Korean.txt": "0" * 64})
    with pytest.raises(UserError, match="fails its sha256 check"):
        download.ensure_files(bad, tmp_path)
    assert not (tmp_path / "names" / "Korean.txt").exists()


def test_unknown_split_is_a_clear_error(tmp_path: Path, datamodule):
    with pytest.raises(UserError, match="task.data.split=random is unknown; use one of grouped, classic"):
        datamodule("names", tmp_path, split="random")


def test_passes_batch_sampler_covers_every_item_once_per_pass():
    from src.data.batching import PassesBatchSampler

    torch.manual_seed(0)
    sampler = PassesBatchSampler(6, batch_size=4, passes=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 6  # 3 passes x (4 + 2)
    passes = [sorted(batches[i] + batches[i + 1]) for i in range(0, 6, 2)]
    assert passes == [list(range(6))] * 3
    assert len({tuple(batches[i] + batches[i + 1]) for i in range(0, 6, 2)}) > 1  # each pass reshuffled
    assert list(PassesBatchSampler(3, batch_size=8, passes=2, shuffle=False)) == [[0, 1, 2], [0, 1, 2]]
    with pytest.raises(ValueError, match="passes=0; use 1 or more"):
        PassesBatchSampler(3, 8, passes=0)
