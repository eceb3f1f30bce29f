"""Count the endpoint's answers to the demo site's POST /clicks: what Kafka alone cannot tell."""

import threading


class Answers:
    """How many events the endpoint accepted, rejected (4xx) or failed to store (5xx, no answer)."""

    def __init__(self):
        self.accepted = self.rejected = self.failed = 0
        self.lock = threading.Lock()

    def record(self, status: int) -> None:
        """Count one answer by its HTTP status."""
        with self.lock:
            if 200 <= status < 300:
                self.accepted += 1
            elif 400 <= status < 500:
                self.rejected += 1
            else:
                self.failed += 1

    def snapshot(self) -> dict:
        """Return the three counts."""
        with self.lock:
            return {"accepted": self.accepted, "rejected": self.rejected, "failed": self.failed}


def counting_answers(app, answers: Answers):
    """Wrap a WSGI app so that every answer to POST /clicks is counted in `answers`."""

    def counted(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/clicks":
            return app(environ, start_response)

        def start(status, headers, exc_info=None):
            answers.record(int(status.split()[0]))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return counted
