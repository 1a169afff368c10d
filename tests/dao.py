"""The tests' driver of the deployed contracts: backend/toolchain/dao.py (where the gas report and the benchmarks
import it too), with the domain's numbers by name."""

from backend.toolchain.dao import *  # noqa: F403
from backend.toolchain.dao import __all__  # noqa: F401
