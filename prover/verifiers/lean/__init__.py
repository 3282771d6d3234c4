"""verifiers/lean."""
