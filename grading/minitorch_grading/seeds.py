"""Per-student random seeds derived from a secret that submissions cannot read.

Each submission's hidden checks draw their inputs from a seed computed as
HMAC-SHA256(secret, assignment and student id). Re-grading a submission gives
the same inputs, so the same score and messages, while two students get
different inputs. No student can compute them, because the secret lives
outside the course directory, readable only by the grader's user, and the
worker's sandbox cannot open it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_SECRET_FILE = Path.home() / ".local" / "share" / "minitorch-grading" / "secret"


def load_secret(path: Path = DEFAULT_SECRET_FILE) -> bytes:
    """Read the grading secret, creating it (mode 0600) on first use."""
    path = Path(path).expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        log.info("created a new grading secret in %s", path)
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise ValueError(
            f"the grading secret in {path} is too short ({len(secret)} characters); "
            "delete the file to have a new one created"
        )
    return secret.encode()


def student_seed(secret: bytes, assignment: str, student: str) -> int:
    """Compute the seed of one student's hidden-check inputs for one assignment."""
    message = f"{assignment}\0{student}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")
