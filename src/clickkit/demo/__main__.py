"""Run `python -m clickkit.demo`."""

import sys

from clickkit.demo.run import main

sys.exit(main())
