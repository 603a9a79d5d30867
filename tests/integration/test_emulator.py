"""The emulator's server keeps connections open and reads each request's body to its end, never into the next."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from orders_tools.emulator import LocalAws


def test_one_connection_carries_several_requests_whatever_the_app_left_unread(aws: LocalAws) -> None:
    """Werkzeug's server closed every connection; this one keeps it, and a body the app does not read
    (a PUT to a bucket that does not exist) is drained, so the next request on the connection parses."""
    address = urlsplit(aws.endpoint)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        answers, sockets = [], []
        for method, path, body in (
            ("PUT", f"/{aws.input_bucket}/kept-alive.csv", b"a,b\n" * 5000),
            ("PUT", "/no-such-bucket/x.csv", b"unread," * 20000),
            ("GET", f"/{aws.input_bucket}?list-type=2&prefix=kept-", None),
            ("HEAD", f"/{aws.input_bucket}", None),
        ):
            connection.request(method, path, body=body, headers={"Host": address.netloc})
            response = connection.getresponse()
            answers.append((response.status, response.getheader("Connection"), response.read()))
            sockets.append(connection.sock)  # http.client drops its socket after a "Connection: close"
    finally:
        connection.close()
    assert [status for status, _, _ in answers] == [200, 404, 200, 200]
    assert all(header != "close" for _, header, _ in answers)
    assert b"<Key>kept-alive.csv</Key><LastModified>" in answers[2][2]
    assert sockets[0] is not None
    assert all(sock is sockets[0] for sock in sockets)
