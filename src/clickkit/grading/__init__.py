"""Grading students' notebooks: sandboxed, on pytest and nbval, one test per rubric check."""
