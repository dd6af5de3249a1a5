"""The storage model and the node's per-step view of it, against a plain list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference_broker.raft import Entry, HardState, MemoryLog, persist
from reference_broker.raft._log import LogView


def entries(lo: int, terms: list[int]) -> list[Entry]:
    return [Entry(index=lo + k, term=t, data=f"{lo + k}/{t}".encode())
            for k, t in enumerate(terms)]


def test_memory_log_table() -> None:
    log = MemoryLog(entries(1, [1, 1, 2]))
    assert log.last_index() == 3
    assert [log.term_at(i) for i in range(5)] == [0, 1, 1, 2, None]
    assert [e.index for e in log.entries(2, 4)] == [2, 3]
    log.truncate(2)
    assert log.last_index() == 1
    log.append(entries(2, [3]))
    assert log.term_at(2) == 3
    with pytest.raises(ValueError, match="dense"):
        log.append(entries(5, [3]))
    log.set_hard_state(HardState(term=3, voted_for=2))
    assert log.hard_state() == HardState(term=3, voted_for=2)


_ops = st.lists(st.one_of(
    st.tuples(st.just("append"), st.lists(st.integers(1, 4), min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.integers(1, 12)),
    st.tuples(st.just("take"), st.none()),
), max_size=30)


@given(initial=st.lists(st.integers(1, 3), max_size=6), ops=_ops)
def test_log_view_reads_like_the_list_it_stands_for(initial: list[int], ops: list) -> None:
    """Reads through the view always match a model list, before and after `take`
    + `persist` hand the writes to storage."""
    storage = MemoryLog(entries(1, sorted(initial)))
    model = list(storage.entries(1, storage.last_index() + 1))
    view = LogView(storage)
    for kind, arg in ops:
        if kind == "append":
            new = entries(len(model) + 1, arg)
            view.append(new)
            model.extend(new)
        elif kind == "truncate":
            view.truncate(arg)
            del model[arg - 1:]
        else:
            trunc, new_entries = view.take()
            persist(storage, trunc, new_entries, None, sync=True)
            assert storage.entries(1, storage.last_index() + 1) == model
        assert view.last_index == len(model)
        assert view.last_term == (model[-1].term if model else 0)
        for i in range(len(model) + 2):
            assert view.term_at(i) == (0 if i == 0 else model[i - 1].term
                                       if i <= len(model) else None)
        assert view.entries(1, len(model) + 5) == model
        if len(model) > 2:
            assert view.entries(2, len(model)) == model[1:-1]
    trunc, new_entries = view.take()
    persist(storage, trunc, new_entries, None, sync=True)
    assert storage.entries(1, storage.last_index() + 1) == model
