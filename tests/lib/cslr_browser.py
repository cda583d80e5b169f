"""Open a web UI in a real browser, from a machine of the admin network, for testinfra tests.

The browser is headless Chromium in the lab image cslr-lab/browser:1 (images/browser), run
as a throwaway container on the outer Docker engine, attached to the lab network with an
address of its own: it stands in for a user's workstation. Its `cslr-browse` command opens
the page, waits for the data the page's JavaScript fetches (the Ray dashboard and the MLflow
UI are React apps), and keeps a screenshot and the rendered DOM::

    from cslr_browser import browse
    page = browse("http://10.213.250.10:8265/#/cluster", network="cslr-lab-admin",
                  ip="10.213.250.20", out_dir=artifacts, name="ray-nodes",
                  expect=["10.213.250.10 (Head)"])
    assert "ALIVE" in page.text
    # page.png, page.html_path: the artifacts; page.summary: timings, failed requests

Standard library only (subprocess + the docker CLI). The output folder is bind-mounted, so
it must be a path on the Docker engine's machine (the outer engine: this machine).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass, field

DEFAULT_IMAGE = os.environ.get("CSLR_BROWSER_IMAGE", "cslr-lab/browser:1")
BROWSER_UID = 1000  # user browser in the image

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class BrowserError(AssertionError):
    """The page could not be opened, or what was expected is not on it.

    An AssertionError, so pytest shows it as a test failure with its message: the reason,
    the requests the page made that failed, and Chromium's stderr where it failed itself.
    """

    def __init__(self, message: str, page: "Page | None" = None):
        super().__init__(message)
        self.page = page


@dataclass
class Page:
    url: str
    dom: str  # document.documentElement.outerHTML after the page's JavaScript ran
    text: str  # document.body.innerText: what a user reads on the page
    png: str  # path of the screenshot (1400x1000 unless window= says otherwise)
    html_path: str  # path of the saved DOM (dom, written to a file)
    summary: dict = field(default_factory=dict)  # cslr-browse's JSON line (timings, title...)

    @property
    def failed_requests(self) -> list[str]:
        return self.summary.get("failed_requests", [])


def _prepare_out_dir(out_dir: str) -> str:
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    st = os.stat(out_dir)
    if st.st_uid != BROWSER_UID and (st.st_mode & 0o002) == 0:
        # the browser runs as uid 1000 and writes here
        try:
            os.chmod(out_dir, 0o1777)
        except PermissionError as e:
            raise BrowserError(f"{out_dir}: not writable by uid {BROWSER_UID} and cannot chmod it: {e}") from None
    return out_dir


def _read(path: str, mode: str = "r"):
    try:
        with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            return f.read()
    except FileNotFoundError:
        return None


def browse(url: str, network: str, ip: str | None, out_dir: str, name: str,
           wait_ms: int = 20000, expect: list[str] | tuple[str, ...] | str = (), *,
           settle_ms: int | None = None, window: str = "1400x1000",
           add_hosts: dict[str, str] | None = None, image: str = DEFAULT_IMAGE,
           timeout_s: float | None = None, container_prefix: str = "cslr-browser-",
           docker: str = "docker", check: bool = True, cookies: dict[str, str] | None = None,
           headers: dict[str, str] | None = None) -> Page:
    """Open URL in headless Chromium on Docker network NETWORK (at address IP, or one
    Docker picks when IP is None) and return the page as rendered.

    Writes OUT_DIR/NAME.png (screenshot), NAME.html (DOM), NAME.txt (visible text) and
    NAME.log (Chromium's stderr); they stay there as test artifacts.

    Waiting: up to WAIT_MS from navigation, until every EXPECT text is in the page's text
    (a str is one text), or without EXPECT until the network has been idle for SETTLE_MS
    (cslr-browse's default 1500).

    Raises BrowserError when the page cannot be loaded (connection refused, HTTP error,
    Chromium failing: the message carries Chromium's stderr) or, with check=True (default),
    when an EXPECT text is not on the page within WAIT_MS (the message lists the failed
    requests of the page: an API call refused with 403 is the usual cause). The container
    (named CONTAINER_PREFIX + NAME + a random suffix) is removed in every case, also when
    it runs past TIMEOUT_S (default WAIT_MS + 60 s).

    COOKIES (name -> value) are set for the URL's origin before it is opened, HEADERS are sent
    with every request of the page; both reach the container through its environment, not its
    command line.
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"name {name!r}: letters, digits, '.', '_' and '-' only")
    if isinstance(expect, str):
        expect = [expect]
    out_dir = _prepare_out_dir(out_dir)
    for ext in ("png", "html", "txt", "log"):  # no stale artifacts from an earlier run
        try:
            os.unlink(os.path.join(out_dir, f"{name}.{ext}"))
        except FileNotFoundError:
            pass
    cname = f"{container_prefix}{name}-{uuid.uuid4().hex[:8]}"
    if timeout_s is None:
        timeout_s = wait_ms / 1000.0 + 60
    cmd = [docker, "run", "--rm", "--name", cname, "--network", network,
           "--label", "org.cslr.browser=1",
           "-v", f"{out_dir}:/out"]
    env = dict(os.environ)
    for var, value in (("CSLR_BROWSE_COOKIES", cookies), ("CSLR_BROWSE_HEADERS", headers)):
        if value:
            env[var] = json.dumps(value)
            cmd += ["-e", var]
    if ip:
        cmd += ["--ip", ip]
    for host, addr in (add_hosts or {}).items():
        cmd += ["--add-host", f"{host}:{addr}"]
    cmd += [image, "cslr-browse", url, f"/out/{name}", str(int(wait_ms)), "--window", window]
    if settle_ms is not None:
        cmd += ["--settle-ms", str(int(settle_ms))]
    for e in expect:
        cmd += ["--expect", e]

    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as e:
        err = e.stderr or b""  # bytes even with text=True
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        raise BrowserError(f"browser container {cname} ran past {timeout_s:.0f}s opening {url} "
                           f"and was removed; its stderr: {err.strip()[-2000:] or '(none)'}") from None
    finally:
        # --rm removes it when it ends; this removes it when it did not (timeout, Ctrl-C)
        subprocess.run([docker, "rm", "-fv", cname], capture_output=True, text=True)

    summary = {}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                summary = json.loads(line)
                break
            except ValueError:
                pass
    base = os.path.join(out_dir, name)
    dom = _read(base + ".html")
    page = Page(url=url, dom=dom or "", text=_read(base + ".txt") or "", png=base + ".png",
                html_path=base + ".html", summary=summary)
    if proc.returncode == 0 or (proc.returncode == 2 and not check):
        if dom is None or not os.path.exists(page.png):
            raise BrowserError(f"cslr-browse {url}: exit 0 but no {base}.html/.png; stdout: {proc.stdout[-2000:]}", page)
        return page
    if proc.returncode == 2:
        raise BrowserError(
            f"{url}: {summary.get('error', 'expected text not on the page')} "
            f"(title {summary.get('title')!r}; screenshot {page.png}, DOM {page.html_path}); "
            f"page text starts: {page.text[:600]!r}", page)
    raise BrowserError(f"cslr-browse {url} failed (exit {proc.returncode}): {proc.stderr.strip()[-4000:]}", page)
