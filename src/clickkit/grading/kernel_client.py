"""The grader's end of a submission's kernel: outputs counted and capped as they arrive, and each cell's reply kept.

nbval reads a cell's outputs only once the cell has ended, and keeps all of them: a cell that printed 200 MiB
made the grader's pytest hold it several times over. Here ZeroMQ refuses any message over MESSAGE_BYTES, and a
thread takes the output channel's messages as they come, counts every character, and keeps for nbval only what
fits under the notebook's cap. The kernel's reply to each cell is kept too: its status says whether the cell
failed, whatever the notebook's own hooks displayed.
"""

import json
import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq
from jupyter_client.manager import KernelManager
from nbval.kernel import RunningKernel
from zmq.utils.monitor import recv_monitor_message

from clickkit.grading.bridge import pinned_socket

MESSAGE_BYTES = 4 * 2**20  # the largest message taken from the kernel; a larger one costs its connection
QUEUED_MESSAGES = 32  # read by ZeroMQ and not yet by the grader, per channel: at most 128 MiB held
KEPT_MESSAGES = 2_000  # waiting for nbval; past them, messages are counted and dropped
ERROR_CHARS = 2_000  # of an error's value, and of its traceback's end
# What counts towards the cap, and what nbval keeps (the rest it passes over, or prints): what a notebook shows.
# An update replaces a display shown already: a live status line is not a flood.
OUTPUT_TYPES = ("stream", "display_data", "execute_result")
POLL_S = 0.2
RETRY_WAIT_S = 1.0  # after a disconnection: ZeroMQ says at once when it will connect again by itself


@dataclass
class Outputs:
    """What a notebook's cells have shown so far: every character counted, no more than `cap` of them kept."""

    cap: int
    chars: int = 0
    dropped: int = 0  # messages not kept: over the cap, or too many waiting at once
    oversized: int = 0  # messages over MESSAGE_BYTES, dropped by ZeroMQ
    lost_ends: int = 0  # cells whose end the output channel never showed (its message was lost with others)

    @property
    def over(self) -> bool:
        return self.chars > self.cap or self.oversized > 0

    def summary(self) -> str:
        return (
            f"Output: {self.chars} characters counted (cap {self.cap}), {self.dropped} messages not kept, "
            f"{self.oversized} over {MESSAGE_BYTES} bytes dropped, {self.lost_ends} cell ends not seen"
        )


def keep(msg: dict, outputs: Outputs) -> dict | None:
    """Count a message's output; return the message as nbval may keep it, or None to leave it out."""
    content, parent, kind = msg.get("content"), msg.get("parent_header"), msg.get("msg_type")
    if not isinstance(content, dict) or not isinstance(parent, dict):
        return None
    if kind in OUTPUT_TYPES:
        outputs.chars += len(json.dumps(content.get("text", content.get("data", ""))))
        if outputs.chars <= outputs.cap:
            return msg
        outputs.dropped += 1
        return None
    if kind == "error":
        return dict(msg, content=short_error(content))
    if kind == "status" and content.get("execution_state") == "idle":
        return msg
    return None  # the code being run, busy, comms, updates: nbval has no use for them


def short_error(content: dict) -> dict:
    """Return an error's name, value and traceback, cut to ERROR_CHARS each."""
    traceback = "\n".join(map(str, content.get("traceback") or []))
    return {
        "ename": str(content.get("ename"))[:200],
        "evalue": str(content.get("evalue"))[:ERROR_CHARS],
        "traceback": [traceback[-ERROR_CHARS:]],  # its end: the failing line and the error
    }


def reply_summary(content) -> dict:
    """Return the status, error name and value of a kernel's reply, cut short."""
    content = content if isinstance(content, dict) else {}
    return {key: str(content.get(key, ""))[:ERROR_CHARS] for key in ("status", "ename", "evalue")}


class GradedKernelManager(KernelManager):
    """A kernel manager whose clients take no message over MESSAGE_BYTES and leave few unread in ZeroMQ."""

    def client(self, **kwargs):
        context = zmq.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)  # defaults for every socket it makes, before it connects
        context.setsockopt(zmq.RCVHWM, QUEUED_MESSAGES)
        return super().client(context=context, **kwargs)

    def start_kernel(self, **kwargs):
        # Not pytest's output: what the kernel wrote to its file descriptor 1 would land in pytest's captured
        # output (read into memory after each cell), in the grader's log and in the JUnit file.
        return super().start_kernel(**dict(kwargs, stdout=subprocess.DEVNULL))


class SandboxKernelManager(GradedKernelManager):
    """Talk to the kernel over Unix sockets in the submission's folder: its network has no way out or in."""

    def __init__(self, folder: Path, owner: int, **kwargs):
        super().__init__(transport="ipc", ip=str(folder / "kernel"), **kwargs)
        self.owner = owner  # of the kernel's sockets, as a sandbox makes them


