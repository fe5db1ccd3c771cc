"""The translate task's data layer: normalisation, filters, splits, vocabulary (issue 4)."""

from pathlib import Path

import pytest

from src.data.translate import filter_pairs, normalize, read_pairs, split_pairs, word_vocab
from src.data.vocab import END, PAD, SPECIALS, UNK
from src.errors import UserError


def test_normalisation_follows_the_tutorial():
    assert normalize("Run!") == "run !"
    assert normalize("Cours\u202f!") == "cours !"  # the typographic space before ! in the French side
    assert normalize("J'ai froid.") == "j ai froid ."
    assert normalize("Ça va, Éloïse?") == "ca va eloise ?"


def test_read_counts_and_skips_bad_lines(tmp_path: Path):
    (tmp_path / "p.txt").write_text("Go.\tVa !\nno tab here\n\tVide\nI'm cold.\tJ'ai froid.\n", encoding="utf-8")
    pairs, skipped = read_pairs(tmp_path / "p.txt")
    assert pairs == [("go .", "va !"), ("i m cold .", "j ai froid .")] and skipped == 2
    reversed_pairs, _ = read_pairs(tmp_path / "p.txt", reverse=True)
    assert reversed_pairs[0] == ("va !", "go .")
    (tmp_path / "none.txt").write_text("nothing\n", encoding="utf-8")
    with pytest.raises(UserError, match="has no English<TAB>French lines"):
        read_pairs(tmp_path / "none.txt")


def test_filters_on_length_and_prefix():
    pairs = [("i am cold .", "j ai froid ."), ("go .", "va !"), ("he is " + "very " * 10, "il est")]
    assert filter_pairs(pairs, max_length=10) == pairs[:2]
    assert filter_pairs(pairs, max_length=10, prefixes=("i am ",)) == pairs[:1]
    reversed_pairs = [(b, a) for a, b in pairs]  # task.data.reverse=true: French first, the prefixes read the English
    assert filter_pairs(reversed_pairs, max_length=10, prefixes=("i am ",), english=1) == reversed_pairs[:1]


def test_grouped_split_keeps_each_source_in_one_split_with_all_its_references():
    pairs = [(f"s{i % 40}", f"t{i}") for i in range(120)]  # every source has three translations
    train, val, test = split_pairs(pairs, "grouped", val=5, test=5, seed=0)
    sources = [{a for a, *_ in part} for part in (train, val, test)]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    assert all(len(refs) == 3 for _, refs in val + test) and len(test) == 5
    assert split_pairs(pairs, "grouped", val=5, test=5, seed=0) == (train, val, test)


def test_classic_split_is_the_anchor_protocol():
    pairs = [(f"s{i}", f"t{i}") for i in range(50)]
    train, val, test = split_pairs(pairs, "classic", val=5, test=5, seed=0)
    assert len(train) == 40 and all(len(refs) == 1 for _, refs in val + test)
    with pytest.raises(UserError, match="task.data.split=random is unknown"):
        split_pairs(pairs, "random")


def test_vocab_min_freq_unknown_words_and_round_trip():
    vocab = word_vocab(["the cat sat .", "the dog sat ."], min_freq=2)
    assert vocab.tokens == [".", "sat", "the"] and vocab.specials == list(SPECIALS)
    words = ["the", "cat", "sat", "."]
    ids = vocab.encode(words)
    assert ids[1] == vocab.id(UNK) and vocab.unknown(words) == ["cat"]
    assert vocab.decode([*ids, vocab.id(END), vocab.id(PAD)]) == ["the", "sat", "."]  # specials left out


def test_real_file_if_present(shared_data):

    path = shared_data / "eng-fra.txt"
    pairs, skipped = read_pairs(path)
    assert len(pairs) == 18065 and skipped == 0
    train, val, test = split_pairs(filter_pairs(pairs), "grouped")
    assert len(val) == len(test) == 1000 and len(train) > 10000


def test_the_tutorial_subset_in_both_directions_and_what_to_do_when_it_is_too_small(data_dir, datamodule, tmp_path):
    (tmp_path / "eng-fra.txt").write_text(
        "".join(f"I am {w}.\tJe suis {w}.\nHe runs {w}.\tIl court {w}.\n" for w in ("tall", "small", "cold", "ok")),
        encoding="utf-8",
    )
    dm = datamodule("translate", tmp_path, prefixes="tutorial", reverse=True, val_size=1, test_size=1)
    dm.setup()
    assert dm.references("test")[0][0].startswith("i am ")  # the English side, now the target, was filtered
    with pytest.raises(UserError, match="lower task.data.test_size and task.data.val_size"):
        datamodule("translate", tmp_path, prefixes="tutorial", val_size=2, test_size=2).setup()
    with pytest.raises(UserError, match="raise task.data.max_length or set task.data.prefixes=null"):
        datamodule("translate", tmp_path, prefixes="tutorial", max_length=2).setup()
