"""The course: notebooks' endpoints, serving from a notebook, self-checks, exercises, the lab."""
