"""The content store against a real IPFS node: js-ipfs from the pinned npm package, offline on free ports.

The local store must compute the CIDs an IPFS node computes (`ipfs add --cid-version=1 --raw-leaves`), single- and
multi-block, and both stores must refuse to return bytes that do not match their CID.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time

import pytest

from backend.ipfs.daemon import ensure_ipfs_toolchain, start_ipfs_daemon
from backend.ipfs.store import (
    MAX_CONTENT_BYTES,
    ContentIntegrityError,
    ContentNotFound,
    ContentStoreError,
    ContentStoreUnavailable,
    KuboStore,
    LocalStore,
    compute_cid,
    content_store,
    ipfs_uri,
    parse_ipfs_uri,
)
from backend.toolchain.anvil import free_port

pytestmark = pytest.mark.filterwarnings("ignore:The 'strict' parameter is no longer needed:FutureWarning")

CHUNK = 262144
_JA = "金沢の文化とまちづくりを市民と関係人口が共につくる。"
PAYLOADS = {
    "empty": b"",
    "one byte": b"\x00",
    "1000 bytes of Japanese": (_JA * 20)[:333].encode() + b"\n",
    "exactly one chunk": random.Random(1).randbytes(CHUNK),
    "one chunk and a byte": random.Random(2).randbytes(CHUNK + 1),
    "1.3 MiB": random.Random(3).randbytes(1_300_000),
    "JSON document": json.dumps(
        {"title_ja": "兼六園周辺の夜間照明", "title_en": "Night lighting around Kenroku-en", "category": 0,
         "body": "提案本文 " * 50, "issues": [1, 2, 3]},
        ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(),
}
UNKNOWN = compute_cid(b"never stored anywhere")
MALFORMED = ["", "hello", "QmbWqxBEKC3P8tqsKc98xmWNzrzDtRLMiMPL8wBuTGsMnR", UNKNOWN[:-1], UNKNOWN + "a",
             UNKNOWN.upper(), "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "../" + UNKNOWN[3:]]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    ensure_ipfs_toolchain(quiet=True)
    root = tmp_path_factory.mktemp("ipfs")
    repo = root / "repo"
    repo.mkdir()
    with start_ipfs_daemon(repo, log_file=root / "daemon.log") as running:
        yield running


@pytest.fixture(scope="module")
def kubo(daemon) -> KuboStore:
    return KuboStore(daemon.api_url, timeout=20)


@pytest.fixture
def local(tmp_path) -> LocalStore:
    return LocalStore(tmp_path / "content")


@pytest.fixture(params=["local", "kubo"])
def store(request):
    return request.getfixturevalue(request.param)


def test_payload_sizes():
    assert len(PAYLOADS["1000 bytes of Japanese"]) == 1000
    assert PAYLOADS["1000 bytes of Japanese"].decode().startswith("金沢")


@pytest.mark.parametrize("name", PAYLOADS)
def test_local_cids_are_the_daemons(name, local, kubo):
    data = PAYLOADS[name]
    cid = local.add(data)
    assert kubo.add(data) == cid == compute_cid(data)
    # one block is a raw leaf; more than one is a dag-pb root over raw leaves
    assert cid.startswith("bafkrei" if len(data) <= CHUNK else "bafybei")


def test_well_known_cid():
    """Kubo's `ipfs add --cid-version=1 --raw-leaves` of an empty file, as every IPFS tool reports it."""
    assert compute_cid(b"") == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@pytest.mark.parametrize("name", ["empty", "1000 bytes of Japanese", "1.3 MiB"])
def test_round_trip(store, name):
    data = PAYLOADS[name]
    cid = store.add(data)
    assert store.has(cid)
    assert store.get(cid) == data
    store.pin(cid)  # already pinned: harmless
    assert store.add(data) == cid
    assert store.get(cid) == data


def test_unknown_cid_is_not_found_at_once(store):
    started = time.monotonic()
    assert not store.has(UNKNOWN)
    with pytest.raises(ContentNotFound, match=UNKNOWN):
        store.get(UNKNOWN)
    assert time.monotonic() - started < 5


