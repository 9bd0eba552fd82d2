"""A run that listens: the listener, the call's audio stream, and its stop in every ending.

Before the first step of a flow with listening waits: the WebSocket listener starts on
`--listen HOST:PORT`, and Vobiz is asked to fork the call's audio to the public
`--stream-url` with this run's unguessable path (`POST .../Call/{uuid}/Stream/`). After
the last, whatever the ending (done, failed, the call gone, ^C), the stream is stopped
(`DELETE .../Stream/{id}/`, or every stream of the call when the start did not say
which). Everything is checked before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ivrflow.engine.clock import Clock
from ivrflow.engine.ears import Ears
from ivrflow.engine.hearing import SpotterFactory
from ivrflow.errors import ExitCode, InvalidInput
from ivrflow.language.model import Flow, Listen
from ivrflow.transport.answers import status_message
from ivrflow.transport.base import AuthDenied, CallGone, StreamStarted
from ivrflow.transport.checks import LOOPBACK, check_public_base
from ivrflow.transport.vobiz import VobizTransport

if TYPE_CHECKING:
    from ivrflow.engine.hearing import RecognizerSpotter
    from ivrflow.transport.audio_stream import AudioStreamServer

DEFAULT_LISTEN = "127.0.0.1:8765"
STOP_WITHIN = 5.0  # seconds the stream's stop may take when the run ends
EXTRA = 'pip install "ivrflow[listen]"'


@dataclass(frozen=True, slots=True)
class Listening:
    """Where the listener runs (`host`, `port`) and where Vobiz reaches it (`public`)."""

    host: str
    port: int
    public: str  # "" with the sandbox: the listener's own ws:// address on loopback
    spotter: SpotterFactory | None = None  # for the heard waits, loaded while checking
    record: Path | None = None  # --record-audio: a directory for one WAV file a call


def parse_listen(text: str) -> tuple[str, int]:
    """`--listen HOST:PORT` (HOST an IP address or localhost)."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"--listen {text!r}: give HOST:PORT, such as {DEFAULT_LISTEN}")
    return host, int(port)


def check_stream_url(url: str) -> str:
    """`--stream-url`: a wss:// base (ws:// only on loopback), no query or credentials."""
    return check_public_base(url, "--stream-url", secure="wss", plain="ws",
                             example="wss://abc.example.net", what="the call's audio")


def check_detection(flow: Flow) -> SpotterFactory | None:
    """What listening needs to judge this flow's waits: the [listen] extra, and every
    word of its phrases known to the recognizer (refused, exit 2, otherwise). Returns the
    phrase spotter for its `heard` waits (None: it has none)."""
    first = next(s for s in flow.steps if isinstance(s, Listen))
    where = f"{flow.path}:{first.line}:{first.column}: step {first.number}"
    missing = [m for m in ("webrtcvad", "pocketsphinx") if importlib.util.find_spec(m) is None]
    if missing:
        raise InvalidInput(f"{where} listens to the call, which needs {' and '.join(missing)}"
                           f": {EXTRA}")
    spotter = None
    for step in flow.steps:
        if isinstance(step, Listen) and step.heard:
            spotter = spotter or _shared_spotter()
            unknown = spotter.unknown_words(list(step.heard))
            if unknown:
                raise InvalidInput(
                    f"{flow.path}:{step.line}:{step.column}: step {step.number}: the "
                    f"recognizer does not know {', '.join(repr(w) for w in unknown)}: "
                    "write the phrase as it is spoken (digits and common words are known)")
    return spotter


_spotter: RecognizerSpotter | None = None


def _shared_spotter() -> RecognizerSpotter:
    """The process's one phrase spotter: loading a decoder takes a while, and one run (or
    `ivrflow test` over many recipes) waits for one phrase at a time."""
    global _spotter
    if _spotter is None:
        from ivrflow.engine.hearing import RecognizerSpotter

        _spotter = RecognizerSpotter()
    return _spotter


