"""A resource reaper speaking testcontainers' ryuk protocol, standard library only.

Clients connect over TCP (RYUK_PORT, 8080) and send filter lines such as
`label=org.testcontainers.session-id=UUID`, URL-query encoded like ryuk's (`&` joins several
filters of one set); each line is answered `ACK\n`. Once every client has disconnected and none
came back within RYUK_RECONNECTION_TIMEOUT (or none connected at all within
RYUK_CONNECTION_TIMEOUT), or on SIGTERM/SIGINT, everything matching any filter set is removed
through the Docker Engine API on /var/run/docker.sock: containers (forced, with their anonymous
volumes), then networks, volumes and images. Then the reaper exits.
"""

import http.client
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse

DOCKER_SOCKET = "/var/run/docker.sock"


def log(msg):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} ryuk: {msg}", flush=True)


def parse_duration(text, default):
    """A Go duration ("10s", "500ms", "1m30s") in seconds, as ryuk reads its settings."""
    if not text:
        return default
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        log(f"ignoring the malformed duration {text!r}; using {default}s")
        return default
    return sum(float(n) * units[u] for n, u in parts)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over the engine's unix socket."""

    def __init__(self, path, timeout=60):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


class EngineError(Exception):
    def __init__(self, msg, status=None):
        super().__init__(msg)
        self.status = status


def engine(method, path, query=None):
    """One Engine API call; the decoded JSON body (None when empty). Raises EngineError."""
    if query:
        path += "?" + urllib.parse.urlencode(query)
    conn = UnixHTTPConnection(DOCKER_SOCKET)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        body = resp.read()
    except OSError as e:
        raise EngineError(f"{method} {path}: {e}") from e
    finally:
        conn.close()
    if resp.status >= 300:
        text = body.decode(errors="replace").strip()
        raise EngineError(f"{method} {path}: {resp.status} {text}", resp.status)
    if "json" in resp.getheader("Content-Type", "") and body.strip():
        return json.loads(body)
    return body.decode(errors="replace")


class Reaper:
    def __init__(self, reconnection_timeout, connection_timeout):
        self.reconnection_timeout = reconnection_timeout
        self.connection_timeout = connection_timeout
        self.lock = threading.Condition()
        self.filter_sets = []  # each a dict {key: [values]}, in arrival order, no duplicates
        self.clients = 0
        self.ever_connected = False
        self.last_change = time.monotonic()
        self.stopping = False

    def add_filters(self, line):
        parsed = urllib.parse.parse_qs(line, keep_blank_values=True, strict_parsing=True)
        filters = {k: sorted(set(v)) for k, v in sorted(parsed.items())}
        with self.lock:
            if filters not in self.filter_sets:
                self.filter_sets.append(filters)
                log(f"added filter {json.dumps(filters)}")

    def serve_client(self, conn, addr):
        with self.lock:
            self.clients += 1
            self.ever_connected = True
            self.last_change = time.monotonic()
            self.lock.notify_all()
        log(f"client {addr[0]}:{addr[1]} connected ({self.clients} now)")
        try:
            for raw in conn.makefile("rb"):
                line = raw.decode(errors="replace").strip()
                if not line:
                    continue
                try:
                    self.add_filters(line)
                except ValueError as e:
                    log(f"bad filter line {line!r}: {e}")
                    conn.sendall(b"ERROR\n")
                    continue
                conn.sendall(b"ACK\n")
        except OSError as e:
            log(f"client {addr[0]}:{addr[1]}: {e}")
        finally:
            conn.close()
            with self.lock:
                self.clients -= 1
                self.last_change = time.monotonic()
                self.lock.notify_all()
            log(f"client {addr[0]}:{addr[1]} disconnected ({self.clients} left)")

    def accept_loop(self, server):
        while True:
            try:
                conn, addr = server.accept()
            except OSError:
                return  # closed: the reaper is shutting down
            threading.Thread(target=self.serve_client, args=(conn, addr), daemon=True).start()

    def wait_until_abandoned(self):
        """Blocks until the clients are gone for good (or a signal asked us to stop)."""
        with self.lock:
            while not self.stopping:
                limit = self.reconnection_timeout if self.ever_connected else self.connection_timeout
                if self.clients == 0:
                    left = self.last_change + limit - time.monotonic()
                    if left <= 0:
                        why = "no client came back" if self.ever_connected else "no client connected"
                        log(f"{why} within {limit}s")
                        return
                    self.lock.wait(left)
                else:
                    self.lock.wait()

    def stop(self, signum, _frame):
        with self.lock:
            log(f"signal {signum}")
            self.stopping = True
            self.lock.notify_all()

    def prune(self):
        with self.lock:
            sets = list(self.filter_sets)
        if not sets:
            log("no filters: nothing to remove")
            return True
        ok = True
        for filters in sets:
            ok &= prune_set(filters)
        return ok


def remove_all(kind, list_path, filters, key, remove_path, query=None, retries=1):
    """Lists `kind` matching `filters` and removes each; whether all went."""
    try:
        found = engine("GET", list_path, {"filters": json.dumps(filters), "all": "1"})
    except EngineError as e:
        log(f"listing {kind}: {e}")
        return False
    if isinstance(found, dict):  # /volumes answers {"Volumes": [...]}
        found = found.get("Volumes") or []
    if not isinstance(found, list):
        log(f"listing {kind}: not a JSON array: {found!r}")
        return False
    ok = True
    for item in found:
        ident = item[key]
        for attempt in range(retries):
            try:
                engine("DELETE", remove_path + urllib.parse.quote(ident, safe=""), query)
                log(f"removed {kind[:-1]} {ident}")
                break
            except EngineError as e:
                if e.status == 404:
                    break  # gone already (an auto-removed container, say)
                if attempt + 1 == retries:
                    log(f"cannot remove {kind[:-1]} {ident}: {e}")
                    ok = False
                else:
                    time.sleep(1)
    return ok


def prune_set(filters):
    log(f"removing what matches {json.dumps(filters)}")
    ok = remove_all("containers", "/containers/json", filters, "Id", "/containers/",
                    {"force": "1", "v": "1"}, retries=3)
    # A network can stay busy for a moment after its last container went: retry like ryuk.
    ok &= remove_all("networks", "/networks", filters, "Id", "/networks/", retries=10)
    ok &= remove_all("volumes", "/volumes", filters, "Name", "/volumes/", retries=3)
    ok &= remove_all("images", "/images/json", filters, "Id", "/images/", retries=3)
    return ok


def main():
    port = int(os.environ.get("RYUK_PORT", "8080"))
    reaper = Reaper(
        parse_duration(os.environ.get("RYUK_RECONNECTION_TIMEOUT"), 10.0),
        parse_duration(os.environ.get("RYUK_CONNECTION_TIMEOUT"), 60.0),
    )
    signal.signal(signal.SIGTERM, reaper.stop)
    signal.signal(signal.SIGINT, reaper.stop)
    try:
        engine("GET", "/_ping")
    except EngineError as e:
        log(f"the engine at {DOCKER_SOCKET} does not answer: {e}")
        return 1
    server = socket.create_server(("0.0.0.0", port), reuse_port=False)
    threading.Thread(target=reaper.accept_loop, args=(server,), daemon=True).start()
    log(f"listening on port {port}; Started!")
    reaper.wait_until_abandoned()
    server.close()
    ok = reaper.prune()
    log("done" if ok else "done, with leftovers")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
