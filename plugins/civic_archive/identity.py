"""Who runs a command: the login name and host that plans, approvals, holds, exports and the disposition log
record beside the name a person gives."""
from __future__ import annotations

import getpass
import socket


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def host() -> str:
    return socket.gethostname()


def user_at_host() -> str:
    return f"{login_name()}@{host()}"
