"""A deadline for a request's line and headers, which uvicorn lacks (slowloris).

In: the seconds a client has, from its connection or from the first byte of a request, to finish the
request line and headers (params.yaml `serve.header_timeout_s`). Out: an HTTP protocol class for
`uvicorn.run(http=...)`: uvicorn's own httptools protocol, plus a timer armed when a connection opens
or a request begins and cancelled when the headers are complete. A client that has not finished by
then gets 408 and the connection is closed, so one that sends a byte per second cannot hold it. (The
keep-alive timeout is cancelled by any byte received, and the body has its own deadline, at the door
of models/serving/door.py.)
"""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n\r\n%s")


def header_deadline_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with a `seconds` deadline on each request's line and headers."""
    if not seconds > 0:
        raise ValueError(f"serve.header_timeout_s must be a positive number of seconds, not {seconds!r}")

    class HeaderDeadline(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()  # a client that connects and sends nothing is timed too

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            log.info("%s: request line and headers not received within %s s: connection closed",
                     "%s:%d" % self.client if self.client else "client", seconds)
            if self.cycle is None or self.cycle.response_complete:  # not in the middle of another answer
                body = b'{"detail": "request headers not received within %g s"}' % seconds
                self.transport.write(_408 % (len(body), body))
            self.transport.close()

    return HeaderDeadline
