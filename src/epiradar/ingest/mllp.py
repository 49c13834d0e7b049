"""The MLLP listener: HL7 v2 messages over TCP, each acknowledged after it is on disk.

Framing is python-hl7's asyncio MLLP support (``hl7.mllp``: ``<VT> message <FS><CR>``, HL7 v2.5.1
Appendix C). Each connection reads one message, hands it to the shared
:class:`~epiradar.ingest.messages.MessageWriter` and writes the acknowledgement once the
writer has committed it: ``AA`` applied (or applied before: a resend), ``AE`` / ``AR`` with an
ERR segment naming the field and the reason (the message is then in the quarantine).
Messages of all connections share commits, so many connections cost few disk flushes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hl7.mllp import InvalidBlockError, start_hl7_server

from epiradar.ingest.hl7v2 import ack, parse_message, read_header
from epiradar.ingest.inbound import MessageError
from epiradar.ingest.messages import (
    FailedMessage,
    LoopMessageWriter,
    Message,
    MessageWriter,
    Outcome,
)

log = logging.getLogger(__name__)

CHANNEL = "mllp"
MAX_MESSAGE_BYTES = 1 << 20


def read_message(data: bytes) -> Message:
    """The visit of one framed message, or what to quarantine and answer when it is unreadable."""
    try:
        return parse_message(data)
    except MessageError as error:
        header = read_header(data)
        return FailedMessage(
            _text(data, header.codec), error, header.sending_facility, header.control_id
        )


def reply(data: bytes, outcome: Outcome) -> bytes:
    """The acknowledgement of ``data``, in the message's own character set."""
    header = read_header(data)
    text = ack(
        data, outcome.ack_code, control_id=header.control_id, error=outcome.error, header=header
    )
    return text.encode(header.codec, "replace")


def _text(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return data.decode("utf-8", "surrogateescape")


class MLLPServer:
    """Accepts MLLP connections on ``host:port`` and feeds ``writer``."""

    def __init__(
        self,
        writer: MessageWriter | LoopMessageWriter,
        host: str = "127.0.0.1",
        port: int = 2575,
        *,
        on_message: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.writer = writer
        self.host = host
        self.port = port
        self.on_message = on_message
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await start_hl7_server(
            self._connection, self.host, self.port, limit=MAX_MESSAGE_BYTES
        )
        sockets = self._server.sockets or []
        if sockets and self.port == 0:
            self.port = sockets[0].getsockname()[1]
        log.info("MLLP listening on %s:%d", self.host, self.port)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _connection(self, reader, stream) -> None:  # noqa: ANN001 - hl7.mllp streams
        peer = stream.get_extra_info("peername")
        try:
            while True:
                try:
                    data = await reader.readblock()
                except asyncio.IncompleteReadError as exc:
                    if exc.partial.strip():
                        log.warning(
                            "MLLP %s closed inside a message (%d bytes)", peer, len(exc.partial)
                        )
                    return
                except InvalidBlockError:
                    data = None
                except ValueError:  # over MAX_MESSAGE_BYTES: the rest of the stream is lost
                    data = b""
                if data is None or data == b"":
                    why = "message too large" if data == b"" else "no MLLP start block <VT>"
                    error = MessageError("MLLP", why, code="AR")
                    [outcome] = await self.writer.submit_async(
                        [FailedMessage("", error)], channel=CHANNEL
                    )
                    stream.writeblock(reply(b"", outcome))
                    await stream.drain()
                    if data == b"":
                        return
                    continue
                message = read_message(data)
                [outcome] = await self.writer.submit_async([message], channel=CHANNEL)
                stream.writeblock(reply(data, outcome))
                await stream.drain()
                if self.on_message is not None:
                    self.on_message(outcome)
        except (ConnectionError, asyncio.CancelledError):
            return
        except Exception:
            log.exception("MLLP connection %s failed", peer)
        finally:
            stream.close()