class CappedKernel(RunningKernel):
    """nbval's kernel, its output channel drained by a thread of its own, and the reply to each cell kept."""

    def __init__(self, *args, outputs: Outputs, **kwargs):
        self.outputs, self.inbox = outputs, queue.Queue(KEPT_MESSAGES)
        self.request, self.reply = None, None  # the last cell's request, and the kernel's reply (None: none yet)
        self._stopping, self._drain, self._end_given = threading.Event(), None, False
        super().__init__(*args, **kwargs)

    def _ensure_iopub_up(self):
        # From here on the drain thread alone uses the output channel's socket: ZeroMQ sockets are not shared.
        self._drain = threading.Thread(target=self._drain_iopub, name="grader-iopub", daemon=True)
        self._drain.start()
        super()._ensure_iopub_up()

    def get_message(self, stream, timeout=None):
        if stream != "iopub":
            return super().get_message(stream, timeout=timeout)
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            if self.reply is None or self._end_given:
                raise
            # The kernel has answered the cell, yet its end never showed: lost with the messages dropped.
            self.outputs.lost_ends += 1
            self._end_given = True
            idle = {"execution_state": "idle"}
            return {"msg_type": "status", "parent_header": {"msg_id": self.request}, "header": {}, "content": idle}

    def execute_cell_input(self, cell_input, allow_stdin=None):
        self.request, self.reply, self._end_given = None, None, False
        self.request = super().execute_cell_input(cell_input, allow_stdin=allow_stdin)
        return self.request

    def await_reply(self, msg_id, timeout=None):
        """Wait for the reply to msg_id, as nbval does, and keep it when it answers a cell."""
        while True:
            msg = self.get_message(stream="shell", timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            summary = reply_summary(msg["content"])
            if msg_id == self.request:
                self.reply = summary
            if summary["status"] == "aborted":
                raise RuntimeError("Kernel aborted execution request")
            return

    def stop(self):
        self._stopping.set()
        if self._drain is not None:
            self._drain.join()  # before the channels close: the thread's socket is closed in this one
        super().stop()

    def _drain_iopub(self) -> None:
        """Take each message off the output channel as it comes: count it, and keep what nbval may keep."""
        channel, pinned = self.kc.iopub_channel, []
        monitor = watch(channel.socket)
        while not self._stopping.is_set():
            ready = dict(zmq_poll([channel.socket, monitor], POLL_S))
            if monitor in ready and cut_for_size(monitor):
                # ZeroMQ ends a connection that brought a message over MESSAGE_BYTES, and does not connect again.
                self.outputs.oversized += 1
                unwatch(channel.socket, monitor)
                channel.socket.close(linger=0)
                channel.socket = self._connect_iopub(pinned)
                monitor = watch(channel.socket)
                continue
            if channel.socket not in ready:
                continue
            try:
                kept = keep(channel.get_msg(timeout=0), self.outputs)
            except Exception:  # a message the session could not read: the thread must go on
                self.outputs.dropped += 1
                continue
            if kept is not None:
                try:
                    self.inbox.put_nowait(kept)
                except queue.Full:
                    self.outputs.dropped += 1
        unwatch(channel.socket, monitor)
        for descriptor in pinned:
            os.close(descriptor)

    def _connect_iopub(self, pinned: list):
        """Return a new socket on the kernel's output channel; in a sandbox, on the very socket it made, or none."""
        sock = self.kc.context.socket(zmq.SUB)
        sock.linger = 1000
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        owner = getattr(self.km, "owner", None)
        if owner is None:
            sock.connect(f"{self.km.transport}://{self.km.ip}:{self.km.iopub_port}")
            return sock
        try:  # jupyter_client's name for the channel's socket; the kernel could have put a link to another there
            pinned.append(pinned_socket(f"{self.km.ip}-{self.km.iopub_port}", owner))
        except OSError:
            return sock  # connected nowhere: the notebook's later output is lost, by its own doing
        sock.connect(f"ipc:///proc/self/fd/{pinned[-1]}")  # ZeroMQ's reconnections too reach that socket only
        return sock


def watch(sock):
    """Return a monitor of the socket's disconnections and of ZeroMQ's retries to connect."""
    return sock.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED)


def unwatch(sock, monitor) -> None:
    sock.disable_monitor()
    monitor.close(linger=0)


def zmq_poll(sockets: list, timeout_s: float) -> list:
    """Return [(socket, events)] of those sockets with a message waiting, within timeout_s."""
    poller = zmq.Poller()
    for sock in sockets:
        poller.register(sock, zmq.POLLIN)
    return poller.poll(int(timeout_s * 1000))


def cut_for_size(monitor) -> bool:
    """Read the monitor's events; tell whether a connection ended with no retry coming (a message too big)."""
    disconnected = False
    while monitor.poll(0):
        event = recv_monitor_message(monitor)["event"]
        disconnected = event == zmq.EVENT_DISCONNECTED or (disconnected and event != zmq.EVENT_CONNECT_RETRIED)
    if not disconnected:
        return False
    # A kernel that ended, or closed its end, gets ZeroMQ's retries: the retry event follows the disconnection.
    while monitor.poll(int(RETRY_WAIT_S * 1000)):
        if recv_monitor_message(monitor)["event"] == zmq.EVENT_CONNECT_RETRIED:
            return False
    return True
