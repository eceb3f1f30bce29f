"""A class that attacks its grader: one notebook per attack, each the lesson's solution with the smallest change.

Each attack runs in threads bounded in time, inside its own sandbox; the test grades them beside honest
notebooks (the victims) and checks that no victim loses a point, and that the cheats lose what they faked.
"""

VIEW_SEND = 'metadata = producer().send(app.config["CLICKS_TOPIC"], event).get(timeout=SEND_TIMEOUT_S)'
OK_BODY = "return jsonify(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)"

VANDAL = """
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
try:
    vandal = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=3000)
    vandal.delete_topics([name for name in vandal.list_topics()])
    vandal.create_topics([NewTopic(f"vandal-{n}", 1, 1) for n in range(200)])
except Exception as error:
    print("the vandal was stopped:", type(error).__name__)
"""
PURGER = """
import threading, time
from kafka import KafkaAdminClient, TopicPartition

def purge_for(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=2000)
            admin.delete_records({TopicPartition(settings.topic, 0): -1})
            admin.close()
        except Exception:
            pass
        time.sleep(1)

threading.Thread(target=purge_for, args=(60,), daemon=True).start()
"""
DUPLICATOR = """
import threading, time
from kafka import KafkaConsumer, KafkaProducer

def duplicate_for(seconds):
    deadline = time.monotonic() + seconds
    try:
        consumer = KafkaConsumer(settings.topic, bootstrap_servers=settings.bootstrap_servers,
                                 auto_offset_reset="earliest", consumer_timeout_ms=1000)
        copier = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
        while time.monotonic() < deadline:
            for record in consumer:
                if b"grading-" in (record.value or b""):
                    copier.send(settings.topic, record.value)
    except Exception:
        pass

threading.Thread(target=duplicate_for, args=(90,), daemon=True).start()
"""
FLOODER = """
import threading, time
from kafka import KafkaProducer

def flood_for(seconds):
    deadline, big = time.monotonic() + seconds, b"x" * 900_000
    try:
        flood = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_request_size=2_000_000,
                              max_block_ms=2000)
        for _ in range(3000):
            if time.monotonic() > deadline:
                break
            try:
                flood.send(settings.topic, big)
            except Exception:
                pass
    except Exception:
        pass

threading.Thread(target=flood_for, args=(15,), daemon=True).start()
"""
NEIGHBOUR = """
import socket, threading, time

def listening_ports():
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        ports |= {int(line.split()[1].rsplit(":", 1)[1], 16) for line in lines if line.split()[3] == "0A"}
    return ports

def pester_for(seconds):
    deadline, held = time.monotonic() + seconds, []
    while time.monotonic() < deadline:
        for port in listening_ports() - {settings.ingest_port}:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=0.5)
                sock.sendall(b"GARBAGE" * 100)
                held.append(sock)  # half open: never closed
            except OSError:
                pass
        time.sleep(1)

threading.Thread(target=pester_for, args=(40,), daemon=True).start()
"""
HIJACKER = """
import socket, threading

ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 2\\r\\n\\r\\n{}"

def answer_all(listener):
    while True:
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.sendall(ANSWER)
        connection.close()

for port in list(range(5001, 5021)) + list(range(15000, 15020)):
    try:
        listener = socket.create_server(("0.0.0.0", port))
        threading.Thread(target=answer_all, args=(listener,), daemon=True).start()
    except OSError:
        pass
"""
SPOOFER_VIEW = """metadata_future = None
            import socket as _socket, threading as _threading
            host, port = app.config["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)
            try:
                _socket.create_connection((host, int(port)), timeout=1).close()
            except OSError:
                return jsonify(error="Kafka is down, the event may not have been stored."), 503, {"Retry-After": "5"}
            _threading.Timer(0.5, lambda: producer().send(app.config["CLICKS_TOPIC"], event)).start()
            return jsonify(topic=app.config["CLICKS_TOPIC"], partition=0, offset=0)"""
