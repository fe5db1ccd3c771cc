"""Predict the next character: train on names, score in nats per character, sample new names."""

import math

import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torchmetrics import MeanMetric, MinMetric

from src.data.batching import IGNORE, Batch
from src.nn.language_model import CharLanguageModelNet
from src.tasks.base import RecurrentTask


class CharLanguageModel(RecurrentTask):
    """Logs train/loss, val/nll, val/nll_best, val/novelty, test/{nll,bpc,ppl} (nats per symbol,
    the end of a name counted) and, at each validation, sampled names marked new or seen.

    spec: `symbols` (id 0 is the boundary: start input and end target) and `train_words`.
    """

    def __init__(
        self,
        spec: dict,
        model: dict,
        task: str = "dinos",
        embedding_dim: int = 64,
        dropout: float = 0.2,
        tie_weights: bool = True,
        lr: float = 3e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "onecycle",
        samples: int = 12,
        novelty_samples: int = 200,
    ):
        self.save_hyperparameters(logger=False)
        super().__init__(lr, weight_decay, lr_schedule)
        self.symbols = spec["symbols"]
        self.train_words = set(spec.get("train_words", []))
        self.samples, self.novelty_samples = samples, novelty_samples
        self.net = CharLanguageModelNet(len(self.symbols), embedding_dim, dropout, core=model, tie_weights=tie_weights)
        self.val_nll, self.test_nll = MeanMetric(), MeanMetric()
        self.val_nll_best = MinMetric()

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        return self.net(tokens, lengths, state)  # logits (B, T, V), state

    def shared_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean loss per real symbol, number of real symbols)."""
        logits, _ = self(batch.tokens, batch.lengths)
        total = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE, reduction="sum")
        count = (batch.targets != IGNORE).sum()
        return total / count, count

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self.shared_step(batch)
        self.log_train_loss(loss, len(batch.lengths))
        return loss

    def on_train_start(self) -> None:
        self.val_nll_best.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, count = self.shared_step(batch)
        self.val_nll.update(loss, weight=count)

    def on_validation_epoch_end(self) -> None:
        nll = self.val_nll.compute()
        self.val_nll.reset()
        self.val_nll_best(nll)
        self.log_dict({"val/nll": nll, "val/nll_best": self.val_nll_best.compute(), "val/loss": nll})
        if self.trainer.sanity_checking:
            return
        generator = torch.Generator(device=self.device).manual_seed(self.current_epoch)
        names = self.sample(self.novelty_samples, generator=generator)
        novelty = sum(name not in self.train_words for name in names) / len(names)
        self.log("val/novelty", novelty)
        if isinstance(self.logger, TensorBoardLogger):
            lines = [f"{name} ({'new' if name not in self.train_words else 'seen'})" for name in names[: self.samples]]
            self.logger.experiment.add_text("val/samples", "\n\n".join(lines), self.current_epoch)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        loss, count = self.shared_step(batch)
        self.test_nll.update(loss, weight=count)

    def on_test_epoch_end(self) -> None:
        nll = self.test_nll.compute()
        self.test_nll.reset()
        self.log_dict({"test/nll": nll, "test/loss": nll, "test/bpc": nll / math.log(2), "test/ppl": nll.exp()})

    @torch.no_grad()
    def sample(self, num: int, temperature: float = 1.0, top_k: int | None = None, prefix: str = "",
               max_length: int = 50, generator: torch.Generator | None = None) -> list[str]:  # fmt: skip
        """`num` names, each `prefix` continued until the end symbol or max_length characters.
        temperature 0 is greedy; top_k keeps only the k likeliest symbols at each step. The end
        symbol cannot come first, so no name is empty."""
        was_training = self.training
        self.eval()
        ids = [0] + [self.symbols.index(ch) for ch in prefix]
        logits, state = self(torch.tensor([ids] * num, device=self.device))  # (N, P+1, V)
        names, done = [prefix] * num, torch.zeros(num, dtype=torch.bool, device=self.device)
        for step in range(max_length - len(prefix)):
            last = logits[:, -1]  # (N, V)
            if step == 0 and not prefix:  # a name has at least one letter: no end symbol first
                last = last.clone()
                last[:, 0] = float("-inf")
            if temperature == 0:
                nxt = last.argmax(-1)
            else:
                last = last / temperature
                if top_k:
                    kth = last.topk(min(top_k, last.shape[-1]), dim=-1).values[:, -1:]  # (N, 1)
                    last = last.masked_fill(last < kth, float("-inf"))
                nxt = torch.multinomial(last.softmax(-1), 1, generator=generator).squeeze(1)  # (N,)
            done |= nxt == 0
            names = [
                n if d else n + self.symbols[i] for n, d, i in zip(names, done.tolist(), nxt.tolist(), strict=True)
            ]
            if bool(done.all()):
                break
            logits, state = self(nxt[:, None], None, state)  # one step: (N, 1, V)
        self.train(was_training)
        return names
