"""Pinning documents to the content store (IPFS): proposal documents, outcome reports, badge metadata.

Documents are canonical JSON (sorted keys, UTF-8, no insignificant whitespace), so the same content always has the
same CID and keccak-256. The chain records `ipfs://<cid>` and the keccak-256; anyone can fetch the document from
any IPFS node and check both.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from eth_utils import keccak
from sqlalchemy.orm import Session

from backend.errors import KanazawaDaoError
from backend.models.document import PinnedDocument
from backend.services.context import Services
from backend.services.errors import NotFound, Unavailable

log = logging.getLogger(__name__)


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def pin_json(services: Services, session: Session, *, kind: str, document: dict[str, Any],
             pinned_by: str) -> tuple[str, str]:
    """Pin `document`, record it, return (cid, 0x keccak-256). Pinning twice is harmless (same CID)."""
    data = canonical_json(document)
    try:
        cid = services.content.add(data)
    except KanazawaDaoError as exc:  # its message names folders or nodes: for the log, not the caller
        log.warning("content store: pinning failed: %s", exc)
        raise Unavailable("the content store is unavailable; nothing was written, retry shortly") from None
    content_hash = "0x" + keccak(data).hex()
    if session.get(PinnedDocument, cid) is None:
        session.add(PinnedDocument(cid=cid, kind=kind, media_type="application/json", size=len(data),
                                   content_hash=content_hash, pinned_by=pinned_by))
    return cid, content_hash


def read_bytes(services: Services, cid: str) -> bytes:
    """A document this service pinned, as the store returned it, verified against its CID by the store. Kept in
    `services.documents` (the CID is the hash of the bytes: an entry can never be stale): a proposal page reads its
    document on every request, which cost a database check, a store read and a hash each time."""
    data = services.documents.get(cid)
    if data is not None:
        return data
    with services.session() as session:
        if session.get(PinnedDocument, cid) is None:
            raise NotFound(f"no document {cid} was pinned by this service")
    try:
        data = services.content.get(cid)
    except KanazawaDaoError as exc:
        log.warning("content store: reading %s failed: %s", cid, exc)
        raise Unavailable(f"the content store could not return {cid}; retry shortly") from None
    services.documents.put(cid, data)
    return data


def read_json(services: Services, cid: str) -> dict[str, Any]:
    """A pinned JSON document, verified against its CID."""
    return json.loads(read_bytes(services, cid))