def check_listening(flow: Flow, *, calls: int, sandbox: bool, stream_url: str | None,
                    listen: str, record: str | None = None) -> Listening | None:
    """What a flow with listening waits needs, refused (exit 2) before anything is
    sent; None for a flow that does not listen."""
    first = next((s for s in flow.steps if isinstance(s, Listen)), None)
    if first is None:
        if record is not None:
            raise InvalidInput("--record-audio records what listening waits hear; this flow "
                               "has none")
        return None
    where = f"{flow.path}:{first.line}:{first.column}: step {first.number}"
    if calls > 1:
        raise InvalidInput(f"{where}: a flow that listens runs on one call at a time for now")
    if sandbox and stream_url is not None:
        raise InvalidInput("--stream-url is for live calls: the sandbox streams to the "
                           "listener on loopback by itself")
    if not sandbox and stream_url is None:
        raise InvalidInput(f"{where} listens to the call: pass --stream-url, the public "
                           "wss:// address at which Vobiz reaches the listener on --listen "
                           f"({listen})")
    spotter = check_detection(flow)
    host, port = parse_listen(listen)
    if sandbox:
        if host not in LOOPBACK:
            raise InvalidInput(f"--listen {listen}: with the sandbox the listener stays on "
                               "loopback (127.0.0.1)")
        if listen == DEFAULT_LISTEN:
            port = 0  # any free port: nothing outside needs to know it
    folder = None
    if record is not None:
        folder = Path(record)
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise InvalidInput(f"--record-audio {record!r}: give a directory that exists and "
                               "can be written")
    public = "" if stream_url is None else check_stream_url(stream_url)
    return Listening(host, port, public, spotter, folder)


class _Recording:
    """One call's audio as a 16-bit mono WAV file, opened on the first frame."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: wave.Wave_write | None = None

    def write(self, pcm: bytes, rate: int) -> None:
        if self._file is None:
            self._file = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
            self._file.setnchannels(1)
            self._file.setsampwidth(2)
            self._file.setframerate(rate)
        self._file.writeframes(pcm)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class StreamRefused(Exception):
    """The API did not start the stream: `exit_code` and `reason` for the run."""

    def __init__(self, exit_code: ExitCode, reason: str) -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.reason = reason


@contextlib.asynccontextmanager
async def call_audio(transport: VobizTransport, call: str, flow: Flow, listening: Listening,
                     clock: Clock, server: AudioStreamServer | None = None
                     ) -> AsyncIterator[Ears]:
    """Ears on `call` for the length of the block; the stream stopped at its end.
    `server`: the run's listener when it is already up (a placed call's callbacks share
    it); otherwise one is started on `listening`'s address and stopped at the end."""
    from ivrflow.engine.stream_ears import StreamEars
    from ivrflow.transport.audio_stream import AudioStreamServer

    own = server is None
    if server is None:
        server = await open_listener(AudioStreamServer(listening.host, listening.port))
    try:
        server.expected_call = call
        public = listening.public or f"ws://{url_host(listening.host)}:{server.port}"
        outcome = await transport.start_stream(call, server.service_url(public),
                                               track=flow.track)
        if not isinstance(outcome, StreamStarted):
            detail = f": {outcome.detail}" if outcome.detail else ""
            code = (ExitCode.CALL_NOT_LIVE if isinstance(outcome, CallGone) else
                    ExitCode.AUTH_REFUSED if isinstance(outcome, AuthDenied) else
                    ExitCode.STEP_FAILED)
            said = outcome.message or status_message(outcome.status or 0)
            raise StreamRefused(code, f"the call's audio stream could not be started "
                                      f"({said}{detail}); nothing was sent")
        server.expected_stream = outcome.stream_id
        recording = _Recording(listening.record / f"{call}.wav") if listening.record else None
        ears = StreamEars(server, clock, spotter=listening.spotter,
                          record=None if recording is None else recording.write)
        try:
            yield ears
        finally:
            if recording is not None:
                ears.drain()
                recording.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(transport.stop_stream(call, outcome.stream_id),
                                       STOP_WITHIN)
    finally:
        if own:
            await server.__aexit__(None, None, None)


async def open_listener(server: AudioStreamServer) -> AudioStreamServer:
    """Start the run's listener; a port that cannot be listened on is exit 2."""
    try:
        await server.__aenter__()
    except OSError as exc:
        raise InvalidInput(f"--listen {server.host}:{server.port}: cannot listen there "
                           f"({exc.strerror or exc}); pick another port") from None
    return server


def url_host(host: str) -> str:
    """A host as it stands in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host
