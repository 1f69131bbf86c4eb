"""A manifest of persisted operations, as an operator writes one, and a query to register."""

from __future__ import annotations

import json
from pathlib import Path

from app.http.persisted import document_hash

INITIATIVES = "query Initiatives { initiatives(first: 3) { edges { node { code } } } }"


def manifest(path: Path, *documents: str) -> Path:
    path.write_text(json.dumps({document_hash(text): text for text in documents}))
    return path
