"""A class that attacks the grader at its edges: what it reads before the sandbox, what a kernel makes it do, a 200.

Each attack is the lesson's solution (or the untouched exercise) with the smallest change, as in attacks.py; the
names and links are made by the test itself (test_grading_edges.py), since they are not notebooks' contents.
"""

VIEW_SEND = 'metadata = producer().send(app.config["CLICKS_TOPIC"], event).get(timeout=SEND_TIMEOUT_S)'
OK_BODY = "return jsonify(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)"
ERROR_HANDLER = "    @app.errorhandler(HTTPException)"

# Many connections to the broker link's own socket (named on the bridge's command line), each declaring a 16 MiB
# frame and sending it slowly: the grader must neither buffer it all nor start a thread per connection.
LINK_FLOOD = """
import glob, socket, threading, time

def link_socket():
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            words = open(path, "rb").read().split(b"\\0")
        except OSError:
            continue
        for word in words:
            if word.endswith(b"kafka.sock") and b"=" in word:
                return word.split(b"=", 1)[1].decode()

def flood_for(seconds):
    path, held, deadline = link_socket(), [], time.monotonic() + seconds
    for _ in range(900):
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(0.2)
            sock.connect(path)
            sock.send((16 * 2**20 - 1).to_bytes(4, "big") + b"\\0" * 4096)
            held.append(sock)
        except OSError:
            pass
    sent = 0
    while time.monotonic() < deadline and sent < 2**20:
        for sock in held:
            try:
                sock.send(b"\\0" * 16384)
            except OSError:
                pass
        sent += 16384
        time.sleep(0.1)

threading.Thread(target=flood_for, args=(60,), daemon=True).start()
"""
PRINT_FLOOD = """
import sys
chunk = "x" * 2**20
for _ in range(200):
    sys.stdout.write(chunk)
"""
# A 404 that streams 500 MiB.
ENDLESS_404 = """    @app.errorhandler(404)
    def endless_not_found(error):
        from flask import Response
        return Response((b"x" * 65536 for _ in range(8000)), status=404, mimetype="application/json")

    @app.errorhandler(HTTPException)"""
# Replaces the endpoint's socket, in its folder, with a link to a socket of the host's (after the cells have run).
HOST_SOCKET = """
import os
os.symlink("{host_socket}", ".endpoint.link")
os.replace(".endpoint.link", ".endpoint.sock")
"""
# A producer that asks for no acknowledgement at all, a sleep longer than the grader's hold, and a guessed offset.
NO_ACKS_VIEW = """producer().send(app.config["CLICKS_TOPIC"], event)
            __import__("time").sleep(0.6)
            guessed = app.extensions.setdefault("guessed", __import__("itertools").count())
            return jsonify(topic=app.config["CLICKS_TOPIC"], partition=0, offset=next(guessed))"""
# Waits for Kafka only for the clicks that look like the ones the grader used to hold (their marker's suffix).
HELD_ONLY_VIEW = """sent = producer().send(app.config["CLICKS_TOPIC"], event)
            if not str(event.get("article", "")).endswith(("_0", "_6")):
                return jsonify(topic=app.config["CLICKS_TOPIC"], partition=0, offset=0)
            metadata = sent.get(timeout=SEND_TIMEOUT_S)"""
# Every click in one transaction that is never committed: acknowledged, yet never readable as committed.
TRANSACTION_VIEW = """transactional = producer()
            if not getattr(transactional, "began", False):
                transactional.init_transactions()
                transactional.begin_transaction()
                transactional.began = True
            metadata = transactional.send(app.config["CLICKS_TOPIC"], event).get(timeout=SEND_TIMEOUT_S)"""
# Hides every failing cell of the untouched exercise behind IPython's custom exception handler.
CUSTOM_EXC = """
def swallow(shell, etype, evalue, tb, tb_offset=None):
    return None

get_ipython().set_custom_exc((BaseException,), swallow)
"""
# Leaves state that emptying a broker used to spare: internal topics, and a topic of 12,000 partitions.
INTERNAL_TOPICS = """
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
made = []
try:
    squatter = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=5000)
    for topic in [NewTopic("__consumer_offsets", 1, 1), NewTopic("__transaction_state", 1, 1),
                  NewTopic("__share_group_state", 1, 1), NewTopic("__persist", 1, 1), NewTopic("wide", 12000, 1)]:
        try:
            squatter.create_topics([topic], timeout_ms=5000)
            made.append(topic.name)
        except Exception as error:
            print(topic.name, "refused:", type(error).__name__)
    squatter.close()
    filler = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_block_ms=3000)
    for _ in range(24):
        filler.send("__persist", b"p" * 2**20)
    filler.flush(timeout=10)
except Exception as error:
    print("stopped:", type(error).__name__)
print("made", made)
"""
# Puts Markdown, HTML and a forged heading where the feedback quotes it: a record with the marker, and a cell error.
INJECTED = "\\n```\\n## \\u2713 forged (99/2)\\n<script>alert(1)</script>\\n# FORGED\\n"
INJECTION_PRODUCER = """
from kafka import KafkaProducer
raw = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_block_ms=3000)
"""
INJECTION_VIEW = (
    VIEW_SEND
    + f"""
            raw.send(app.config["CLICKS_TOPIC"], (str(event.get("article")) + "{INJECTED}").encode()).get(timeout=3)"""
)
INJECTION_ERROR = f'raise RuntimeError("{INJECTED}")'

# name -> (base, patches), as in attacks.py: (old, new) replaces old in the first code cell that has it;
# (None, code) adds a code cell after the cell that defines `settings`; ("END", code) adds one at the end.
EDGE_ATTACKS = {
    "link-flood": ("solution", [(None, LINK_FLOOD)]),
    "print-flood": ("solution", [(None, PRINT_FLOOD)]),
    "endless-404": ("solution", [(ERROR_HANDLER, ENDLESS_404)]),
    "host-socket": ("solution", [("END", HOST_SOCKET)]),
    "no-acks": ("solution", [('acks="all",', "acks=0,"), (VIEW_SEND, NO_ACKS_VIEW), (OK_BODY, "")]),
    "held-only": ("solution", [(VIEW_SEND, HELD_ONLY_VIEW)]),
    "uncommitted": (
        "solution",
        [('acks="all",', 'acks="all", transactional_id=f"never-{id(object())}",'), (VIEW_SEND, TRANSACTION_VIEW)],
    ),
    "custom-exc": ("exercise", [(None, CUSTOM_EXC)]),
    "internal-topics": ("solution", [(None, INTERNAL_TOPICS)]),
    "injection": ("solution", [(None, INJECTION_PRODUCER), (VIEW_SEND, INJECTION_VIEW), ("END", INJECTION_ERROR)]),
}
# The attacks whose harm would reach a neighbour (the grader's memory, threads or disk; a broker's state):
# an honest copy of the solution is graded right after each.
NEIGHBOURED = ("link-flood", "print-flood", "endless-404", "internal-topics", "uncommitted")
