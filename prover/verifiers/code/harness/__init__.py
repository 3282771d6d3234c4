"""In-sandbox harness of the code verifier.

Process tree (see docs/sandbox.md for the reasoning)::

    server   long-lived, one per worker; reads jobs (JSON lines) on stdin and      (server.py)
     |       answers one JSON line per job on stdout; enforces the wall deadline
     +- D    the driver, long-lived, its own unprivileged uid: runs the *trusted*   (driver.py)
     |       tests; reports to the server over a control socket no candidate
     |       process ever holds
     +- C    per job, the candidate: pid 1 of a fresh pid namespace with its own    (candidate.py)
             mount and ipc namespaces and fresh tmpfs, another unprivileged uid,
             rlimits, no fds but a socket to D (handed to D per job); runs the
             untrusted solution and answers D's calls with plain values (tagged
             JSON), never with objects

What crosses between D and C (frames, the value codec) is in ``wire.py``; namespaces, mounts,
privileges and the cleanup after a job in ``isolation.py``.

A pass is decided in D, a process the solution cannot write into: every test statement ran to
completion on values the solution computed, compared with the built-in semantics of D's own
interpreter.

How it gets into the sandbox: the host starts a worker as ``python -I -S -c <source()>
<config-json>``. ``source()`` is a short bootstrap that carries these modules' texts and imports
them from memory as the package ``harness``; no file of this package is read inside the sandbox.
So every module here imports only the standard library and its siblings (relatively), never
``prover``.
"""

from __future__ import annotations

import functools

from .wire import decode, encode

# Modules of the package, in the bootstrap (``__init__`` is this file).
PARTS = ("__init__", "wire", "isolation", "driver", "candidate", "server")
# Linux's limit on one argv string (MAX_ARG_STRLEN): the whole bootstrap travels as one.
MAX_ARG_BYTES = 131072

_BOOTSTRAP = '''\
import sys
from importlib.machinery import ModuleSpec

SOURCES = __SOURCES__


class HarnessImporter:
    """Imports the package ``harness`` from SOURCES: nothing is read from the sandbox's files."""

    @staticmethod
    def part(name):
        if name == "harness":
            return "__init__"
        return name[len("harness."):] if name.startswith("harness.") else None

    def find_spec(self, name, path=None, target=None):
        if self.part(name) not in SOURCES:
            return None
        return ModuleSpec(name, self, is_package=name == "harness")

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        part = self.part(module.__name__)
        code = compile(SOURCES[part], "<harness/" + part + ".py>", "exec", dont_inherit=True)
        exec(code, module.__dict__)


sys.meta_path.insert(0, HarnessImporter())
from harness.server import main

main(sys.argv)
'''

@functools.lru_cache(maxsize=1)
def source() -> str:
    """The ``python -c`` program that runs the harness server (built once per process)."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    texts = {}
    for part in PARTS:
        with open(os.path.join(here, part + ".py"), encoding="utf-8") as f:
            texts[part] = f.read()
    program = _BOOTSTRAP.replace("__SOURCES__", repr(texts))
    size = len(program.encode("utf-8", "surrogatepass"))
    if size >= MAX_ARG_BYTES:
        raise RuntimeError(f"the sandbox harness is {size} bytes, over Linux's {MAX_ARG_BYTES}-byte limit on one "
                           f"argument; shorten prover/verifiers/code/harness/ or pass it another way")
    return program


__all__ = ["MAX_ARG_BYTES", "PARTS", "decode", "encode", "source"]
