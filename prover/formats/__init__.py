"""One answer format per domain: what counts as "the answer" of a model response.

``lean`` (``prover.formats.lean``): the last ```lean4/```lean block
(``FENCE_LANGUAGES``), never a cut-off one; ``code`` (``prover.formats.code``):
the Python block ``answer_block`` picks (``PYTHON_LANGS``), or plain code. The
verifiers extract with these modules, the format reward (``prover.rl.rewards``)
and the prompt builders (``prover.prompts``) find the block with them, so
training and evaluation read every response the same way. Math's answer format
is ``prover.verifiers.math.extract`` for now (the format reward's seam is
``prover.rl.rewards.math_format``).
"""
