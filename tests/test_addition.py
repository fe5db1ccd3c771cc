"""task=addition (src/data/addition.py): Delétang et al.'s format, checked against sums worked by hand
and against Python's integers; the sets are fixed by the data seed; widths that are not beyond the
training ones are one clear line."""

import pytest

import src.train
from src.data.addition import SOURCE, TARGET, AdditionDataModule, bits, example
from src.errors import UserError


def module(**changes) -> AdditionDataModule:
    options = dict(
        train_bits=6,
        length_bits=[9, 20],
        train_size=300,
        val_size=40,
        test_size=30,
        batch_size=16,
        eval_batch_size=50,
        bucketing=True,
        seed=0,
    )
    data = AdditionDataModule(**(options | changes))
    data.setup()
    return data


def test_examples_worked_by_hand():
    assert bits(6, 4) == "0110"  # 6 = 0b110, least significant bit first
    # 5 + 3 = 8 with 4-bit operands: 1010 + 1100 -> the 5 bits of 8, 00010
    assert example(5, 3, 4) == ("1010+1100", "00010")
    assert example(15, 15, 4) == ("1111+1111", "01111")  # 30 = 0b11110
    assert example(0, 0, 1) == ("0+0", "00")


def read(data: AdditionDataModule, split: str) -> list[tuple[str, str]]:
    """The split's items back as text, specials left out."""
    sets = data.datasets[split]
    pairs = []
    for i in range(len(sets)):
        src = [t for t in SOURCE.decode(sets.src[i, : int(sets.src_lengths[i])].tolist()) if t in "01+"]
        tgt = [t for t in TARGET.decode(sets.tgt_out[i, : int(sets.tgt_lengths[i])].tolist()) if t in "01"]
        pairs.append(("".join(src), "".join(tgt)))
    return pairs


def test_every_item_is_a_true_sum_of_its_sets_width():
    data = module()
    widths = {}
    for split in ("train", "val", "test", "test_9bit", "test_20bit"):
        for source, target in read(data, split):
            a, b = source.split("+")
            assert len(a) == len(b) and len(target) == len(a) + 1
            value = lambda text: int(text[::-1], 2)  # noqa: E731 - little-endian back to an integer
            assert value(a) + value(b) == value(target)
            widths.setdefault(split, set()).add(len(a))
    assert widths["train"] == set(range(1, 7))  # 1..train_bits, every width drawn in 300 items
    assert widths["test"] <= set(range(1, 7)) and widths["val"] <= set(range(1, 7))
    assert widths["test_9bit"] == {9} and widths["test_20bit"] == {20}
    assert data.spec.test_sets == ("", "_9bit", "_20bit")


def test_the_sets_are_the_data_seeds_and_more_test_widths_leave_the_others_alone():
    first, again, more, other = module(), module(), module(length_bits=[9, 20, 30]), module(seed=1)
    for split in ("train", "val", "test", "test_9bit"):
        assert read(first, split) == read(again, split) == read(more, split)
    assert read(first, "train") != read(other, "train")


@pytest.mark.parametrize("length_bits", [[6], [9, 5], [9, 9]])
def test_test_widths_must_be_new_and_distinct(length_bits):
    with pytest.raises(UserError, match="above train_bits=6"):
        module(length_bits=length_bits)


def test_a_test_width_not_beyond_training_is_one_line(tmp_path, run_cli):
    run = tmp_path / "run"
    result = run_cli(src.train, ["task=addition", f"hydra.run.dir={run}", "task.data.length_bits=[64,40]"])
    result.assert_one_clear_line("task.data.length_bits=[64, 40]", "above train_bits=40")
    assert not (run / "checkpoints").exists()


def test_inspect_names_the_data_setting_that_differs_from_the_checkpoints(tmp_path, compose, run_cli):
    """inspect rebuilds the split from the run's config.yaml: when that builds other test sets than
    the checkpoint's, the line says so (it used to blame the vocabulary, which is the same)."""
    import src.inspect
    import src.run.build

    run = tmp_path / "run"
    fast = ["task.data.length_bits=[48]", "task.module.max_decode_length=60", "model.hidden_size=8"]
    quiet = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    src.run.build.train(compose(["task=addition", "trainer=debug", *fast, *quiet], run))
    config = run / "config.yaml"
    assert config.read_text().count("- 48\n") == 1
    config.write_text(config.read_text().replace("- 48\n", "- 56\n"))
    result = run_cli(src.inspect, [f"ckpt={run}", "input=101+11", f"out={tmp_path / 'figs'}"])
    result.assert_one_clear_line("does not match the checkpoint's data (test_sets differ)", "split=none")


def test_symbol_accuracy_worked_by_hand():
    """Delétang et al.'s accuracy: the reference's symbols right at their positions, over all of them;
    a missing symbol is wrong, one past the reference's end is not scored."""
    from src.tasks.metrics import SymbolAccuracy, symbols_right

    outputs, refs = ["0 1 1", "1", "0 0 1 1 1", ""], [["0 1 0"], ["0 1"], ["0 0 1"], ["1"]]
    assert [symbols_right(o, r) for o, r in zip(outputs, refs, strict=True)] == [(2, 3), (0, 2), (3, 3), (0, 1)]
    assert symbols_right("0 1", ["1 1", "0 1 1", "0 0"]) == (2, 3)  # the best share: 2/3 over 1/2 and 1/2
    metric = SymbolAccuracy()
    metric.update(outputs[:2], refs[:2])
    metric.update(outputs[2:], refs[2:])
    assert metric.compute().item() == pytest.approx(5 / 9)


def test_a_run_scores_symbols_on_every_test_set_as_its_rows_do(tmp_path, compose):
    """test/symbol_acc and test/symbol_acc_<n>bit are in the run's results, equal to the symbol-weighted
    mean of its rows' symbol_acc (the beam's outputs), the greedy decoding's beside them when the beam
    is wider; pairs (`symbol_acc: false`) has none."""
    import json

    import src.run.build

    run = tmp_path / "run"
    fast = [
        "task.data.train_bits=6",
        "task.data.length_bits=[12]",
        "task.module.max_decode_length=30",
        "model.hidden_size=8",
        "task.module.beam_size=2",
    ]
    quiet = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    src.run.build.train(compose(["task=addition", "trainer=debug", *fast, *quiet], run))
    test = json.loads((run / "results.json").read_text())["test"]
    rows = [json.loads(line) for line in (run / "test_predictions.jsonl").read_text().splitlines()]
    for suffix in ("", "_12bit"):
        part = [r for r in rows if r["set"] == suffix]
        right = sum(r["symbol_acc"] * r["symbol_acc_weight"] for r in part)
        assert test[f"test/symbol_acc{suffix}"] == pytest.approx(right / sum(r["symbol_acc_weight"] for r in part))
        assert all(r["symbol_acc_weight"] == len(r["target"].split()) for r in part)
        assert 0 <= test[f"test/symbol_acc_greedy{suffix}"] <= 1
    assert all(r["symbol_acc_weight"] == 13 for r in rows if r["set"] == "_12bit")  # 12-bit operands: 13 sum bits

    other = tmp_path / "pairs"
    src.run.build.train(compose(["task=pairs", "trainer=debug", "model.hidden_size=8", *quiet], other))
    assert not any("symbol_acc" in key for key in json.loads((other / "results.json").read_text())["test"])
