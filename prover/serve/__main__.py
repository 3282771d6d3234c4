import sys

from prover.serve.server import main

sys.exit(main())
