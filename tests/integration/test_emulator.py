"""The emulator's server keeps connections open and reads each request's body to its end, never into the next."""

from __future__ import annotations

import http.client
import socket
from urllib.parse import urlsplit

from orders_tools.emulator import LocalAws


def test_one_connection_carries_several_requests_whatever_the_app_left_unread(aws: LocalAws) -> None:
    """Werkzeug's server closed every connection; this one keeps it, and a body the app does not read
    (moto's state dump ignores it) is drained, so the next request on the connection parses."""
    address = urlsplit(aws.endpoint)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        answers, sockets = [], []
        for method, path, body in (
            ("PUT", f"/{aws.input_bucket}/kept-alive.csv", b"a,b\n" * 5000),
            ("PUT", "/no-such-bucket/x.csv", b"refused," * 20000),
            ("GET", "/moto-api/data.json", b"GET / HTTP/1.1\r\n\r\n" + b"unread," * 20000),
            ("GET", f"/{aws.input_bucket}?list-type=2&prefix=kept-", None),
            ("HEAD", f"/{aws.input_bucket}", None),
        ):
            connection.request(method, path, body=body, headers={"Host": address.netloc})
            response = connection.getresponse()
            answers.append((response.status, response.getheader("Connection"), response.read()))
            sockets.append(connection.sock)  # http.client drops its socket after a "Connection: close"
    finally:
        connection.close()
    assert [status for status, _, _ in answers] == [200, 404, 200, 200, 200]
    assert all(header != "close" for _, header, _ in answers)
    assert b"<Key>kept-alive.csv</Key><LastModified>" in answers[3][2]
    assert sockets[0] is not None
    assert all(sock is sockets[0] for sock in sockets)


def test_a_request_sent_right_behind_an_unread_body_is_answered_not_swallowed(aws: LocalAws) -> None:
    """Two requests in one write: werkzeug's drain after the first reads what the socket holds, which is the
    second request too, unless the first body's reader stops at its ``Content-Length``."""
    address = urlsplit(aws.endpoint)
    unread = b"unread," * 20000
    first = (
        f"GET /moto-api/data.json HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Length: {len(unread)}\r\n\r\n"
    ).encode() + unread
    second = f"HEAD /{aws.input_bucket} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n\r\n".encode()
    with socket.create_connection((address.hostname or "", address.port or 80), timeout=10) as sock:
        sock.sendall(first + second)
        sock.shutdown(socket.SHUT_WR)  # the server reads to the end of what was sent, never waits for more
        received = b""
        while chunk := sock.recv(1 << 16):  # the second answer closes the connection
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 2
