"""Run `python -m clickkit.broker`."""

import sys

from clickkit.broker.cli import main

sys.exit(main())
