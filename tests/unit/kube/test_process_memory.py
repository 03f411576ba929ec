"""What ``process_memory.lean`` sets up for the operator's process, besides the lazy client
(test_lazy_client.py). Each check runs in a fresh interpreter: ``lean`` changes the process."""

from __future__ import annotations

import json
import subprocess
import sys

from overture.process_memory import SSL_READ_BYTES


def lean_then(code: str) -> object:
    script = f"from overture.process_memory import lean\nlean()\n{code}"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_tls_connections_read_into_a_smaller_buffer() -> None:
    # A protocol made after lean(), as kopf's and the API client's connections are: its buffer
    # is allocated (and zeroed) whole when the connection is made.
    code = (
        "import asyncio, json, ssl\n"
        "async def main():\n"
        "    protocol = asyncio.sslproto.SSLProtocol(\n"
        "        asyncio.get_running_loop(), asyncio.Protocol(), ssl.create_default_context(), None)\n"
        "    print(json.dumps([len(protocol._ssl_buffer), len(protocol.get_buffer(-1))]))\n"
        "asyncio.run(main())\n"
    )
    assert lean_then(code) == [SSL_READ_BYTES, SSL_READ_BYTES]
    assert SSL_READ_BYTES < 256 * 1024  # asyncio's own
    assert SSL_READ_BYTES >= 16 * 1024  # a whole TLS record per read at least


def test_the_operator_does_not_load_asyncpg_before_a_sql_task() -> None:
    # asyncpg is ~3 MiB of the operator's memory; only sql tasks use it (calls/sql.py).
    code = (
        "import json, sys\n"
        "import kopf\n"
        "import overture.handlers, overture.calls.sql\n"
        "print(json.dumps('asyncpg' in sys.modules))\n"
    )
    assert lean_then(code) is False
