"""A smaller operator process: set up before kopf is imported (``overture operator`` calls ``lean``).

Measured with 1,000 Flows and 10,000 finished Executions cached (benchmarks/README.md):

- kopf imports every Kubernetes client it finds, for its login handlers and isinstance checks:
  the sync ``kubernetes`` client (installed for the CLI) and ``pykube`` (brought by pytest-kind
  in a dev venv). The operator talks through ``kubernetes_asyncio`` only, so both are hidden
  from it (``sys.modules[name] = None`` makes their import fail): ~14 MiB less.
- glibc keeps the pages it freed; ``trim`` (``malloc_trim``) hands them back, after the cache
  is primed, then once a burst of reconciles has ended (``Trimmer``: the first check, every
  ``TRIM_CHECK_SECONDS``, that finds the queue idle after work) and every ``TRIM_SECONDS``
  whatever happens: a burst of watch events leaves ~10-15 MiB free. A trim takes < 1 ms.
- glibc gives each thread that allocates its own malloc arena; aiohttp's resolver and
  asyncio's default executor threads each kept one mostly empty: at most 2 arenas, ~26 MiB less.
- ``kubernetes_asyncio.client`` imports its ~60 API classes and ~770 models up front (~30 MiB of
  RSS, 860 modules); the operator uses four APIs and the few models its replies deserialise to.
  Its three re-exporting packages are replaced by ``LazyPackage``s that import a name's module
  when it is first read (benchmarks/README.md, the Argo peer: ~30 MiB less).
  ``kubernetes_asyncio`` itself imports its ``dynamic``, ``stream``, ``utils`` and ``watch``
  packages, which the operator never uses (kopf and kube/watch.py watch without them): it is lazy too, each
  package imported when first read.
- The client's ``Configuration`` imports ``urllib3`` (with ``http.client``, ``importlib.metadata``
  and its own ~30 modules: ~1.1 MiB) for one call, the header of a username and password login
  (``get_basic_auth_token``), which the operator's logins never make (a token or a client
  certificate): ``urllib3`` is a ``LazyPackage`` whose first read imports the real package.
- asyncio gives each TLS connection a 256 KiB read buffer (``SSLProtocol.max_size``), written
  whole (zeroed) when the connection opens: with kopf's watches and the API client's pool ~20
  connections were open after a burst of requests, ~5 MiB (tracemalloc: ``asyncio/sslproto.py``).
  A TLS record holds at most 16 KiB, so ``SSL_READ_BYTES`` still takes a whole record per read; a
  1 MiB LIST page takes 64 reads instead of 4 (microseconds). 64 KiB left ~1 MiB (session 6).
- The operator runs without docstrings (``python -OO``: ``overture operator`` starts itself again
  so, ``lean_interpreter``): they are ~2.5 MiB of its imports' code objects, and nothing in the
  operator reads one (only ``overture crds`` and ``overture schema`` do, in the CLI). ``-OO``
  also drops ``assert`` statements: Overture's state what type checkers cannot see (a value
  known not to be None), none decides what the operator does (docs/DECISIONS.md). Only where
  its bytecode was compiled (``.opt-2.pyc``: the image and ``make install`` compile it): else
  each start would compile every module from source, which left ~3 MiB more than it saved.
  It starts with ``-X no_debug_ranges`` too: each code object then keeps a line number per
  instruction but not the columns (Python drops them as it loads the bytecode, compiled with
  them or not), ~0.5 MiB of its imports. A traceback in the operator's log still names each
  file, line and source line; only the ``^^^^`` marks under the failing part of a line go.
- ``aiohttp.connector`` makes two default SSL contexts when it is imported, each loading the
  system's whole CA bundle (144 certificates, ~0.8 MiB a context). The operator's own connections
  bring their own contexts (the kubeconfig's CA, through kopf and the API client); only an http
  task's ``https://`` call uses aiohttp's verified one. So aiohttp is imported with those contexts
  reading the same certificates from the system's hashed directory (OpenSSL's ``capath``: a
  certificate is read when a handshake first needs it), where that directory is known to hold the
  bundle's certificates (``ca_directory``: Debian's, the image's, layout); verification is the
  same, ~1.6 MiB less.
- ``aiohttp.web`` (kopf's probes, the operator's own /metrics and webhooks) makes a
  ``mimetypes.MimeTypes`` when it is imported, for the static files it could serve; making one
  first fills the ``mimetypes`` module's own table from the system's files (/etc/mime.types:
  ~2,000 types, ~0.4 MiB), which that instance never reads (it copies Python's defaults). So
  aiohttp is imported with that table left unread (``import_with_mime_files_unread``); it is read
  when something first asks ``mimetypes`` (an http task's multipart upload guessing a file's type),
  as it would be in a process that had not imported aiohttp.web: the same answers.
- ``frozenlist`` (aiohttp's and aiosignal's lists of signal handlers and trace configs, set up
  once and iterated at each signal) is imported as its pure Python class
  (``FROZENLIST_NO_EXTENSIONS``, read by frozenlist at import): its C++ extension was the only
  one in the operator that linked ``libstdc++``, whose pages were ~0.9 MiB of the process.
  Nothing hot uses it: a signal's handlers are a few, iterated in Python either way.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import ctypes
import ctypes.util
import functools
import importlib
import importlib.util
import os
import re
import ssl
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

UNUSED_CLIENTS = ("kubernetes", "pykube")
LAZY_CLIENT = ("kubernetes_asyncio", ("", "client", "client.api", "client.models"))  # "": the top package
UNTIL_READ = ("urllib3",)  # imported by a module the operator loads, read only by a call it never makes
M_ARENA_MAX = -8  # from glibc's malloc.h
MALLOC_ARENAS = 2
TRIM_SECONDS = 60.0
TRIM_CHECK_SECONDS = 2.0
SSL_READ_BYTES = 16 * 1024
DEBIAN_CA_BUNDLE = "ca-certificates.crt"
CA_DIRECTORY_IMPORTS = ("aiohttp.connector",)  # makes default SSL contexts at import, used by http tasks only
MIME_TABLE_IMPORTS = ("aiohttp.web_fileresponse",)  # makes a MimeTypes at import (for static files)
# imported as pure Python: (module, the variable it reads at import to leave its C extension out)
PURE_PYTHON_IMPORTS = (("frozenlist", "FROZENLIST_NO_EXTENSIONS"),)  # its C++ extension alone brings libstdc++


def lean_interpreter(optimize: int, executable: str, argv: list[str], compiled: bool) -> list[str] | None:
    """The command line that runs this process's command (``sys.orig_argv``) again under
    ``python -OO -X no_debug_ranges``; None if it runs under -OO already (``optimize``:
    ``sys.flags.optimize``), if its bytecode is not ``compiled`` (``docstrings_compiled_out``),
    or there is no interpreter."""
    if optimize >= 2 or not compiled or not executable or not argv:
        return None
    return [executable, "-OO", "-X", "no_debug_ranges", *argv[1:]]


def docstrings_compiled_out(package: str = "kopf") -> bool:
    """Whether ``package`` (one the operator imports) has its ``python -OO`` bytecode installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return False
    return Path(importlib.util.cache_from_source(spec.origin, optimization=2)).is_file()


