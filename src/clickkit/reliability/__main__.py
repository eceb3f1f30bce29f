"""Run `python -m clickkit.reliability`."""

import sys

from clickkit.reliability.scenarios import main

sys.exit(main())
