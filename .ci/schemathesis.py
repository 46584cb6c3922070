#!/usr/bin/env python3
"""schemathesis over /api/openapi.json (issue 15), bounded and on loopback.

Starts `smartbox demo` (demo data: a customer with mailboxes, events and subscriptions) on a
fresh SQLite database in a temporary folder on 127.0.0.1, logs the demo customer in through the
login form, then runs schemathesis against the served document with the session cookie and the
CSRF token, for a bounded number of examples per operation. Fails on any 5xx and on any answer
the document does not describe (status code, content type, headers, body schema), on bad
data the server accepts, and on valid data it refuses.

Usage: .ci/schemathesis.py [path/to/smartbox] [path/to/st] (defaults: target/debug/smartbox, st).
Every check is on; `.ci/schemathesis.toml` lists, per operation and with its reason, the answers
valid data may still get (a wrong password, a declined card, a host that does not resolve).
Knobs: ST_EXAMPLES (examples per operation, default 30), ST_SEED (default 1), ST_CHECKS (a
comma-separated list of checks instead of all).
"""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

# CI holds every check at 0 failures (docs/hardening.md).
CHECKS = os.environ.get("ST_CHECKS") or "all"
# Per-operation exceptions (a wrong password, a declined card), each with its reason.
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, headers=None, data=None):
    """(status, headers, body) without following redirects."""
    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.headers, answer.read().decode()


def log_in(base, email, password):
    """The session cookie and CSRF token of `email`, through the login form."""
    _, headers, html = fetch(f"{base}/login")
    csrf = re.search(r'name="csrf" value="([^"]*)"', html).group(1)
    cookie = "; ".join(c.split(";")[0] for c in headers.get_all("Set-Cookie") or [])
    body = urllib.parse.urlencode({"csrf": csrf, "email": email, "password": password}).encode()
    status, headers, _ = fetch(f"{base}/login", {
        "Cookie": cookie,
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": base,
    }, body)
    assert status in (302, 303), f"login answered {status}"
    session = [c.split(";")[0] for c in headers.get_all("Set-Cookie") or [] if c.startswith("sb_session=")]
    assert session, "no session cookie"
    _, _, me = fetch(f"{base}/api/v1/me", {"Cookie": session[0]})
    token = re.search(r'"csrf_token"\s*:\s*"([^"]*)"', me).group(1)
    return session[0], token


def main(binary, st):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as root:
        env = dict(os.environ)
        env.update({
            "SMARTBOX_BIND": f"127.0.0.1:{port}",
            "SMARTBOX_DATABASE_URL": f"sqlite://{root}/smartbox.db",
            "SMARTBOX_BLOB_URL": f"file://{root}/blobs",
            "SMARTBOX_MASTER_KEY": "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
            "RUST_LOG": "warn",
        })
        os.makedirs(f"{root}/blobs")
        server = subprocess.Popen([binary, "demo"], env=env, stdout=subprocess.PIPE, text=True)
        try:
            customer = None
            deadline = time.monotonic() + 120
            while customer is None and time.monotonic() < deadline:
                line = server.stdout.readline()
                if not line:
                    break
                found = re.match(r"\s*customer:\s*(\S+) / (\S+)", line)
                if found:
                    customer = found.groups()
            assert customer, "smartbox demo printed no customer"
            for _ in range(300):
                try:
                    if fetch(f"{base}/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            cookie, token = log_in(base, *customer)
            command = [
                st, "--config-file", CONFIG, "run", f"{base}/api/openapi.json",
                "--checks", CHECKS,
                "--max-examples", os.environ.get("ST_EXAMPLES", "30"),
                "--seed", os.environ.get("ST_SEED", "1"),
                "--phases", "examples,coverage,fuzzing",
                # One worker: with two, hypothesis describes its filters by parsing their
                # source in both threads at once, and CPython 3.11's parser then fails ("AST
                # constructor recursion depth mismatch"), an error of the tool, not the server.
                "--workers", "1",
                "--request-timeout", "10",
                "--generation-database", "none",
                # The session cookie and CSRF header are sent as given below: a case "without
                # the cookie" would still carry it and be reported as accepted.
                "--generation-with-security-parameters", "false",
                "--header", f"Cookie: {cookie}",
                "--header", f"X-CSRF-Token: {token}",
                "--no-color",
            ]
            print(" ".join(c if "Cookie" not in c and "CSRF" not in c else "<auth>" for c in command), flush=True)
            # In the temporary folder: schemathesis leaves its state in `.schemathesis/`.
            return subprocess.run(command, cwd=root).returncode
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/smartbox"
    st = sys.argv[2] if len(sys.argv) > 2 else "st"
    sys.exit(main(binary, st))
