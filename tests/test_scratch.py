"""Unit tier: the NumPy SRN reproduces the course's numbers, agrees with torch, and its hand-written
backpropagation through time equals autograd."""

import numpy as np
import pytest
import torch

from src.errors import UserError
from src.scratch import binary
from src.scratch.__main__ import COURSE_INPUTS, _torch_outputs, main, parse
from src.scratch.srn import SRN, clip_


def test_course_numbers_without_activation():
    hs, ys = SRN.ones(2, 2, 2, "identity").forward(COURSE_INPUTS)
    assert hs[1:].tolist() == [[2, 2], [6, 6], [16, 16]]
    assert ys.tolist() == [[4, 4], [12, 12], [32, 32]]


def test_course_numbers_with_tanh_exactly():
    hs, ys = SRN.ones(2, 2, 2, "tanh").forward(COURSE_INPUTS)
    assert ys[:, 0].tolist() == [1.9280551601516338, 1.9984510891336251, 1.9999753470497836]
    assert ys[:, 1].tolist() == ys[:, 0].tolist()
    assert hs[1:3, 0].tolist() == [0.9640275800758169, 0.9992255445668126]


@pytest.mark.parametrize("state", ["identity", "tanh"])
def test_rnncell_loop_rnn_and_numpy_agree(state: str):
    _, ys = SRN.ones(2, 2, 2, state).forward(COURSE_INPUTS)
    cell, rnn = _torch_outputs(torch, state)
    np.testing.assert_allclose(cell, ys[:, 0], atol=1e-6, rtol=0)
    np.testing.assert_allclose(rnn, ys[:, 0], atol=1e-6, rtol=0)


def torch_loss(model: SRN, xs: np.ndarray, targets: np.ndarray) -> tuple[float, dict]:
    """The same network and loss written with torch ops; autograd's gradients."""
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in model.params().items()}
    act = {"identity": lambda a: a, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
    h, loss = torch.zeros(model.U.shape[0], dtype=torch.float64), 0.0
    for t, x in enumerate(torch.tensor(xs)):
        h = act[model.state](p["W"] @ x + p["U"] @ h + p["b"])
        z = p["V"] @ h + p["c"]
        if model.output == "softmax":
            loss = loss - torch.log_softmax(z, dim=0)[int(targets[t])]
        else:
            loss = loss + 0.5 * ((act[model.output](z) - torch.tensor(targets[t])) ** 2).sum()
    loss.backward()
    return float(loss.detach()), {k: v.grad.numpy() for k, v in p.items()}


@pytest.mark.parametrize("state", ["identity", "tanh", "sigmoid"])
@pytest.mark.parametrize("output", ["identity", "sigmoid", "softmax"])
def test_bptt_gradients_equal_autograd(state: str, output: str):
    rng = np.random.default_rng(0)
    model = SRN.random(inputs=4, hidden=5, outputs=3, rng=rng, scale=0.5, state=state, output=output)
    model.b[...] = rng.standard_normal(5) * 0.1
    model.c[...] = rng.standard_normal(3) * 0.1
    xs = rng.standard_normal((6, 4))
    targets = rng.integers(0, 3, size=6) if output == "softmax" else rng.random((6, 3))
    hs, ys = model.forward(xs)
    grads = model.backward(xs, hs, ys, targets)
    reference_loss, reference = torch_loss(model, xs, targets)
    assert model.loss(ys, targets) == pytest.approx(reference_loss, rel=1e-12)
    for name, g in grads.items():
        relative = np.abs(g - reference[name]).max() / max(np.abs(reference[name]).max(), 1e-12)
        assert relative < 1e-6, (name, relative)


def test_clipping_bounds_every_gradient():
    rng = np.random.default_rng(1)
    grads = {"W": rng.standard_normal((3, 3)) * 100, "b": np.array([-7.0, 0.5, 9.0])}
    clip_(grads, 5.0)
    assert all(np.abs(g).max() <= 5.0 for g in grads.values())
    assert grads["b"].tolist() == [-5.0, 0.5, 5.0]  # values inside the bound are untouched


@pytest.mark.parametrize("op", ["add", "sub"])
def test_binary_lesson_learns_the_carry(op: str):
    lines = []
    model = binary.train(op=op, steps=10000, log=lines.append)
    assert len(lines) == 10 and all(" = " in line for line in lines)
    assert binary.accuracy(model, op, bits=8, n=300, seed=5) >= 0.99


def test_binary_operands_follow_the_course():
    rng = np.random.default_rng(0)
    for _ in range(500):
        a, b, r = binary.draw(rng, "add", 8)
        assert a < 128 and b < 128 and r == a + b < 256
        a, b, r = binary.draw(rng, "sub", 8)
        assert a >= b and a < 256 and r == a - b
    assert binary.from_bits(binary.to_bits(209, 8)) == 209 and binary.to_bits(6, 4).tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "say which lesson"),
        (["binary", "op=mul"], "op=mul is unknown; use add or sub"),
        (["binary", "bits=0"], "bits=0; give at least 2"),
        (["binary", "bits=eight"], "bits=eight is not a int"),
        (["srn", "op=add"], "'op=add' is not an option of 'srn'"),
        (["dinos", "hidden=100000000"], "hidden=100000000: give 1 to 4096"),  # 71 PiB of weights, asked
        (["binary", "steps=10000000000"], "steps=10000000000: give 1 to 10,000,000"),
    ],
)
def test_bad_options_are_one_clear_line(argv, message):
    with pytest.raises(UserError, match=message):
        main(argv)


