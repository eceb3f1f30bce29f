"""Run the classroom demo until Ctrl+C: Kafka if none answers, the endpoint, the demo site and the live page."""

import argparse
import logging
import signal
import sys
import threading

from kafka.errors import KafkaError
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from clickkit.course.notebook_server import bind
from clickkit.ingest import app as ingest_app
from clickkit.demo.answers import Answers, counting_answers
from clickkit.broker.cli import ensure_kafka
from clickkit.errors import KitError, LiveError
from clickkit.config import LOCAL_HOSTS, load_settings
from clickkit.demo.site import create_site
from clickkit.demo.lan import qr_code, room_addresses, url
from clickkit.demo.live import LiveFeed, create_live_app
from clickkit.broker.topics import ensure_topic
from clickkit.demo.backlog import GROUP as PROCESSING_GROUP, LagFeed, Processing

ALL_INTERFACES = {"0.0.0.0", "::"}


DEMO_BUSY_HINT = "Is another demo running? Stop it, or choose another port: make demo ARGS='--port 8001'."


class Background:
    """A threaded Werkzeug server, bound at once (so a busy port fails first), answering once started."""

    def __init__(self, host: str, port: int):
        self.server = bind(None, host, port, DEMO_BUSY_HINT)
        self.port = self.server.port
        self.thread = None

    def start(self, app) -> "Background":
        """Start answering requests with `app`."""
        self.server.app = app
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="demo-server", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop taking requests and close the socket; calling it again does nothing."""
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join(timeout=10)
            self.thread = None
        self.server.server_close()


class Demo:
    """Everything one demo started, so that stop() ends all of it, newest first, and nothing else."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8000):
        self.host = host
        self.front = Background(host, port)  # first, so a busy port fails before anything starts
        self.port = self.front.port
        self._stops = []
        self.endpoint_url = ""
        self.lag_group = ""      # the consumer group whose lag the live page shows, if any
        self.processing = None   # the demo's own processing group, which the teacher stops and restarts

    @property
    def local_host(self) -> str:
        """Return the host this machine's browser uses to open the demo."""
        return "127.0.0.1" if self.host in ALL_INTERFACES else self.host

    @property
    def site_url(self) -> str:
        return url(self.local_host, self.port)

    @property
    def live_url(self) -> str:
        return url(self.local_host, self.port, "/live/")

    def start_kafka_if_needed(self, settings) -> bool:
        """Use the broker that answers, or start the kit's local one; return True if this demo started it."""
        # Registered before the start: Ctrl+C while Kafka starts must stop it too.
        return ensure_kafka(settings, starting=lambda kafka: self._stops.append(kafka.stop)) is not None

    def start(self, bootstrap_servers: str, topic: str, from_beginning: bool = False, lag_group: str = "",
              process: bool = False) -> "Demo":
        """Start the endpoint, the live page's consumer and the site on the bound port.

        With a lag_group the live page shows that group's lag; with process=True the demo runs that group itself.
        """
        ensure_topic(bootstrap_servers, topic)
        app = ingest_app.create_app({"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
        self._stops.append(lambda: ingest_app.close_producer(app))  # after its server: flush what it holds
        # The endpoint stays on loopback whatever --host says: the room reaches it only through the site.
        endpoint = Background("127.0.0.1", 0).start(app)
        self._stops.append(endpoint.stop)
        self.endpoint_url = url("127.0.0.1", endpoint.port, "/clicks")
        feed = LiveFeed(bootstrap_servers, topic, from_beginning).start()
        self._stops.append(feed.stop)
        if lag_group:
            self.lag_group = lag_group
            if process:
                self.processing = Processing(bootstrap_servers, topic, lag_group).start()
                self._stops.append(self.processing.stop)
            self._stops.append(LagFeed(bootstrap_servers, topic, lag_group, feed.tally, self.processing).start().stop)
        answers = Answers()
        # One port: the pages, POST /clicks (forwarded) and /live/. Nothing else of the endpoint is exposed.
        site = counting_answers(create_site(self.endpoint_url), answers)
        self.front.start(DispatcherMiddleware(site, {"/live": create_live_app(feed, answers)}))
        return self

    def stop(self) -> None:
        """Stop taking requests, then stop everything else this demo started, the most recent first."""
        self.front.stop()
        while self._stops:
            self._stops.pop()()


def banner(demo: Demo, kafka: str, topic: str, started_kafka: bool) -> str:
    """Return what the teacher reads: what runs, the addresses to open, and a QR code for the phones."""
    owner = "started by the demo, stopped with it" if started_kafka else "already running, left running"
    lines = [
        "The classroom demo runs. Ctrl+C stops everything it started.",
        f"  Kafka:     {kafka} ({owner}), topic {topic}",
        f"  endpoint:  {demo.endpoint_url} (this machine only; the site forwards /clicks to it)",
    ]
    if getattr(demo, "processing", None) is not None:
        lines += [f"  lag:       the live page shows the lag of the consumer group {demo.lag_group}, which the demo",
                  "             runs. Press Enter here to stop it (the backlog builds), Enter again to restart it."]
    elif getattr(demo, "lag_group", ""):
        lines.append(f"  lag:       the live page shows the lag of the consumer group {demo.lag_group}")
    lines += [
        "",
        "On this machine:",
        f"  the site:       {demo.site_url}",
        f"  the live page:  {demo.live_url}   <- for the projector",
        "",
    ]
    if demo.host not in ALL_INTERFACES and demo.host.strip("[]") in LOCAL_HOSTS:
        lines += ["Only this machine can connect: the demo listens on loopback. To let the phones in the room",
                  "in, run: make demo ARGS='--host 0.0.0.0'"]
        return "\n".join(lines)
    addresses = room_addresses() if demo.host in ALL_INTERFACES else [demo.host]
    lines.append(f"You chose --host {demo.host}: every device that can reach this machine on {demo.port}, "
                 "in this room or not, can open the site, POST /clicks and the live page (nothing else).")
    if not addresses:
        lines.append("This machine has no network address: connect it to the room's Wi-Fi, then restart the demo.")
        return "\n".join(lines)
    lines += ["", "Phones on the same Wi-Fi:",
              f"  the site:       {url(addresses[0], demo.port)}",
              f"  the live page:  {url(addresses[0], demo.port, '/live/')}"]
    if len(addresses) > 1:
        lines.append(f"  (other addresses of this machine: {', '.join(addresses[1:])})")
    lines += ["If a phone cannot connect, the Wi-Fi may keep its devices apart, or a firewall blocks port "
              f"{demo.port}.", "", qr_code(url(addresses[0], demo.port))]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Start the demo, print where to open it, and stop everything it started on Ctrl+C."""
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m clickkit.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1",
                        help="127.0.0.1 (default): this machine only; 0.0.0.0: phones on the same network too")
    parser.add_argument("--port", type=int, default=8000, help="port of the site and the live page (default 8000)")
    parser.add_argument("--from-beginning", action="store_true",
                        help="count every event on the topic, not only those sent after the demo started")
    parser.add_argument("--lag", action="store_true",
                        help=f"run a processing consumer group ({PROCESSING_GROUP}) and show its lag; Enter in "
                             "this terminal stops it and starts it again")
    parser.add_argument("--lag-group", metavar="GROUP", default="",
                        help="show the lag of another consumer group on the topic, e.g. a pipeline of notebook 04")
    args = parser.parse_args(argv)
    # One log line per request would scroll the addresses and the QR code off the teacher's screen.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as cleanly as Ctrl+C
    demo = None
    try:
        demo = Demo(args.host, args.port)
        started_kafka = demo.start_kafka_if_needed(settings)
        lag_group = args.lag_group or (PROCESSING_GROUP if args.lag else "")
        demo.start(settings.bootstrap_servers, settings.topic, args.from_beginning, lag_group,
                   process=args.lag and not args.lag_group)
        print(banner(demo, settings.bootstrap_servers, settings.topic, started_kafka), flush=True)
        wait_for_the_teacher(demo)
    except KeyboardInterrupt:
        pass
    except (KitError, LiveError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KafkaError as error:
        print(f"error: Kafka at {settings.bootstrap_servers} did not answer ({type(error).__name__}: {error}). "
              "Check it with make kafka-status, or unset KAFKA_BOOTSTRAP_SERVERS to use the kit's own.",
              file=sys.stderr)
        return 1
    finally:
        if demo is not None:
            # A second Ctrl+C must not cut the clean-up short and leave a broker behind; each step is bounded.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            say("Stopping what the demo started...")
            demo.stop()
            say("Stopped.")
    return 0


def wait_for_the_teacher(demo: Demo, lines=None) -> None:
    """Run until Ctrl+C; with the demo's own processing group, each Enter stops or restarts it."""
    if demo.processing is not None:
        for _ in lines if lines is not None else sys.stdin:  # ends at once when there is no terminal to read
            if demo.processing.toggle():
                say("The processing consumer runs again, from its committed offset: watch the lag drain.")
            else:
                say("The processing consumer is stopped: clicks wait in Kafka, and the lag grows. Enter restarts it.")
        if lines is not None:
            return
    threading.Event().wait()


def say(text: str) -> None:
    """Print a line; when the terminal is gone (a closed pipe), stopping everything matters more."""
    try:
        print(text, flush=True)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
