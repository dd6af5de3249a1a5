"""The model contract: a sequential specification as a bundle of pure functions.

A `Model` says what one object (or, unpartitioned, a set of objects) may do when its
operations run one at a time. The search only ever calls these functions; it never
looks inside a state or an input.

- ``init()`` gives the initial state.
- ``step(state, input, output)`` tells whether ``input`` applied to ``state`` may
  produce ``output``. A deterministic model returns ``(ok, next_state)``; a
  nondeterministic one (``nondeterministic=True``) returns the list of every possible
  next state (empty: illegal). The search then works on sets of states, as Porcupine
  does, so that memoization stays sound.
- ``output`` is `UNKNOWN` for an operation whose outcome was not observed (an ``info``
  op, a timed-out read): the step must accept any outcome and return the state(s) the
  input can lead to.
- ``state_key(state)`` gives a hashable value equal for equal states (the equality and
  the hash of the model; default: the state itself, which must then be hashable).
- ``partition(ops)`` splits a history into independent sub-histories (P-compositionality);
  the default groups operations by `Operation.key`.
- ``compile_step`` and ``per_key`` are optional speed hooks (see the fields).
- ``describe_operation(input, output)`` and ``describe_state(state)`` render for people.

A step must not mutate its arguments, read a clock, or keep hidden state: the search
caches each operation's transitions by state and replays them in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class _Unknown:
    """The output of an operation whose outcome was not observed."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        # Pickle as the module-level name, so worker processes see the same singleton.
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


class _Illegal:
    """Returned by a compiled step when the operation cannot happen in that state."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ILLEGAL"

    def __reduce__(self) -> str:
        return "ILLEGAL"


ILLEGAL: Final = _Illegal()


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One operation as the search sees it: an interval and what it did.

    ``call`` < ``ret`` order the operation in real time (any comparable integers: the
    history position or nanoseconds). ``ret`` is None when the outcome is unknown (an
    ``info`` op): such an operation may take effect at any time after its call, or
    never. ``index`` names the op in the source history (its invocation's ``index``),
    ``times`` holds wall-clock call/return times in ns for display, when known.
    """

    client: int | str
    input: Any
    output: Any
    call: int
    ret: int | None
    key: str | None = None
    index: int | None = None
    times: tuple[int, int | None] | None = None

    @property
    def unknown(self) -> bool:
        return self.ret is None


def _identity_key(state: Any) -> Hashable:
    return state


def _repr(x: Any) -> str:
    return repr(x)


def _describe_op(input: Any, output: Any) -> str:
    return f"{input!r} -> {output!r}"


def partition_by_key(ops: Sequence[Operation]) -> list[tuple[str, list[Operation]]]:
    """Group operations by `Operation.key` (None becomes ``""``), sorted by key."""
    groups: dict[str, list[Operation]] = {}
    for op in ops:
        k = op.key if op.key is not None else ""
        lst = groups.get(k)
        if lst is None:
            groups[k] = [op]
        else:
            lst.append(op)
    return sorted(groups.items(), key=lambda kv: _natural(kv[0]))


def _natural(key: str) -> tuple[int, int, str]:
    """Sort canonical integer keys numerically, before other strings."""
    if key.isdigit() or (key.startswith("-") and key[1:].isdigit()):
        return (0, int(key), key)
    return (1, 0, key)


def no_partition(ops: Sequence[Operation]) -> list[tuple[str, list[Operation]]]:
    return [("", list(ops))]


@dataclass(frozen=True, slots=True, kw_only=True)
class Model:
    """A sequential specification; see the module docstring for the contract."""

    name: str
    init: Callable[[], Any]
    step: Callable[[Any, Any, Any], Any]
    nondeterministic: bool = False
    state_key: Callable[[Any], Hashable] = _identity_key
    partition: Callable[[Sequence[Operation]], list[tuple[str, list[Operation]]]] = (
        partition_by_key)
    describe_operation: Callable[[Any, Any], str] = _describe_op
    describe_state: Callable[[Any], str] = _repr
    #: Optional: ``is_read_only(input, output)`` is True when the operation never
    #: changes the state where it is legal (a read, a failed cas). The search then
    #: linearizes it as soon as it is legal (never worse: it commutes to the front;
    #: not done for nondeterministic models, where a read narrows the set of possible
    #: states), and unknown-outcome ones (``output`` UNKNOWN) are dropped before the
    #: search.
    is_read_only: Callable[[Any, Any], bool] | None = field(default=None)
    #: Optional speed hook for deterministic models with hashable states:
    #: ``compile_step(input, output)`` returns ``f(state) -> next state | ILLEGAL``
    #: equal to ``step``. The search calls it once per operation.
    compile_step: Callable[[Any, Any], Callable[[Any], Any]] | None = None
    #: Optional pruning hook: ``dead_end(ops)`` (the partition's operations) returns
    #: None or ``f(i, state, done)``, True only if read-only operation ``ops[i]``,
    #: illegal in ``state``, can never become legal whatever operations outside the
    #: bitset ``done`` run next (e.g. an append-only value no longer a prefix of what
    #: a pending get read). The search then abandons the configuration at once.
    dead_end: Callable[[Sequence[Operation]], Callable[[int, Any, int], bool] | None] | None = (
        None)
    #: Optional: the model of one key, used on each partition of a by-key partitioning
    #: (its state is the key's value alone, so steps are cheaper).
    per_key: Model | None = None
