"""A tiny socket-level probe node and sender for the backend tests (a real process).

``probe.py serve HOST PORT FILE``: listen on TCP and UDP at HOST:PORT; append every
received line as ``<tag> <arrival time>`` to FILE; prints ``probe ready`` when bound.
``probe.py send HOST PORT PROTO TAG N``: send N messages ``TAG-i`` over ``udp``
datagrams or ``tcp`` (one short connection each), printing ``<tag> <send time>``.
"""

from __future__ import annotations

import socket
import sys
import threading
import time


def serve(host: str, port: int, path: str) -> None:
    lock = threading.Lock()
    out = open(path, "a", buffering=1)  # noqa: SIM115

    def note(data: bytes) -> None:
        now = time.time()
        with lock:
            for line in data.decode(errors="replace").split():
                out.write(f"{line} {now:.6f}\n")

    def tcp_conn(c: socket.socket) -> None:
        buf = b""
        with c:
            c.settimeout(30)
            try:
                while True:
                    d = c.recv(65536)
                    if not d:
                        break
                    buf += d
                    if b"\n" in buf:
                        head, _, buf = buf.rpartition(b"\n")
                        note(head)
            except OSError:
                pass

    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, port))
    tcp.listen(128)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, port))

    def udp_loop() -> None:
        while True:
            d, _ = udp.recvfrom(65536)
            note(d)

    threading.Thread(target=udp_loop, daemon=True).start()
    print("probe ready", flush=True)
    while True:
        c, _ = tcp.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


def send(host: str, port: int, proto: str, tag: str, n: int) -> None:
    for i in range(n):
        msg = f"{tag}-{i}\n".encode()
        print(f"{tag}-{i} {time.time():.6f}", flush=True)
        if proto == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(msg, (host, port))
        else:
            try:
                with socket.create_connection((host, port), timeout=1.0) as s:
                    s.sendall(msg)
            except OSError:
                pass


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], int(sys.argv[6]))
