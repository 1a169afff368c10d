"""SQLAlchemy models, one module per domain. `chain` holds what the chain says (written only by the indexer);
the others are off-chain tables written only by the services (backend/services)."""

from backend.db import Base  # noqa: F401
from backend.models.auth import ApiSession, SiweNonce  # noqa: F401
from backend.models.chain import *  # noqa: F401,F403
from backend.models.document import PinnedDocument  # noqa: F401
from backend.models.issue import Issue, IssueComment, IssueSupport  # noqa: F401
from backend.models.metaverse_event import Attendance, CheckInUse, MetaverseEvent, WebhookDelivery  # noqa: F401
from backend.models.organisation import Invitation, Organisation  # noqa: F401
from backend.models.proposal_document import ProposalDocument, ProposalIssue  # noqa: F401
from backend.models.relay import RelayJob, RelaySender  # noqa: F401