def test_srn_command_prints_the_course_table(capsys):
    main(["srn"])
    out = capsys.readouterr().out
    assert "1.9280551601516338" in out and "32" in out
    assert parse(["binary", "op=sub", "steps=5"]) == ("binary", {"op": "sub", "steps": 5})


def test_dinos_split_matches_the_anchor_protocol(tmp_path):
    from src.data.dinos import read_words, split_words

    (tmp_path / "w.txt").write_text(
        "".join(f"  Word{chr(97 + i % 26)}{i:03d}\n\n" for i in range(400)), encoding="utf-8"
    )
    words, dropped = read_words(tmp_path / "w.txt")
    assert len(words) == 400 and words[0] == "worda" and dropped["0"] > 0  # digits dropped and counted
    train, val, test = split_words(words, unique=False)  # the anchors' protocol keeps repeats
    assert (len(train), len(val), len(test)) == (92, 154, 154)
    assert split_words(words, unique=False) == (train, val, test)  # fixed seed, same split
    assert sorted(train + val + test) == sorted(words)  # a partition of the shuffled list, repeats kept
    twice = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(400)] * 2
    assert [len(part) for part in split_words(twice)] == [92, 154, 154]  # by default each word once


@pytest.mark.parametrize("content", ["", "\n   \n\n", "123\n---\n"])
def test_dinos_words_file_without_words_is_a_clear_error(tmp_path, content):
    from src.data.dinos import read_words

    (tmp_path / "empty.txt").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match="has no words"):
        read_words(tmp_path / "empty.txt")


def test_dinos_lesson_learns_and_samples_from_the_alphabet(tmp_path, capsys, make_data):
    from src.scratch import dinos

    words = ["tyrannosaurus", "stegosaurus", "triceratops", "velociraptor", "brachiosaurus"] * 20
    untrained = dinos.SRN.random(dinos.VOCAB, 20, dinos.VOCAB, np.random.default_rng(0), scale=0.01)
    lines = []
    model = dinos.train(words, hidden=20, steps=3000, lr=0.05, report_every=1000, samples=3, log=lines.append)
    assert len(lines) == 3 and all("samples:" in line for line in lines)
    assert dinos.nll_per_symbol(model, words[:5]) < 0.5 * dinos.nll_per_symbol(untrained, words[:5])
    xs, targets = dinos.encode("abc")
    assert xs.shape == (4, 27) and xs[0].sum() == 0 and targets.tolist() == [1, 2, 3, 0]

    main(["dinos", "steps=200", "hidden=8", f"data_dir={make_data(tmp_path)}"])
    assert "test NLL" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_lessons_and_their_options(flag, capsys):
    from src.scratch.__main__ import main

    main([flag])
    out = capsys.readouterr().out
    assert all(f"python -m src.scratch {lesson}" in out for lesson in ("srn", "binary", "dinos")) and "hidden=" in out
