"""Code verifier: Python solutions run against HumanEval/MBPP-style tests in a sandbox.

``CodeVerifier`` (config: ``CodeVerifierConfig``) implements the common ``Verifier``
interface; ``extract_code`` pulls the program out of a response; ``SandboxPool``
is the sandbox itself (docs/sandbox.md).
"""

from prover.formats.code import CodeExtraction, extract_code, find_code_blocks
from prover.verifiers.code.sandbox import Limits, SandboxPool, SandboxUnavailable, probe_bwrap, resolve_mode
from prover.verifiers.code.verifier import BINARY_FEEDBACK, CodeVerifier, CodeVerifierConfig

__all__ = [
    "BINARY_FEEDBACK",
    "CodeVerifier",
    "CodeVerifierConfig",
    "CodeExtraction",
    "Limits",
    "SandboxPool",
    "SandboxUnavailable",
    "extract_code",
    "find_code_blocks",
    "probe_bwrap",
    "resolve_mode",
]
