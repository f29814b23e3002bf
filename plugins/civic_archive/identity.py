"""Who runs a command: the login name and host that plans, approvals, holds, exports and the disposition log
record beside the name a person gives."""
from __future__ import annotations

import getpass
import os
import socket


def login_name() -> str:
    # The account the process runs as, not $USER / $LOGNAME (getpass reads those first, and anyone can set
    # them): the two-person rule tells people apart by it.
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):  # no passwd entry for the uid in some containers; no pwd on Windows
        pass
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


def host() -> str:
    return socket.gethostname()


def user_at_host() -> str:
    return f"{login_name()}@{host()}"
