"""The tracker's event ids where browsers offer no crypto.randomUUID (a phone on the demo's plain-http address)."""

import json
import shutil
import subprocess
import uuid

import pytest

from clickkit import schema
from clickkit.config import REPO_ROOT

# Runs site/tracker.js in Node with just enough of a page around it; crypto has getRandomValues only.
PAGE = r"""
const source = require("fs").readFileSync(process.argv[1], "utf8");
const bodies = [], listeners = {};
const page = {
  document: { currentScript: null, querySelector: (s) => (s === "h1" ? { textContent: "Ghent" } : null),
              documentElement: { scrollHeight: 1000 }, addEventListener: () => {} },
  window: { scrollY: 0, innerHeight: 500, addEventListener: (name, f) => { listeners[name] = f; },
            removeEventListener: () => {} },
  navigator: { userAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120 Mobile", language: "nl-BE" },
  location: { href: "http://192.168.1.20:8000/ghent.html" },
  performance: { now: () => 0 },
  crypto: { getRandomValues: (array) => require("crypto").webcrypto.getRandomValues(array) },
  fetch: (url, options) => { bodies.push(JSON.parse(options.body)); return Promise.resolve(); },
  console,
};
new Function(...Object.keys(page), source)(...Object.values(page));
for (const height of [300, 600]) { page.window.scrollY = height; listeners.scroll(); }
console.log(JSON.stringify(bodies));
"""


def test_without_random_uuid_the_tracker_still_gives_each_event_a_version_4_uuid():
    node = shutil.which("node")
    if node is None:
        pytest.fail("This test needs Node.js 18+: apt-get install -y nodejs (or run .ci/run, which installs it).")
    run = subprocess.run([node, "-e", PAGE, str(REPO_ROOT / "site" / "tracker.js")], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    events = json.loads(run.stdout)
    assert len(events) == 5  # the page opened, then the 25, 50, 75 and 100 % milestones
    ids = [event[schema.EVENT_ID] for event in events]
    assert all(schema.is_uuid(event_id) and uuid.UUID(event_id).version == 4 for event_id in ids), ids
    assert uuid.UUID(ids[0]).variant == uuid.RFC_4122 and len(set(ids)) == 5
    assert all(schema.problems(event) == [] for event in events), events
