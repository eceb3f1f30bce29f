"""Self-checks for the notebooks: one line on success, a plain AssertionError that says what to do on failure."""

import contextlib
import threading

from clickkit.course.notebook_server import cell_output  # a call left running prints in its check's cell
from clickkit.errors import BrokerNotReady

STUB_MARK = "is not written yet"  # in every stub's message: how a check tells an unwritten task from a wrong one
# What an exercise has in place of a task's code (exercises.py writes it, from the solution's marked lines).
CODE_STUB = [
    "# YOUR CODE HERE",
    f'raise NotImplementedError("{{task}} {STUB_MARK}: write it, then run its cell again.")',
]
STUB_HINT = (
    f"Replace its '{CODE_STUB[0]}' and 'raise NotImplementedError' lines with your code, "
    "run that cell, then this check again."
)
RED, BOLD, RESET = "\x1b[0;31m", "\x1b[1m", "\x1b[0m"


def plain(error: BaseException) -> BaseException:
    """Make IPython show the error as its message only: no frames from the check's helpers or contextlib."""
    first, *rest = str(error).splitlines() or [type(error).__name__]
    error._render_traceback_ = lambda: [f"{RED}{BOLD}{first}{RESET}", *rest]  # IPython calls this, if present
    return error


def failed(requirement: str, message: str) -> AssertionError:
    """Return the AssertionError a check raises: the requirement, then what to do, shown without a traceback."""
    return plain(AssertionError(f"✗ {requirement}\n{message}"))


@contextlib.contextmanager
def check(requirement: str):
    """Run a self-check: print '✓ requirement' when its asserts hold, raise a plain AssertionError otherwise."""
    __tracebackhide__ = True  # pytest and IPython's debugger skip this frame too
    try:
        yield
    except AssertionError as error:  # the check's own asserts, and call()'s account of the student's code
        raise failed(requirement, str(error)) from None
    except NotImplementedError as error:
        raise failed(requirement, f"{error}\n{STUB_HINT}") from None
    except NameError as error:
        raise failed(
            requirement, f"{error}: run the cells above this one first (Run → Run All Above), then this check again."
        ) from None
    except Exception as error:  # the student's code crashed outside call(): say what, without a traceback
        raise failed(
            requirement,
            f"Your code raised {type(error).__name__}: {error}\n"
            "Call it in a cell of your own to see the full traceback, fix it, "
            "then run this check again.",
        ) from None
    print(f"✓ {requirement}")


_tracking_lock = threading.Lock()
_trackers = []  # one list per call() under way: the Kafka clients created meanwhile


def _track_kafka_clients() -> None:
    """Make every KafkaConsumer and KafkaProducer, once created, known to the call()s under way (patched once)."""
    import kafka  # imported here: the checks that run no Kafka code need no Kafka client

    for kind in (kafka.KafkaConsumer, kafka.KafkaProducer):
        if getattr(kind.__init__, "_clickkit_tracked", False):
            continue
        original = kind.__init__

        def init(self, *args, _original=original, **kwargs):
            with _tracking_lock:
                for created in _trackers:
                    created.append(self)  # before __init__: a constructor that hangs is known too
            _original(self, *args, **kwargs)

        init._clickkit_tracked = True
        kind.__init__ = init


def _close(client) -> bool:
    """Close a consumer or a producer that a timed-out call left behind; return whether it closed."""
    try:
        if hasattr(client, "subscription"):  # a consumer: its next poll() or iteration ends its loop
            client.close(autocommit=False, timeout_ms=1000)
        else:
            client.close(timeout=1)
        return True
    except Exception:  # a client half made by a constructor that failed: nothing more to close
        return False


def call(what: str, function, *args, seconds: float = 15.0, on_timeout: str = "", hint: str = "", **kwargs):
    """Return function(*args, **kwargs), run with a time limit; name `what` (the call and its input) if it fails.

    A call still running after `seconds` is stopped as far as Python allows: the Kafka consumers and producers
    it created are closed, so that none goes on reading (and, on a broker that creates topics on first use,
    brings back a topic the check deletes next). Any failure is an AssertionError that check() shows as the
    requirement's message.
    """
    __tracebackhide__ = True
    outcome, created = {}, []

    def run():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # handed to the check, which names it
            outcome["error"] = error

    try:
        _track_kafka_clients()
    except ImportError:  # no kafka-python: nothing to track
        pass
    with _tracking_lock:
        _trackers.append(created)
    try:
        worker = threading.Thread(target=cell_output(run), daemon=True, name=f"check: {what[:40]}")
        worker.start()
        worker.join(seconds)
        if worker.is_alive():
            closed = [client for client in list(created) if _close(client)]
            worker.join(5 if closed else 0.1)  # a closed consumer ends its loop within a poll
            stopped = (
                f" The check closed the {len(closed)} Kafka client(s) it had created"
                + (", and it stopped." if not worker.is_alive() else ".")
                if closed
                else ""
            )
            raise AssertionError(
                f"{what} had not finished after {seconds:g} s, so the check stopped waiting.{stopped} "
                f"{on_timeout or 'Look for a loop that never ends or a wait without a timeout.'}"
            )
    finally:
        with _tracking_lock:
            _trackers.remove(created)
    error = outcome.get("error")
    if isinstance(error, (NotImplementedError, NameError)):
        raise error
    if error is not None:
        raise AssertionError(
            f"{what} raised {type(error).__name__}: {error}.{hint_for(error) or hint}\n"
            "To see where, run that call in a cell of your own, fix it, then this check again."
        )
    return outcome["value"]


