#!/usr/bin/env python3
"""Tries to get into a port, as the migration scenario's refusal checks do; prints one line saying what
happened. Standard library only.

  refusal_probe.py connect HOST PORT
      "refused" when nothing listens, else "open".
  refusal_probe.py 4lw HOST PORT WORD [--ca CA [--cert BUNDLE]]
      A ZooKeeper four-letter word, in plaintext or (with --ca) over TLS, with a client certificate
      (--cert, a PEM bundle of key and chain) or without: "reply: <first line>", or "no reply: <why>".
  refusal_probe.py kafka HOST PORT
      A plaintext Kafka ApiVersions request: "answered" when a Kafka response comes back, else
      "no answer: <why>".
  refusal_probe.py hold HOST PORT --ca CA [--cert BUNDLE]
      A TLS connection that sends nothing (a quorum port waits for the peer to speak): "held" when the
      server keeps it open for 3 s after the handshake, else "closed: <why>".
"""

from __future__ import annotations

import argparse
import socket
import ssl
import struct


def tls(raw: socket.socket, host: str, ca: str | None, cert: str | None) -> socket.socket:
    if not ca:
        return raw
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(cert)
    return context.wrap_socket(raw, server_hostname=host)


def read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def main() -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["connect", "4lw", "kafka", "hold"])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("word", nargs="?", default="srvr")
    parser.add_argument("--ca")
    parser.add_argument("--cert")
    args = parser.parse_args()
    try:
        raw = socket.create_connection((args.host, args.port), timeout=10)
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return f"unreachable: {exc}"
    if args.kind == "connect":
        raw.close()
        return "open"
    try:
        with tls(raw, args.host, args.ca, args.cert) as conn:
            if args.kind == "4lw":
                conn.sendall(args.word.encode())
                reply = read_all(conn).decode(errors="replace").strip()
                return f"reply: {reply.splitlines()[0]}" if reply else "no reply: closed without a word"
            if args.kind == "kafka":
                client = b"refusal-probe"
                body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
                conn.sendall(struct.pack(">i", len(body)) + body)
                reply = read_all(conn)
                if len(reply) >= 8 and struct.unpack(">i", reply[4:8])[0] == 7:
                    return "answered"
                return f"no answer: {len(reply)} bytes that are no Kafka response"
            conn.settimeout(3)
            try:
                data = conn.recv(1)
            except (socket.timeout, TimeoutError):
                return "held"
            return "closed: " + ("by the server" if not data else "unexpected data")
    except (OSError, ssl.SSLError) as exc:
        return f"{'closed' if args.kind == 'hold' else 'no reply' if args.kind == '4lw' else 'no answer'}: {exc}"


if __name__ == "__main__":
    print(main())
