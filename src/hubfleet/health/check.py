"""Health check of a running hub, through the JupyterHub REST API with a service token.

Steps (each timed; a failure names its step):

1. `create_user`   create the check user through the API (an existing one is reused)
2. `start_server`  ask the hub to start its default server
3. `wait_ready`    poll the user model until the server is ready
4. `open_default_url` the page a person lands on: the server's URL plus the hub's
                   `singleuser.defaultUrl` (or the server's own default when unset)
                   must answer 200 with an HTML page of the server (JupyterLab's
                   /lab, say), not a 404 because no user interface is installed
5. `run_notebook`  through the single-user server's Jupyter server API: start a kernel
                   (REST), run the notebook's cells over the kernel's websocket channel,
                   check the output, shut the kernel down
6. `stop_server`   stop the server and wait until it is gone
7. `delete_user`   delete the check user

When a step fails, the server and user are cleaned up (best effort) and the whole
sequence is attempted again, up to `attempts` times, each within `attempt_timeout`.
Standard library plus tornado (JupyterHub's own dependency) for the websocket.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hubfleet.base.redact import Redactor

DEFAULT_USER = "hubfleet-health-check"
STEPS = (
    "create_user",
    "start_server",
    "wait_ready",
    "open_default_url",
    "run_notebook",
    "stop_server",
    "delete_user",
)
# The check of a hub without its user-server part (production hubs after their upgrade):
# the hub answers its API through the proxy, so hub pod, proxy and routing all work. It
# needs no token: `GET /hub/api/` is public.
API_STEPS = ("hub_api",)
# The notebook the check runs: its output must contain EXPECTED.
NOTEBOOK_CELLS = ("answer = 6 * 7", "print(answer)")
EXPECTED = "42"
POLL_S = 0.5


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    duration_s: float
    message: str


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    steps: tuple[StepResult, ...]
    failed_step: str | None
    attempts: int
    duration_s: float

    @property
    def message(self) -> str:
        if self.ok:
            return f"healthy ({self.duration_s:.1f}s, attempt {self.attempts})"
        failed = next((s for s in self.steps if not s.ok), None)
        detail = f": {failed.message}" if failed else ""
        return f"step {self.failed_step} failed after {self.attempts} attempt(s){detail}"


class StepFailed(Exception):
    pass


class _Api:
    """A tiny JSON client for the hub and the user's server, with a deadline."""

    def __init__(
        self, url: str, token: str, deadline: float, default_url: str | None = None
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token
        self.deadline = deadline
        self.default_url = default_url

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StepFailed("attempt timed out")
        return left

    def request(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        if self.token:
            req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=min(30.0, self.remaining())) as resp:
                return resp.status, _json(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, _json(err.read())
        except (OSError, urllib.error.URLError) as err:
            raise StepFailed(f"{method} {_path(url)}: {err}") from err

    def hub(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request(method, self.url + "hub/api/" + path, body)

    def page(self, url: str) -> tuple[int, str, str]:
        """GET a page (redirects followed): (status, content type, final URL)."""
        req = urllib.request.Request(url, headers={"Accept": "text/html"})
        req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=min(30.0, self.remaining())) as resp:
                resp.read()
                return resp.status, resp.headers.get("Content-Type", ""), resp.geturl()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", ""), err.geturl()
        except (OSError, urllib.error.URLError) as err:
            raise StepFailed(f"GET {_path(url)}: {err}") from err


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        return raw.decode("utf-8", errors="replace")[:200]


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path


def _why(status: int, body: Any) -> str:
    if isinstance(body, dict) and body.get("message"):
        return f"HTTP {status}: {body['message']}"
    return f"HTTP {status}"


def _user_model(api: _Api, user: str) -> dict[str, Any]:
    status, body = api.hub("GET", f"users/{user}")
    if status != 200 or not isinstance(body, dict):
        raise StepFailed(f"cannot read user {user!r}: {_why(status, body)}")
    return body


def _create_user(api: _Api, user: str) -> str:
    status, body = api.hub("POST", f"users/{user}")
    if status == 201:
        return f"created user {user!r}"
    if status == 409:
        return f"reusing existing user {user!r}"
    raise StepFailed(f"cannot create user {user!r}: {_why(status, body)}")


def _start_server(api: _Api, user: str) -> str:
    status, body = api.hub("POST", f"users/{user}/server")
    if status in (201, 202):
        return "server started" if status == 201 else "server spawn pending"
    if status == 400 and "already" in _why(status, body):
        return "server already running"
    raise StepFailed(f"cannot start the server: {_why(status, body)}")


def _wait_ready(api: _Api, user: str) -> str:
    while True:
        server = _user_model(api, user).get("servers", {}).get("")
        if not server:
            raise StepFailed("the server stopped while starting (see the hub's log)")
        if server.get("ready"):
            return f"server ready at {server.get('url')}"
        api.remaining()
        time.sleep(POLL_S)


def _server_url(api: _Api, user: str) -> str:
    server = _user_model(api, user).get("servers", {}).get("")
    if not server or not server.get("ready"):
        raise StepFailed("the server is not running")
    split = urllib.parse.urlsplit(api.url)
    return f"{split.scheme}://{split.netloc}{server['url']}"


def _open_default_url(api: _Api, user: str) -> str:
    server = _server_url(api, user)
    url = server + (api.default_url or "").lstrip("/")
    status, content_type, final = api.page(url)
    where = _path(url) + (f" (redirected to {_path(final)})" if final != url else "")
    if status != 200:
        hint = " (is the user interface, e.g. JupyterLab, installed?)" * (status == 404)
        raise StepFailed(f"GET {where}: HTTP {status}{hint}")
    if "text/html" not in content_type:
        raise StepFailed(f"GET {where}: {content_type or 'no content type'}, not an HTML page")
    if not _path(final).startswith(_path(server)):
        raise StepFailed(f"GET {where}: left the user's server (not authorised?)")
    return f"{where}: HTTP 200, HTML page"


def _run_notebook(api: _Api, user: str) -> str:
    server = _server_url(api, user)
    status, body = api.request("POST", server + "api/kernels", {})
    if status not in (200, 201) or not isinstance(body, dict) or "id" not in body:
        raise StepFailed(f"cannot start a kernel: {_why(status, body)}")
    kernel = str(body["id"])
    try:
        ws_url = "ws" + server[len("http") :] + f"api/kernels/{kernel}/channels"
        output = _in_new_loop(lambda: _execute(ws_url, api.token, NOTEBOOK_CELLS, api.remaining()))
    finally:
        with contextlib.suppress(StepFailed):
            api.request("DELETE", server + f"api/kernels/{kernel}")
    if EXPECTED not in output:
        raise StepFailed(f"unexpected notebook output {output.strip()[:200]!r}")
    return f"notebook ran on kernel {kernel[:8]}: output {output.strip()!r}"


def _in_new_loop(make: Callable[[], Any]) -> str:
    """Run a coroutine on a fresh event loop, even when called from inside a running one."""

    def run() -> str:
        result: str = asyncio.run(make())
        return result

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _message(code: str, session: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "msg_type": "execute_request",
            "username": "hubfleet",
            "session": session,
            "version": "5.3",
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


async def _execute(ws_url: str, token: str, cells: tuple[str, ...], timeout: float) -> str:
    from tornado.httpclient import HTTPRequest  # lazy: kernel check only; `local status` needs none
    from tornado.websocket import websocket_connect  # lazy: as above

    request = HTTPRequest(
        ws_url,
        headers={"Authorization": f"token {token}"},
        connect_timeout=min(30.0, timeout),
        request_timeout=timeout,
    )
    deadline = time.monotonic() + timeout
    conn = await asyncio.wait_for(websocket_connect(request), timeout)
    output: list[str] = []
    session = uuid.uuid4().hex
    try:
        for code in cells:
            msg = _message(code, session)
            msg_id = msg["header"]["msg_id"]
            await conn.write_message(json.dumps(msg))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StepFailed("timed out waiting for the kernel")
                raw = await asyncio.wait_for(conn.read_message(), left)
                if raw is None:
                    raise StepFailed("the kernel's websocket closed")
                reply = json.loads(raw)
                if reply.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = reply.get("msg_type") or reply.get("header", {}).get("msg_type")
                content = reply.get("content", {})
                if kind == "stream":
                    output.append(str(content.get("text", "")))
                elif kind == "execute_result":
                    output.append(str(content.get("data", {}).get("text/plain", "")))
                elif kind == "error":
                    raise StepFailed(
                        f"cell {code!r} raised {content.get('ename')}: {content.get('evalue')}"
                    )
                elif kind == "status" and content.get("execution_state") == "idle":
                    break
    finally:
        conn.close()
    return "".join(output)


def _stop_server(api: _Api, user: str) -> str:
    status, body = api.hub("DELETE", f"users/{user}/server")
    if status not in (202, 204):
        if status == 400 and "not running" in _why(status, body):
            return "server was not running"
        raise StepFailed(f"cannot stop the server: {_why(status, body)}")
    while _user_model(api, user).get("servers", {}).get(""):
        api.remaining()
        time.sleep(POLL_S)
    return "server stopped"


def _delete_user(api: _Api, user: str) -> str:
    status, body = api.hub("DELETE", f"users/{user}")
    if status in (204, 404):
        return f"deleted user {user!r}"
    raise StepFailed(f"cannot delete user {user!r}: {_why(status, body)}")


def _hub_api(api: _Api, user: str) -> str:
    status, body = api.hub("GET", "")
    version = body.get("version") if isinstance(body, dict) else None
    if status != 200 or not isinstance(version, str):
        raise StepFailed(f"GET {_path(api.url)}hub/api/: {_why(status, body)}")
    return f"JupyterHub {version} answers"


_ACTIONS: dict[str, Callable[[_Api, str], str]] = {
    "hub_api": _hub_api,
    "create_user": _create_user,
    "start_server": _start_server,
    "wait_ready": _wait_ready,
    "open_default_url": _open_default_url,
    "run_notebook": _run_notebook,
    "stop_server": _stop_server,
    "delete_user": _delete_user,
}


def _cleanup(url: str, token: str, user: str) -> None:
    """Best effort after a failed attempt: no server, no user left behind."""
    api = _Api(url, token, time.monotonic() + 30.0)
    for action in (_stop_server, _delete_user):
        try:
            action(api, user)
        except StepFailed:
            continue


def _attempt(
    url: str,
    token: str,
    user: str,
    timeout: float,
    scrub: Callable[[str], str],
    default_url: str | None = None,
    steps: tuple[str, ...] = STEPS,
) -> list[StepResult]:
    api = _Api(url, token, time.monotonic() + timeout, default_url)
    results = []
    for name in steps:
        began = time.monotonic()
        try:
            message = _ACTIONS[name](api, user)
            ok = True
        except StepFailed as err:
            message, ok = str(err), False
        except Exception as err:  # a bug or an odd answer must still name the step
            message, ok = f"{type(err).__name__}: {err}", False
        results.append(StepResult(name, ok, round(time.monotonic() - began, 3), scrub(message)))
        if not ok:
            break
    return results


def check_hub(
    url: str,
    token: str,
    *,
    user: str = DEFAULT_USER,
    attempts: int = 3,
    attempt_timeout: float = 120.0,
    retry_delay: float = 2.0,
    redactor: Redactor | None = None,
    default_url: str | None = None,
    steps: tuple[str, ...] = STEPS,
) -> CheckResult:
    """Run the health check against the hub at `url` (its public URL, with base URL).

    `token` is a service token with the scopes the local provider grants
    (`hubfleet.local.hubconfig.health_scopes`): admin:users, servers and
    access:servers, each filtered to the check user. `default_url` is the hub's
    `singleuser.defaultUrl` (None: the server's own default page is opened). `steps`:
    `API_STEPS` checks only that the hub answers its API (no token needed, no user made).
    """
    if redactor is not None and token:
        redactor.add(token)
    scrub = redactor.scrub if redactor is not None else (lambda text: text)
    started = time.monotonic()
    attempts = max(1, attempts)
    for attempt in range(1, attempts + 1):
        done = _attempt(url, token, user, attempt_timeout, scrub, default_url, steps)
        failed = next((s.name for s in done if not s.ok), None)
        if failed is None:
            return CheckResult(True, tuple(done), None, attempt, time.monotonic() - started)
        if token:
            _cleanup(url, token, user)
        if attempt < attempts:
            time.sleep(retry_delay)
    return CheckResult(False, tuple(done), failed, attempts, time.monotonic() - started)


def base_url_of(values: Mapping[str, Any]) -> str:
    """The hub's base URL (`hub.baseUrl`, default "/"), always ending with "/"."""
    hub = values.get("hub")
    base = hub.get("baseUrl") if isinstance(hub, Mapping) else None
    text = str(base or "/")
    return "/" + text.strip("/") + "/" if text.strip("/") else "/"


def health_scopes(user: str) -> list[str]:
    """The only scopes the health-check service holds: its own user, nothing else."""
    return [
        f"admin:users!user={user}",
        f"servers!user={user}",
        f"access:servers!user={user}",
    ]
