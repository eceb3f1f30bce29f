"""The student's kit: `make release` writes it, with the exercises and no answer; `make answers` what follows the deadline."""
