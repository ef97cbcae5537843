"""``torchrun --standalone --nproc-per-node N -m streamnets.parallel [--network NAME] [--batch B]``:
the DistributedExecutor timed on every rank and checked against ``model.step``
(see :func:`streamnets.parallel.distributed.main`)."""

import sys

from ..cli import exit_status
from .distributed import main

if __name__ == "__main__":
    sys.exit(exit_status(main, prog="streamnets.parallel"))
