"""What the fake status pages (tests/fake_statuspage.py, fake_instatus.py, fake_cachet.py) share:
a real aiohttp server on 127.0.0.1 in a thread of its own with its own event loop, so sync tests,
async tests and a daemon subprocess can all talk to it; scripted failures, delays and hangs; and a
log of every request. All test controls are thread-safe and none of them blocks, except
`wait_requests`/`wait_held` (from async tests: `await asyncio.to_thread(...)` those).

A subclass names itself (`NAME`), says where its API lives (`PREFIX`) and which header carries
the credential (`CREDENTIAL`), and brings its routes, validation and data model: `_dispatch`
answers one request that no script intercepted, and `_failure` shapes a scripted error's body.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web


@dataclass(frozen=True)
class Seen:
    """One request as it arrived; `path` is below the fake's `PREFIX`."""

    at: float  # the fake's `clock`: time.monotonic() unless the test set another
    method: str
    path: str
    query: dict[str, str]
    json: Any
    authorization: str | None  # the value of the fake's CREDENTIAL header
    node: str | None = None  # X-Monitor-Node: which node of a cluster sent it

    @property
    def token(self) -> str | None:
        """The credential by Cachet's name for it (the X-Cachet-Token header)."""
        return self.authorization


@dataclass
class Script:
    count: int
    method: str = "*"
    path: str = "*"
    status: int | None = None
    retry_after: float | str | None = None  # a str is sent as is
    delay: float = 0.0
    hang: bool = False  # no effect, no answer until release(); then 503
    accept: bool = False  # the effect, then no answer until release()

    def matches(self, method: str, path: str) -> bool:
        return matches(self.method, self.path, method, path)


def matches(method_glob: str, path_glob: str, method: str, path: str) -> bool:
    return fnmatch.fnmatchcase(method, method_glob.upper()) and fnmatch.fnmatchcase(path, path_glob)


def retry_after_header(seconds: float | str | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": seconds if isinstance(seconds, str) else f"{seconds:g}"}


class FakePage:
    NAME = "page"  # in the thread's name and in timeout messages
    PREFIX = ""  # the API's base path; `Seen.path` is below it
    CREDENTIAL = "Authorization"  # the header logged as `Seen.authorization`
    SHUTDOWN_TIMEOUT = 60.0  # aiohttp's default
    RELEASED = "released by the test"  # the message of a held request's 503

    def __init__(self, api_key: str = "test-key") -> None:
        self.api_key = api_key  # tests may change it at any time
        self.clock: Callable[[], float] = time.monotonic  # stamps `Seen.at`; a test may set it
        self.port = 0
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._components: dict[Any, dict[str, Any]] = {}
        self._incidents: dict[Any, dict[str, Any]] = {}
        self._seen: list[Seen] = []
        self._scripts: list[Script] = []
        self._held: list[asyncio.Event] = []
        self.holds = 0  # requests held so far (hang_next), released or not
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fake-{self.NAME}")
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.PREFIX}"

    def start(self) -> Self:
        self._thread.daemon = True
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(5)
        return self

    def stop(self) -> None:
        self.release()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", self.PREFIX + "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=self.SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner, self.port = runner, runner.addresses[0][1]

    # -- test controls -----------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        retry_after: float | str | None = None,
        method: str = "*",
        path: str = "*",
    ) -> None:
        """The next `count` requests matching `method` and `path` (a glob on `Seen.path`, e.g.
        "*/incidents*") get `status` (with Retry-After when given; a str is sent as is) and have
        no effect."""
        self._script(Script(count, method, path, status=status, retry_after=retry_after))

    def delay_next(self, count: int, seconds: float, *, method: str = "*", path: str = "*") -> None:
        """The next `count` matching requests are answered normally after `seconds`."""
        self._script(Script(count, method, path, delay=seconds))

    def hang_next(
        self, count: int = 1, *, accept: bool = False, method: str = "*", path: str = "*"
    ) -> None:
        """The next `count` matching requests get no answer until `release()`. Without `accept`
        they have no effect (and get a 503 when released); with it they take effect first and
        the real answer is held back, so the client never learns, say, the new incident's id."""
        self._script(Script(count, method, path, hang=not accept, accept=accept))

    def release(self) -> None:
        """Lets every held request go."""
        with self.lock:
            held, self._held = self._held, []
        for event in held:
            self._loop.call_soon_threadsafe(event.set)

    def requests(self, method: str = "*", path: str = "*") -> list[Seen]:
        with self.lock:
            return [s for s in self._seen if matches(method, path, s.method, s.path)]

    def wait_requests(
        self, count: int, *, method: str = "*", path: str = "*", timeout: float = 5.0
    ) -> list[Seen]:
        """Blocks until `count` matching requests have arrived; returns them."""
        self._wait(lambda: len(self.requests(method, path)) >= count, timeout, f"{count} requests")
        return self.requests(method, path)

    def wait_held(self, count: int = 1, timeout: float = 5.0) -> None:
        """Blocks until `count` requests have been held (for `accept`, after their effect)."""
        self._wait(lambda: self.holds >= count, timeout, f"{count} held requests")

    def add_component(self, name: str) -> str:
        """A component made by hand on the page; returns its id (each fake has its own)."""
        raise NotImplementedError

    def incident(self, incident_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._incidents[self._key(incident_id)])

    def incidents(self) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self._incidents.values()))

    def component(self, component_id: str) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._components[self._key(component_id)])

    def _key(self, given: str) -> Any:
        """A test's id for a component or incident as the fake keys it."""
        return given

    def _script(self, script: Script) -> None:
        with self.lock:
            self._scripts.append(script)

    def _wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                raise AssertionError(f"fake {self.NAME}: timed out after {timeout} s for {what}")

    # -- the server --------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path = "/" + request.match_info["tail"]
        credential = request.headers.get(self.CREDENTIAL)
        with self._changed:
            self._seen.append(
                Seen(
                    self.clock(),
                    request.method,
                    path,
                    {**request.query},
                    body,
                    credential,
                    request.headers.get("X-Monitor-Node"),
                )
            )
            self._changed.notify_all()
            matching = (s for s in self._scripts if s.count > 0 and s.matches(request.method, path))
            script = next(matching, Script(0))
            script.count -= 1
        if script.delay:
            await asyncio.sleep(script.delay)
        if script.hang:
            await self._hold()
            return web.json_response(self._failure(503, self.RELEASED), status=503)
        if script.status is not None:
            return web.json_response(
                self._failure(script.status, "scripted failure"),
                status=script.status,
                headers=retry_after_header(script.retry_after),
            )
        with self.lock:
            status, data, headers = self._dispatch(request, path, body, credential)
        if script.accept:
            await self._hold()
        return web.json_response(data, status=status, headers=headers)

    async def _hold(self) -> None:
        event = asyncio.Event()
        with self._changed:
            self._held.append(event)
            self.holds += 1
            self._changed.notify_all()
        await event.wait()

    def _failure(self, status: int, message: str) -> Any:
        """The body of a scripted failure, in the API's error shape."""
        return {"message": message}

    def _dispatch(
        self, request: web.Request, path: str, body: Any, credential: str | None
    ) -> tuple[int, Any, dict[str, str]]:
        """Answers a request no script intercepted (under `lock`): status, JSON body, headers."""
        raise NotImplementedError
