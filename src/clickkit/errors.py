"""The kit's errors, in one place: each message says what to do."""


class KitError(RuntimeError):
    """An error whose message tells the user what to do."""


class UnknownTopic(KitError):
    """The topic does not exist on the broker."""


class BrokerNotReady(RuntimeError):
    """No working broker answers at the bootstrap address."""


class GraderError(RuntimeError):
    """The grader or Kafka failed: no student may be scored from this run."""


class LiveError(RuntimeError):
    """The live page cannot read the topic; the message says what to do."""


class MarkerError(ValueError):
    """A solution region is nested, unclosed or closed without being opened."""


class EndpointError(RuntimeError):
    """A notebook's endpoint cells cannot be loaded; the message says what to fix."""
