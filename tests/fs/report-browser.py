#!/usr/bin/env python3
"""Loads a page in headless Chromium with JavaScript off; saves its DOM and a screenshot.

Usage: report-browser.py PROFILE_DIR URL DOM_OUT PNG_OUT
       report-browser.py --type TEXT PROFILE_DIR URL DOM_OUT PNG_OUT

With --type, JavaScript stays on and TEXT is typed into the page's filter
box (focused, then inserted as keyboard input would be) before the DOM
and the screenshot are taken: what a reader who filters sees.

`chromium --dump-dom` prints nothing once scripts are disabled (it reads
the DOM with a script of its own), so this drives Chromium through the
DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 to Chromium,
fd 4 from it, NUL-terminated JSON): scripts are disabled for the page before
it loads, then the DOM is serialized and a 1280x900 screenshot taken.
"""
import base64
import json
import os
import subprocess
import sys
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--remote-debugging-pipe"]


class Browser:
    def __init__(self, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        os.set_inheritable(to_chrome_r, True)
        os.set_inheritable(from_chrome_w, True)

        def fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            ["chromium", *FLAGS, "--user-data-dir=" + profile, "about:blank"],
            preexec_fn=fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id, self.buf, self.events = 0, b"", []

    def _read(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise EOFError("Chromium went away")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, session=None, timeout=60, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method, timeout=60):
        deadline = time.time() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def type_into_filter(b, s, text):
    """Focuses #filter and types @text into it, as a reader would."""
    root = b.call("DOM.getDocument", s, depth=0)["root"]
    node = b.call("DOM.querySelector", s, nodeId=root["nodeId"], selector="#filter")["nodeId"]
    if not node:
        sys.exit("no #filter in the page")
    b.call("DOM.focus", s, nodeId=node)
    b.call("Input.insertText", s, text=text)


def main(profile, url, dom_out, png_out, typed=None):
    b = Browser(profile)
    try:
        target = b.call("Target.createTarget", url="about:blank")["targetId"]
        s = b.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        if typed is None:
            b.call("Emulation.setScriptExecutionDisabled", s, value=True)
        b.call("Emulation.setDeviceMetricsOverride", s, width=1280, height=900,
               deviceScaleFactor=1, mobile=False)
        b.call("Page.enable", s)
        b.call("Page.navigate", s, url=url)
        b.wait_event("Page.loadEventFired")
        if typed is not None:
            type_into_filter(b, s, typed)
        root = b.call("DOM.getDocument", s, depth=-1)["root"]
        html = b.call("DOM.getOuterHTML", s, nodeId=root["nodeId"])["outerHTML"]
        with open(dom_out, "w", encoding="utf-8") as f:
            f.write(html)
        png = b.call("Page.captureScreenshot", s, format="png")["data"]
        with open(png_out, "wb") as f:
            f.write(base64.b64decode(png))
    finally:
        b.close()


if __name__ == "__main__":
    if sys.argv[1] == "--type":
        main(*sys.argv[3:], typed=sys.argv[2])
    else:
        main(*sys.argv[1:])
