"""--source <Message-ID> for a series no spec names, against a fake archive on loopback
that answers as lore does (GET /<msgid>/t.mbox.gz, POST /?x=m&t=1&q=… search): the
thread, the earlier versions its cover links to, the later one found by searching, and
every answer cached (a second run asks the archive nothing)."""
import gzip
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from arena_patches import cli
from tests import mailgen


def _series():
    v1 = mailgen.series(1, 2)
    v2 = mailgen.series(2, 2, changelog="v1: https://lore.kernel.org/all/v1-0@example.org/\n")
    v3 = mailgen.series(3, 2, changelog="Changes in v3:\n- Link to v2: https://lore.kernel.org/r/v2-0@example.org\n")
    other = mailgen.series(1, 1, title="mm: unrelated", domain="other.org")
    return [v1, v2, v3, other]


class _Archive(BaseHTTPRequestHandler):
    threads: list = []
    asked: list = []

    def log_message(self, *a):
        pass

    def _send(self, mails):
        if not mails:
            self.send_response(404)
            self.end_headers()
            return
        body = gzip.compress(mailgen.mbox(mails))
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.asked.append(("GET", self.path))
        parts = self.path.split("/")
        msgid = urllib.parse.unquote_plus(parts[-2]) if self.path.endswith("/t.mbox.gz") else None
        self._send(next((t for t in self.threads if any(m.msgid == msgid for m in t)), []))

    def do_HEAD(self):
        self.send_response(404)
        self.end_headers()

    def do_POST(self):
        self.asked.append(("POST", self.path))
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)["q"][0]
        title = q.split('s:"', 1)[1].split('"', 1)[0].strip()
        self._send([m for t in self.threads if any(title in m.subject for m in t) for m in t])


@pytest.fixture
def archive(monkeypatch):
    _Archive.threads, _Archive.asked = _series(), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Archive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("ARENA_PATCHES_LORE_URL", f"http://127.0.0.1:{server.server_address[1]}/all")
    yield _Archive
    server.shutdown()


def test_a_message_id_brings_every_version_and_later_runs_ask_nothing(archive, capsys):
    assert cli.main(["series", "--source", "<v2-1@example.org>", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [v["label"] for v in doc["versions"]] == ["v1", "v2", "v3"]
    assert all(len(v["patches"]) == 2 for v in doc["versions"])
    assert doc["series"]["title"] == "demo: a series"
    gets = [p for how, p in archive.asked if how == "GET"]
    assert any("v2-1%40example.org" in p or "v2-1@example.org" in p for p in gets)
    assert any("v1-0" in p for p in gets)  # followed the cover's link
    assert any(how == "POST" for how, _ in archive.asked)  # looked for later versions
    archive.asked.clear()
    assert cli.main(["series", "--source", "v2-1@example.org", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == doc["versions"]
    assert archive.asked == []


def test_a_message_id_the_archive_lacks_is_an_input_error(archive, capsys):
    assert cli.main(["series", "--source", "nope@example.org", "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert "nope@example.org" in doc["error"]["message"]
