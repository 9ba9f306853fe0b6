"""Container HEALTHCHECK: exit 0 when GET /v1/health/ready answers 200 on this container's port.

Stdlib only (slim images have no curl). Port from $MGQE_PORT (default 8000).
"""

from __future__ import annotations

import os
import sys
import urllib.request

port = int(os.environ.get("MGQE_PORT", "8000"))
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health/ready", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:  # any failure (refused, 503, timeout) means unhealthy
    print(f"not ready: {e}", file=sys.stderr)
    sys.exit(1)
