"""Task sets for component explanations: (prompt, answer[, wrong choices]) items, and shipped ones.

A task set is what the model with some components ablated is scored on. Each item has a prompt
(fed as written, no chat template), the correct answer continuation and, for multiple-choice
scores, the wrong choices. Two task sets are shipped, written for this project:

- ``"capitals"`` (the default): "The capital of France is" -> " Paris" against three other capitals
  of the set (4 choices, chance 25%); 16 items, about 5 tokens a prompt.
- ``"ioi"``: indirect-object identification, the classic attention-head circuit task: "When Mary and
  John went to the store, John gave a drink to" -> " Mary" against " John" (2 choices, chance 50%);
  16 items, 4 templates, both name orders.

The embedded model's unablated accuracy on both is measured by ``benchmarks/components.py``
(table in ``benchmarks/results_components.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TaskItem", "Task", "TASKS", "DEFAULT_TASK", "resolve_task"]

DEFAULT_TASK = "capitals"


@dataclass(frozen=True)
class TaskItem:
    """One item: a prompt, its correct continuation and (optionally) wrong choices.

    Examples
    --------
    >>> TaskItem("The capital of Italy is", " Rome", (" Paris",)).choices
    (' Rome', ' Paris')
    """

    prompt: str
    answer: str
    wrong: tuple[str, ...] = ()

    @property
    def choices(self) -> tuple[str, ...]:
        """The answer first, then the wrong choices."""
        return (self.answer, *self.wrong)

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "answer": self.answer, "wrong": list(self.wrong)}


@dataclass(frozen=True)
class Task:
    """A named task set.

    Examples
    --------
    >>> t = resolve_task([("2 + 2 =", " 4", [" 5"])])
    >>> t.name, len(t.items), t.items[0].wrong
    ('custom', 1, (' 5',))
    """

    name: str
    items: tuple[TaskItem, ...]
    description: str = ""

    @property
    def multiple_choice(self) -> bool:
        """True when every item has at least one wrong choice."""
        return all(it.wrong for it in self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "items": [it.to_dict() for it in self.items],
        }


# ------------------------------------------------------------------------------ shipped task sets
# Countries whose capital is one token (with its leading space) for the embedded model's tokenizer.
_CAPITALS = (
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Japan", "Tokyo"), ("Russia", "Moscow"), ("Egypt", "Cairo"), ("England", "London"),
    ("China", "Beijing"), ("Greece", "Athens"), ("Canada", "Ottawa"), ("Poland", "Warsaw"),
    ("Austria", "Vienna"), ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Norway", "Oslo"),
)  # fmt: skip


def _capitals() -> Task:
    k = len(_CAPITALS)
    items = tuple(
        TaskItem(
            f"The capital of {country} is",
            f" {city}",
            # Three other capitals of the set, by fixed offsets (every city is a distractor 3 times).
            tuple(f" {_CAPITALS[(i + d) % k][1]}" for d in (1, 5, 11)),
        )
        for i, (country, city) in enumerate(_CAPITALS)
    )
    return Task("capitals", items, "capital cities: 'The capital of France is' -> ' Paris' vs 3 other capitals")


_IOI_TEMPLATES = (
    "When {A} and {B} went to the {P}, {S} gave a {O} to",
    "After {A} and {B} arrived at the {P}, {S} handed the {O} to",
    "{A} and {B} were at the {P}. {S} passed the {O} to",
    "While {A} and {B} were working at the {P}, {S} sent a {O} to",
)
_IOI_NAMES = ("Mary", "John", "Tom", "Anna", "James", "Sarah", "David", "Emma",
              "Michael", "Lisa", "Paul", "Kate", "Mark", "Laura", "Peter", "Alice")  # fmt: skip
_IOI_PLACES = ("store", "park", "school", "office", "beach", "market", "library", "station")
_IOI_OBJECTS = ("drink", "book", "ball", "letter", "key", "gift", "card", "bag")


def _ioi() -> Task:
    items = []
    for i in range(16):
        a, b = _IOI_NAMES[i], _IOI_NAMES[(i + 7) % 16]
        # The repeated name (the subject S) is the second one in half the items, the first in the
        # other half, so the answer is not always the first-mentioned name.
        subject, answer = (b, a) if (i // 4) % 2 == 0 else (a, b)
        prompt = _IOI_TEMPLATES[i % 4].format(
            A=a, B=b, S=subject, P=_IOI_PLACES[i % 8], O=_IOI_OBJECTS[(3 * i) % 8]
        )
        items.append(TaskItem(prompt, f" {answer}", (f" {subject}",)))
    return Task("ioi", tuple(items), "indirect object identification: the name that was not repeated")


#: Shipped task sets by name.
TASKS: dict[str, Any] = {"capitals": _capitals, "ioi": _ioi}


# ------------------------------------------------------------------------------------ resolving
def _item(raw: Any, i: int) -> TaskItem:
    if isinstance(raw, TaskItem):
        item = raw
    elif isinstance(raw, Mapping):
        unknown = set(raw) - {"prompt", "answer", "wrong"}
        if unknown or "prompt" not in raw or "answer" not in raw:
            raise ValueError(
                f"task item {i}: expected keys 'prompt', 'answer' and optionally 'wrong', got {sorted(raw)}"
            )
        wrong = raw.get("wrong") or ()
        item = TaskItem(raw["prompt"], raw["answer"], tuple(wrong) if not isinstance(wrong, str) else (wrong,))
    elif isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) in (2, 3):
        wrong = raw[2] if len(raw) == 3 else ()
        item = TaskItem(raw[0], raw[1], (wrong,) if isinstance(wrong, str) else tuple(wrong))
    else:
        raise TypeError(
            f"task item {i} must be (prompt, answer), (prompt, answer, wrong choices) or a dict "
            f"with 'prompt'/'answer'/'wrong'; got {type(raw).__name__}"
        )
    for what, text in (("prompt", item.prompt), ("answer", item.answer), *(("wrong choice", w) for w in item.wrong)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"task item {i}: the {what} must be a non-empty string, got {text!r}")
    if item.answer in item.wrong or len(set(item.wrong)) != len(item.wrong):
        raise ValueError(f"task item {i}: the choices {list(item.choices)!r} repeat a continuation")
    return item


def resolve_task(task: Any) -> Task:
    """A :class:`Task` from a shipped name, a JSON file, a Task, or a list of items.

    Parameters
    ----------
    task : str, Path, Task or list
        A name in :data:`TASKS` (``"capitals"``, ``"ioi"``); a path to a JSON file holding a
        list of items or ``{"name": ..., "items": [...]}``; or a list of items, each
        ``(prompt, answer)``, ``(prompt, answer, wrong choices)`` or a dict with the keys
        ``prompt``, ``answer``, ``wrong``.

    Examples
    --------
    >>> resolve_task("capitals").items[0]
    TaskItem(prompt='The capital of France is', answer=' Paris', wrong=(' Berlin', ' Moscow', ' Warsaw'))
    """
    if isinstance(task, Task):
        items, name, desc = list(task.items), task.name, task.description
    elif isinstance(task, (str, Path)):
        if isinstance(task, str) and task in TASKS:
            return TASKS[task]()
        path = Path(task)
        if path.suffix.lower() != ".json" or not path.is_file():
            raise ValueError(
                f"task={str(task)!r} is neither a shipped task ({', '.join(map(repr, TASKS))}) nor a JSON file"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"task file {str(path)!r} cannot be read as JSON: {exc}") from None
        if isinstance(data, Mapping):
            items, name, desc = list(data.get("items") or []), str(data.get("name") or path.stem), str(data.get("description") or "")
        elif isinstance(data, list):
            items, name, desc = data, path.stem, ""
        else:
            raise ValueError(f"task file {str(path)!r} must hold a list of items or {{'name', 'items'}}")
    elif isinstance(task, Sequence) and not isinstance(task, bytes):
        items, name, desc = list(task), "custom", ""
    else:
        raise TypeError(
            f"task must be a shipped task name ({', '.join(map(repr, TASKS))}), a JSON path, a Task "
            f"or a list of (prompt, answer[, wrong]) items; got {type(task).__name__}"
        )
    if not items:
        raise ValueError("task: the task set is empty; give at least one (prompt, answer) item")
    return Task(name, tuple(_item(raw, i) for i, raw in enumerate(items)), desc)
