"""An Elman simple recurrent network (SRN) in NumPy, with backpropagation through time by hand.

    a_t = W x_t + U h_{t-1} + b        h_t = f(a_t)        z_t = V h_t + c        y_t = g(z_t)

f (the state activation) is identity, tanh or sigmoid; g (the output) is identity, sigmoid or
softmax. Losses: squared error 0.5 * sum((y - t)^2) for identity and sigmoid outputs (as the
course's binary lesson), cross-entropy -sum(log y_t[target]) for softmax.
"""

from dataclasses import dataclass, field

import numpy as np

STATE_ACTIVATIONS = ("identity", "tanh", "sigmoid")
OUTPUTS = ("identity", "sigmoid", "softmax")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _activate(kind: str, a: np.ndarray) -> np.ndarray:
    if kind == "tanh":
        return np.tanh(a)
    if kind == "sigmoid":
        return sigmoid(a)
    return a


def _derivative_from_value(kind: str, h: np.ndarray) -> np.ndarray:
    """f'(a) written with h = f(a), which BPTT has at hand."""
    if kind == "tanh":
        return 1.0 - h**2
    if kind == "sigmoid":
        return h * (1.0 - h)
    return np.ones_like(h)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@dataclass
class SRN:
    W: np.ndarray  # (H, I) input -> state
    U: np.ndarray  # (H, H) state -> state
    V: np.ndarray  # (O, H) state -> output
    b: np.ndarray  # (H,)
    c: np.ndarray  # (O,)
    state: str = "tanh"
    output: str = "identity"
    names: tuple = field(default=("W", "U", "V", "b", "c"), repr=False)

    def __post_init__(self):
        if self.state not in STATE_ACTIVATIONS:
            raise ValueError(f"state={self.state}; use one of {STATE_ACTIVATIONS}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output={self.output}; use one of {OUTPUTS}")

    @classmethod
    def ones(cls, inputs: int, hidden: int, outputs: int, state: str = "identity") -> "SRN":
        """Every weight 1, every bias 0: the course's hand-computed lesson."""
        return cls(
            np.ones((hidden, inputs)),
            np.ones((hidden, hidden)),
            np.ones((outputs, hidden)),
            np.zeros(hidden),
            np.zeros(outputs),
            state=state,
        )

    @classmethod
    def random(
        cls,
        inputs: int,
        hidden: int,
        outputs: int,
        rng: np.random.Generator,
        scale: float = 0.01,
        state: str = "tanh",
        output: str = "softmax",
    ) -> "SRN":
        """Weights ~ N(0, 1) * scale, biases 0 (the course's dinosaur initialisation)."""
        return cls(
            rng.standard_normal((hidden, inputs)) * scale,
            rng.standard_normal((hidden, hidden)) * scale,
            rng.standard_normal((outputs, hidden)) * scale,
            np.zeros(hidden),
            np.zeros(outputs),
            state=state,
            output=output,
        )

    def params(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.names}

    def forward(self, xs: np.ndarray, h0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """xs (T, I) -> states (T + 1, H) with h0 first, outputs (T, O)."""
        hs = np.zeros((len(xs) + 1, self.U.shape[0]))
        if h0 is not None:
            hs[0] = h0
        ys = np.zeros((len(xs), self.V.shape[0]))
        for t, x in enumerate(xs):
            hs[t + 1] = _activate(self.state, self.W @ x + self.U @ hs[t] + self.b)
            z = self.V @ hs[t + 1] + self.c
            ys[t] = _softmax(z) if self.output == "softmax" else _activate(self.output, z)
        return hs, ys

    def loss(self, ys: np.ndarray, targets: np.ndarray) -> float:
        """targets: (T, O) values for identity/sigmoid outputs, (T,) class ids for softmax."""
        if self.output == "softmax":
            return float(-np.log(ys[np.arange(len(ys)), targets]).sum())
        return float(0.5 * ((ys - targets) ** 2).sum())

    def backward(self, xs: np.ndarray, hs: np.ndarray, ys: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Backpropagation through time: the gradient of loss() for every parameter."""
        grads = {name: np.zeros_like(p) for name, p in self.params().items()}
        dh_next = np.zeros(self.U.shape[0])  # gradient reaching h_t from step t + 1
        for t in reversed(range(len(xs))):
            if self.output == "softmax":
                dz = ys[t].copy()
                dz[targets[t]] -= 1.0  # d(-log softmax)/dz = y - onehot
            else:
                dz = (ys[t] - targets[t]) * _derivative_from_value(self.output, ys[t])
            grads["V"] += np.outer(dz, hs[t + 1])
            grads["c"] += dz
            dh = self.V.T @ dz + dh_next
            da = dh * _derivative_from_value(self.state, hs[t + 1])
            grads["W"] += np.outer(da, xs[t])
            grads["U"] += np.outer(da, hs[t])
            grads["b"] += da
            dh_next = self.U.T @ da
        return grads

    def sgd_step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        for name, g in grads.items():
            getattr(self, name)[...] -= lr * g


def clip_(grads: dict[str, np.ndarray], limit: float) -> dict[str, np.ndarray]:
    """Clip every gradient element to [-limit, limit], in place (the course's exploding-gradient guard)."""
    for g in grads.values():
        np.clip(g, -limit, limit, out=g)
    return grads


def sample(model: SRN, rng: np.random.Generator, end: int, max_length: int, start: int | None = None) -> list[int]:
    """Draw symbols from the softmax, feeding each back one-hot, until `end` or max_length symbols.
    The first input is one-hot `start`, or all zeros when None (the course's dinosaur start)."""
    vocab = model.W.shape[1]
    x, h, out = np.zeros(vocab), np.zeros(model.U.shape[0]), []
    if start is not None:
        x[start] = 1.0
    while len(out) < max_length:
        hs, ys = model.forward(x[None, :], h)
        h = hs[-1]
        idx = int(rng.choice(vocab, p=ys[0]))
        out.append(idx)
        if idx == end:
            break
        x = np.zeros(vocab)
        x[idx] = 1.0
    return out
