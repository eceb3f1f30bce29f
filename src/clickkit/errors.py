"""The kit's errors, in one place: each message says what to do.

Every error derives from KitError, so that each command-line tool catches KitError alone, prints its
message and exits non-zero.
"""


class KitError(RuntimeError):
    """An error whose message tells the user what to do."""


class UnknownTopic(KitError):
    """The topic does not exist on the broker."""


class BrokerNotReady(KitError):
    """No working broker answers at the bootstrap address."""


class GraderError(KitError):
    """The grader or Kafka failed: no student may be scored from this run."""


class SubmissionRefused(KitError):
    """A submission is not a regular file in the student's folder: it is not read, and the message says what it is."""


class LiveError(KitError):
    """The live page cannot read the topic; the message says what to do."""


class MarkerError(KitError):
    """A solution region is nested, unclosed or closed without being opened."""


class EndpointError(KitError):
    """A notebook's endpoint cells cannot be loaded; the message says what to fix."""


class LoadError(KitError):
    """The benchmark's load generator failed or overran its time limit."""
