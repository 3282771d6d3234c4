"""verifiers/math."""
