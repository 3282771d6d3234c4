"""One answer format per domain: what counts as "the answer" of a model response.

``lean`` (``prover.formats.lean``): the last ```lean4/```lean block
(``FENCE_LANGUAGES``), never a cut-off one; ``code`` (``prover.formats.code``):
the Python block ``answer_block`` picks (``PYTHON_LANGS``), or plain code. The
verifiers extract with these modules, the format reward (``prover.rl.rewards``)
and the prompt builders (``prover.prompts``) find the block with them, so
training and evaluation read every response the same way. ``math``
(``prover.formats.math``): the final answer is found by math-verify inside the
verifier (no marker needed for the verdict); this module holds the linear-time
scans the verifier and the format reward share (boxes, the window math-verify
reads) and ``format_ok``, the answer-marker requirement of the format reward.
"""
