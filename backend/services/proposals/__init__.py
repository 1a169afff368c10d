"""Proposals: drafted off chain, pinned to IPFS, submitted on chain by the relayer, read back joined with what the
indexer saw. One package: `drafting` writes, `reading` reads, `state` decides a proposal's state, `actions` says what
a proposal does on chain, `jobs` are its relay job kinds, `views` its typed answers.

Who may draft (the rule is enforced here and documented in the README): the city, freely; a member, when the
proposal grows out of the issues board — it links at least one issue, and one of its linked issues has at least
`proposal_min_supports` supports. Proposals without on-chain actions are signals: their single action is a call of
nothing on the timelock, so they can still be queued and executed.

The on-chain description is `<title ja> / <title en>` followed by a trailer naming the document's `ipfs://<cid>` and
`document-hash: 0x<keccak>` (backend/domain/proposal_description.py: written after all user text, read from the
end), so the proposal id — a hash of the actions and the description — is known before submission and the
document can be verified by anyone: its bytes hash to the trailer's hash, and it describes this very proposal (its
titles and actions are the proposal's: `check_document`).
"""

from backend.services.proposals.actions import describe_actions
from backend.services.proposals.drafting import (
                                                 DOCUMENT_SCHEMA,
                                                 MAX_ACTIONS,
                                                 STEPS,
                                                 Action,
                                                 Drafted,
                                                 ProposalDraft,
                                                 advance,
                                                 draft,
)
from backend.services.proposals.jobs import ExecuteJob, ProposeJob, QueueJob
from backend.services.proposals.reading import check_document, detail, document_of, list_proposals
from backend.services.proposals.state import UNKNOWN_STATE, PastReads
from backend.services.proposals.views import ProposalDetail, ProposalPage, ProposalSummary

__all__ = ["DOCUMENT_SCHEMA", "MAX_ACTIONS", "STEPS", "UNKNOWN_STATE", "Action", "Drafted", "ExecuteJob", "PastReads",
           "ProposalDetail", "ProposalDraft", "ProposalPage", "ProposalSummary", "ProposeJob", "QueueJob", "advance",
           "check_document", "describe_actions", "detail", "document_of", "draft", "list_proposals"]
