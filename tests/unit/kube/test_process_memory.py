"""What ``process_memory`` does for the operator's process, besides the lazy client
(test_lazy_client.py). Each check of ``lean`` runs in a fresh interpreter: it changes the process."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from overture import process_memory
from overture.process_memory import (
    SSL_READ_BYTES,
    TRIM_SECONDS,
    Trimmer,
    ca_directory,
    docstrings_compiled_out,
    due_to_trim,
    lean_interpreter,
)

ROOT = Path(__file__).resolve().parents[3]


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


def test_the_operator_starts_without_jinja_and_loads_it_at_the_first_template() -> None:
    # Jinja is ~1.7 MiB of the operator's memory; a flow whose commands hold no {{ never needs it
    # (templating/rendering.py's module doc). Parsing or rendering a template loads it.
    code = (
        "import json, sys\n"
        "import kopf\n"
        "import overture.handlers\n"
        "from overture.api import build_models\n"
        "from overture.controller.settings import OperatorSettings\n"
        "from overture.templating import references, render, syntax_problem\n"
        "build_models()\n"
        "loaded = ['jinja2' in sys.modules]\n"
        "plain = [render('echo plain', {}), sorted(references('echo plain')), syntax_problem('echo plain')]\n"
        "loaded.append('jinja2' in sys.modules)\n"
        "read = sorted(map(list, references('{{ outputs.a.b }}')))\n"
        "rendered = render('{{ inputs.n * 2 }}', {'inputs': {'n': 21}})\n"
        "print(json.dumps([*loaded, plain, read, rendered, 'jinja2' in sys.modules]))\n"
    )
    assert lean_then(code) == [False, False, ["echo plain", [], None], [["outputs", "a"]], "42", True]


def test_a_trim_is_due_once_a_burst_of_work_has_ended_and_every_minute() -> None:
    assert due_to_trim(worked=True, busy=False, since_trim=2.0)
    assert not due_to_trim(worked=True, busy=True, since_trim=2.0)  # not in the middle of a burst
    assert not due_to_trim(worked=False, busy=False, since_trim=2.0)  # nothing freed since the last one
    assert due_to_trim(worked=False, busy=False, since_trim=TRIM_SECONDS)
    assert due_to_trim(worked=True, busy=True, since_trim=TRIM_SECONDS)


def test_the_trimmer_trims_after_work_when_the_queue_is_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[bool] = []

    def trim() -> bool:
        trims.append(True)
        return True

    monkeypatch.setattr(process_memory, "trim", trim)
    busy = [True]
    trimmer = Trimmer(busy=lambda: busy[0])

    async def scenario() -> None:
        running = asyncio.create_task(trimmer.run(check=0.01, every=3600))
        await asyncio.sleep(0.05)
        assert trims == []  # no work yet
        trimmer.work_done(0.1)
        await asyncio.sleep(0.05)
        assert trims == []  # work, but still busy
        busy[0] = False
        await asyncio.sleep(0.05)
        assert trims == [True]  # once, not at every check after
        running.cancel()

    asyncio.run(scenario())


def test_the_operator_starts_itself_again_without_docstrings_and_columns() -> None:
    command = ["python3", "-m", "overture", "operator", "--port", "8080"]
    lean = ["/venv/bin/python", "-OO", "-X", "no_debug_ranges"]
    assert lean_interpreter(0, "/venv/bin/python", command, compiled=True) == [*lean, *command[1:]]
    script = ["/venv/bin/python", "/venv/bin/overture", "operator"]  # the console script, as in the image
    assert lean_interpreter(0, "/venv/bin/python", script, compiled=True) == [*lean, *script[1:]]
    assert lean_interpreter(2, "/venv/bin/python", command, compiled=True) is None  # started so: no loop
    assert lean_interpreter(0, "/venv/bin/python", command, compiled=False) is None  # would compile from source
    assert lean_interpreter(0, "", command, compiled=True) is None


def test_code_loaded_from_compiled_bytecode_keeps_lines_but_no_columns_under_no_debug_ranges() -> None:
    # The operator's bytecode is compiled with columns (make install, the image); Python drops
    # them as it loads each code object, so no separate compilation is needed.
    code = "import json, kopf\nprint(json.dumps(list(kopf.run.__code__.co_positions())))"
    positions = {}
    for flags in ([], ["-X", "no_debug_ranges"]):
        result = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True)
        positions[bool(flags)] = json.loads(result.stdout.strip().splitlines()[-1])
    assert [p[0] for p in positions[True]] == [p[0] for p in positions[False]]  # the same lines
    assert any(isinstance(column, int) for _, _, column, _ in positions[False])
    assert all(column is None and end is None for _, _, column, end in positions[True])


def test_the_optimized_bytecode_is_found_where_it_was_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "somepackage").mkdir()
    source = tmp_path / "somepackage" / "__init__.py"
    source.write_text('"""A docstring."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    assert docstrings_compiled_out("somepackage") is False
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-o", "2", str(tmp_path)], check=True)
    assert docstrings_compiled_out("somepackage") is True
    assert docstrings_compiled_out("no_such_package_here") is False


