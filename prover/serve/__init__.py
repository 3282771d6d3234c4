"""``prover serve``: the HTTP verification service (own API + kimina-lean-server's shapes).

CLI wiring: ``add_arguments(subparser)`` then ``run(args)``; or ``main(argv)``.
In-process: ``ServeThread(ServeConfig(port=0), verifiers).start().url``.
"""

from prover.serve.config import ServeConfig
from prover.serve.server import ServeThread, add_arguments, build_verifiers, main, run

__all__ = ["ServeConfig", "ServeThread", "add_arguments", "build_verifiers", "main", "run"]
