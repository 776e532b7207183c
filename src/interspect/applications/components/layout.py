"""Where a causal LM keeps its attention heads and MLP blocks, and how components are named.

Two layouts are hooked (SPEC §7):

- **Llama family** (Llama, SmolLM2, Qwen2, Mistral, ...): ``base_model.layers[i].self_attn.o_proj``
  takes the concatenated head outputs, shape ``(batch, tokens, heads·head_dim)``; head ``h`` is the
  slice ``[h·head_dim, (h+1)·head_dim)``. With grouped-query attention the query heads are still
  separate slices there (SmolLM2-135M: 9 query heads, 3 key/value heads).
- **GPT-2**: ``transformer.h[i].attn.c_proj`` (a ``Conv1D``) with the same input layout.

The MLP block of layer ``i`` is ``layers[i].mlp`` in both.

Components are named ``"L12.H3"`` (head 3 of layer 12, both from 0) and ``"L12.MLP"``.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Component", "ModelLayout", "model_layout", "resolve_components", "SUPPORTED"]

#: One line naming what can be hooked (used in the error for anything else).
SUPPORTED = (
    "Llama-family decoders whose layers have self_attn.o_proj (llama, smollm2, qwen2, mistral, ...) "
    "and GPT-2 (transformer.h[i].attn.c_proj)"
)

_NAME = re.compile(r"^L(\d+)(?:\.(H(\d+)|MLP))?$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Component:
    """One attention head (``head`` >= 0) or one MLP block (``head`` is None) of layer ``layer``.

    Examples
    --------
    >>> Component(12, 3).name, Component(4, None).name
    ('L12.H3', 'L4.MLP')
    """

    layer: int
    head: int | None = None

    @property
    def name(self) -> str:
        return f"L{self.layer}.MLP" if self.head is None else f"L{self.layer}.H{self.head}"

    @property
    def is_mlp(self) -> bool:
        return self.head is None

    def sort_key(self) -> tuple[int, int]:
        # A layer's heads first, then its MLP (the order they act in within the block).
        return (self.layer, 10**9 if self.head is None else self.head)


@dataclass
class ModelLayout:
    """The hookable modules of a model.

    Attributes
    ----------
    kind : {"llama", "gpt2"}
    n_layers, n_heads, head_dim : int
    body : torch.nn.Module
        The decoder without its language-model head (``model.base_model``).
    layers : torch.nn.ModuleList
        The decoder blocks, in order.
    """

    kind: Literal["llama", "gpt2"]
    n_layers: int
    n_heads: int
    head_dim: int
    body: Any
    layers: Any

    def attn_out(self, layer: int) -> Any:
        """The module whose input holds the concatenated head outputs of ``layer``."""
        block = self.layers[layer]
        return block.self_attn.o_proj if self.kind == "llama" else block.attn.c_proj

    def mlp(self, layer: int) -> Any:
        return self.layers[layer].mlp

    def all_heads(self) -> list[Component]:
        return [Component(l, h) for l in range(self.n_layers) for h in range(self.n_heads)]


def _in_width(module: Any) -> int | None:
    if hasattr(module, "in_features"):
        return int(module.in_features)
    weight = getattr(module, "weight", None)
    # GPT-2's Conv1D stores its weight as (in, out).
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None


def model_layout(model: Any) -> ModelLayout:
    """The :class:`ModelLayout` of a Hugging Face causal LM, or one line naming what is supported.

    Examples
    --------
    >>> from interspect.applications.language import load
    >>> model_layout(load("smollm2").model).n_heads  # doctest: +SKIP
    9
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", type(model).__name__)
    body = getattr(model, "base_model", None)
    layers = getattr(body, "layers", None)
    if layers is None:
        layers = getattr(body, "h", None)
    if config is None or body is None or layers is None or len(layers) == 0:
        raise ValueError(
            f"cannot hook the attention heads of {type(model).__name__} (model_type {model_type!r}): "
            f"supported are {SUPPORTED}"
        )
    first = layers[0]
    if hasattr(getattr(first, "self_attn", None), "o_proj"):
        kind: Literal["llama", "gpt2"] = "llama"
        proj = first.self_attn.o_proj
    elif hasattr(getattr(first, "attn", None), "c_proj"):
        kind = "gpt2"
        proj = first.attn.c_proj
    else:
        raise ValueError(
            f"cannot hook the attention heads of {type(model).__name__} (model_type {model_type!r}): "
            f"supported are {SUPPORTED}"
        )
    for a in ("final_logit_softcapping", "logit_scale", "logits_scaling"):
        if getattr(config, a, None) not in (None, 1.0):
            raise ValueError(
                f"cannot score {type(model).__name__}: its config sets {a}, which the split "
                f"decoder/head path does not apply; supported are {SUPPORTED} without logit scaling"
            )
    n_heads = int(getattr(config, "num_attention_heads", 0) or getattr(config, "n_head", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "n_embd", 0) or 0)
    head_dim = getattr(config, "head_dim", None) or (hidden // n_heads if n_heads else 0)
    width = _in_width(proj)
    if not n_heads or not head_dim or width != n_heads * int(head_dim):
        raise ValueError(
            f"cannot hook the attention heads of {type(model).__name__}: its attention output "
            f"projection takes {width} inputs, not heads x head_dim = {n_heads} x {head_dim}; "
            f"supported are {SUPPORTED}"
        )
    if not all(hasattr(block, "mlp") for block in layers):
        raise ValueError(f"cannot find the MLP blocks of {type(model).__name__}; supported are {SUPPORTED}")
    return ModelLayout(kind, len(layers), n_heads, int(head_dim), body, layers)


def _parse_one(item: Any, layout: ModelLayout) -> list[Component]:
    L, H = layout.n_layers, layout.n_heads
    if isinstance(item, Component):
        comps = [item]
    elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
        i = int(item)
        if not 0 <= i < L * H:
            raise ValueError(
                f"components: head index {i} does not exist; indices run 0..{L * H - 1} "
                f"({L} layers x {H} heads, index = layer*{H} + head)"
            )
        comps = [Component(i // H, i % H)]
    elif isinstance(item, str):
        m = _NAME.match(item.strip())
        if m is None:
            raise ValueError(
                f"components: {item!r} is not a component name; use 'L<layer>.H<head>' (e.g. 'L12.H3'), "
                "'L<layer>.MLP' or 'L<layer>' (all heads of a layer)"
            )
        layer = int(m.group(1))
        if m.group(2) is None:
            comps = [Component(layer, h) for h in range(H)]
        elif m.group(3) is None:
            comps = [Component(layer, None)]
        else:
            comps = [Component(layer, int(m.group(3)))]
    else:
        raise TypeError(
            f"components entries must be names like 'L12.H3' or head indices, got {type(item).__name__}"
        )
    for c in comps:
        if not 0 <= c.layer < L:
            raise ValueError(f"components: {c.name} does not exist; the model has layers 0..{L - 1}")
        if c.head is not None and not 0 <= c.head < H:
            raise ValueError(f"components: {c.name} does not exist; each layer has heads 0..{H - 1}")
    return comps


def resolve_components(
    layout: ModelLayout,
    components: str | Sequence[str | int | Component] = "heads",
    layers: Sequence[int] | None = None,
) -> list[Component]:
    """The components to explain, in canonical order (layer, then head, then the MLP).

    Parameters
    ----------
    components : "heads", "all" or list
        ``"heads"``: every attention head; ``"all"``: every head and every MLP block; or a list
        of names (``"L12.H3"``, ``"L12.MLP"``, ``"L12"`` = all heads of layer 12) and head
        indices (``layer * n_heads + head``).
    layers : list of int, optional
        Keep only these layers (with ``"heads"``/``"all"``).
    """
    L = layout.n_layers
    if layers is not None:
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
            raise TypeError(f"layers must be a list of layer indices, got {type(layers).__name__}")
        bad = [x for x in layers if isinstance(x, bool) or not isinstance(x, numbers.Integral) or not 0 <= x < L]
        if bad or not layers:
            raise ValueError(f"layers={list(layers)!r}: give layer indices in 0..{L - 1} (at least one)")
    if isinstance(components, str) and components in ("heads", "all"):
        chosen = sorted({int(x) for x in layers}) if layers is not None else list(range(L))
        out = [Component(l, h) for l in chosen for h in range(layout.n_heads)]
        if components == "all":
            out += [Component(l, None) for l in chosen]
    elif isinstance(components, str):
        out = _parse_one(components, layout)
    else:
        if isinstance(components, bytes) or not isinstance(components, Sequence):
            raise TypeError(
                "components must be 'heads', 'all' or a list of names ('L12.H3', 'L12.MLP', 'L12') "
                f"or head indices; got {type(components).__name__}"
            )
        out = [c for item in components for c in _parse_one(item, layout)]
        if layers is not None:
            out = [c for c in out if c.layer in set(layers)]
    if not out:
        raise ValueError("components: the selection is empty; nothing to explain")
    seen: set[Component] = set()
    dups = sorted({c.name for c in out if c in seen or seen.add(c)})  # type: ignore[func-returns-value]
    if dups:
        raise ValueError(f"components: {', '.join(dups)} given more than once")
    return sorted(out, key=Component.sort_key)
