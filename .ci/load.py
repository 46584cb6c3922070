#!/usr/bin/env python3
"""A bounded load check of the server on loopback (issue 15).

Starts `smartbox serve` on a fresh SQLite database in a temporary folder, then:
1. 200 concurrent sign-ups, then 200 concurrent logins (each from its own address through
   X-Forwarded-For, with 127.0.0.1 as the trusted proxy), and reads the server's peak RSS;
2. opens 2,000 idle connections and times `/healthz` while they are open.

Exits non-zero when the peak RSS reaches 300 MB or `/healthz` takes 50 ms or more. Standard
library only. Usage: .ci/load.py [path/to/smartbox] (default target/debug/smartbox).
"""

import asyncio
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time

USERS = int(os.environ.get("LOAD_USERS", "200"))
IDLE = 2000
RSS_LIMIT_MB = 300
HEALTHZ_LIMIT_MS = 50


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def request(port, method, path, headers=None, body=b""):
    """One HTTP/1.1 request on its own connection: (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    head_lines = head.decode("latin-1").split("\r\n")
    status = int(head_lines[0].split()[1])
    cookies = [l.split(":", 1)[1].strip() for l in head_lines[1:] if l.lower().startswith("set-cookie:")]
    return status, cookies, rest.decode("utf-8", "replace")


def form(fields):
    from urllib.parse import urlencode

    return urlencode(fields).encode()


async def account_form(port, page, action, email, client):
    """Loads `page` for its CSRF token and cookie, then posts the credentials to `action`."""
    forwarded = {"X-Forwarded-For": client}
    _, cookies, html = await request(port, "GET", page, forwarded)
    csrf = re.search(r'name="csrf" value="([^"]*)"', html).group(1)
    cookie = "; ".join(c.split(";")[0] for c in cookies)
    headers = dict(forwarded)
    headers.update({
        "Cookie": cookie,
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": f"http://127.0.0.1:{port}",
    })
    body = form({"csrf": csrf, "email": email, "password": "correct horse battery"})
    status, _, _ = await request(port, "POST", action, headers, body)
    return status


def status_mb(pid, field):
    """A memory figure of /proc/<pid>/status (VmHWM: peak RSS, VmRSS: RSS now), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


async def burst(port, page, action):
    started = time.monotonic()
    statuses = await asyncio.gather(*(
        account_form(port, page, action, f"load{i}@example.com", f"198.18.{i // 250}.{i % 250 + 1}")
        for i in range(USERS)
    ))
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    return counts, time.monotonic() - started


async def healthz_ms(port):
    started = time.monotonic()
    status, _, _ = await request(port, "GET", "/healthz")
    assert status == 200, status
    return (time.monotonic() - started) * 1000


async def main(binary):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    port = free_port()
    with tempfile.TemporaryDirectory() as root:
        env = dict(os.environ)
        env.update({
            "SMARTBOX_BIND": f"127.0.0.1:{port}",
            "SMARTBOX_DATABASE_URL": f"sqlite://{root}/smartbox.db",
            "SMARTBOX_BLOB_URL": f"file://{root}/blobs",
            "SMARTBOX_MASTER_KEY": "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=",
            "SMARTBOX_TRUSTED_PROXIES": "127.0.0.1",
            "RUST_LOG": "warn",
        })
        os.makedirs(f"{root}/blobs")
        server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    await healthz_ms(port)
                    break
                except (OSError, AssertionError, IndexError, ValueError):
                    await asyncio.sleep(0.1)
            print(f"idle server: {status_mb(server.pid, 'VmRSS'):.0f} MB RSS")
            counts, took = await burst(port, "/signup", "/signup")
            print(f"{USERS} concurrent sign-ups in {took:.1f} s: {counts}")
            counts, took = await burst(port, "/login", "/login")
            print(f"{USERS} concurrent logins in {took:.1f} s: {counts}")
            peak = status_mb(server.pid, "VmHWM")
            now = status_mb(server.pid, "VmRSS")
            print(f"peak RSS: {peak:.0f} MB (limit {RSS_LIMIT_MB}); now {now:.0f} MB")

            idle = []
            for _ in range(IDLE):
                s = socket.create_connection(("127.0.0.1", port))
                idle.append(s)
            await asyncio.sleep(0.5)
            times = sorted([await healthz_ms(port) for _ in range(20)])
            print(f"/healthz with {IDLE} idle connections open: median {times[10]:.1f} ms, "
                  f"max {times[-1]:.1f} ms (limit {HEALTHZ_LIMIT_MS})")
            for s in idle:
                s.close()
            ok = peak < RSS_LIMIT_MB and times[-1] < HEALTHZ_LIMIT_MS
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/smartbox"
    sys.exit(asyncio.run(main(binary)))
