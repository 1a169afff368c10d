"""Bulk loader for the API benchmark (scripts/bench_api.py): a chain for ballots, and a PostgreSQL database holding
100,000+ members, 1,000 proposals, 1,000,000 votes and 10,000 issues.

    .venv/bin/python -m scripts.bench_api_load [--reload]

What is real and what is synthetic, and how each part is written:

- **The chain** (kept as an anvil state dump in var/bench-api/, like scripts/bench_indexer.py): every contract
  deployed (voting delay 1 block, voting period 100,000 blocks, quorum 10 %), 2,000 real membership cards issued
  by an issuer (the benchmark's ballot signers, 60 % residents, 30 % 関係人口, 10 % organisations), then 2,000 empty
  blocks so that the synthetic proposals below have a past to live in. This chain is indexed into the database by
  the real indexer (`indexer.runner.Indexer`), so the cursor, blocks, cards and roles are exactly what
  `kanazawa-dao index` writes.
- **Synthetic chain rows** (100,000 more members, 1,000 proposals, 1,000,000 votes) are written through the
  indexer's own write path, `indexer.store.write_batch` (COPY of the event rows via indexer/bulk.py, cards
  recomputed from membership events, tallies incremented from the new votes, proposal life cycles recomputed from
  proposal events), in batches whose block ranges do not overlap, exactly as the indexer writes a backfill. They
  carry synthetic transaction hashes (no transaction on the anvil chain has them) and block numbers inside the
  real chain's range, so they are consistent with each other (tallies equal the votes, each vote falls inside its
  proposal's voting window and comes from a member with a card in its segment) and with the head the API reads:
  75 % of the proposals have ended (Defeated or Succeeded by their tallies and the governor's quorum at their
  snapshot), 19 % are Active for the whole benchmark, 3 % Pending, 3 % queued, executed or canceled. They are not
  on chain: replaying a million ballots through anvil would take hours.
- **Off-chain rows**: each proposal's document is pinned by `documents.pin_json` (the drafting path) into
  var/bench-api/content, with its `proposal_document` row and 1-2 linked issues. The 10,000 issues, ~150,000
  supports and ~25,000 comments are checked by the issues service's own rule set (`issues._clean`) and then
  written by COPY (`indexer.bulk.insert`): the service's insert path commits one issue per request, which would
  take minutes for no information. `support_count` equals the rows in `issue_support`.

Loading takes a few minutes (progress on stderr); the database is reused while its row counts match, `--reload`
drops and loads it again. Database: KANAZAWA_DAO_BENCH_API_DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/kanazawa_bench (created if missing).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
import time
from typing import Any

from eth_utils import keccak, to_checksum_address
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from backend.chain.accounts import dev_account
from backend.chain.client import ChainClient
from backend.chain.deploy import Deployment, DeploymentParams, deploy_all, write_manifest
from backend.domain.vocabulary import ChainRole
from backend.paths import REPO_ROOT
from backend.toolchain.anvil import free_port, start_anvil
from scripts.bench_indexer import Miner, _member

BENCH_DIR = REPO_ROOT / "var" / "bench-api"
STATE = BENCH_DIR / "chain-state.json"
META = BENCH_DIR / "chain.json"
DEPLOYMENTS = BENCH_DIR / "deployments"
CONTENT = BENCH_DIR / "content"
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/kanazawa_bench"
CHAIN_MEMBERS = 2_000       # real cards on chain: the ballot signers
EMPTY_BLOCKS = 2_000        # a past for the synthetic proposals
MEMBERS = 100_000           # synthetic members (on top of the real ones)
PROPOSALS = 1_000
VOTES = 1_000_000
ISSUES = 10_000
BLOCK_GAS_LIMIT = 60_000_000
TOKEN_BASE = 1_000_000      # synthetic member numbers start here (real ones are 1..2,000)
KANAZAWA = (36.5613, 136.6562)
WORDS = ["兼六園", "金沢駅", "香林坊", "ひがし茶屋街", "近江町市場", "犀川", "浅野川", "21世紀美術館", "加賀友禅", "金箔",
         "九谷焼", "能楽", "バス停", "自転車", "空き家", "商店街", "子育て", "高齢者", "除雪", "観光客", "ごみ", "公園",
         "図書館", "祭り", "伝統工芸", "ボランティア", "Wi-Fi", "多言語", "culture", "festival", "workshop", "snow"]
SKILLS = ["デザイン", "翻訳", "プログラミング", "写真", "イベント運営", "建築", "法律", "会計", "動画編集", "英語"]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def database_url() -> str:
    return os.environ.get("KANAZAWA_DAO_BENCH_API_DATABASE_URL", DEFAULT_DB)


def _address(kind: str, i: int) -> str:
    return to_checksum_address(hashlib.sha256(f"kanazawa-bench-api-{kind}-{i}".encode()).digest()[:20])


def _tx(kind: int, i: int) -> str:
    return f"0x{kind:02x}{i:062x}"


def _segment(i: int) -> int:
    return 1 if i % 10 < 6 else (2 if i % 10 < 9 else 3)


# ---------------------------------------------------------------------- the chain


def build_chain(url: str) -> dict[str, Any]:
    """Deploy, issue the 2,000 real cards, mine the empty past, index it all with the real indexer, dump the state."""
    from backend.db import make_engine, session_factory
    from indexer.rpc import RpcClient
    from indexer.runner import Indexer

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    STATE.unlink(missing_ok=True)
    node = start_anvil(free_port(), log_file=BENCH_DIR / "anvil-build.log",
                       extra_args=["--dump-state", str(STATE), "--gas-limit", str(BLOCK_GAS_LIMIT)])
    try:
        client = ChainClient.connect(node.rpc_url)
        city, issuer = dev_account(0), dev_account(2)
        deployment = deploy_all(client, city, DeploymentParams(voting_delay=1, voting_period=100_000, quorum_percent=10))
        write_manifest(deployment, DEPLOYMENTS)
        card = deployment.contract(client.w3, "MembershipCard")
        client.transact(card.functions.grantRole(ChainRole.ISSUER_ROLE.id_bytes, issuer.address), city)
        miner = Miner(node.rpc_url, client.chain_id)
        miner.rpc("evm_setAutomine", [False])
        say(f"chain: issuing {CHAIN_MEMBERS:,} cards ...")
        for i in range(CHAIN_MEMBERS):
            miner.send(issuer, card.address, card.functions.issue(_member(i).address, _segment(i))._encode_transaction_data(),
                       400_000)
        miner.mine()
        miner.rpc("anvil_mine", [hex(EMPTY_BLOCKS), "0x1"])  # a second apart: block b is head_time - (head - b)
        miner.rpc("evm_setAutomine", [True])
        latest = miner.rpc("eth_getBlockByNumber", ["latest", False])
        head, head_time = int(latest["number"], 16), int(latest["timestamp"], 16)
        say(f"chain: head {head:,}; indexing it into the benchmark database ...")
        engine = make_engine(url)
        Indexer(sessions=session_factory(engine), rpc=RpcClient(node.rpc_url), deployment=deployment).run(once=True)
        engine.dispose()
        meta = {"deployment": deployment.to_json(), "head": head, "head_time": head_time, "chain_id": client.chain_id}
    finally:
        node.stop(timeout=120)
    if not STATE.exists():
        raise RuntimeError("anvil did not write its state dump")
    META.write_text(json.dumps(meta, indent=1) + "\n")
    return meta


# ---------------------------------------------------------------------- synthetic rows


def _write(sessions, chain_id: int, model, rows: list[dict[str, Any]]) -> None:
    """One indexer batch: rows of one table, their block range, through indexer.store.write_batch."""
    from indexer.handlers import Batch
    from indexer.store import write_batch

    batch = Batch(chain_id)
    batch.rows[model] = rows
    with sessions() as session, session.begin():
        write_batch(session, batch, min(r["block_number"] for r in rows), max(r["block_number"] for r in rows))


def load_members(sessions, chain_id: int, head: int, issuer: str) -> None:
    from backend.models import chain as m

    say(f"members: {MEMBERS:,} synthetic cards (membership events -> cards) ...")
    last = head // 4  # joined early: members at every proposal's snapshot
    chunk = 10_000
    for start in range(0, MEMBERS, chunk):
        rows = []
        for i in range(start, min(MEMBERS, start + chunk)):
            rows.append({"chain_id": chain_id, "tx_hash": _tx(1, i), "log_index": 0,
                         "block_number": 1 + i * last // MEMBERS, "kind": "issued", "token_id": TOKEN_BASE + i,
                         "member": _address("member", i), "segment": _segment(i), "actor": issuer})
        _write(sessions, chain_id, m.MembershipEvent, rows)
        say(f"  {start + len(rows):,} members")


def _windows(rng: random.Random, head: int, head_time: int) -> list[dict[str, Any]]:
    """Voting windows: 75 % ended, 19 % active for the whole benchmark, 3 % pending; plus life-cycle events. In
    blocks (where the votes and events go) and in the card's clock (seconds: the proposal's snapshot and deadline),
    block b of the empty past being at head_time - (head - b); the open windows last years, so a saved benchmark
    chain stays usable."""
    windows = []
    for p in range(PROPOSALS):
        created = rng.randrange(head // 4 + 10, head - 400)
        kind = "ended" if p % 100 < 75 else ("active" if p % 100 < 94 else ("pending" if p % 100 < 97 else "later"))
        if kind == "pending":
            start, end = head + 50_000_000, head + 60_000_000
        elif kind == "active":
            start, end = created + 1, head + 100_000_000
        else:
            start = created + 1
            end = start + rng.randrange(50, 300)
        windows.append({"created": created, "vote_start": start, "vote_end": end, "kind": kind,
                        "vote_start_time": head_time - head + start, "vote_end_time": head_time - head + end,
                        "after": ["canceled"] if kind == "later" and p % 3 == 0 else
                                 ["queued"] if kind == "later" and p % 3 == 1 else
                                 ["queued", "executed"] if kind == "later" else []})
    return windows


def load_proposals(services, sessions, chain_id: int, head: int, head_time: int, deployment: Deployment,
                   issue_ids: list[int]) -> list[dict]:
    from backend.models import chain as m
    from backend.models.proposal_document import ProposalDocument, ProposalIssue
    from backend.services import documents

    rng = random.Random(1000)
    windows = _windows(rng, head, head_time)
    timelock = deployment.contracts["TimelockController"].address
    proposer = dev_account(1).address
    say(f"proposals: {PROPOSALS:,} documents pinned, proposals and life-cycle events ...")
    proposals, events = [], []
    with services.transaction() as session:
        for p, w in enumerate(windows):
            category = 1 if p % 10 < 3 else 0
            title_ja, title_en = f"提案 {p}: {rng.choice(WORDS)}と{rng.choice(WORDS)}", f"Proposal {p}"
            linked = rng.sample(issue_ids, rng.randint(1, 2))
            document = {"schema": "kanazawa-dao/proposal-document/v1", "category": ["culture", "town-planning"][category],
                        "author": proposer, "title": {"ja": title_ja, "en": title_en},
                        "body": {"ja": "".join(rng.choice(WORDS) for _ in range(120)), "en": "A benchmark proposal. " * 20},
                        "issues": [{"id": i, "title": f"issue {i}", "source": "matchbako", "external_id": str(i)} for i in linked],
                        "actions": [{"target": timelock, "value": "0", "calldata": "0x"}]}
            cid, content_hash = documents.pin_json(services, session, kind="proposal", document=document, pinned_by=proposer)
            description = f"{title_ja} / {title_en}\n\nipfs://{cid}\ndocument-hash: {content_hash}"
            proposal_id = int.from_bytes(keccak(text=f"bench-api-proposal-{p}"), "big")
            tx = _tx(2, p)
            proposals.append({"chain_id": chain_id, "proposal_id": proposal_id, "proposer": proposer, "targets": [timelock],
                              "values": ["0"], "calldatas": ["0x"], "description": description, "category": category,
                              "document_uri": f"ipfs://{cid}", "document_hash": content_hash,
                              "vote_start": w["vote_start_time"], "vote_end": w["vote_end_time"], "eta": None,
                              "lifecycle": "created", "block_number": w["created"], "tx_hash": tx, "log_index": 0})
            events.append({"chain_id": chain_id, "tx_hash": tx, "log_index": 1, "block_number": w["created"],
                           "proposal_id": proposal_id, "kind": "created", "eta": None})
            for n, kind in enumerate(w["after"]):
                block = min(head - 5, w["vote_end"] + 10 + n * 20) if kind != "canceled" else w["created"] + 1
                events.append({"chain_id": chain_id, "tx_hash": _tx(3, p * 4 + n), "log_index": 0, "block_number": block,
                               "proposal_id": proposal_id, "kind": kind,
                               "eta": 1_900_000_000 if kind == "queued" else None})
            doc = ProposalDocument(chain_id=chain_id, proposal_id=proposal_id, author_address=proposer, category=category,
                                   title_ja=title_ja, title_en=title_en, document_cid=cid, document_hash=content_hash,
                                   description=description, actions={"targets": [timelock], "values": ["0"],
                                                                      "calldatas": ["0x"]}, relay_job_id="bench")
            session.add(doc)
            session.flush()
            for issue_id in linked:
                session.add(ProposalIssue(proposal_document_id=doc.id, issue_id=issue_id))
    _write(sessions, chain_id, m.Proposal, proposals)
    events.sort(key=lambda e: e["block_number"])
    _write(sessions, chain_id, m.ProposalEvent, events)
    for row, w in zip(proposals, windows):
        row["window"] = w
    return proposals


def load_votes(sessions, chain_id: int, head: int, proposals: list[dict]) -> None:
    from backend.models import chain as m

    rng = random.Random(2000)
    voting = [p for p in proposals if p["window"]["kind"] != "pending" and "canceled" not in p["window"]["after"]]
    per, extra = divmod(VOTES, len(voting))
    say(f"votes: {VOTES:,} over {len(voting):,} proposals (through the indexer: vote rows, tallies by delta) ...")
    compact: list[tuple[int, int, int, int]] = []  # (block, proposal index, member index, support)
    for n, p in enumerate(voting):
        lo, hi = p["window"]["vote_start"] + 1, min(p["window"]["vote_end"], head - 1)
        # Each proposal its own mood: most pass, some fail the majority, town planning sometimes only among residents.
        weights = rng.choice([(3, 6, 1), (3, 6, 1), (5, 4, 1), (4, 5, 1), (6, 3, 1)])
        for member in rng.sample(range(MEMBERS), per + (1 if n < extra else 0)):
            compact.append((rng.randint(lo, hi), n, member, rng.choices((0, 1, 2), weights=weights)[0]))
    compact.sort()
    started = time.monotonic()
    chunk = 50_000
    for start in range(0, len(compact), chunk):
        part = compact[start:start + chunk]
        rows = [{"chain_id": chain_id, "tx_hash": _tx(4, start + k), "log_index": 1, "block_number": block,
                 "proposal_id": voting[pi]["proposal_id"], "voter": _address("member", mi), "support": support,
                 "weight": 1, "reason": "", "segment": _segment(mi)}
                for k, (block, pi, mi, support) in enumerate(part)]
        # Batches of disjoint block ranges, as the indexer writes them (a block is never split between batches).
        _write(sessions, chain_id, m.Vote, rows)
        done = start + len(part)
        say(f"  {done:,} votes ({done / (time.monotonic() - started):,.0f}/s)")


def load_issues(sessions) -> list[int]:
    from backend.models.issue import Issue, IssueComment, IssueSupport, searchable
    from backend.services.issues import _clean
    from indexer import bulk

    rng = random.Random(3000)
    say(f"issues: {ISSUES:,} (checked by issues._clean, written by COPY), supports and comments ...")
    base = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    rows = []
    for i in range(ISSUES):
        imported = i % 4 == 0
        lat, lon = KANAZAWA[0] + rng.uniform(-0.08, 0.08), KANAZAWA[1] + rng.uniform(-0.08, 0.08)
        cleaned = _clean({"title": f"{rng.choice(WORDS)}の{rng.choice(WORDS)}について ({i})",
                          "body": "。".join("".join(rng.choice(WORDS) for _ in range(8)) for _ in range(rng.randint(3, 12))),
                          "category": rng.choice(("culture", "town-planning", "tourism", "environment", "welfare",
                                                  "education", "disaster-prevention", "other")),
                          "status": rng.choice(("open", "open", "open", "in-progress", "resolved", "closed")),
                          "location_name": rng.choice(WORDS) if i % 3 else None,
                          "latitude": lat if i % 3 else None, "longitude": lon if i % 3 else None,
                          "skills_wanted": rng.sample(SKILLS, rng.randint(0, 3)),
                          **({"external_url": f"https://matchbako.example/issues/{i}"} if imported else {})})
        created = base + dt.timedelta(minutes=rng.randrange(0, 600 * 24 * 60))
        rows.append({**cleaned, "external_url": cleaned.get("external_url"),
                     "search_text": searchable(f"{cleaned['title']}\n{cleaned['body']}"),  # as the model's write hook
                     "author_address": None if imported else _address("member", rng.randrange(MEMBERS)),
                     "source": "matchbako" if imported else "kanazawa-dao", "external_id": str(i) if imported else None,
                     "support_count": 0, "extra": {}, "created_at": created,
                     "updated_at": created + dt.timedelta(minutes=rng.randrange(0, 30 * 24 * 60))})
    supports: list[list[str]] = [[_address("member", m) for m in rng.sample(range(MEMBERS), min(60, int(rng.paretovariate(1.2)) - 1))]
                                 for _ in range(ISSUES)]
    for row, s in zip(rows, supports):
        row["support_count"] = len(s)
    with sessions() as session, session.begin():
        conn = session.connection()
        bulk.insert(conn, Issue.__table__, rows)
        ids = list(session.scalars(select(Issue.id).order_by(Issue.id)))[-ISSUES:]
        bulk.insert(conn, IssueSupport.__table__, [
            {"issue_id": issue_id, "member_address": a, "created_at": base} for issue_id, s in zip(ids, supports) for a in s])
        bulk.insert(conn, IssueComment.__table__, [
            {"issue_id": issue_id, "author_address": _address("member", rng.randrange(MEMBERS)),
             "body": "".join(rng.choice(WORDS) for _ in range(10)), "created_at": base}
            for issue_id in ids for _ in range(rng.randint(0, 5))])
    say(f"  {len(ids):,} issues, {sum(map(len, supports)):,} supports")
    return ids


# ---------------------------------------------------------------------- reuse


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    out = {}
    try:
        with engine.connect() as conn:
            for table in ("membership_card", "proposal", "vote", "issue", "tally"):
                out[table] = conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
    except Exception:  # noqa: BLE001 - no database or no tables yet
        return {}
    finally:
        engine.dispose()
    return out


def loaded(url: str) -> bool:
    c = counts(url)
    return (bool(c) and STATE.exists() and META.exists() and c["membership_card"] >= MEMBERS
            and c["proposal"] >= PROPOSALS and c["vote"] >= VOTES and c["issue"] >= ISSUES)


def recreate_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def load(url: str) -> dict[str, int]:
    from backend.config import Settings
    from backend.migrate import upgrade
    from backend.services.context import Services

    started = time.monotonic()
    recreate_database(url)
    upgrade(url)
    if CONTENT.exists():
        import shutil
        shutil.rmtree(CONTENT)
    meta = build_chain(url)
    deployment = Deployment.from_json(meta["deployment"])
    chain_id, head = meta["chain_id"], meta["head"]
    services = Services(Settings(database_url=url, content_dir=CONTENT, deployments_dir=DEPLOYMENTS))
    sessions = services.sessions
    try:
        load_members(sessions, chain_id, head, dev_account(2).address)
        issue_ids = load_issues(sessions)
        proposals = load_proposals(services, sessions, chain_id, head, meta["head_time"], deployment, issue_ids)
        load_votes(sessions, chain_id, head, proposals)
        # Planner statistics, as autovacuum would gather them a little later (outside a transaction, or they are lost).
        with services.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    finally:
        services.close()
    result = counts(url)
    say(f"loaded in {time.monotonic() - started:,.0f} s: " + ", ".join(f"{k} {v:,}" for k, v in result.items()))
    return result


def ensure_loaded(url: str, reload: bool = False) -> dict[str, int]:
    if reload or not loaded(url):
        return load(url)
    from backend.migrate import upgrade

    upgrade(url)  # data loaded by an older checkout: its schema brought up to this one's (migrations fill new columns)
    result = counts(url)
    say("benchmark data present (--reload to load again): " + ", ".join(f"{k} {v:,}" for k, v in result.items()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reload", action="store_true", help="drop the benchmark database and load it again")
    args = parser.parse_args(argv)
    print(json.dumps(ensure_loaded(database_url(), args.reload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
