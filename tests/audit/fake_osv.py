"""fake_osv: a stand-in for api.osv.dev (a hosted service this machine cannot reach) on
127.0.0.1, following its documented contract (https://google.github.io/osv.dev/api/):

- ``POST /v1/querybatch`` with ``{"queries": [{"package": {"ecosystem", "name"},
  "version", "page_token"?}]}`` (at most 1000, else 400) answers ``{"results": [...]}`` in
  query order: ``{}`` for a package with no vulnerabilities, else ``{"vulns": [{"id",
  "modified"}]}`` plus ``"next_page_token"`` when more remain (sent back as ``page_token``).
- ``GET /v1/vulns/{id}`` answers the full OSV record, or 404 ``{"code": 5, "message":
  "Bug not found."}``.

Which ids affect which (ecosystem, name, version) is a recorded table given by the test
(what the real service answers is its own matching, which we do not reimplement here);
the records themselves are the real advisories in ``osv/``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Answers = dict[tuple[str, str, str], list[str]]


class FakeOsv:
    def __init__(self, records: Path, answers: Answers, page_size: int = 1000) -> None:
        self.records = {p.stem: p for p in records.rglob("*.json")}
        self.answers = answers
        self.page_size = page_size
        self.mode = "ok"  # "ok" | "down" (every request answered 503)
        self.requests: list[tuple[str, str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(("POST", self.path, body))
                if fake.mode == "down":
                    self._send(503, {"code": 14, "message": "unavailable"})
                elif self.path != "/v1/querybatch":
                    self._send(404, {"code": 5, "message": "Not found."})
                elif not isinstance(body.get("queries"), list) or len(body["queries"]) > 1000:
                    self._send(400, {"code": 3, "message": "Too many queries."})
                else:
                    self._send(200, {"results": [fake.answer(q) for q in body["queries"]]})

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, None))
                vuln_id = self.path.removeprefix("/v1/vulns/")
                if fake.mode == "down":
                    self._send(503, {"code": 14, "message": "unavailable"})
                elif not self.path.startswith("/v1/vulns/") or vuln_id not in fake.records:
                    self._send(404, {"code": 5, "message": "Bug not found."})
                else:
                    self._send(200, json.loads(fake.records[vuln_id].read_text(encoding="utf-8")))

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def answer(self, query: dict[str, Any]) -> dict[str, Any]:
        package = query.get("package") or {}
        key = (package.get("ecosystem", ""), package.get("name", ""), query.get("version", ""))
        ids = self.answers.get(key, [])
        start = int(query.get("page_token") or 0)
        page = ids[start : start + self.page_size]
        if not page:
            return {}
        result: dict[str, Any] = {"vulns": [{"id": i, "modified": self._modified(i)} for i in page]}
        if start + self.page_size < len(ids):
            result["next_page_token"] = str(start + self.page_size)
        return result

    def _modified(self, vuln_id: str) -> str:
        path = self.records.get(vuln_id)
        if path is None:
            return "2024-01-01T00:00:00Z"
        return str(json.loads(path.read_text(encoding="utf-8")).get("modified", ""))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
