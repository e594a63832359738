#!/usr/bin/env python3
"""A small upstream application in another language than the gateway.

It listens on 127.0.0.1 on a free port (printed as "listening on PORT") and
answers every GET with JSON describing the identity headers the gateway or
the reverse proxy in front of it set. GET /act additionally acts for the
user through the gateway's internal listener: it calls
com.atproto.server.getSession there with the shared secret
($GATEWAY_SECRET) and the request's act token, and returns the answer.
"""
import http.server
import json
import os
import sys
import urllib.error
import urllib.request


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        h = self.headers
        info = {
            "path": self.path,
            "did": h.get("X-Atproto-Did", ""),
            "handle": h.get("X-Atproto-Handle", ""),
            "act": bool(h.get("X-Atproto-Act")),
            "cookie": bool(h.get("Cookie")),
            "cookies": sorted(c.split("=", 1)[0].strip() for c in h.get("Cookie", "").split(";") if c.strip()),
            "authorization": bool(h.get("Authorization")),
        }
        if self.path.startswith("/act"):
            req = urllib.request.Request(
                os.environ["GATEWAY_INTERNAL"] + "/xrpc/com.atproto.server.getSession",
                headers={
                    "Authorization": "Bearer " + os.environ["GATEWAY_SECRET"],
                    "X-Atproto-Act": h.get("X-Atproto-Act", ""),
                },
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    info["acted"] = {"status": resp.status, "body": json.loads(resp.read())}
            except urllib.error.HTTPError as e:
                info["acted"] = {"status": e.code, "body": e.read().decode("utf-8", "replace")}
        body = json.dumps(info).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream: " + (fmt % args) + "\n")


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
