"""Length-bucketed training batches and length-sorted evaluation batches (src/data/batching.py)."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler

from src.data.batching import EpochShuffle, EvalBatches, LengthBatchSampler, batch_as_is
from src.data.splits import SplitsDataModule
from src.errors import UserError
from src.run.build import build_run


def padding(batches: list[list[int]], lengths: torch.Tensor) -> float:
    padded = sum(len(b) * int(lengths[b].max()) for b in batches)
    return 1 - int(lengths.sum()) / padded


def bucketed(lengths, seed=0, epoch=0, batch_size=8, **options) -> list[list[int]]:
    sampler = EpochShuffle(len(lengths), seed)
    sampler.set_epoch(epoch)
    return list(LengthBatchSampler(sampler, batch_size, lengths=lengths, **options))


def test_every_item_once_an_epoch_in_as_many_batches_as_plain_batching():
    lengths = torch.randint(1, 20, (203,), generator=torch.Generator().manual_seed(0))
    for chunk_batches in (None, 3, 100):
        batches = bucketed(lengths, batch_size=8, chunk_batches=chunk_batches)
        assert sorted(i for b in batches for i in b) == list(range(203))
        assert len(batches) == 26 == len(LengthBatchSampler(EpochShuffle(203, 0), 8, lengths=lengths))  # ceil(203/8)
        assert sorted(len(b) for b in batches)[1:] == [8] * 25  # one short batch, the last one cut


def test_batches_hold_similar_lengths():
    # 4 lengths x 64 items: sorted as one chunk, every batch of 8 holds one length, no padding at all
    lengths = torch.arange(256) % 4 + 1
    assert padding(bucketed(lengths, chunk_batches=None), lengths) == 0.0
    # names-like lengths 1-19 in chunks of 100 batches: a few mixed batches per chunk; random batches ~45% padding
    lengths = torch.randint(1, 20, (6400,), generator=torch.Generator().manual_seed(0))
    random_batches = [list(range(i, i + 8)) for i in range(0, 6400, 8)]
    assert padding(random_batches, lengths) > 0.3
    assert padding(bucketed(lengths), lengths) < 0.03


def test_order_changes_with_the_epoch_and_the_seed_and_repeats_for_the_same_pair():
    lengths = torch.randint(1, 20, (400,), generator=torch.Generator().manual_seed(0))
    first = bucketed(lengths, seed=1, epoch=0)
    assert bucketed(lengths, seed=1, epoch=0) == first  # a resumed run sees the batches it would have
    assert bucketed(lengths, seed=1, epoch=1) != first
    assert bucketed(lengths, seed=2, epoch=0) != first
    # the batch order is shuffled, not longest first
    longest = [int(lengths[b].max()) for b in first]
    assert longest != sorted(longest, reverse=True) and longest != sorted(longest)


@pytest.mark.parametrize("n", [400, 401])
def test_ddp_ranks_get_disjoint_covering_shares_in_as_many_batches(n: int):
    lengths = torch.randint(1, 20, (n,), generator=torch.Generator().manual_seed(0))
    shares = []
    for rank in (0, 1):
        sampler = DistributedSampler(range(n), num_replicas=2, rank=rank, shuffle=True, seed=3)
        sampler.set_epoch(2)
        shares.append(list(LengthBatchSampler(sampler, 8, lengths=lengths)))
    items = [[i for b in share for i in b] for share in shares]
    assert len(shares[0]) == len(shares[1]) == {400: 25, 401: 26}[n]  # each rank: ceil(n / 2) items, batches of 8
    assert len(items[0]) == len(items[1]) == -(-n // 2)
    assert set(items[0]) | set(items[1]) == set(range(n))  # covering
    if n % 2 == 0:
        assert not set(items[0]) & set(items[1])  # disjoint
    else:  # DistributedSampler repeats one item so that both ranks get as many
        assert len(set(items[0]) & set(items[1])) <= 1


@pytest.mark.parametrize("n", [400, 401])
def test_evaluation_shares_cover_every_item_once_sorted_by_length(n: int):
    """Validation and test under DDP: no item repeated (it would count twice), none left out."""
    lengths = torch.randint(1, 20, (n,), generator=torch.Generator().manual_seed(0))
    shares = [list(EvalBatches(range(n), 8, lengths=lengths, processes=2, rank=rank)) for rank in (0, 1)]
    items = [i for share in shares for batch in share for i in batch]
    assert sorted(items) == list(range(n))  # every item once
    for share in shares:
        order = [i for batch in share for i in batch]
        assert [int(lengths[i]) for i in order] == sorted((int(lengths[i]) for i in order), reverse=True)
    assert [len(s) for s in shares] == [
        len(EvalBatches(range(n), 8, lengths=lengths, processes=2, rank=r)) for r in (0, 1)
    ]
    one = list(EvalBatches(range(n), 8, lengths=lengths))  # no process group: one share, all items
    assert sorted(i for batch in one for i in batch) == list(range(n))


def test_lightning_puts_its_distributed_sampler_into_the_bucketed_loader(data_dir, datamodule):
    """What Lightning does to the train loader under DDP: build it under its init capture, then
    re-create it with a DistributedSampler; the bucketed batch sampler must survive that."""
    from lightning.fabric.utilities.data import _replace_dunder_methods
    from lightning.pytorch.utilities.data import _update_dataloader
    from torch.utils.data import BatchSampler

    dm = datamodule("names", data_dir, bucketing=True)
    dm.setup()
    with _replace_dunder_methods(DataLoader, "dataset"), _replace_dunder_methods(BatchSampler):
        loader = dm.train_dataloader()
    n = len(dm.datasets["train"])
    seen = []
    for rank in (0, 1):
        sampler = DistributedSampler(dm.datasets["train"], num_replicas=2, rank=rank, shuffle=True, seed=0)
        ddp = _update_dataloader(loader, sampler)
        assert isinstance(ddp.batch_sampler, LengthBatchSampler) and ddp.batch_sampler.sampler is sampler
        seen.append([int(i) for batch in ddp for i in batch.index])
    assert len(seen[0]) == len(seen[1]) == -(-n // 2)
    assert set(seen[0]) | set(seen[1]) == set(range(n))


def test_datamodule_buckets_on_request_and_sorts_evaluation_batches(data_dir, datamodule):
    dm = datamodule("names", data_dir, bucketing=True, batch_size=4)
    dm.setup()
    assert isinstance(dm.train_dataloader().batch_sampler, LengthBatchSampler)
    longest = [int(batch.lengths.max()) for batch in dm.val_dataloader()]
    assert longest == sorted(longest, reverse=True)  # longest first
    plain = datamodule("names", data_dir, bucketing=False)
    plain.setup()
    assert isinstance(plain.train_dataloader().sampler, EpochShuffle)
    with pytest.raises(UserError, match="task.data.bucketing=true with task.data.passes=25; use one of them"):
        SplitsDataModule(batch_size=4, passes=25, bucketing=True)


def test_bucketing_takes_true_or_false(data_dir, compose, tmp_path):
    from src.run.checks import check_config

    with pytest.raises(UserError, match="task.data.bucketing=maybe.*true or false"):
        check_config(compose(["task=dinos", "task.data.bucketing=maybe"], tmp_path))


def item_order_loader(dm, split: str, batch_size: int) -> DataLoader:
    data = dm.datasets[split]
    return DataLoader(data, sampler=SequentialSampler(data), batch_size=batch_size, collate_fn=batch_as_is)


@pytest.mark.parametrize("task", ["names", "dinos", "translate"])
def test_sorted_evaluation_gives_the_metrics_and_rows_of_item_order(task, data_dir, compose, tmp_path):
    overrides = [
        f"task={task}",
        f"paths.data_dir={data_dir}",
        "model.hidden_size=8",
        "task.module.embedding_dim=4",
        "task.data.eval_batch_size=7",
        "trainer.enable_progress_bar=false",
    ]
    cfg = compose(overrides, tmp_path)
    results = []
    for sort in (True, False):
        dm, module = build_run(cfg)
        if not sort:  # the loaders as they were: items in order
            dm._loader = lambda split, batch_size, dm=dm: item_order_loader(dm, split, batch_size)
        trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
        metrics = trainer.test(module, datamodule=dm, verbose=False)[0]
        results.append((metrics, module.test_rows))
    (sorted_metrics, sorted_rows), (plain_metrics, plain_rows) = results
    assert sorted_metrics.keys() == plain_metrics.keys()
    for key, value in plain_metrics.items():
        assert sorted_metrics[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert [r["input"] for r in sorted_rows] == [r["input"] for r in plain_rows]  # item order kept
    assert [r["prediction"] for r in sorted_rows] == [r["prediction"] for r in plain_rows]
    assert [r["loss"] for r in sorted_rows] == pytest.approx([r["loss"] for r in plain_rows], rel=1e-5, abs=1e-6)
