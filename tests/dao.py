"""The tests' driver of the deployed contracts: backend/toolchain/dao.py (where the gas report and the benchmarks
import it too), with the domain's numbers by name."""

from backend.toolchain.dao import *  # noqa: F401,F403
from backend.toolchain.dao import (  # noqa: F401
                                   ABSTAIN,
                                   AGAINST,
                                   CULTURE,
                                   FOR,
                                   ISSUER_ROLE,
                                   ORGANISATION,
                                   RELATIONSHIP_POPULATION,
                                   RESIDENT,
                                   STATES,
                                   TOWN_PLANNING,
                                   Dao,
                                   Proposal,
                                   unix_now,
)