def test_the_operator_imports_builds_and_parses_without_docstrings_and_asserts() -> None:
    # What the operator runs before it connects, under python -OO: a library that needs its
    # docstrings or asserts would fail here.
    code = (
        "import json, sys, yaml\n"
        "import kopf\n"
        "from overture.api import build_models, parse_execution, parse_flow\n"
        "from overture.handlers import make_memo\n"
        "build_models()\n"
        "flow = parse_flow(yaml.safe_load(open('examples/07-errors-finally-retries.yaml')))\n"
        "spec = flow.spec.to_wire()\n"
        "execution = parse_execution({'apiVersion': 'overture.dev/v1alpha1', 'kind': 'Execution',\n"
        "    'metadata': {'name': 'e'}, 'spec': {'flowRef': {'name': flow.metadata.name}},\n"
        "    'status': {'state': 'RUNNING', 'flowSpec': spec}})\n"
        "print(json.dumps([sys.flags.optimize, parse_flow.__doc__, execution.status.flow_spec.to_wire() == spec]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-OO", "-c", f"from overture.process_memory import lean\nlean()\n{code}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [2, None, True]


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def _certificate_authority(directory: Path, name: str) -> tuple[Path, Path]:
    """A CA ``name`` and a certificate for ``localhost`` it signed (certificate, key) in ``directory``."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ca, ca_key, csr = directory / f"{name}-ca.crt", directory / f"{name}-ca.key", directory / f"{name}.csr"
    cert, key, extensions = directory / f"{name}.crt", directory / f"{name}.key", directory / f"{name}.ext"
    _openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", f"/CN={name} CA")
    _openssl("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    extensions.write_text("subjectAltName=DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-out", cert, "-days", "1", "-extfile", extensions
    )
    return cert, key


def test_aiohttp_default_contexts_read_a_ca_from_the_directory_when_a_handshake_needs_it(tmp_path: Path) -> None:
    # The system's bundle is ~0.8 MiB per context aiohttp makes at import; an http task's https
    # call verifies against the same certificates, read from the hashed directory.
    trusted, other = tmp_path / "trusted", tmp_path / "other"
    trusted.mkdir()
    other.mkdir()
    served = _certificate_authority(trusted, "trusted")
    unknown = _certificate_authority(other, "other")
    _openssl("rehash", trusted)
    code = (
        "import asyncio, json, ssl, sys\n"
        "from overture.process_memory import import_with_ca_directory\n"
        f"imported = import_with_ca_directory('aiohttp.connector', {str(trusted)!r})\n"
        "import aiohttp.connector\n"
        "verified = aiohttp.connector._SSL_CONTEXT_VERIFIED\n"
        "async def handshake(cert, key):\n"
        "    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
        "    context.load_cert_chain(cert, key)\n"
        "    server = await asyncio.start_server(lambda r, w: w.close(), 'localhost', 0, ssl=context)\n"
        "    port = server.sockets[0].getsockname()[1]\n"
        "    try:\n"
        "        _, writer = await asyncio.open_connection('localhost', port, ssl=verified)\n"
        "        writer.close()\n"
        "        return 'verified'\n"
        "    except ssl.SSLCertVerificationError:\n"
        "        return 'refused'\n"
        "    finally:\n"
        "        server.close()\n"
        "before = verified.cert_store_stats()['x509']\n"
        f"results = [asyncio.run(handshake(*{[str(p) for p in served]!r})),\n"
        f"    asyncio.run(handshake(*{[str(p) for p in unknown]!r}))]\n"
        "restored = 'set_default_verify_paths' not in vars(ssl.SSLContext)\n"
        "print(json.dumps([imported, before, results, verified.cert_store_stats()['x509'], restored]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [True, 0, ["verified", "refused"], 1, True]


def test_the_ca_directory_is_used_only_where_it_holds_the_bundle_in_force(tmp_path: Path) -> None:
    def paths(cafile: Path | None, capath: Path | None) -> ssl.DefaultVerifyPaths:
        return ssl.DefaultVerifyPaths(
            str(cafile) if cafile else None, str(capath) if capath else None, "SSL_CERT_FILE", "", "SSL_CERT_DIR", ""
        )

    bundle = tmp_path / "ca-certificates.crt"
    assert ca_directory(paths(bundle, tmp_path)) is None  # no hashed names
    (tmp_path / "0123abcd.0").touch()
    assert ca_directory(paths(bundle, tmp_path)) == str(tmp_path)
    assert ca_directory(paths(tmp_path / "mine.pem", tmp_path)) is None  # SSL_CERT_FILE's own bundle
    assert ca_directory(paths(tmp_path / "sub" / "ca-certificates.crt", tmp_path)) is None
    assert ca_directory(paths(None, tmp_path)) is None
    assert ca_directory(paths(bundle, None)) is None


def test_aiohttp_web_is_imported_without_reading_the_system_mime_types_until_first_asked() -> None:
    # aiohttp.web's MimeTypes() made mimetypes read /etc/mime.types (~0.4 MiB) at import, for a
    # table it never reads; the operator's imports leave it unread, and the first question reads it.
    mime_types = Path("/etc/mime.types")
    code = (
        "import json, mimetypes\n"
        "import kopf, overture.handlers, overture.server\n"
        "from aiohttp.web_fileresponse import CONTENT_TYPES\n"
        "unread = mimetypes._db is None\n"
        "aiohttp_types = sorted(CONTENT_TYPES.types_map[True].items())\n"
        "first_guess = mimetypes.guess_type('scene.x3d')[0]\n"
        "print(json.dumps([unread, aiohttp_types, first_guess, mimetypes._db is not None]))\n"
    )
    unread, aiohttp_types, first_guess, read = lean_then(code)
    plain = subprocess.run(  # the same questions where nothing was left unread
        [sys.executable, "-c", code.replace("unread = mimetypes._db is None", "unread = False")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    _, plain_types, plain_guess, _ = json.loads(plain.stdout.strip().splitlines()[-1])
    assert unread  # after the operator's imports
    assert read  # at the first question
    assert aiohttp_types == plain_types  # aiohttp's own table: Python's defaults and its additions
    assert first_guess == plain_guess
    if mime_types.is_file() and "x3d" in mime_types.read_text():
        assert first_guess == "model/x3d+xml"  # in the system's file, not Python's defaults


def test_frozenlist_is_pure_python_in_the_operator_and_libstdcxx_is_not_loaded() -> None:
    # frozenlist's C++ extension was the one library that brought libstdc++ (~0.9 MiB of pages).
    code = (
        "import json, os\n"
        "import kopf, overture.handlers, overture.server\n"
        "import frozenlist\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(json.dumps([frozenlist.FrozenList.__module__, 'libstdc++' in maps,\n"
        "    'FROZENLIST_NO_EXTENSIONS' in os.environ]))\n"
    )
    assert lean_then(code) == ["frozenlist", False, False]  # the pure class; the environment as it was
