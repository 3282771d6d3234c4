"""The code sandbox's harness package travels into the sandbox as one ``python -c`` program: its modules
must import nothing but the standard library and each other, and the program must fit one argv string."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from prover.verifiers.code import harness

HERE = Path(harness.__file__).parent


def test_every_module_of_the_package_is_in_the_bundle():
    on_disk = {p.stem for p in HERE.glob("*.py")}
    assert on_disk == set(harness.PARTS)


def test_the_harness_imports_only_the_standard_library_and_itself():
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for part in harness.PARTS:
        tree = ast.parse((HERE / f"{part}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # a sibling module
                    assert node.module in set(harness.PARTS) - {"__init__"}, (part, node.module)
                    continue
                tops = {node.module.split(".")[0]}
            else:
                continue
            assert tops <= stdlib, f"harness/{part}.py imports {tops - stdlib}: the sandbox has only the standard library"


def test_the_program_fits_one_argument_and_starts_a_server_from_memory(tmp_path):
    program = harness.source()
    assert len(program.encode()) < harness.MAX_ARG_BYTES
    for part in harness.PARTS:
        assert repr((HERE / f"{part}.py").read_text()) in program
    # the bare server (no uids, no namespaces), run from an empty directory: it says ready and
    # ends at the end of its stdin; no `harness` is on its path (-I, an empty cwd): its modules come
    # from the program
    ctx = {"job_namespaces": False, "tmp": str(tmp_path)}
    done = subprocess.run([sys.executable, "-I", "-S", "-c", program, json.dumps(ctx)], cwd=tmp_path,
                          input=b"", capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    hello = json.loads(done.stdout.decode().splitlines()[0])
    assert hello["ready"] is True and hello["job_namespaces"] is False