def lean() -> None:
    for name in UNUSED_CLIENTS:
        if name not in sys.modules:  # the CLI may have imported one already: then it stays
            sys.modules[name] = None  # type: ignore[assignment]
    lazy_reexports(*LAZY_CLIENT)
    for name in UNTIL_READ:
        import_when_read(name)
    limit_malloc_arenas(MALLOC_ARENAS)
    smaller_tls_read_buffers(SSL_READ_BYTES)
    for module, variable in PURE_PYTHON_IMPORTS:  # before aiohttp, which imports them
        import_pure_python(module, variable)
    directory = ca_directory(ssl.get_default_verify_paths())
    if directory is not None:
        for module in CA_DIRECTORY_IMPORTS:
            import_with_ca_directory(module, directory)
    for module in MIME_TABLE_IMPORTS:
        import_with_mime_files_unread(module)


# ``from kubernetes_asyncio.client.models.v1_job import V1Job``: a generated package's __init__
REEXPORT = re.compile(r"^from ([\w.]+) import (\w+)[ \t]*$", re.MULTILINE)
# ``import kubernetes_asyncio.watch as watch``: a package's __init__ importing its own subpackage
SUBPACKAGE = re.compile(r"^import ([\w.]+) as (\w+)[ \t]*$", re.MULTILINE)
# ``__version__ = "36.1.0"``: read by its own modules (``from kubernetes_asyncio import __version__``)
DUNDER_TEXT = re.compile(r"^(__\w+__) = \"([^\"\n]*)\"[ \t]*$", re.MULTILINE)


