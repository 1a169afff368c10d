"""The content store: documents addressed by IPFS CIDs, so what the chain records (`ipfs://<cid>`) can be fetched from
any IPFS node and checked by anyone.

Two implementations behind one interface: `LocalStore` (the embedded default, files on disk) and `KuboStore` (a Kubo
RPC API). Both use the CIDs Kubo gives with `ipfs add --cid-version=1 --raw-leaves` and its default chunker
(sha2-256, 256 KiB chunks, balanced DAG), computed locally with aleph-cid, so switching stores changes no CID. Every
read is verified against its CID: a store, a disk or a daemon that returns other bytes raises ContentIntegrityError.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
import urllib.parse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

import aleph_cid
import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_errors

from backend.errors import KanazawaDaoError

MAX_CONTENT_BYTES = 16 << 20

# ipfshttpclient 0.7.0 passes urllib3 2 a `strict` argument on every new connection pool, which warns each time.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning,
                        module="urllib3.poolmanager")

# CIDv1, base32, sha2-256: raw (bafk...) for a single block, dag-pb (bafy...) for a multi-block file.
_CID = re.compile(r"baf(?:krei|ybei)[a-z2-7]{52}")
_URI_PREFIX = "ipfs://"

T = TypeVar("T")


class ContentStoreError(KanazawaDaoError):
    """The content store refused or failed an operation."""


class ContentNotFound(ContentStoreError):
    """The store does not hold this CID."""


class ContentIntegrityError(ContentStoreError):
    """The bytes read do not hash to the CID they were read by."""


class ContentStoreUnavailable(ContentStoreError):
    """The IPFS node does not answer."""


class ContentStoreWriteError(ContentStoreUnavailable, OSError):
    """The local store's disk refused a write (read-only, full, gone): unavailable, and still the OSError it was."""


class ContentStore(Protocol):
    def add(self, data: bytes) -> str:
        """Store and pin `data`; return its CID. Adding the same bytes again is harmless."""

    def get(self, cid: str) -> bytes:
        """The bytes of `cid`, verified against it."""

    def has(self, cid: str) -> bool:
        """Whether the store holds (has pinned) `cid`."""

    def pin(self, cid: str) -> None:
        """Keep `cid` (and every block under it) in the store."""

    def describe(self) -> str:
        """One line for logs: which store, where."""


def compute_cid(data: bytes) -> str:
    """The CID Kubo gives `data` with `ipfs add --cid-version=1 --raw-leaves`."""
    hasher = aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
    hasher.update(data)
    return hasher.finalize()


def check_cid(cid: str) -> str:
    """`cid` if it is a CIDv1 of this store's kind (base32, sha2-256, raw or dag-pb); ContentStoreError otherwise."""
    if isinstance(cid, str) and _CID.fullmatch(cid):
        try:
            aleph_cid.CidHasher.for_expected(cid)
            return cid
        except ValueError:
            pass
    raise ContentStoreError(
        f"{cid!r} is not a valid content id: expected a CIDv1 in base32 with a sha2-256 hash (59 characters starting "
        "with 'bafkrei' or 'bafybei'), as `ipfs add --cid-version=1 --raw-leaves` gives"
    )


def verify(cid: str, data: bytes) -> bytes:
    """`data` if it hashes to `cid`; ContentIntegrityError otherwise."""
    actual = compute_cid(data)
    if actual != cid:
        raise ContentIntegrityError(
            f"content read for {cid} does not match it: its {len(data)} bytes hash to {actual}. The store returned "
            "corrupted or substituted data"
        )
    return data


def ipfs_uri(cid: str) -> str:
    return _URI_PREFIX + check_cid(cid)


def parse_ipfs_uri(uri: str) -> str:
    """The CID of an `ipfs://<cid>` URI."""
    if not isinstance(uri, str) or not uri.startswith(_URI_PREFIX):
        raise ContentStoreError(f"{uri!r} is not an ipfs:// URI")
    return check_cid(uri[len(_URI_PREFIX):])


def _check_size(data: bytes) -> None:
    if len(data) > MAX_CONTENT_BYTES:
        raise ContentStoreError(
            f"content of {len(data):,} bytes is larger than the content store's limit of {MAX_CONTENT_BYTES:,} bytes"
        )