def test_local_pin_of_unknown_cid(local):
    with pytest.raises(ContentNotFound, match=UNKNOWN):
        local.pin(UNKNOWN)


@pytest.mark.parametrize("cid", MALFORMED)
def test_malformed_cid_is_refused(store, cid):
    for operation in (store.get, store.has, store.pin):
        with pytest.raises(ContentStoreError, match="not a valid content id"):
            operation(cid)


def test_oversized_content_is_refused(store):
    data = b"\x01" * (MAX_CONTENT_BYTES + 1)
    with pytest.raises(ContentStoreError, match="larger than the content store's limit"):
        store.add(data)
    assert not store.has(compute_cid(data))


def test_local_store_detects_tampering(local):
    data = PAYLOADS["JSON document"]
    cid = local.add(data)
    [stored] = [p for p in local.root.rglob("*") if p.is_file()]
    assert stored.name == cid and stored.parent.name == cid[-3:-1]
    stored.write_bytes(data.replace("兼六園".encode(), "金沢城".encode()))
    with pytest.raises(ContentIntegrityError, match=cid):
        local.get(cid)
    stored.write_bytes(data[:-1])  # truncated
    with pytest.raises(ContentIntegrityError):
        local.get(cid)
    assert local.add(data) == cid  # adding again repairs it
    assert local.get(cid) == data


def test_local_store_never_leaves_a_partial_file(local, monkeypatch):
    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        local.add(b"half-written")
    assert not local.has(compute_cid(b"half-written"))
    assert [p for p in local.root.rglob("*") if p.is_file()] == []


def test_kubo_store_verifies_what_the_daemon_returns(kubo, monkeypatch):
    cid = kubo.add(b"original")
    monkeypatch.setattr(kubo._client, "cat", lambda *args, **kwargs: b"substituted")
    with pytest.raises(ContentIntegrityError, match=cid):
        kubo.get(cid)


def test_kubo_store_accepts_an_http_url(daemon):
    store = KuboStore(daemon.http_url)
    assert store.add(b"via http url") == compute_cid(b"via http url")
    assert daemon.http_url in store.describe()


def _closed_port() -> int:
    port = free_port()
    with socket.socket() as s:  # nothing listens there
        assert s.connect_ex(("127.0.0.1", port)) != 0
    return port


@pytest.mark.parametrize("form", ["/ip4/127.0.0.1/tcp/{port}/http", "http://127.0.0.1:{port}"])
def test_unreachable_daemon(form):
    url = form.format(port=_closed_port())
    store = KuboStore(url, timeout=5)
    for operation in (lambda: store.add(b"x"), lambda: store.get(UNKNOWN), lambda: store.has(UNKNOWN)):
        with pytest.raises(ContentStoreUnavailable, match="not reachable") as caught:
            operation()
        assert url in str(caught.value)


@pytest.mark.parametrize("url", ["127.0.0.1:5001", "ftp://127.0.0.1:5001", "http://127.0.0.1:5001/api/v0",
                                 "/ip4/127.0.0.1/udp/5001"])
def test_invalid_api_address(url):
    with pytest.raises(ContentStoreError, match="not valid|neither a multiaddr"):
        KuboStore(url)


def test_content_store_choice(tmp_path, daemon):
    assert isinstance(content_store(ipfs_api_url=None, local_dir=tmp_path), LocalStore)
    chosen = content_store(ipfs_api_url=daemon.api_url, local_dir=tmp_path)
    assert isinstance(chosen, KuboStore) and chosen.has(chosen.add(b"chosen"))


def test_ipfs_uris():
    cid = compute_cid(b"report")
    assert ipfs_uri(cid) == f"ipfs://{cid}"
    assert parse_ipfs_uri(f"ipfs://{cid}") == cid
    for bad in (cid, f"https://{cid}", f"ipfs://{cid}/x", "ipfs://"):
        with pytest.raises(ContentStoreError):
            parse_ipfs_uri(bad)
    with pytest.raises(ContentStoreError):
        ipfs_uri("not-a-cid")
