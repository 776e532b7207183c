"""Model components: which attention heads (and MLP blocks) of a language model work together.

- :class:`ComponentValueFunction` — f(S) = a task score of the model with only the components in
  S active (per-batch-row head masks through hooks on the attention output projection).
- :func:`explain_components` — explain it: an :class:`~interspect.Explanation` over components
  named like ``"L12.H3"``.
- :func:`pruning_curve` — remove k components chosen by the surrogate's binary program or by
  marginal scores, and measure the real task score of each pruned model.
- Task sets: :func:`resolve_task`, :data:`TASKS` (``"capitals"``, ``"ioi"``).
"""

from interspect.applications.components.entry import explain_components
from interspect.applications.components.layout import Component, model_layout, resolve_components
from interspect.applications.components.pruning import PruneResult, prune_mask, pruning_curve
from interspect.applications.components.tasks import TASKS, Task, TaskItem, resolve_task
from interspect.applications.components.value import ComponentValueFunction

__all__ = [
    "Component",
    "explain_components",
    "PruneResult",
    "prune_mask",
    "pruning_curve",
    "ComponentValueFunction",
    "Task",
    "TaskItem",
    "TASKS",
    "model_layout",
    "resolve_components",
    "resolve_task",
]
