"""Where things live in the repository. The one place that knows the layout."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO_ROOT / "contracts"
CONTRACTS_BUILD_DIR = CONTRACTS_DIR / "build"
DEVNET_DIR = REPO_ROOT / "hardhat-free-devnet"
NODE_MODULES = DEVNET_DIR / "node_modules"
DEPLOYMENTS_DIR = DEVNET_DIR / "deployments"
DEVNET_RUN_DIR = DEVNET_DIR / ".devnet"
