"""The on-chain description of a proposal, as this service writes it and as everyone (the indexer, the API, an
auditor) reads it back:

    <title ja> / <title en>
    <empty line>
    ipfs://<cid of the proposal document>
    document-hash: 0x<keccak-256 of the document's bytes>

The last two lines are the **trailer**: the service writes it after all text a person typed, and it is read from
the end only, so text earlier in the description (a title that quotes another proposal's document, say) is never
taken for it. Drafts whose titles could imitate a trailer are refused (`check_title`). A description without a
trailer (a proposal made on chain directly) has no document.

Anyone may propose on chain directly (the proposal threshold is 0), so a trailer alone proves nothing: a document
is the proposal's own only when it also describes it (its titles are the description's first line and its actions
are the proposal's actions). `backend/services/proposals.py` `check_document` checks both.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_URI = re.compile(r"ipfs://([A-Za-z0-9]{1,128})")
_HASH = re.compile(r"document-hash: (0x[0-9a-f]{64})")
#: What a title may not contain: a line break (the title line would end), or the trailer's own words.
_IMITATION = re.compile(r"ipfs://|document-hash", re.IGNORECASE)
MAX_TITLE = 200


class Trailer(NamedTuple):
    heading: str  # the description before the trailer ("<title ja> / <title en>")
    document_uri: str | None
    document_hash: str | None


def compose(*, title_ja: str, title_en: str, cid: str, content_hash: str) -> str:
    return f"{heading(title_ja, title_en)}\n\nipfs://{cid}\ndocument-hash: {content_hash.lower()}"


def heading(title_ja: str, title_en: str) -> str:
    return f"{title_ja} / {title_en}"


def parse(description: str) -> Trailer:
    """The heading and the trailer's document URI and hash (None, None when the description does not end with a
    trailer)."""
    head, sep, tail = description.rpartition("\n\n")
    lines = tail.split("\n")
    if sep and len(lines) == 2:
        uri, digest = _URI.fullmatch(lines[0]), _HASH.fullmatch(lines[1])
        if uri and digest:
            return Trailer(head, lines[0], digest.group(1))
    return Trailer(description, None, None)


def check_title(title: str) -> str | None:
    """Why a title cannot go into a description (None when it can): one line, printable, no trailer words."""
    if not title.strip():
        return "must not be empty"
    if len(title) > MAX_TITLE:
        return f"must be at most {MAX_TITLE} characters"
    if any(not ch.isprintable() for ch in title):
        return "must be one line of printable text (no line breaks or control characters)"
    if _IMITATION.search(title):
        return "must not contain 'ipfs://' or 'document-hash' (they mark the proposal's document on chain)"
    return None
