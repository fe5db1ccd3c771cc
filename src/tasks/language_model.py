"""Predict the next character: train on names, score in nats per character, sample new names."""

import torch
import torch.nn.functional as F

from src.data.batching import IGNORE, Batch
from src.data.specs import LanguageModelSpec
from src.data.vocab import END
from src.errors import UserError
from src.nn.language_model import CharLanguageModelNet
from src.tasks.base import Option, RecurrentTask, StepOutput, int_up_to, number, positive_int
from src.tasks.metrics import TokenNLL


def temperature(value) -> float:
    if not 0 <= number(value) < float("inf"):
        raise ValueError("not 0 or a positive number")
    return number(value)


class CharLanguageModel(RecurrentTask):
    """Logs {val,test}/nll (nats per symbol, the end of a word counted; also as {val,test}/loss),
    test/bpc and test/ppl, val/novelty (share of sampled words not in the training set) and, at
    each validation, sampled words marked new or seen (per condition for a conditional model,
    namegen's languages). predict: sampled words, one a line (`language=` for a conditional one)."""

    spec_kind = LanguageModelSpec
    PREDICT_OPTIONS = {
        "num_samples": Option(int_up_to(100_000), 10, "give how many words to generate, e.g. num_samples=20"),
        "temperature": Option(temperature, 1.0, "use 0 (greedy) or a positive number, e.g. temperature=0.8"),
        "top_k": Option(positive_int, None, "use at least 1, or leave it out to sample from every letter"),
        "prefix": Option(str, "", "give the letters every word starts with, e.g. prefix=tyr"),
        "max_length": Option(int_up_to(2000), 50, "give the longest word, prefix included, e.g. max_length=30"),
        "seed": Option(int, 0, "give a whole number: the same seed gives the same words"),
        "language": Option(str, None, "the language to generate for (namegen checkpoints), e.g. language=Russian"),
    }

    def __init__(
        self,
        spec: dict,
        model: dict,
        task: str,
        embedding_dim: int,
        dropout: float,
        tie_weights: bool,
        lr: float,
        weight_decay: float,
        lr_schedule: str,
        samples: int,
        novelty_samples: int,
    ):
        self.save_hyperparameters(logger=False)
        super().__init__(spec, model, lr, weight_decay, lr_schedule)
        self.train_words = set(self.spec.train_words)
        self.samples, self.novelty_samples = samples, novelty_samples
        self._sampled: list[tuple[str | None, str]] = []  # (condition, word) drawn at the last validation

    def build_net(self, spec: LanguageModelSpec, core: dict) -> CharLanguageModelNet:
        hp = self.hparams
        return CharLanguageModelNet(
            len(spec.vocab), hp.embedding_dim, hp.dropout, core=core, tie_weights=hp.tie_weights
        )

    def metrics(self, split: str) -> dict:
        if split == "val":
            return {"nll": TokenNLL()}
        return {"nll": TokenNLL(), "bpc": TokenNLL("bits"), "ppl": TokenNLL("ppl")}

    def step(self, batch: Batch, split: str) -> StepOutput:
        logits, _ = self.net(batch.tokens, batch.lengths)  # (B, T, V)
        total = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORE, reduction="sum")
        count = (batch.targets != IGNORE).sum()
        return StepOutput(total / count, count, logits, batch.targets)

    def rows(self, batch: Batch, out: StepOutput) -> list[dict]:
        """Per word: its NLL per symbol (weighted by its symbols, end included, as test/nll is) and the
        greedy next-symbol guess at every step as the prediction."""
        nll = F.cross_entropy(out.preds.transpose(1, 2), batch.targets, ignore_index=IGNORE, reduction="none")  # (B, T)
        counts = (batch.targets != IGNORE).sum(1)
        losses = (nll.sum(1) / counts).tolist()
        vocab, end = self.spec.vocab, self.spec.vocab.id(END)
        rows = []
        items = zip(batch.targets.tolist(), out.preds.argmax(-1).tolist(), counts.tolist(), losses, strict=True)
        for target, guess, n, loss in items:
            word = "".join(vocab.decode(i for i in target[:n] if i != end))
            guessed = "".join(vocab.decode(guess[:n]))
            rows.append({"input": word, "target": word, "prediction": guessed, "loss": loss, "length": len(word)})
            rows[-1].update(loss_weight=n, nll=loss, nll_weight=n)  # test/loss is test/nll: per symbol
        return rows

    def epoch_metrics(self) -> dict[str, float]:
        generator = torch.Generator().manual_seed(self.current_epoch)  # sample() draws on the CPU
        conditions = self.spec.conditions or [None]
        each = -(-self.novelty_samples // len(conditions))  # spread over the conditions
        self._sampled = [(c, w) for c in conditions for w in self.sample(each, generator=generator, condition=c)]
        return {"val/novelty": sum(w not in self.train_words for _, w in self._sampled) / len(self._sampled)}

    def log_evidence(self, writer, epoch: int) -> None:
        mark = lambda w: f"{w} ({'new' if w not in self.train_words else 'seen'})"  # noqa: E731
        if not self.spec.conditions:
            lines = [mark(w) for _, w in self._sampled[: self.samples]]
        else:  # `samples` words per condition, one line each
            per = {c: [mark(w) for d, w in self._sampled if d == c][: self.samples] for c in self.spec.conditions}
            lines = [f"{c}: {', '.join(words)}" for c, words in per.items()]
        writer.add_text("val/samples", "\n\n".join(lines), epoch)

    def _predict(
        self,
        inputs,
        num_samples: int,
        temperature: float,
        top_k: int | None,
        prefix: str,
        max_length: int,
        seed: int,
        language: str | None,
    ) -> list[str]:
        if inputs:
            raise UserError("a language model generates: give num_samples= (and prefix=), not input= or input_file=")
        self.check_language(language)
        prefix = self.word(str(prefix or "").strip(), f"prefix={prefix!r}")
        if len(prefix) >= max_length:
            raise UserError(f"prefix={prefix!r} is already max_length={max_length} long; raise max_length")
        generator = torch.Generator().manual_seed(seed)
        return self.sample(num_samples, temperature, top_k, prefix, max_length, generator, language)

    def check_language(self, language: str | None) -> None:
        """A conditional model needs one of its languages; an unconditional one takes none."""
        conditions = self.spec.conditions
        if conditions and language not in conditions:
            given = f"language={language} is not one of its languages" if language else "give language="
            raise UserError(f"{given}; use one of {', '.join(conditions)}")
        if language and not conditions:
            raise UserError(f"language={language}: this {self.hparams.task} model is not conditioned on a language")

    def word(self, text: str, where: str) -> str:
        """`text` as the model's letters (lowercased when it has no capitals); UserError naming `where`."""
        letters = self.letters
        if not any(ch.isupper() for ch in letters):
            text = text.lower()
        outside = sorted({ch for ch in text if ch not in letters})
        if outside:
            raise UserError(f"{where} has {''.join(outside)!r}, outside the model's letters {''.join(letters)}")
        return text

    @property
    def letters(self) -> list[str]:
        """The symbols a word is made of: the vocabulary less its specials and condition tokens."""
        tokens = set(map(self.spec.condition_token, self.spec.conditions))
        return [t for t in self.spec.vocab.tokens if t not in tokens]

    @torch.no_grad()
    def sample(
        self,
        num: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
        max_length: int = 50,
        generator: torch.Generator | None = None,
        condition: str | None = None,
    ) -> list[str]:
        """`num` words, each `prefix` continued until END or max_length characters (for `condition`
        when the model is conditional). temperature 0 is greedy; top_k keeps only the k likeliest
        symbols at each step. END cannot come first, so no word is empty; a condition's token is
        never generated."""
        was_training = self.training
        self.eval()
        vocab, end = self.spec.vocab, self.spec.vocab.id(END)
        start = end if condition is None else vocab.stoi[self.spec.condition_token(condition)]
        never = vocab.encode(map(self.spec.condition_token, self.spec.conditions))
        ids = [start] + vocab.encode(prefix)
        logits, state = self.net(torch.tensor([ids] * num, device=self.device))  # (N, P+1, V)
        words, done = [prefix] * num, torch.zeros(num, dtype=torch.bool, device=self.device)
        for step in range(max_length - len(prefix)):
            last = logits[:, -1].clone()  # (N, V)
            last[:, never] = float("-inf")
            if step == 0 and not prefix:  # a word has at least one letter: no END first
                last[:, end] = float("-inf")
            if temperature == 0:
                nxt = last.argmax(-1)
            else:
                last = last / temperature
                if top_k:
                    kth = last.topk(min(top_k, last.shape[-1]), dim=-1).values[:, -1:]  # (N, 1)
                    last = last.masked_fill(last < kth, float("-inf"))
                # drawn on the CPU, with the CPU generator: one seed, the same words on any device
                nxt = torch.multinomial(last.softmax(-1).cpu(), 1, generator=generator).squeeze(1).to(self.device)
            done |= nxt == end
            words = [w if d else w + vocab.itos[i] for w, d, i in zip(words, done.tolist(), nxt.tolist(), strict=True)]
            if bool(done.all()):
                break
            logits, state = self.net(nxt[:, None], None, state)  # one step: (N, 1, V)
        self.train(was_training)
        return words

    def encode_input(self, where: str, text: str, language: str | None) -> tuple[Batch, list[list[str]]]:
        """The word after its start symbol (end-of-word, or the language's token for a conditional model)."""
        spec = self.spec
        self.check_language(language)
        start = spec.condition_token(language) if spec.conditions else END
        text = self.word(text, f"{where}: {text!r}")
        ids = [spec.vocab.stoi[start], *spec.vocab.encode(text)]
        return Batch(torch.tensor([ids]), torch.tensor([len(ids)]), None), [[start, *text]]

    def item_symbols(self, batch: Batch) -> list[list[str]]:
        return [[self.spec.vocab.itos[i] for i in batch.tokens[0, : int(batch.lengths[0])].tolist()]]