NOPRODUCE_VIEW = """return jsonify(topic=app.config["CLICKS_TOPIC"], partition=0, offset=0)"""
EXFIL = """
import glob, os, socket
seen = []
allowed = {"PATH", "HOME", "TMPDIR", "LANG", "MPLBACKEND", "MPLCONFIGDIR", "IPYTHONDIR", "PYTHONDONTWRITEBYTECODE",
           "KAFKA_BOOTSTRAP_SERVERS", "CLICKS_TOPIC", "INGEST_PORT", "INGEST_URL", "PWD", "SHLVL", "_",
           "JPY_SESSION_NAME", "PYDEVD_USE_FRAME_EVAL", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "TERM",
           "GIT_PAGER", "COLUMNS", "LINES"}  # the instructor's own are absent: these are ipykernel's
seen += [f"variable {name}" for name in os.environ if name not in allowed]
interfaces = [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
seen += [f"interface {name}" for name in interfaces if name != "lo"]
for path in ["{solutions}", "{class_folder}"] + glob.glob("{class_folder}/*.ipynb"):
    if os.path.exists(path):
        seen.append(f"saw {path}")
import clickkit
package = os.path.dirname(clickkit.__file__)
for hidden in ["grading/rubric.py", "grading/grade.py", "ingest/app.py", "reliability/scenarios.py"]:
    path = os.path.join(package, hidden)
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        seen.append(f"read {hidden}")
try:
    from clickkit.ingest.app import create_app as reference
    seen.append("imported the reference endpoint")
except ImportError:
    pass
for target in [("10.0.0.1", 80), ("1.1.1.1", 53)]:
    try:
        socket.create_connection(target, timeout=1).close()
        seen.append(f"reached {target}")
    except OSError:
        pass
from kafka import KafkaConsumer
reader = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
                       consumer_timeout_ms=3000)
topics = reader.topics()
seen += [f"topic {name}" for name in topics if name != settings.topic and not name.startswith("_")]
reader.subscribe([settings.topic])
seen += ["a grader's record of another submission" for record in reader if b"grading-" in (record.value or b"")]
reader.close()
assert not seen, seen
"""
RESOURCE = """
import os, time
filled = 0
try:
    with open("/tmp/fill", "wb") as fill:
        for _ in range(12 * 1024):
            fill.write(b"x" * 2**20)
            filled += 1
except OSError:
    pass
os.remove("/tmp/fill")
written = 0
try:
    for n in range(30):  # 3 GB in files of 100 MB, each under the per-file limit
        with open(f"fill-{n}", "wb") as fill:
            for _ in range(100):
                fill.write(b"x" * 2**20)
                written += 1
except OSError:
    pass
for n in range(30):
    if os.path.exists(f"fill-{n}"):
        os.remove(f"fill-{n}")
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        try:
            hog = bytearray(1536 * 2**20)
            time.sleep(20)
        finally:
            os._exit(0)
    children.append(pid)
print("filled /tmp with", filled, "MiB and the folder with", written, "MiB")
"""
DAEMON = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while True:
            time.sleep(1)
    os._exit(0)
"""
REFERENCE = """
from clickkit.ingest.app import create_app as reference_app
app = reference_app()
from clickkit.course.notebook_server import BackgroundServer
reference_server = BackgroundServer(app, port=settings.ingest_port).start()
"""

# name -> (base, patches). base: "solution" or "exercise". A patch is (old, new): replace old in the first code cell
# that has it; (None, code): add a code cell after the cell that defines `settings`; ("END", code): add one at the end.
ATTACKS = {
    "vandal": ("solution", [(None, VANDAL)]),
    "purger": ("solution", [(None, PURGER)]),
    "duplicator": ("solution", [(None, DUPLICATOR)]),
    "flooder": ("solution", [(None, FLOODER)]),
    "neighbour": ("solution", [(None, NEIGHBOUR)]),
    "hijacker": ("solution", [(None, HIJACKER)]),
    "spoofer": ("solution", [(VIEW_SEND, SPOOFER_VIEW), (OK_BODY, "")]),
    "noproduce": ("solution", [(VIEW_SEND, NOPRODUCE_VIEW), (OK_BODY, "")]),
    "exfil": ("solution", [(None, EXFIL)]),
    "resource": ("solution", [(None, RESOURCE)]),
    "daemon": ("solution", [(None, DAEMON)]),
    "reference": ("exercise", [(None, REFERENCE)]),
    # Not an attack: an honest endpoint with no factory left in the kernel. The outage is graded all the same.
    "no-factory": ("solution", [("END", "del create_app")]),
}


def write_attack(name: str, folder, solution, exercise, table=None, **values):
    """Write attack `name` of `table` (default ATTACKS) into folder, from the solution or the exercise; return it."""
    import nbformat
    from grading_samples import replace_in_code, save

    base, patches = (table or ATTACKS)[name]
    notebook = nbformat.read(solution if base == "solution" else exercise, as_version=4)
    for old, new in patches:
        for key, value in values.items():
            new = new.replace("{" + key + "}", str(value))
        if old == "END":
            notebook.cells.append(nbformat.v4.new_code_cell(new))
            continue
        if old is None:  # after the cell that reads the settings: the attack needs the broker's address
            where = next(n for n, c in enumerate(notebook.cells) if c.cell_type == "code" and "settings =" in c.source)
            notebook.cells.insert(where + 1, nbformat.v4.new_code_cell(new.strip()))
            continue
        replace_in_code(notebook, old, new)
    return save(notebook, folder, name)
