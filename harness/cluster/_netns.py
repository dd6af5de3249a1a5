"""The `netns` backend: one Linux network namespace per node on a per-run bridge.

Layout for run ``lt-1a2b3c4d`` with nodes n1..n3 (all names carry the run id):

- bridge ``lt-1a2b3c4d`` in the host namespace, address ``10.X.Y.1/24`` (the harness
  process reaches the nodes through it, as Jepsen's control node does);
- namespaces ``lt-1a2b3c4d-n1`` .. ``-n3`` with ``eth0`` at ``10.X.Y.11`` ..,
  and ``lt-1a2b3c4d-c`` for client processes at ``10.X.Y.254`` (`client_wrap`; a
  grudge against ``client`` also covers the bridge address, where clients running
  in the harness process come from); each is joined to
  the bridge by a veth whose host end is ``lt-1a2b3c4d-<i>`` (at most 14 chars);
- inside each namespace two iptables chains hooked from INPUT: ``LT-PART`` (the
  grudge: ``-s <src> -j DROP``) and ``LT-LOSS`` (``statistic --mode random``).
  Rules live only in namespaces this run created; the host's tables are never
  touched. Bandwidth is a ``tbf`` qdisc on the namespace's ``eth0`` (this kernel has
  no ``netem``, hence no latency fault here: use the proxy backend).

The subnet ``10.X.Y.0/24`` is drawn per run and checked against every address and
route on the host, so concurrent runs never share one. Deleting a namespace removes
its veth, rules and qdiscs; `close` kills what still runs inside first.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import signal
import subprocess
from collections.abc import Collection, Sequence
from typing import ClassVar, Final

from harness.cluster._backend import CLIENT, Backend, Grudge
from harness.cluster._run import RunDir
from harness.errors import LogtrialError, UsageError

PART_CHAIN: Final[str] = "LT-PART"
LOSS_CHAIN: Final[str] = "LT-LOSS"
BASE_PORT: Final[int] = 9092


class NetnsError(LogtrialError):
    """A command that builds or changes the namespaces failed."""


def sh(argv: Sequence[str], *, input: str | None = None, check: bool = True) -> str:
    """Run a network command; raise `NetnsError` naming it when ``check`` and it fails."""
    try:
        p = subprocess.run(list(argv), input=input, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise NetnsError(f"{argv[0]!r} not found: install iproute2 and iptables "
                         "(scripts/setup-debian.sh)") from None
    if check and p.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def netns_list() -> list[str]:
    out = sh(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def links_list() -> list[str]:
    out = sh(["ip", "-o", "link", "show"], check=False)
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            names.append(parts[1].strip().split("@")[0])
    return names


def netns_pids(ns: str) -> list[int]:
    out = sh(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in out.split() if x.isdigit()]


def kill_netns(ns: str) -> None:
    """SIGKILL whatever runs in ``ns``, then delete it."""
    for pid in netns_pids(ns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    sh(["ip", "netns", "del", ns], check=False)


def _used_subnets() -> set[tuple[int, int]]:
    used = set()
    text = sh(["ip", "-o", "addr", "show"], check=False) + sh(["ip", "route", "show"], check=False)
    for tok in text.split():
        if tok.startswith("10."):
            with contextlib.suppress(ValueError):
                net = ipaddress.ip_network(tok, strict=False)
                a = int(net.network_address)
                used.add(((a >> 16) & 0xFF, (a >> 8) & 0xFF))
                if net.prefixlen < 24:
                    used.add(((a >> 16) & 0xFF, -1))
    return used


class NetnsBackend(Backend):
    """Nodes in namespaces on a bridge; partitions and loss with iptables, bandwidth
    with tbf."""

    name: ClassVar[str] = "netns"
    supports: ClassVar[frozenset[str]] = frozenset({"partition", "loss", "bandwidth"})
    needs_root: ClassVar[bool] = True

    def __init__(self, run: RunDir | None = None) -> None:
        super().__init__(run)
        self.bridge = ""
        self.subnet: tuple[int, int] | None = None
        self._ns: dict[str, str] = {}
        self._ip: dict[str, str] = {}
        self._closed = False

    @classmethod
    def check_available(cls) -> None:
        if os.geteuid() != 0:
            raise UsageError("the netns backend needs root for network namespaces; run as "
                             "root or use --backend proxy")
        sh(["ip", "-V"])
        sh(["iptables", "-V"])

    # layout ------------------------------------------------------------------

    def ns(self, endpoint: str) -> str:
        return self._ns[endpoint]

    def ip(self, endpoint: str) -> str:
        return self._ip[endpoint]

    def setup(self, nodes: Sequence[str], services: Sequence[str]) -> None:
        self.check_available()
        self.nodes = tuple(nodes)
        self.services = tuple(services)
        rng = random.Random(self.run.run_id)
        used = _used_subnets()
        for _ in range(200):
            x, y = rng.randrange(100, 200), rng.randrange(0, 256)
            if (x, y) not in used and (x, -1) not in used:
                self.subnet = (x, y)
                break
        else:
            raise NetnsError("no free 10.x.y.0/24 subnet for the run's bridge")
        x, y = self.subnet
        rid = self.run.run_id
        self.bridge = rid
        self.run.state["subnet"] = f"10.{x}.{y}.0/24"
        self.run.note("bridge", self.bridge)
        sh(["ip", "link", "add", self.bridge, "type", "bridge"])
        sh(["ip", "addr", "add", f"10.{x}.{y}.1/24", "dev", self.bridge])
        sh(["ip", "link", "set", self.bridge, "up"])
        for i, ep in enumerate(self.endpoints(), start=1):
            ns = f"{rid}-c" if ep == CLIENT else f"{rid}-{ep}"
            host_if = f"{rid}-{i}"
            ip = f"10.{x}.{y}.254" if ep == CLIENT else f"10.{x}.{y}.{10 + i}"
            self._ns[ep] = ns
            self._ip[ep] = ip
            self.run.note("netns", ns)
            sh(["ip", "netns", "add", ns])
            sh(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
                "netns", ns])
            sh(["ip", "link", "set", host_if, "master", self.bridge, "up"])
            batch = (f"addr add {ip}/24 dev eth0\nlink set eth0 up\nlink set lo up\n")
            sh(["ip", "-n", ns, "-batch", "-"], input=batch)
            rules = (f"*filter\n:{PART_CHAIN} - [0:0]\n:{LOSS_CHAIN} - [0:0]\n"
                     f"-A INPUT -j {PART_CHAIN}\n-A INPUT -j {LOSS_CHAIN}\nCOMMIT\n")
            self._restore(ns, rules)

    def _bridge_ip(self) -> str:
        assert self.subnet is not None
        return f"10.{self.subnet[0]}.{self.subnet[1]}.1"

    def bind_addr(self, node: str, service: str) -> tuple[str, int]:
        return (self._ip[node], self._port(service))

    def addr(self, src: str, dst: str, service: str) -> tuple[str, int]:
        return (self._ip[dst], self._port(service))

    def _port(self, service: str) -> int:
        try:
            return BASE_PORT + self.services.index(service)
        except ValueError:
            raise UsageError(f"unknown service {service!r} (known: {self.services})") from None

    def wrap(self, node: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self._ns[node], *argv]

    def client_wrap(self, argv: Sequence[str]) -> list[str]:
        return self.wrap(CLIENT, argv)

    def client_netns(self) -> str | None:
        return self._ns.get(CLIENT)

    # faults ------------------------------------------------------------------

    def _restore(self, ns: str, rules: str) -> None:
        sh(["ip", "netns", "exec", ns, "iptables-restore", "--noflush"], input=rules)

    def apply_grudge(self, grudge: Grudge) -> None:
        self.check_grudge(grudge)
        for ep in self.endpoints():
            lines = ["*filter", f"-F {PART_CHAIN}"]
            for src in sorted(grudge.get(ep, ())):
                if src != ep:
                    lines.append(f"-A {PART_CHAIN} -s {self._ip[src]}/32 -j DROP")
                    if src == CLIENT:  # in-process clients come from the bridge address
                        lines.append(f"-A {PART_CHAIN} -s {self._bridge_ip()}/32 -j DROP")
            lines.append("COMMIT\n")
            self._restore(self._ns[ep], "\n".join(lines))

    def set_loss(self, nodes: Collection[str], probability: float) -> None:
        self.check_nodes(nodes)
        if not 0.0 <= probability <= 1.0:
            raise UsageError(f"loss probability must be within 0..1, got {probability}")
        for ep in nodes:
            lines = ["*filter", f"-F {LOSS_CHAIN}"]
            if probability > 0:
                lines.append(f"-A {LOSS_CHAIN} -i eth0 -m statistic --mode random "
                             f"--probability {probability:.6f} -j DROP")
            lines.append("COMMIT\n")
            self._restore(self._ns[ep], "\n".join(lines))

    def set_bandwidth(self, nodes: Collection[str], kbit_s: int | None) -> None:
        self.check_nodes(nodes)
        for ep in nodes:
            ns = self._ns[ep]
            if kbit_s is None:
                sh(["ip", "netns", "exec", ns, "tc", "qdisc", "del", "dev", "eth0", "root"],
                   check=False)
            else:
                burst = max(kbit_s // 8, 16)
                sh(["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root",
                    "tbf", "rate", f"{kbit_s}kbit", "burst", f"{burst}kbit",
                    "latency", "400ms"])

    def heal(self) -> None:
        if not self._ns:
            return
        self.apply_grudge({})
        eps = list(self.endpoints())
        self.set_loss(eps, 0.0)
        self.set_bandwidth(eps, None)

    def close(self) -> None:
        if self._closed or self._run is None or not self.bridge:
            return
        self._closed = True
        remove_run_network(self.run.run_id)


def remove_run_network(run_id: str) -> list[str]:
    """Delete every namespace and link named after ``run_id``; returns what went."""
    removed = []
    for ns in netns_list():
        if ns.startswith(run_id + "-"):
            kill_netns(ns)
            removed.append(f"netns {ns}")
    for link in links_list():
        if link == run_id or link.startswith(run_id + "-"):
            sh(["ip", "link", "del", link], check=False)
            removed.append(f"link {link}")
    return removed