def returns_within(what: str, function, *args, seconds: float = 5.0, on_timeout: str = "") -> None:
    """Before a cell relies on function(*args), make sure it returns; raise a plain error naming `what` if not.

    For the code a server calls on every request: one that hangs would hang the cell for minutes. What it
    raises is left to the checks that follow, which name it.
    """
    __tracebackhide__ = True
    try:
        call(what, function, *args, seconds=seconds, on_timeout=on_timeout)
    except (AssertionError, NotImplementedError, NameError) as error:
        if "had not finished" in str(error):
            raise failed(f"{what} must return before the server starts", str(error)) from None


def hint_for(error: BaseException) -> str:
    """Return a hint for a mistake that beginners often make, or ''."""
    text = str(error)
    if "FutureRecordMetadata" in text:
        return (
            " send() does not wait for Kafka: it returns a future, and the future's .get(timeout=...) waits "
            "and returns the record's metadata (part 3 shows it)."
        )
    if "serialize() missing 1 required positional argument" in text or (
        isinstance(error, TypeError) and "is not JSON serializable" in text
    ):
        return (
            " The producer's JsonSerializer turns what send() is given into JSON bytes itself: it was given "
            "something that is not a dict (bytes, say). Give send() the click as the dict read_click() returned "
            "(Task 2 says why)."
        )
    if isinstance(error, AttributeError) and ("'list' object" in text or "'str' object" in text):
        return " The body was JSON, but not an object: check its type with isinstance() before reading keys."
    return ""


@contextlib.contextmanager
def view_errors(app):
    """Keep the errors an app's views raise out of the cell's output; yield the list they are collected in."""
    raised = []
    app.log_exception = lambda exc_info: raised.append(exc_info[1])  # Flask logs a view's error through this
    try:
        yield raised
    finally:
        del app.log_exception


def view_note(raised: list) -> str:
    """Say which error a view raised, as a sentence for a check's message, or ''."""
    if not raised:
        return ""
    error = raised[-1]
    return f" Your view raised {type(error).__name__}: {str(error)[:160]}, so Flask answered 500.{hint_for(error)}"


def show_stubs_plainly() -> None:
    """In IPython, show a stub's NotImplementedError as its message: the traceback would only point at the stub."""
    try:
        shell = get_ipython()  # noqa: F821 (defined in IPython only)
    except NameError:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        if STUB_MARK in str(value):
            stb = [
                f"{RED}{BOLD}NotImplementedError: {value}{RESET}",
                "This cell uses a task that is still a stub: write it, run its cell, then this cell again.",
            ]
        else:  # not a stub: the whole traceback helps
            stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
        shell._showtraceback(etype, value, stb)  # an error output, as for any error: nbval and "Run All" see it

    shell.set_custom_exc((NotImplementedError,), handler)


def require_kafka(settings, timeout_s: float = 15.0) -> None:
    """Say that Kafka answers at the configured address, or raise an error that says how to start it."""
    from clickkit.broker.health import is_ready  # imported here: the checks above need no Kafka client

    if is_ready(settings.bootstrap_servers, timeout_s):
        print(f"✓ Kafka answers at {settings.bootstrap_servers}.")
        return
    if settings.kafka_is_local:
        advice = "Start it in a terminal with 'make kafka-up' (make lab does it for you), then run this cell again."
    else:
        advice = (
            "This is the Docker Compose broker: on your machine, check that the 'kafka' service is healthy "
            "with 'docker compose ps' and start it with 'docker compose up -d kafka'."
        )
    raise plain(
        BrokerNotReady(f"No Kafka broker answers at {settings.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS).\n{advice}")
    )


show_stubs_plainly()