class LazyPackage(types.ModuleType):
    """A package whose names (``name -> module it comes from``) are imported when first read;
    its submodules import as the real package's would (same ``__path__``). With ``whole``, any
    other name read imports the real package (its ``__init__`` runs then, once) and is read there.
    """

    def __init__(
        self,
        name: str,
        directory: Path,
        names: dict[str, str],
        subpackages: tuple[str, ...] = (),
        whole: bool = False,
    ) -> None:
        super().__init__(name)
        self._whole = whole
        init = directory / "__init__.py"
        self.__file__ = str(init)
        self.__path__ = [str(directory)]
        self.__package__ = name
        self.__spec__ = importlib.util.spec_from_file_location(name, init, submodule_search_locations=self.__path__)
        self.__all__ = [*names, *subpackages]
        self._sources = names

    def __getattr__(self, attr: str) -> Any:
        source = self._sources.get(attr)
        if source is None and self._whole:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]  # so that the import below runs the real __init__
            return getattr(importlib.import_module(self.__name__), attr)
        if source is None:
            if attr.startswith("__"):
                raise AttributeError(attr)
            try:  # a submodule not imported yet (``client.exceptions``)
                return importlib.import_module(f"{self.__name__}.{attr}")
            except ModuleNotFoundError:
                raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}") from None
        value = getattr(importlib.import_module(source), attr)
        setattr(self, attr, value)
        return value


def lazy_reexports(top: str, packages: tuple[str, ...]) -> bool:
    """Put a ``LazyPackage`` in ``sys.modules`` for each of ``top``'s ``packages`` (dotted, under
    ``top``; "" is ``top`` itself), read from its __init__'s re-export lines and the lines that
    import its own subpackages, before ``top`` is imported. Nothing is done (False) if ``top`` is
    imported already or missing, or an __init__ has no such lines."""
    spec = importlib.util.find_spec(top) if top not in sys.modules else None
    if spec is None or not spec.submodule_search_locations:
        return False
    root = Path(spec.submodule_search_locations[0])
    lazy: dict[str, LazyPackage] = {}
    for package in packages:
        directory = root.joinpath(*package.split("."))
        try:
            text = (directory / "__init__.py").read_text()
        except OSError:
            return False
        full = f"{top}.{package}" if package else top
        names = {name: source for source, name in REEXPORT.findall(text)}
        subpackages = tuple(name for source, name in SUBPACKAGE.findall(text) if source == f"{full}.{name}")
        if not names and not subpackages:
            return False
        lazy[full] = LazyPackage(full, directory, names, subpackages)
        for dunder, value in DUNDER_TEXT.findall(text):
            setattr(lazy[full], dunder, value)
    sys.modules.update(lazy)
    for name, module in lazy.items():  # client.api, client.models as attributes, as an import sets them
        parent, _, child = name.rpartition(".")
        if parent in lazy:
            setattr(lazy[parent], child, module)
    return True


def import_when_read(name: str) -> bool:
    """Put a ``LazyPackage`` for the package ``name`` in ``sys.modules``: ``import name`` binds
    it, and the real package is imported when a name is first read from it. Nothing is done
    (False) if ``name`` is imported already or missing."""
    spec = importlib.util.find_spec(name) if name not in sys.modules else None
    if spec is None or not spec.submodule_search_locations:
        return False
    sys.modules[name] = LazyPackage(name, Path(spec.submodule_search_locations[0]), {}, whole=True)
    return True


def ca_directory(paths: ssl.DefaultVerifyPaths) -> str | None:
    """The hashed directory (``capath``) that holds the certificates of the CA bundle in force
    (``cafile``), where OpenSSL reads one when a handshake first needs it; None where that is not
    known: a bundle other than Debian's ``<capath>/ca-certificates.crt`` (``update-ca-certificates``
    writes it and the hashed names together; ``SSL_CERT_FILE`` may choose another), a directory
    without hashed names (``<hash>.0``)."""
    if not paths.cafile or not paths.capath:
        return None
    directory = Path(paths.capath)
    if Path(paths.cafile) != directory / DEBIAN_CA_BUNDLE or not any(directory.glob("*.0")):
        return None
    return str(directory)


