"""Math verifier: the final answer of a response against ``Problem.reference``.

``MathVerifier`` (config: ``MathVerifierConfig``) implements the common
``Verifier`` interface; ``extract_final_answer`` finds the answer
(``\\boxed{}``, ``#### N``, "final answer is ..."); equivalence is exact for
plain numbers and symbolic (math-verify, in a helper process with a hard
timeout) otherwise.
"""

from prover.verifiers.math.extract import AnswerExtraction, extract_final_answer, normalize_answer, to_number
from prover.verifiers.math.verifier import BINARY_FEEDBACK, MathVerifier, MathVerifierConfig

__all__ = [
    "AnswerExtraction",
    "BINARY_FEEDBACK",
    "MathVerifier",
    "MathVerifierConfig",
    "extract_final_answer",
    "normalize_answer",
    "to_number",
]
