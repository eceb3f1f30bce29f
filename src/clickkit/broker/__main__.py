"""Run `python -m clickkit.broker`."""

import sys

from clickkit.broker.local import main

sys.exit(main())