def import_with_ca_directory(module: str, directory: str) -> bool:
    """Import ``module`` with every SSL context it makes while importing that loads the default CA
    certificates (``set_default_verify_paths``) reading them from ``directory`` when a handshake
    needs one instead, not the whole bundle at once. False (nothing done) if it is imported already."""
    if module in sys.modules:
        return False
    own = vars(ssl.SSLContext).get("set_default_verify_paths")  # None: inherited from _ssl's context

    def from_directory(context: ssl.SSLContext) -> None:
        context.load_verify_locations(capath=directory)

    ssl.SSLContext.set_default_verify_paths = from_directory  # type: ignore[method-assign,assignment]
    try:
        importlib.import_module(module)
    finally:
        if own is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = own  # type: ignore[method-assign]
    return True


def import_pure_python(module: str, variable: str) -> bool:
    """Import ``module`` with the environment ``variable`` it reads at import set, so that it
    leaves its C extension out; the environment is then as it was (child processes inherit
    nothing). False (nothing done) if ``module`` is imported already or missing."""
    if module in sys.modules or importlib.util.find_spec(module) is None:
        return False
    before = os.environ.get(variable)
    os.environ[variable] = "1"
    try:
        importlib.import_module(module)
    finally:
        if before is None:
            del os.environ[variable]
        else:
            os.environ[variable] = before
    return True


def import_with_mime_files_unread(module: str) -> bool:
    """Import ``module`` without the ``mimetypes`` module reading the system's type files
    (``mimetypes.init``) for a ``MimeTypes()`` made while importing: such an instance holds
    Python's default types whether they are read or not. They are read at the first
    ``mimetypes.guess_type`` (or other module-level call) after, as they would be without it.
    False (nothing done) if ``module`` is imported already or the files were read already."""
    import mimetypes

    if module in sys.modules or mimetypes.inited:
        return False
    mimetypes.inited = True  # MimeTypes() calls init() unless this is set
    try:
        importlib.import_module(module)
    finally:
        if getattr(mimetypes, "_db", None) is None:  # nothing read the files meanwhile: read at first use
            mimetypes.inited = False
    return True


def smaller_tls_read_buffers(size: int) -> bool:
    """Each TLS connection asyncio opens from now on reads into a buffer of ``size`` bytes, not
    256 KiB; False (nothing done) if this Python's asyncio has no such setting."""
    protocol = asyncio.sslproto.SSLProtocol
    if not isinstance(getattr(protocol, "max_size", None), int):
        return False
    protocol.max_size = size
    return True


def limit_malloc_arenas(arenas: int) -> bool:
    """glibc's ``mallopt(M_ARENA_MAX)``; False (and nothing done) on another libc."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.mallopt(M_ARENA_MAX, arenas))
    except AttributeError:  # musl has no mallopt
        return False


def trim() -> bool:
    """glibc's ``malloc_trim(0)``: free heap pages back to the system; False on another libc."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.malloc_trim(0))
    except AttributeError:
        return False


def due_to_trim(worked: bool, busy: bool, since_trim: float, every: float = TRIM_SECONDS) -> bool:
    """Trim now: work was done since the last trim and none is going on, or it is ``every``
    seconds since the last one."""
    return since_trim >= every or (worked and not busy)


class Trimmer:
    """``trim`` once a burst of work has ended, and every ``TRIM_SECONDS`` in any case.

    ``work_done`` notes work (a reconcile queue's observer); ``busy`` says whether some is going on.
    """

    def __init__(self, busy: Callable[[], bool]) -> None:
        self.busy = busy
        self.worked = False

    def work_done(self, _seconds: float = 0.0) -> None:
        self.worked = True

    async def run(self, check: float = TRIM_CHECK_SECONDS, every: float = TRIM_SECONDS) -> None:
        since_trim = 0.0
        while True:
            await asyncio.sleep(check)
            since_trim += check
            if due_to_trim(self.worked, self.busy(), since_trim, every):
                trim()
                self.worked, since_trim = False, 0.0


@functools.cache
def _libc() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(path) if path else None
    except OSError:
        return None