class LocalStore:
    """Files on disk, one per CID, sharded like Kubo's flatfs (`next-to-last/2`): `<root>/<cid[-3:-1]>/<cid>`.

    Files are written to a temporary file and renamed into place, so a crash never leaves a partial file under a CID.
    Everything stored is kept, so every CID held is pinned.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, cid: str) -> Path:
        check_cid(cid)
        return self.root / cid[-3:-1] / cid

    def add(self, data: bytes) -> str:
        _check_size(data)
        cid = compute_cid(data)
        path = self._path(cid)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    os.fchmod(f.fileno(), 0o644)
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            # A read-only, full or vanished store directory is the store being unavailable (callers answer 503 and
            # write nothing), not an unexpected error (tests/faults/test_content_store_unwritable.py).
            raise ContentStoreWriteError(
                f"the local content store at {self.root} cannot write {cid}: {exc.strerror or exc}"
            ) from None
        return cid

    def get(self, cid: str) -> bytes:
        try:
            data = self._path(cid).read_bytes()
        except FileNotFoundError:
            raise ContentNotFound(f"{cid} is not in the local content store at {self.root}") from None
        return verify(cid, data)

    def has(self, cid: str) -> bool:
        return self._path(cid).is_file()

    def pin(self, cid: str) -> None:
        if not self.has(cid):
            raise ContentNotFound(f"cannot pin {cid}: it is not in the local content store at {self.root}")

    def describe(self) -> str:
        return f"local content store in {self.root}"


def _multiaddr(url: str) -> str:
    """A Kubo RPC address as a multiaddr; `http(s)://host:port` is converted, a multiaddr passes through."""
    if url.startswith("/"):
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ContentStoreError(
            f"IPFS API address {url!r} is neither a multiaddr (/ip4/127.0.0.1/tcp/5001/http) nor http(s)://host:port"
        )
    try:
        host = f"/ip{ipaddress.ip_address(parts.hostname).version}/{parts.hostname}"
    except ValueError:
        host = f"/dns/{parts.hostname}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}/tcp/{port}/{parts.scheme}"


def _socket_error(exc: BaseException) -> str:
    """The operating system's reason under the layers of HTTP client errors, e.g. "Connection refused"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        below = getattr(seen, "original", None) or getattr(seen, "reason", None) or seen.__cause__ or seen.__context__
        seen = below if isinstance(below, BaseException) else None
    return str(exc)


class KuboStore:
    """A Kubo-RPC-compatible IPFS node (Kubo, js-ipfs) through ipfshttpclient.

    `Client` is constructed directly: `ipfshttpclient.connect()` refuses daemons of version 0.8 and later. Whether
    the node holds a CID is asked of its recursive pins, which answers at once; the blocks of a pinned CID are
    local, so reads never wait on the network (some daemons hang on a missing block even when offline).
    """

    def __init__(self, api_url: str, *, timeout: float = 60) -> None:
        self.url = api_url
        self.timeout = timeout
        try:
            self._client = ipfshttpclient.Client(_multiaddr(api_url), timeout=timeout)
        except ipfs_errors.AddressError as exc:
            raise ContentStoreError(f"IPFS API address {api_url!r} is not valid: {exc}") from None

    def _call(self, what: str, request: Callable[[], T]) -> T:
        try:
            return request()
        except ipfs_errors.ConnectionError as exc:
            raise ContentStoreUnavailable(
                f"the IPFS node at {self.url} is not reachable ({what}: {_socket_error(exc)}). Is the daemon running "
                "and is KANAZAWA_DAO_IPFS_API_URL its RPC API address?"
            ) from None
        except ipfs_errors.TimeoutError:
            raise ContentStoreUnavailable(
                f"the IPFS node at {self.url} did not answer ({what}) within {self.timeout:g} s"
            ) from None
        except ipfs_errors.Error as exc:
            raise ContentStoreError(f"the IPFS node at {self.url} refused to {what}: {exc}") from None

    def add(self, data: bytes) -> str:
        _check_size(data)
        cid = self._call("add content", lambda: self._client.add_bytes(data, opts={
            "cid-version": "1", "raw-leaves": "true", "cid-base": "base32", "pin": "true"}))
        expected = compute_cid(data)
        if cid != expected:
            raise ContentIntegrityError(
                f"the IPFS node at {self.url} stored {len(data)} bytes as {cid}, but they hash to {expected}: it does "
                "not add with --cid-version=1 --raw-leaves and the default chunker"
            )
        return cid

    def get(self, cid: str) -> bytes:
        if not self.has(cid):
            raise ContentNotFound(f"{cid} is not pinned on the IPFS node at {self.url}")
        data = self._call(f"read {cid}", lambda: self._client.cat(
            cid, length=MAX_CONTENT_BYTES + 1, offline=True))
        if len(data) > MAX_CONTENT_BYTES:
            raise ContentStoreError(f"{cid} is larger than the content store's limit of {MAX_CONTENT_BYTES:,} bytes")
        return verify(cid, data)

    def has(self, cid: str) -> bool:
        check_cid(cid)

        def pinned() -> bool:
            try:
                self._client.pin.ls(cid, type="recursive")
            except ipfs_errors.ErrorResponse:  # the RPC API answers "not pinned" with an error
                return False
            return True

        return self._call(f"list the pins of {cid}", pinned)

    def pin(self, cid: str) -> None:
        check_cid(cid)
        self._call(f"pin {cid}", lambda: self._client.pin.add(cid))

    def describe(self) -> str:
        return f"IPFS node (Kubo RPC API) at {self.url}"


def content_store(*, ipfs_api_url: str | None, local_dir: Path) -> ContentStore:
    """The Kubo store when an RPC API address is configured, the local store otherwise."""
    if ipfs_api_url:
        return KuboStore(ipfs_api_url)
    return LocalStore(local_dir)
