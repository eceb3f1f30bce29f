"""Self-checks for the notebooks: one line on success, an AssertionError that says what to do on failure."""

from contextlib import contextmanager

from clickkit.errors import BrokerNotReady

STUB_HINT = ("Replace its '# YOUR CODE HERE' and 'raise NotImplementedError' lines with your code, "
             "run that cell, then this check again.")


@contextmanager
def check(requirement: str):
    """Run a self-check: print '✓ requirement' when its asserts hold, raise AssertionError otherwise."""
    try:
        yield
    except AssertionError as error:
        raise AssertionError(f"✗ {requirement}\n{error}") from None
    except NotImplementedError as error:
        raise AssertionError(f"✗ {requirement}\n{error}\n{STUB_HINT}") from None
    except NameError as error:
        raise AssertionError(f"✗ {requirement}\n{error}: run the cells above this one first "
                          "(Run → Run All Above), then this check again.") from None
    except Exception as error:  # the student's code crashed: say where, without a traceback to decode
        raise AssertionError(f"✗ {requirement}\nYour code raised {type(error).__name__}: {error}\n"
                          "Call it in a cell of your own to see the full traceback, fix it, "
                          "then run this check again.") from None
    print(f"✓ {requirement}")


def require_kafka(settings, timeout_s: float = 15.0) -> None:
    """Say that Kafka answers at the configured address, or raise an error that says how to start it."""
    from clickkit.broker.health import is_ready  # imported here: the checks above need no Kafka client

    if is_ready(settings.bootstrap_servers, timeout_s):
        print(f"✓ Kafka answers at {settings.bootstrap_servers}.")
        return
    if settings.kafka_is_local:
        advice = "Start it in a terminal with 'make kafka-up' (make lab does it for you), then run this cell again."
    else:
        advice = ("This is the Docker Compose broker: on your machine, check that the 'kafka' service is healthy "
                  "with 'docker compose ps' and start it with 'docker compose up -d kafka'.")
    raise BrokerNotReady(f"No Kafka broker answers at {settings.bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS). {advice}")
