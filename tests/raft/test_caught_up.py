"""`Status.caught_up_ms`: when each follower last held the leader's whole log (the
clock behind Kafka's ISR and replica.lag.time.max.ms)."""

from __future__ import annotations

from ._cluster import Cluster


def test_a_cut_off_follower_stops_being_caught_up_and_resumes_after_healing() -> None:
    c = Cluster()
    lead = c.elect()
    cut, other = [i for i in c.ids if i != lead]
    c.advance(100)
    cut_at = c.now_ms
    c.cut |= {(lead, cut), (cut, lead)}
    for k in range(50):
        c.nodes[lead].propose(b"v%d" % k)
        c.ready(lead)
        c.advance(10)
    st = c.nodes[lead].status()
    assert st.caught_up_ms[cut] <= cut_at
    assert st.caught_up_ms[other] >= c.now_ms - 20
    c.heal()
    c.advance(200)
    st = c.nodes[lead].status()
    assert st.caught_up_ms[cut] >= c.now_ms - 60


def test_a_follower_trailing_by_one_batch_under_load_counts_as_caught_up() -> None:
    """Every answer arrives after the leader appended more, so no answer matches the
    log end of its moment; each still holds the end of the previous answer's moment."""
    c = Cluster()
    lead = c.elect()
    start = c.now_ms
    for k in range(100):
        c.now_ms += 10
        c.nodes[lead].propose(b"v%d" % k)
        c.ready(lead)
        c.deliver(rounds=1)
    st = c.nodes[lead].status()
    assert st.caught_up == (), "the scenario must keep every follower one batch behind"
    for f in st.caught_up_ms:
        assert st.caught_up_ms[f] >= c.now_ms - 40 > start
