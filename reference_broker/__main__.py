"""`reference-broker` / `python -m reference_broker`: run one broker node.

    reference-broker --node-id 1 --listen 127.0.0.1:9092 --data-dir /var/lib/rb \
        [--advertise HOST:PORT] [--config KEY=VALUE ...] [--log-level INFO] \
        [--peers 1=HOST:PORT,2=HOST:PORT,3=HOST:PORT] [--election-timeout-ms 1000]

With ``--peers`` naming other nodes, the node joins a replicated cluster
(`reference_broker.cluster`): each address is how this node reaches that peer's
listener (broker-to-broker RPC shares the Kafka listener). Without it, or with only
itself, it is the single-node broker.

Port 0 listens on an ephemeral port; the advertised port then follows it. Once
listening, one line `reference-broker ready on HOST:PORT` (the address bound) goes to
stderr so harnesses can wait for it. Logs go to stderr and `<data-dir>/broker.log`.
SIGTERM / SIGINT shut down cleanly (listener closed, logs flushed and closed, exit 0);
after SIGKILL the next start recovers the logs. Bad arguments, an unknown config key
or an unusable data dir: a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import sys
from pathlib import Path

from reference_broker.config import BrokerConfig, ConfigError, broker_config, parse_pairs

log = logging.getLogger("reference_broker")


def _hostport(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:9092")
    host = host.strip("[]")
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: port {port!r} is not a number") from None
    if not 0 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r}: port must be in 0..65535")
    return host, p


def _peers(value: str) -> dict[int, tuple[str, int]]:
    out: dict[int, tuple[str, int]] = {}
    for item in value.split(","):
        node, sep, addr = item.strip().partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected ID=HOST:PORT, e.g. 1=127.0.0.1:9092,2=127.0.0.1:9093")
        try:
            nid = int(node)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: node id {node!r} is not a number"
                                             ) from None
        if nid in out:
            raise argparse.ArgumentTypeError(f"node id {nid} appears twice in --peers")
        out[nid] = _hostport(addr)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reference-broker",
        description="logtrial's reference Kafka broker (one node).")
    p.add_argument("--node-id", type=int, default=1, help="broker id (default 1)")
    p.add_argument("--listen", type=_hostport, default=("127.0.0.1", 9092),
                   metavar="HOST:PORT", help="address to listen on (port 0: ephemeral)")
    p.add_argument("--advertise", type=_hostport, default=None, metavar="HOST:PORT",
                   help="address given to clients in Metadata (default: the bound one)")
    p.add_argument("--data-dir", type=Path, help="directory of the logs (required)")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="broker property with Kafka's name (repeatable), "
                        "e.g. num.partitions=3, log.flush.policy=always")
    p.add_argument("--peers", type=_peers, default=None, metavar="ID=HOST:PORT,...",
                   help="every node of the cluster, this one included, as this node "
                        "reaches it (default: a single node)")
    p.add_argument("--election-timeout-ms", type=int, default=1000, metavar="MS",
                   help="Raft election timeout, drawn from [MS, 2*MS] (default 1000)")
    p.add_argument("--bug", action="append", default=[], metavar="NAME",
                   help="switch on a planted bug (repeatable; see --list-bugs)")
    p.add_argument("--list-bugs", action="store_true",
                   help="list the planted bugs with a line each, and exit")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    return p


def _setup_logging(level: str, data_dir: Path) -> None:
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(fmt)
    root.addHandler(err)
    fileh = logging.FileHandler(data_dir / "broker.log")
    fileh.setFormatter(fmt)
    root.addHandler(fileh)


async def run(args: argparse.Namespace, config: BrokerConfig) -> int:
    from reference_broker.protocol.handlers import BrokerContext, load_handlers
    from reference_broker.server import BrokerServer, wall_clock_ms
    from reference_broker.topics import TopicStore

    data_dir: Path = args.data_dir
    store = TopicStore.open(data_dir, config, wall_clock_ms())
    adv_host, adv_port = args.advertise or args.listen
    if adv_host in ("0.0.0.0", "::", ""):
        adv_host = "127.0.0.1"
    ctx = BrokerContext(config=config, node_id=args.node_id, advertised_host=adv_host,
                        advertised_port=adv_port, data_dir=data_dir, clock_ms=wall_clock_ms,
                        topics=store)
    registry = load_handlers()
    for hook in registry.startup:
        await hook(ctx)
    server = BrokerServer(ctx, registry)
    cluster = None
    if args.peers is not None and set(args.peers) != {args.node_id}:
        from reference_broker.bugs import CONFIG_KEY
        from reference_broker.cluster import Cluster, peer_reader

        bugs = frozenset(b for b in config.raw.get(CONFIG_KEY, "").split(",") if b)
        cluster = Cluster(ctx, args.peers, election_timeout_ms=args.election_timeout_ms,
                          bugs=bugs)
        ctx.extras["cluster"] = cluster
        server.peer_reader = peer_reader(cluster)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        host, port = await server.start(*args.listen)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", args.listen[0], args.listen[1], exc)
        store.close()
        return 2
    if args.advertise is None or args.advertise[1] == 0:
        ctx.advertised_port = port
    if cluster is not None:
        await cluster.start()
    log.info("node %d serving %d topics from %s; advertising %s:%d; config %s",
             args.node_id, len(store), data_dir, ctx.advertised_host, ctx.advertised_port,
             dict(config.raw))
    print(f"reference-broker ready on {host}:{port}", file=sys.stderr, flush=True)
    await stop.wait()
    log.info("shutting down")
    if cluster is not None:
        await cluster.hand_over()
    await server.stop()
    log.info("shutting down: listener and connections closed")
    if cluster is not None:
        await cluster.stop()
        log.info("shutting down: peer links and Raft ticks stopped")
    for hook in registry.shutdown:
        try:
            await hook(ctx)
        except Exception:
            log.exception("shutdown hook %s failed", getattr(hook, "__name__", hook))
    await store.drain()
    store.flush()
    store.close()
    log.info("stopped")
    return 0


def _use_uvloop() -> None:
    if os.environ.get("REFERENCE_BROKER_NO_UVLOOP"):
        return
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_bugs:
        from reference_broker.bugs import BUGS

        for name, what in BUGS.items():
            print(f"{name}: {what}")
        return 0
    if args.data_dir is None:
        parser.error("the following arguments are required: --data-dir")
    if args.peers is not None and args.node_id not in args.peers:
        parser.error(f"--peers must include this node (--node-id {args.node_id})")
    if args.election_timeout_ms < 20:
        parser.error("--election-timeout-ms must be >= 20")
    try:
        pairs = parse_pairs(args.config)
        if args.bug:
            named = [b for b in pairs.get("logtrial.bugs", "").split(",") if b]
            pairs["logtrial.bugs"] = ",".join([*named, *args.bug])
        config = broker_config(pairs)
    except ConfigError as exc:
        parser.error(str(exc))
    data_dir: Path = args.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock = open(data_dir / ".lock", "w")  # noqa: SIM115 - held for the process lifetime
    except OSError as exc:
        parser.error(f"--data-dir {str(data_dir)!r} is not usable: {exc}")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        parser.error(f"--data-dir {str(data_dir)!r} is in use by another broker")
    _setup_logging(args.log_level, data_dir)
    _use_uvloop()
    try:
        return asyncio.run(run(args, config))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # a start-up failure: say what, exit 2
        log.exception("broker failed: %s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
