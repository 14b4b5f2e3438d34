"""A STAND-IN for Grafana, for tests only: the part of its contract the grafana role relies on.

Grafana cannot be obtained on our machines. This server answers the few endpoints the role and its
tests use, reads the same environment variables and provisioning files as Grafana, and keeps the
admin's password the way Grafana does: read from the configuration on the first start only, then
kept (as a PBKDF2 hash) in the data volume, changed afterwards by the CLI or the admin API only.
It renders no dashboard, runs no query and connects to no database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

VERSION = "0.0.0-standin"
FILE_REFERENCE = re.compile(r"\$__file\{([^}]*)\}")


def data_dir() -> Path:
    return Path(os.environ.get("GF_PATHS_DATA", "/var/lib/grafana"))


def users_file() -> Path:
    return data_dir() / "standin-users.json"


def provisioning_dir() -> Path:
    return Path(os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"))


def setting(section: str, key: str, default: str) -> str:
    """GF_<SECTION>_<KEY>, or the content of the file GF_<SECTION>_<KEY>__FILE names, verbatim."""
    name = f"GF_{section}_{key}".upper()
    if os.environ.get(name):
        return os.environ[name]
    if os.environ.get(name + "__FILE"):
        return Path(os.environ[name + "__FILE"]).read_text()
    return default


def flag(section: str, key: str, default: bool) -> bool:
    return setting(section, key, str(default).lower()).strip().lower() == "true"


# ----------------------------------------------------------------------------- users
def hash_password(password: str, salt: str) -> str:
    # Grafana's own scheme: PBKDF2-HMAC-SHA256, 10000 rounds, 50 bytes, hex.
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 10000, 50).hex()


def load_users() -> dict:
    return json.loads(users_file().read_text())


def save_users(users: dict) -> None:
    path = users_file()
    partial = path.with_suffix(".partial")
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        json.dump(users, handle)
    partial.replace(path)


def set_password(users: dict, user_id: int, password: str) -> None:
    for user in users.values():
        if user["id"] == user_id:
            user["salt"] = secrets.token_hex(5)
            user["password"] = hash_password(password, user["salt"])
            return
    raise KeyError(user_id)


def create_admin_once() -> None:
    """Like Grafana: the admin account is made from the settings only when the database is new."""
    if users_file().exists():
        return
    login = setting("security", "admin_user", "admin")
    users = {login: {"id": 1, "login": login, "isGrafanaAdmin": True}}
    set_password(users, 1, setting("security", "admin_password", "admin"))
    save_users(users)


def authenticate(header: str | None) -> dict | None:
    if not header or not header.startswith("Basic "):
        return None
    try:
        login, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    user = load_users().get(login)
    if user and hmac.compare_digest(user["password"], hash_password(password, user["salt"])):
        return user
    return None


# ----------------------------------------------------------------------------- provisioning
def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".yaml", ".yml"))


def _check_file_references(path: Path) -> None:
    for reference in FILE_REFERENCE.findall(path.read_text()):
        try:
            Path(reference).read_bytes()
        except OSError as error:
            raise SystemExit(f"provisioning: {path}: $__file{{{reference}}}: {error}") from None


def datasources() -> list[dict]:
    found = []
    for path in _yaml_files(provisioning_dir() / "datasources"):
        _check_file_references(path)
        data = yaml.safe_load(path.read_text()) or {}
        if data.get("apiVersion") != 1:
            raise SystemExit(f"provisioning: {path}: apiVersion must be 1")
        for number, source in enumerate(data.get("datasources") or [], start=1):
            if not source.get("name") or not source.get("type"):
                raise SystemExit(f"provisioning: {path}: datasource {number} needs name and type")
            json_data = source.get("jsonData") or {}
            found.append(
                {
                    "id": len(found) + 1,
                    "uid": source.get("uid", ""),
                    "orgId": source.get("orgId", 1),
                    "name": source["name"],
                    "type": source["type"],
                    "access": source.get("access", "proxy"),
                    "url": source.get("url", ""),
                    "user": source.get("user", ""),
                    "database": json_data.get("database", source.get("database", "")),
                    "isDefault": bool(source.get("isDefault", False)),
                    "jsonData": json_data,
                    # Like Grafana: which secure fields are set, never their values.
                    "secureJsonFields": {k: True for k in source.get("secureJsonData") or {}},
                    "readOnly": not source.get("editable", False),
                }
            )
    return found


def dashboards() -> list[dict]:
    found = []
    for path in _yaml_files(provisioning_dir() / "dashboards"):
        data = yaml.safe_load(path.read_text()) or {}
        if data.get("apiVersion") != 1:
            raise SystemExit(f"provisioning: {path}: apiVersion must be 1")
        for provider in data.get("providers") or []:
            if provider.get("type", "file") != "file":
                continue
            folder = Path((provider.get("options") or {}).get("path", ""))
            if not folder.is_dir():
                raise SystemExit(f"provisioning: {path}: options.path {folder} is not a folder")
            for board_path in sorted(folder.rglob("*.json")):
                try:
                    board = json.loads(board_path.read_text())
                except ValueError as error:
                    raise SystemExit(f"provisioning: {board_path}: {error}") from None
                found.append(
                    {
                        "dashboard": board,
                        "folderTitle": provider.get("folder", ""),
                        "file": str(board_path),
                        "allowUiUpdates": bool(provider.get("allowUiUpdates", False)),
                    }
                )
    return found


# ----------------------------------------------------------------------------- HTTP
LOGIN_PAGE = b"""<!DOCTYPE html>
<html><head><title>Grafana</title></head>
<body><p>Grafana stand-in (tests only, not Grafana)</p>
<form method="post" action="/login"><input name="user"><input name="password" type="password">
</form></body></html>
"""


class Handler(BaseHTTPRequestHandler):
    server_version = "grafana-standin"

    def log_message(self, format: str, *args) -> None:
        sys.stderr.write(f"standin: {self.address_string()} {format % args}\n")

    def _send(self, status: int, body: object, content_type: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def _user(self) -> dict | None:
        user = authenticate(self.headers.get("Authorization"))
        if user is None and flag("auth.anonymous", "enabled", False):
            return {"id": 0, "login": "", "isGrafanaAdmin": False, "anonymous": True}
        return user

    def _unauthorized(self) -> None:
        self._send(HTTPStatus.UNAUTHORIZED, {"message": "Unauthorized"})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            self._send(200, {"commit": "standin", "database": "ok", "version": VERSION})
            return
        if path == "/login":
            self._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
            return
        user = self._user()
        if user is None:
            if path.startswith("/api/"):
                self._unauthorized()
            else:
                self.send_response(HTTPStatus.FOUND)
                self.send_header("Location", "/login")
                self.send_header("Content-Length", "0")
                self.end_headers()
            return
        if path == "/api/user":
            self._send(200, {k: v for k, v in user.items() if k not in ("password", "salt")})
        elif path == "/api/datasources":
            self._send(200, datasources())
        elif path.startswith("/api/datasources/uid/"):
            uid = path.rsplit("/", 1)[1]
            match = [d for d in datasources() if d["uid"] == uid]
            self._send(200, match[0]) if match else self._send(404, {"message": "not found"})
        elif path == "/api/search":
            self._send(200, [self._hit(entry) for entry in dashboards()])
        elif path.startswith("/api/dashboards/uid/"):
            uid = path.rsplit("/", 1)[1]
            match = [e for e in dashboards() if e["dashboard"].get("uid") == uid]
            if not match:
                self._send(404, {"message": "Dashboard not found"})
                return
            entry = match[0]
            meta = {"provisioned": True, "folderTitle": entry["folderTitle"]}
            meta["canSave"] = entry["allowUiUpdates"]
            self._send(200, {"dashboard": entry["dashboard"], "meta": meta})
        elif path == "/":
            self._send(200, LOGIN_PAGE, "text/html; charset=utf-8")
        else:
            self._send(404, {"message": "Not found"})

    @staticmethod
    def _hit(entry: dict) -> dict:
        board = entry["dashboard"]
        return {
            "uid": board.get("uid"),
            "title": board.get("title"),
            "tags": board.get("tags", []),
            "type": "dash-db",
            "url": f"/d/{board.get('uid')}",
            "folderTitle": entry["folderTitle"],
        }

    def do_PUT(self) -> None:
        match = re.fullmatch(r"/api/admin/users/(\d+)/password", self.path)
        user = authenticate(self.headers.get("Authorization"))
        if not match:
            self._send(404, {"message": "Not found"})
        elif user is None:
            self._unauthorized()
        elif not user.get("isGrafanaAdmin"):
            self._send(403, {"message": "Permission denied"})
        else:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                password = json.loads(self.rfile.read(length))["password"]
            except (ValueError, KeyError, TypeError):
                self._send(400, {"message": "bad request data"})
                return
            users = load_users()
            try:
                set_password(users, int(match.group(1)), password)
            except KeyError:
                self._send(404, {"message": "User not found"})
                return
            save_users(users)
            self._send(200, {"message": "User password updated"})

    def do_POST(self) -> None:
        # Sign-up and the login form are not part of the contract: refused like a disabled feature.
        self._send(HTTPStatus.UNAUTHORIZED, {"message": "Unauthorized"})


# ----------------------------------------------------------------------------- commands
def serve() -> int:
    if os.getuid() == 0:
        print("standin: refusing to run as root (Grafana's image runs as 472)", file=sys.stderr)
        return 1
    # Like Grafana, a provisioning file that does not load stops the start.
    datasources()
    dashboards()
    create_admin_once()
    port = int(setting("server", "http_port", "3000"))
    # All addresses of its container, as Grafana listens.
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    print(f"standin: Grafana stand-in listening on :{port} (NOT Grafana)", flush=True)
    server.serve_forever()
    return 0


def reset_admin_password(args: list[str]) -> int:
    if "--password-from-stdin" in args:
        # Like Grafana: the first line of stdin.
        password = sys.stdin.readline().rstrip("\n")
    elif args:
        password = args[0]
    else:
        print("Error: new password is required", file=sys.stderr)
        return 1
    if len(password) < 4:
        print("Error: New password is too short", file=sys.stderr)
        return 1
    if not users_file().exists():
        print("Error: Could not find admin user (start the server once first)", file=sys.stderr)
        return 1
    users = load_users()
    set_password(users, 1, password)
    save_users(users)
    print("Admin password changed successfully ✔")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["server"]:
        return serve()
    if argv[:1] == ["cli"]:
        rest = argv[1:]
        # Global options of `grafana cli` (paths), accepted and not needed here.
        while rest and rest[0] in ("--homepath", "--config", "--configOverrides"):
            rest = rest[2:]
        if rest[:2] == ["admin", "reset-admin-password"]:
            return reset_admin_password(rest[2:])
    print("usage: grafana server | grafana cli admin reset-admin-password", file=sys.stderr)
    return 2
