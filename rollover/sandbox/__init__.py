"""The embedded Blackboard Learn simulator: `LearnSandbox` (state and rules), `create_app` (HTTP).

Used by `--sandbox` wiring and by tests; the tool itself never imports it otherwise.
"""

from .app import create_app
from .config import SandboxConfig, SandboxConfigInvalid, SeedCourse, SeedTerm, SeedUser
from .journal import journal_path
from .model import LearnSandbox
from .record import CopyEvent, EnrolmentEvent, PatchEvent, SandboxRecord
from .server import SandboxServer, serve_forever
from .spec import request_body_schema, validate_request_body

__all__ = [
    "CopyEvent",
    "EnrolmentEvent",
    "LearnSandbox",
    "PatchEvent",
    "SandboxConfig",
    "SandboxConfigInvalid",
    "SandboxRecord",
    "SandboxServer",
    "SeedCourse",
    "SeedTerm",
    "SeedUser",
    "create_app",
    "journal_path",
    "request_body_schema",
    "serve_forever",
    "validate_request_body",
]
