"""Run `python -m clickkit.grading`."""

import sys

from clickkit.grading.grade import main

sys.exit(main())
