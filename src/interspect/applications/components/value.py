"""`ComponentValueFunction`: a causal LM with some attention heads (and MLP blocks) switched off.

``vf(X)`` takes an ``(m, n)`` 0/1 mask batch over the n explained components (1 = active) and
returns m task scores. One forward pass evaluates many masks: the task's sequences are repeated
once per mask in the batch, and hooks apply **a different component mask to every batch row**:

- a head is ablated by a forward pre-hook on the attention output projection (``o_proj``;
  GPT-2 ``attn.c_proj``), which zeroes its slice ``[h·head_dim, (h+1)·head_dim)`` of the input
  (``ablation="zero"``) or replaces it with the head's mean output over the task set's tokens
  (``ablation="mean"``); this is exactly the model with that head's output-projection columns
  zeroed (or its bias shifted by the mean's projection);
- an MLP block is ablated by a forward hook on its output (zero, or its mean over the task set).

Two savings, whichever costs fewer token-layers for the task at hand:

- **lower layers once**: when no component below layer ``L`` is explained, the hidden states
  entering layer ``L`` do not depend on the mask; they are computed once, when the value function
  is built, and every forward pass starts at layer ``L`` (the lower blocks are swapped for
  pass-throughs while it runs);
- **shared prefix once per mask**: the token prefix every task sequence starts with (e.g. "The
  capital of") is run once per mask and its key/value cache reused by all the task's sequences.

Only the positions a score needs go through the language-model head.

Caching and counting happen in the query layer (:class:`interspect.queries.Queries`), which
``explain`` builds; this class only computes.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np

from interspect.applications.components.layout import (
    Component,
    ModelLayout,
    model_layout,
    resolve_components,
)
from interspect.applications.components.tasks import DEFAULT_TASK, Task, resolve_task
from interspect.core.validation import check_choice, check_masks, check_positive_int
from interspect.queries.cache import identity_hash

__all__ = ["ComponentValueFunction", "SCORES", "ABLATIONS"]

Ablation = Literal["zero", "mean"]
ScoreName = Literal["margin", "logprob", "accuracy"]
#: Built-in task scores.
SCORES = ("margin", "logprob", "accuracy")
ABLATIONS = ("zero", "mean")
#: Bumped when the meaning of an output changes (it is part of the identity).
_VERSION = "components/1"


def _callable_fingerprint(fn: Callable[..., Any]) -> str:
    """A name for a score callable in the cache identity: its qualified name and its code."""
    code = getattr(fn, "__code__", None)
    blob = repr((getattr(fn, "__module__", ""), getattr(fn, "__qualname__", type(fn).__name__)))
    if code is not None:
        blob += code.co_code.hex() + repr(code.co_consts)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Shipped:
    """What a pickled value function keeps of its backend: model, tokenizer, name, identity."""

    def __init__(self, model: Any, tokenizer: Any, name: str, ident: dict) -> None:
        self.model, self.tokenizer, self.name, self._ident = model, tokenizer, name, ident

    def identity(self) -> dict:
        return dict(self._ident)


def _pass_through(tuple_out: bool) -> Any:
    """A module standing in for a decoder block below the first explained layer: it returns its
    input (as a 1-tuple where the model's blocks return tuples, as older transformers' do)."""
    import torch

    class PassThrough(torch.nn.Module):
        def forward(self, hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
            return (hidden_states,) if tuple_out else hidden_states

    return PassThrough()


class ComponentValueFunction:
    """A task score of a causal LM with only some of its components active: ``(m, n)`` -> ``m``.

    Parameters
    ----------
    lm : backend or str
        From :func:`interspect.applications.language.load` (``"smollm2"``, the embedded
        SmolLM2-135M-Instruct, is loaded for a string), or any object with ``model`` (a Hugging
        Face causal LM), ``tokenizer``, ``name`` and ``identity()``, e.g.
        :class:`~interspect.applications.language.backends.HFCausalLM`.
    task : str, Task or list
        The task set (see :func:`~interspect.applications.components.tasks.resolve_task`):
        ``"capitals"`` (default), ``"ioi"``, a JSON file or a list of (prompt, answer[, wrong]).
    components : "heads", "all" or list
        What the features are: every attention head (default), every head and MLP block, or a
        list of names (``"L12.H3"``, ``"L12.MLP"``, ``"L12"``) and head indices.
    layers : list of int, optional
        Only these layers' components.
    ablation : {"zero", "mean"}
        An inactive component's output is zeroed, or replaced by its mean over the task set.
    score : {"margin", "logprob", "accuracy"} or callable
        ``"margin"``: mean over items of ``log p(answer) − max log p(wrong choice)`` (needs wrong
        choices); ``"logprob"``: mean teacher-forced ``log p(answer | prompt)`` (sum over the
        answer's tokens); ``"accuracy"``: fraction of items where the answer beats every wrong
        choice (items without wrong choices: every answer token is the greedy one). A callable
        gets, per mask, the ``(n_items, vocab)`` float array of next-token logits after each
        prompt and returns one float.
    batch_size : int
        Masks per forward pass (each pass has ``batch_size × sequences`` rows).
    share_prefix : bool
        Allow the shared-prefix saving (outputs are the same either way, to float rounding).

    Attributes
    ----------
    n : int
        Number of components (features).
    components : list of Component
    names : list of str
        ``"L12.H3"``-style names, one per feature.
    identity : str
        Hash of model, task set, score, ablation and component set: the cache key.
    first_layer : int
        The lowest explained layer.
    mode : {"skip", "prefix", "plain"}
        The saving in use: lower layers run once, shared prefix once per mask, or neither.

    Examples
    --------
    >>> from interspect.applications.components import ComponentValueFunction
    >>> vf = ComponentValueFunction("smollm2", "capitals", layers=[20])  # doctest: +SKIP
    >>> vf.n, vf.names[:2]  # doctest: +SKIP
    (9, ['L20.H0', 'L20.H1'])
    >>> vf(np.ones((1, vf.n), dtype=np.uint8))  # doctest: +SKIP
    array([...])
    """

    def __init__(
        self,
        lm: Any = "smollm2",
        task: str | Task | Sequence[Any] = DEFAULT_TASK,
        *,
        components: str | Sequence[str | int | Component] = "heads",
        layers: Sequence[int] | None = None,
        ablation: Ablation = "zero",
        score: ScoreName | Callable[[np.ndarray], float] = "margin",
        batch_size: int = 16,
        share_prefix: bool = True,
    ) -> None:
        check_choice(ablation, "ablation", ABLATIONS)
        if not callable(score):
            check_choice(score, "score", SCORES)
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.task = resolve_task(task)
        if score == "margin" and not self.task.multiple_choice:
            missing = [i for i, it in enumerate(self.task.items) if not it.wrong][:5]
            raise ValueError(
                f"score='margin' needs wrong choices in every item; items {missing} have none "
                "(give them, or use score='logprob' or 'accuracy')"
            )
        if isinstance(lm, str):
            from interspect.applications.language.backends import load

            lm = load(lm)
        for attr in ("model", "tokenizer"):
            if not hasattr(lm, attr):
                raise TypeError(
                    "lm must be a model from interspect.applications.language.load(...) (a Hugging "
                    f"Face causal LM with a tokenizer), got {type(lm).__name__}"
                )
        import torch

        self._torch = torch
        self.lm = lm
        self.layout: ModelLayout = model_layout(lm.model)
        self.components = resolve_components(self.layout, components, layers)
        self.names = [c.name for c in self.components]
        self.n = len(self.components)
        self.ablation = ablation
        self.score = score
        self.score_name = score if isinstance(score, str) else f"callable:{getattr(score, '__qualname__', 'score')}"
        self.first_layer = min(c.layer for c in self.components)
        self._device = next(lm.model.parameters()).device
        self._share_prefix = bool(share_prefix)
        self._encode()
        self._setup()
        self.identity = identity_hash(self._settings())

    # -- set-up ------------------------------------------------------------------------------
    def _ids(self, text: str, *, special: bool) -> list[int]:
        ids = list(self.lm.tokenizer(text, add_special_tokens=special)["input_ids"])
        if not ids:
            raise ValueError(f"task: {text!r} encodes to no tokens for the tokenizer of {self._name()}")
        return ids

    def _name(self) -> str:
        return str(getattr(self.lm, "name", type(self.lm.model).__name__))

    def _encode(self) -> None:
        """Token sequences, the (sequence, position) pairs whose logits are needed, and per
        continuation the (pair, token) entries whose log-probabilities it sums."""
        seqs: dict[tuple[int, ...], int] = {}
        pairs: dict[tuple[int, int], int] = {}

        def seq_index(s: list[int]) -> int:
            return seqs.setdefault(tuple(s), len(seqs))

        def pair_index(s: int, p: int) -> int:
            return pairs.setdefault((s, p), len(pairs))

        tok_pair, tok_id, tok_cont = [], [], []
        self._answer_cont: list[int] = []
        self._wrong_conts: list[list[int]] = []
        self._last_pair: list[int] = []
        n_cont = 0
        for item in self.task.items:
            prompt = self._ids(item.prompt, special=True)
            base = seq_index(prompt)
            self._last_pair.append(pair_index(base, len(prompt) - 1))
            conts = []
            for text in item.choices if not callable(self.score) else (item.answer,):
                c = self._ids(text, special=False)
                # A one-token continuation is read off the prompt's last position; a longer one
                # is teacher-forced: the prompt plus all but its last token.
                s = base if len(c) == 1 else seq_index(prompt + c[:-1])
                for j, t in enumerate(c):
                    tok_pair.append(pair_index(s, len(prompt) - 1 + j))
                    tok_id.append(t)
                    tok_cont.append(n_cont)
                conts.append(n_cont)
                n_cont += 1
            self._answer_cont.append(conts[0])
            self._wrong_conts.append(conts[1:])
        self._seqs = [list(s) for s in seqs]
        self._pairs = list(pairs)
        self._tok_pair = np.array(tok_pair, dtype=np.int64)
        self._tok_id = np.array(tok_id, dtype=np.int64)
        # (tokens, continuations) 0/1: summing token log-probs into continuation log-probs.
        self._tok_to_cont = np.zeros((len(tok_id), n_cont))
        self._tok_to_cont[np.arange(len(tok_id)), tok_cont] = 1.0
        torch = self._torch
        T = max(len(s) for s in self._seqs)
        pad = getattr(self.lm.tokenizer, "pad_token_id", None)
        pad = 0 if pad is None else int(pad)
        # Right padding: a causal model's real tokens never attend to later (padding) positions,
        # so no attention mask is needed and position ids are the default 0..T-1.
        ids = torch.full((len(self._seqs), T), pad, dtype=torch.long)
        valid = torch.zeros((len(self._seqs), T), dtype=torch.bool)
        for i, s in enumerate(self._seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            valid[i, : len(s)] = True
        self._input = ids.to(self._device)
        self._valid = valid.to(self._device)
        self._choose_mode(T)

    def _choose_mode(self, T: int) -> None:
        """Pick the saving that runs the fewest (token, layer) pairs per mask."""
        L, f, q = self.layout.n_layers, self.first_layer, len(self._seqs)
        first = self._seqs[0]
        P = 0
        # Every position whose logits are read must lie after the prefix.
        limit = min(p for _, p in self._pairs)
        while P < limit and all(len(s) > P and s[P] == first[P] for s in self._seqs):
            P += 1
        costs = {"plain": L * q * T}
        if f > 0:
            costs["skip"] = (L - f) * q * T
        if self._share_prefix and q >= 2 and P >= 1:
            costs["prefix"] = L * (P + q * (T - P))
        self.mode = min(costs, key=lambda k: (costs[k], k != "skip"))
        self._prefix_len = P if self.mode == "prefix" else 0
        if self.mode == "prefix":
            self._prefix_ids = self._input[:1, :P]
            self._suffix_ids = self._input[:, P:]
        fwd = self.layout.body.forward
        self._cache_kw = "cache" if "cache" in inspect.signature(fwd).parameters else "past_key_values"

    def _setup(self) -> None:
        """One unablated pass: the hidden states entering ``first_layer``, the block output type,
        and (mean ablation) each explained component's mean output over the task's tokens."""
        torch = self._torch
        lay = self.layout
        captured: dict[str, Any] = {}
        handles = []
        valid = self._valid.unsqueeze(-1).float()
        count = valid.sum()

        def grab_input(module: Any, args: Any, kwargs: Any) -> None:
            h = args[0] if args else kwargs["hidden_states"]
            captured["h0"] = h.detach().clone()

        def grab_output(module: Any, args: Any, output: Any) -> None:
            captured["tuple_out"] = isinstance(output, tuple)

        def mean_of(key: str) -> Callable[..., None]:
            def hook(module: Any, args: Any, output: Any = None) -> None:
                x = (args[0] if output is None else output).detach().float()
                captured[key] = (x * valid).sum(dim=(0, 1)) / count

            return hook

        if self.mode == "skip":
            handles.append(lay.layers[self.first_layer].register_forward_pre_hook(grab_input, with_kwargs=True))
        handles.append(lay.layers[0].register_forward_hook(grab_output))
        if self.ablation == "mean":
            for layer in sorted({c.layer for c in self.components if not c.is_mlp}):
                handles.append(lay.attn_out(layer).register_forward_pre_hook(mean_of(f"attn{layer}")))
            for layer in sorted({c.layer for c in self.components if c.is_mlp}):
                handles.append(lay.mlp(layer).register_forward_hook(mean_of(f"mlp{layer}")))
        try:
            with torch.inference_mode():
                lay.body(input_ids=self._input, use_cache=False)
        finally:
            for h in handles:
                h.remove()
        self._h0 = captured.get("h0")
        self._tuple_out = bool(captured.get("tuple_out", False))
        self._attn_mean = {
            int(k[4:]): v.view(lay.n_heads, lay.head_dim) for k, v in captured.items() if k.startswith("attn")
        }
        self._mlp_mean = {int(k[3:]): v for k, v in captured.items() if k.startswith("mlp")}
        # Feature columns per layer: heads (column, head) and the MLP column.
        self._head_cols: dict[int, tuple[list[int], list[int]]] = {}
        self._mlp_col: dict[int, int] = {}
        for j, c in enumerate(self.components):
            if c.is_mlp:
                self._mlp_col[c.layer] = j
            else:
                cols, heads = self._head_cols.setdefault(c.layer, ([], []))
                cols.append(j)
                heads.append(int(c.head))  # type: ignore[arg-type]

    def _settings(self) -> dict[str, Any]:
        """Everything that determines an output; hashed into the identity."""
        ident = self.lm.identity() if callable(getattr(self.lm, "identity", None)) else {"model": self._name()}
        return {
            "application": _VERSION,
            "model": ident,
            "task": self.task.to_dict(),
            "components": self.names,
            "ablation": self.ablation,
            "score": self.score_name if isinstance(self.score, str) else _callable_fingerprint(self.score),
        }

    # -- forward -------------------------------------------------------------------------------
    def _logits(self, X: np.ndarray) -> Any:
        """``(m, pairs, vocab)`` logits at the needed positions, for masks ``X`` (one pass)."""
        torch = self._torch
        lay = self.layout
        m, q = len(X), len(self._seqs)
        keep = torch.as_tensor(X, dtype=torch.float32, device=self._device)
        handles = []
        swapped: list[tuple[int, Any]] = []

        def rows(k: Any, B: int) -> Any:
            # The shared-prefix pass has one row per mask, the others one per (mask, sequence).
            return k if B == m and q != 1 else k.repeat_interleave(q, dim=0)

        def head_hook(layer: int) -> Callable[..., Any]:
            cols, heads = self._head_cols[layer]
            k = torch.ones((m, lay.n_heads), device=self._device)
            k[:, heads] = keep[:, cols]
            mean = self._attn_mean.get(layer)

            def hook(module: Any, args: Any) -> Any:
                x = args[0]
                B, T, W = x.shape
                v = x.reshape(B, T, lay.n_heads, lay.head_dim)
                kk = rows(k, B).to(x.dtype)[:, None, :, None]
                v = v * kk if mean is None else v * kk + (1 - kk) * mean.to(x.dtype)
                return (v.reshape(B, T, W), *args[1:])

            return hook

        def mlp_hook(layer: int) -> Callable[..., Any]:
            k = keep[:, self._mlp_col[layer]]
            mean = self._mlp_mean.get(layer)

            def hook(module: Any, args: Any, output: Any) -> Any:
                kk = rows(k, output.shape[0]).to(output.dtype)[:, None, None]
                return output * kk if mean is None else output * kk + (1 - kk) * mean.to(output.dtype)

            return hook

        def start_hook(module: Any, args: Any, kwargs: Any) -> Any:
            h = self._h0.repeat(m, 1, 1)
            if args:
                return (h, *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": h}

        P = self._prefix_len
        try:
            for layer in self._head_cols:
                handles.append(lay.attn_out(layer).register_forward_pre_hook(head_hook(layer)))
            for layer in self._mlp_col:
                handles.append(lay.mlp(layer).register_forward_hook(mlp_hook(layer)))
            if self.mode == "skip":
                handles.append(lay.layers[self.first_layer].register_forward_pre_hook(start_hook, with_kwargs=True))
                for i in range(self.first_layer):
                    swapped.append((i, lay.layers[i]))
                    lay.layers[i] = _pass_through(self._tuple_out)
            with torch.inference_mode():
                if self.mode == "prefix":
                    out = lay.body(input_ids=self._prefix_ids.repeat(m, 1), use_cache=True)
                    cache = getattr(out, "cache", None)
                    if cache is None:
                        cache = out.past_key_values
                    cache.batch_repeat_interleave(q)  # mask-major, like the suffix rows
                    L = self._suffix_ids.shape[1]
                    position = torch.arange(P, P + L, device=self._device).expand(m * q, L)
                    hidden = lay.body(
                        input_ids=self._suffix_ids.repeat(m, 1), position_ids=position,
                        use_cache=False, **{self._cache_kw: cache},
                    ).last_hidden_state
                else:
                    hidden = lay.body(input_ids=self._input.repeat(m, 1), use_cache=False).last_hidden_state
                seq = torch.tensor([s for s, _ in self._pairs], device=self._device)
                pos = torch.tensor([p - P for _, p in self._pairs], device=self._device)
                idx = (torch.arange(m, device=self._device)[:, None] * q + seq[None, :]).reshape(-1)
                picked = hidden[idx, pos.repeat(m)]
                logits = self.lm.model.get_output_embeddings()(picked).float()
        finally:
            for i, block in swapped:
                lay.layers[i] = block
            for h in handles:
                h.remove()
        return logits.view(m, len(self._pairs), -1)

    def _scores(self, logits: Any) -> np.ndarray:
        torch = self._torch
        m = logits.shape[0]
        if callable(self.score):
            last = logits[:, self._last_pair].double().cpu().numpy()
            return np.array([float(self.score(last[i])) for i in range(m)])
        logp = torch.log_softmax(logits, dim=-1)
        tp = torch.as_tensor(self._tok_pair, device=logits.device)
        tid = torch.as_tensor(self._tok_id, device=logits.device)
        tok_lp = logp[:, tp, tid].double().cpu().numpy()  # (m, tokens)
        cont_lp = tok_lp @ self._tok_to_cont  # (m, continuations)
        ans = cont_lp[:, self._answer_cont]  # (m, items)
        if self.score == "logprob":
            return ans.mean(axis=1)
        has_wrong = [i for i, w in enumerate(self._wrong_conts) if w]
        best_wrong = np.full(ans.shape, -np.inf)
        for i in has_wrong:
            best_wrong[:, i] = cont_lp[:, self._wrong_conts[i]].max(axis=1)
        if self.score == "margin":
            return (ans - best_wrong).mean(axis=1)
        # accuracy
        greedy = (logits[:, tp].argmax(dim=-1) == tid).cpu().numpy().astype(float)  # (m, tokens)
        all_greedy = (greedy @ self._tok_to_cont) == self._tok_to_cont.sum(axis=0)
        correct = np.where(
            np.isin(np.arange(ans.shape[1]), has_wrong)[None, :],
            ans > best_wrong,
            all_greedy[:, self._answer_cont],
        )
        return correct.mean(axis=1)

    def __call__(self, X: Any) -> np.ndarray:
        """Scores for masks ``X`` (``(m, n)`` 0/1, 1 = component active)."""
        X = check_masks(X, self.n)
        out = np.empty(len(X), dtype=float)
        for start in range(0, len(X), self.batch_size):
            chunk = X[start : start + self.batch_size]
            out[start : start + len(chunk)] = self._scores(self._logits(chunk))
        return out

    # -- reporting -----------------------------------------------------------------------------
    def labels_for(self, features: Iterable[int]) -> list[str]:
        """The component names of the given feature indices.

        Examples
        --------
        >>> vf.labels_for([0, 10])  # doctest: +SKIP
        ['L0.H0', 'L1.H1']
        """
        out = []
        for i in features:
            i = int(i)
            if not 0 <= i < self.n:
                raise IndexError(f"feature index {i} is out of range for n={self.n} components")
            out.append(self.names[i])
        return out

    def describe(self) -> dict[str, Any]:
        """The settings, for reports."""
        return {
            "model": self._name(),
            "layout": self.layout.kind,
            "n_layers": self.layout.n_layers,
            "n_heads": self.layout.n_heads,
            "n": self.n,
            "task": self.task.name,
            "n_items": len(self.task.items),
            "ablation": self.ablation,
            "score": self.score_name,
            "first_layer": self.first_layer,
            "mode": self.mode,
            "batch_size": self.batch_size,
            "identity": getattr(self, "identity", None),
        }

    def __repr__(self) -> str:
        return (
            f"ComponentValueFunction(model={self._name()!r}, task={self.task.name!r}, n={self.n}, "
            f"ablation={self.ablation!r}, score={self.score_name!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Backends hold the torch module and caches; a process executor needs only these four.
        state = dict(self.__dict__)
        state.pop("_torch", None)
        lm = self.lm
        ident = lm.identity() if callable(getattr(lm, "identity", None)) else {"model": self._name()}
        state["lm"] = _Shipped(lm.model, lm.tokenizer, self._name(), ident)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import torch

        self.__dict__.update(state)
        self._torch = torch
