"""Serving from a notebook: in the foreground while a client runs, with the output's lines measured."""

import threading

import pytest
import requests
from flask import Flask

from clickkit.course.notebook_server import BackgroundServer, OutputMeter, serve_while
from clickkit.ports import free_port


def test_output_meter_counts_lines_printed(capsys):
    with OutputMeter() as meter:
        print("one\ntwo")
        print("three")
    assert meter.most == 3 and meter.clears == 0


def test_serve_while_serves_until_the_client_is_done_and_reports_every_answer():
    app = Flask("tiny")
    app.get("/ok")(lambda: "ok")
    port, seen, lock = free_port(), [], threading.Lock()

    def client():
        with requests.Session() as session:
            return [
                session.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code for path in ["/ok"] * 20 + ["/no"]
            ]

    def on_request(method, path, status):
        with lock:
            seen.append((method, path, status))

    served = serve_while(app, port, client=client, on_request=on_request, seconds=60)
    assert served.client_result == [200] * 20 + [404]
    assert served.requests == 21 and sorted(seen) == sorted([("GET", "/ok", 200)] * 20 + [("GET", "/no", 404)])
    assert served.log_error == ""


def test_a_failing_request_log_is_reported_once_and_the_server_goes_on(capsys):
    app = Flask("tiny")
    app.get("/ok")(lambda: "ok")
    port = free_port()

    def broken_log(method, path, status):
        raise NotImplementedError("record() is not written yet")

    served = serve_while(
        app,
        port,
        client=lambda: [requests.get(f"http://127.0.0.1:{port}/ok", timeout=10).status_code for _ in range(3)],
        on_request=broken_log,
        seconds=60,
    )
    assert served.client_result == [200, 200, 200]
    assert "NotImplementedError: record() is not written yet" in served.log_error
    assert capsys.readouterr().out.count("Your request log raised") == 1


def test_a_busy_port_is_an_error_that_says_what_to_do():
    app = Flask("tiny")
    first = BackgroundServer(app, port=0).start()
    try:
        with pytest.raises(RuntimeError, match="Port .* is busy. Stop the other server"):
            BackgroundServer(app, port=first.port).start()
    finally:
        first.stop()
