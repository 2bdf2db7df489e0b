"""Start a private Dovecot IMAP server in a directory, for the IMAP tests and bench/imap.py.

The server listens on 127.0.0.1 on a free port, without TLS; with ``tls=True``
it also listens on a second port for implicit TLS (imaps) and offers STARTTLS
on the first, with a certificate from a throwaway CA made for it (its
``ca_file`` is what a client must trust). Users log in
with a plaintext password (one passwd-file per user, so tests can add a
fresh user, and so a fresh mailbox, at any time) or with an XOAUTH2 token
that the helper's own token-info endpoint vouches for. Every mailbox is a
Maildir under the directory. The mail is owned by the current user, or by
``nobody`` when that is root (Dovecot refuses mail access as root), so the
directory is made by the helper itself, traversable by that user, and
removed by ``cleanup()``.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from imapclient import IMAPClient

from .certs import TlsFiles, make_certificates

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

_OAUTH2_CONFIG = """\
tokeninfo_url = {url}?access_token=
username_attribute = username
active_attribute = active
active_value = true
"""

_SSL = """\
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}"""

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
# Dovecot never gives mail access to root: under root the mail belongs to nobody.
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
mailbox_idle_check_interval = 1 secs
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
# No growing delay after failed logins (the bad-credential tests make many):
# the auth process cannot reach anvil's penalty socket.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# One passwd-file per user: a new file is read at once, while Dovecot re-reads
# a changed file at most once a second.
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
# XOAUTH2 tokens are checked against a token-info endpoint that the helper runs.
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = home={root}/home/%u
}}
"""


def dovecot_available() -> bool:
    return os.access(DOVECOT, os.X_OK)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _existing_user(*names: str) -> str:
    """The first of these system users that exists (Dovecot's unprivileged helpers run as it)."""
    if os.getuid() != 0:  # an unprivileged Dovecot cannot switch users: everything runs as us
        return pwd.getpwuid(os.getuid()).pw_name
    for name in names:
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    return "nobody"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


class TokenInfo:
    """A tiny OAuth2 token-info endpoint: Dovecot asks it who an XOAUTH2 access token belongs to."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        tokens = self.tokens

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server API
                token = (parse_qs(urlsplit(self.path).query).get("access_token") or [""])[0]
                user = tokens.get(token)
                body = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="dovecot-tokeninfo", daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/tokeninfo"

    def close(self) -> None:
        self.httpd.shutdown()
        self.thread.join()
        self.httpd.server_close()


class Dovecot:
    """One Dovecot instance; ``start()``/``stop()`` may be called again (same port, same mail)."""

    def __init__(self, port: int | None = None, *, tls: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="maildesk-dovecot-"))
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.tls: TlsFiles | None = make_certificates(self.root / "tls") if tls else None
        self.tls_port = free_port() if tls else 0  # 0: no imaps listener
        self.process: subprocess.Popen[bytes] | None = None
        internal_user = _existing_user("dovecot", "nobody")
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            self.root.chmod(0o711)
            for sub in ("mail", "home"):
                (self.root / sub).mkdir()
                os.chown(self.root / sub, uid, gid)
        self.token_info = TokenInfo()
        (self.root / "oauth2.conf.ext").write_text(_OAUTH2_CONFIG.format(url=self.token_info.url))
        (self.root / "oauth2.conf.ext").chmod(0o644)
        self.config = self.root / "dovecot.conf"
        self.config.write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                uid=uid,
                gid=gid,
                tls_port=self.tls_port,
                ssl=_SSL.format(cert=self.tls.cert_file, key=self.tls.key_file) if self.tls else "ssl = no",
                login_user=_existing_user("dovenull", "nobody"),
                internal_user=internal_user,
            )
        )
        # The auth process reads the passwd-files as the internal user.
        self._auth_user = pwd.getpwnam(internal_user) if os.getuid() == 0 else None
        (self.root / "users").mkdir(mode=0o700)
        if self._auth_user is not None:
            os.chown(self.root / "users", self._auth_user.pw_uid, self._auth_user.pw_gid)
        self._passwords: dict[str, str] = {}

    # -- lifecycle ------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        if self.process is not None:
            return
        log = self.root / "dovecot.stderr"
        with open(log, "ab") as stderr:
            self.process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"dovecot exited at start: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not listen on port {self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the server and every process of it, dropping open sessions as a crash or restart would."""
        process, self.process = self.process, None
        if process is None:
            return
        # Dovecot's master exits on SIGTERM but leaves busy imap processes serving their
        # sessions; the whole process group (ours alone: started in a new session) goes.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and _group_alive(process.pid):
                process.poll()
                time.sleep(0.02)
            if not _group_alive(process.pid):
                break
        process.wait()

    def cleanup(self) -> None:
        """Stop the server and remove its directory with all the mail."""
        self.stop()
        self.token_info.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def logins(self, user: str) -> list[str]:
        """The server's log lines for the user's logins; each ends with "TLS" when it came over TLS."""
        path = self.root / "dovecot.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return [
            line
            for line in text.splitlines()
            if "imap-login: Info: Login: " in line and f"user=<{user}>" in line
        ]

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- users and mail --------------------------------------------------------

    def add_user(self, name: str, password: str) -> None:
        self._passwords[name] = password
        path = self.root / "users" / name
        path.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
        if self._auth_user is not None:
            os.chown(path, self._auth_user.pw_uid, self._auth_user.pw_gid)

    def issue_token(self, name: str) -> str:
        """A fresh XOAUTH2 access token for the user."""
        token = f"tok-{secrets.token_hex(12)}"
        self.token_info.tokens[token] = name
        return token

    def password_file(self, name: str) -> Path:
        """A file that holds the user's password, for ``password_file`` in the settings."""
        path = self.root / "secrets" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(self._passwords[name] + "\n")
        return path

    def client(self, user: str) -> IMAPClient:
        """A logged-in client; the caller logs out (use it as a context manager)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=30)
        try:
            client.login(user, self._passwords[user])
        except BaseException:
            client.shutdown()
            raise
        return client

    def append(self, user: str, folder: str, messages: Iterable[bytes], chunk: int = 200) -> None:
        """Put messages in a folder (created if missing) with MULTIAPPEND, ``chunk`` at a time."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            batch: list[bytes] = []
            for data in messages:
                batch.append(data)
                if len(batch) >= chunk:
                    client.multiappend(folder, batch)
                    batch = []
            if batch:
                client.multiappend(folder, batch)
