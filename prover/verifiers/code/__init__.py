"""verifiers/code."""
