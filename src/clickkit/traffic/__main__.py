"""Run `python -m clickkit.traffic`."""

import sys

from clickkit.traffic.cli import main

sys.exit(main())
