"""Unit tier: the three attention rules (the base of the seq2seq tasks, issue 4)."""

import pytest
import torch

from src.nn.attention import Attention


@pytest.mark.parametrize("rule", ["dot", "general", "additive"])
def test_weights_sum_to_one_over_real_steps_and_padding_gets_none(rule: str):
    torch.manual_seed(0)
    attention = Attention(rule, query_size=6, key_size=6)
    keys, query = torch.randn(3, 5, 6), torch.randn(3, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    context, weights = attention(query, keys, mask)
    assert context.shape == (3, 6) and weights.shape == (3, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    assert torch.all(weights[~mask] == 0)
    assert torch.allclose(context[2], keys[2, 0])  # one real step: all the weight
    # padding content cannot change the result
    noisy = keys.clone()
    noisy[~mask] = 100.0
    assert torch.allclose(attention(query, noisy, mask)[0], context, atol=1e-6)


def test_dot_rule_is_the_plain_scaled_sum():
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    query = torch.tensor([[2.0, 0.0]])
    _, weights = Attention("dot", 2, 2)(query, keys, torch.ones(1, 2, dtype=torch.bool))
    expected = torch.softmax(torch.tensor([2.0, 0.0]), dim=0)
    assert torch.allclose(weights[0], expected)


def test_bad_rules_and_sizes_are_clear():
    with pytest.raises(ValueError, match="attention=foo is unknown; use one of none, dot, general, additive"):
        Attention("foo", 4, 4)
    with pytest.raises(ValueError, match="dot attention needs equal sizes"):
        Attention("dot", 4, 8)
    assert Attention("general", 4, 8)(torch.randn(2, 4), torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.bool))[
        0
    ].shape == (2, 8)


@pytest.mark.parametrize("rule", ["dot", "general", "additive"])
def test_many_queries_at_once_equal_one_at_a_time(rule: str):
    torch.manual_seed(0)
    attention = Attention(rule, query_size=6, key_size=6)
    keys, queries = torch.randn(3, 5, 6), torch.randn(3, 4, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    context, weights = attention(queries, keys, mask, attention.project(keys))
    assert context.shape == (3, 4, 6) and weights.shape == (3, 4, 5)
    for t in range(4):
        one_context, one_weights = attention(queries[:, t], keys, mask)
        assert torch.allclose(one_context, context[:, t], atol=1e-6)
        assert torch.allclose(one_weights, weights[:, t], atol=1e-6)


def test_additive_rule_is_v_tanh_of_w_on_both_concatenated():
    torch.manual_seed(0)
    attention = Attention("additive", query_size=3, key_size=4, hidden_size=5)
    query, keys = torch.randn(1, 3), torch.randn(1, 2, 4)
    W = torch.cat([attention.W_query.weight, attention.W_key.weight], dim=1)  # (5, 3 + 4)
    expected = torch.stack(
        [attention.v.weight[0] @ torch.tanh(W @ torch.cat([query[0], k]) + attention.W_query.bias) for k in keys[0]]
    )
    _, weights = attention(query, keys, torch.ones(1, 2, dtype=torch.bool))
    assert torch.allclose(weights[0], expected.softmax(0), atol=1e-6)
