"""Run `python -m clickkit.bench`."""

import sys

from clickkit.bench.run import main

sys.exit(main())
