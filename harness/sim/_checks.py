"""The Raft safety properties, checked as the simulation runs (Raft paper, fig. 3).

- election-safety: at most one leader per term.
- log-matching: two logs holding an entry with the same index and term hold the
  same entries up to it. Checked on every write once it is durable (its fsync
  done, or kept by a crash): each (index, term) pair must always come with the
  same data and the same term at ``index - 1``; by induction on the index that is
  log matching over every log that ever existed. (Writes a crash loses were never
  seen by anyone: a single-node cluster may legitimately reuse their term.)
- leader-completeness: a new leader's log holds every entry known committed
  (those at or below its snapshot point count as held: see snapshot-safety).
- leader-append-only: a leader never truncates its own log.
- state-machine-safety: every node applies, at each index, the same entry, in
  index order without gaps (a restarted node applies again from its snapshot
  point, index 1 without one; a follower that installs a snapshot jumps to it).
- commit-monotonic: within one incarnation of a node, the commit index never
  moves back (it restarts from the snapshot point after a crash: Raft does not
  persist it).
- snapshot-safety: a snapshot point (compaction, or a snapshot a follower
  installs) is an entry known committed, with its term, so retention only ever
  drops committed entries and a node that jumps to a snapshot skips only entries
  others applied.

A violation raises `SafetyViolation` naming the property and the witnesses.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.errors import LogtrialError
from reference_broker.raft import Entry, Snapshot


class SafetyViolation(LogtrialError):
    """A Raft safety property does not hold."""

    def __init__(self, prop: str, detail: str) -> None:
        self.prop = prop
        self.detail = detail
        super().__init__(f"{prop}: {detail}")


class SafetyChecker:
    """Remembers what the cluster has shown so far and rejects contradictions."""

    def __init__(self) -> None:
        self.leaders: dict[int, int] = {}  # term -> leader
        self.committed: dict[int, Entry] = {}  # index -> entry applied by someone
        self._pairs: dict[tuple[int, int], tuple[bytes, int, int]] = {}  # data, prev term, by
        self._commit: dict[int, int] = {}  # node -> commit index (this incarnation)

    def restarted(self, node: int) -> None:
        self._commit.pop(node, None)

    def on_commit_index(self, node: int, commit_index: int) -> None:
        before = self._commit.get(node, 0)
        if commit_index < before:
            raise SafetyViolation("commit-monotonic", f"node {node}'s commit index went "
                                  f"from {before} back to {commit_index}")
        self._commit[node] = commit_index

    def on_written(self, node: int, entries: Sequence[Entry], prev_terms: Sequence[int],
                   log: Sequence[Entry]) -> None:
        """``entries`` became durable on ``node``; ``prev_terms`` are the terms of the
        entries before each when they were written; ``log`` is for the message."""
        pairs = self._pairs
        for e, prev in zip(entries, prev_terms, strict=True):
            seen = pairs.get((e.index, e.term))
            if seen is None:
                pairs[(e.index, e.term)] = (e.data, prev, node)
            elif seen[0] != e.data or seen[1] != prev:
                raise SafetyViolation(
                    "log-matching",
                    f"entry (index {e.index}, term {e.term}) on node {node} has data "
                    f"{e.data!r} after an entry of term {prev}, but on node {seen[2]} it "
                    f"had data {seen[0]!r} after an entry of term {seen[1]}; node {node}'s "
                    f"terms around it: {[x.term for x in log[max(0, e.index - 6):e.index + 5]]}")

    def on_truncate(self, node: int, from_index: int, leader: bool) -> None:
        if leader:
            raise SafetyViolation("leader-append-only", f"leader {node} truncated its log "
                                  f"from index {from_index}")

    def on_leader(self, node: int, term: int, snapshot: Snapshot, log: Sequence[Entry]
                  ) -> None:
        """``log``: the entries after ``snapshot``."""
        other = self.leaders.setdefault(term, node)
        if other != node:
            raise SafetyViolation("election-safety",
                                  f"nodes {other} and {node} both lead term {term}")
        first = snapshot.index
        for index, e in self.committed.items():
            if index < first:
                continue
            if index == first:
                have: int | None = snapshot.term
            else:
                have = log[index - first - 1].term if index - first <= len(log) else None
            if have != e.term:
                raise SafetyViolation(
                    "leader-completeness",
                    f"node {node} leads term {term} but lacks committed entry {index} "
                    f"(term {e.term}); it has term {have} there")

    def on_snapshot(self, node: int, snapshot: Snapshot) -> None:
        seen = self.committed.get(snapshot.index)
        if seen is None or seen.term != snapshot.term:
            raise SafetyViolation(
                "snapshot-safety",
                f"node {node} has a snapshot point at index {snapshot.index} of term "
                f"{snapshot.term}, but the entry committed there is "
                f"{'unknown' if seen is None else f'of term {seen.term}'}")

    def on_applied(self, node: int, applied: int, entries: Sequence[Entry]) -> int:
        """``node`` applies ``entries`` after ``applied``; returns the new applied index."""
        for e in entries:
            if e.index != applied + 1:
                raise SafetyViolation("state-machine-safety",
                                      f"node {node} applied entry {e.index} after {applied}")
            seen = self.committed.setdefault(e.index, e)
            if seen != e:
                raise SafetyViolation(
                    "state-machine-safety",
                    f"node {node} applied {e.data!r} (term {e.term}) at index {e.index}, "
                    f"another node applied {seen.data!r} (term {seen.term})")
            applied = e.index
        return applied
