"""Container HEALTHCHECK: exit 0 when GET /v1/health/ready answers 200 from this container's server.

    healthcheck.py            # readiness: exit 0 on 200, 1 otherwise (reason on stderr)
    healthcheck.py /v1/models # any GET path of this replica: body on stdout, exit 0 on 200

Asks over the Unix socket $MGQE_UDS when it is set, else http://127.0.0.1:$MGQE_PORT (default 8000). The Unix
socket matters when replicas share one TCP port (MGQE_REUSE_PORT on the host network): the kernel hands a TCP
connection to any replica, so only the socket in this container's own /tmp reaches this container's server.
Stdlib only (slim images have no curl).
"""

from __future__ import annotations

import http.client
import os
import socket
import sys


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.uds = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.uds)
        self.sock = sock


def get(path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    uds = os.environ.get("MGQE_UDS")
    if uds:
        conn: http.client.HTTPConnection = UnixHTTPConnection(uds, timeout)
    else:
        port = int(os.environ.get("MGQE_PORT", "8000"))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "/v1/health/ready"
    try:
        status, body = get(path)
    except Exception as e:  # refused, missing socket, timeout: unhealthy
        print(f"not ready: {e}", file=sys.stderr)
        sys.exit(1)
    if len(sys.argv) > 1:
        sys.stdout.write(body.decode(errors="replace"))
    elif status != 200:
        print(f"not ready: HTTP {status}", file=sys.stderr)
    sys.exit(0 if status == 200 else 1)
