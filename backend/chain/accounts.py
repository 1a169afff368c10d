"""The devnet's funded accounts (anvil's default mnemonic) and the roles the deploy step gives them.

These keys are public knowledge: use them on the local devnet only.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
DEV_BALANCE_ETH = 10_000

#: Roles of the first dev accounts; the others are free for members and organisations in tests and demos.
DEV_ROLES = {
    0: "city (DAO admin, deployer, publishes outcomes)",
    1: "relayer (service key that submits members' signed claims and ballots)",
}

Account.enable_unaudited_hdwallet_features()


@dataclass(frozen=True)
class DevAccount:
    index: int
    account: LocalAccount
    role: str

    @property
    def address(self) -> str:
        return self.account.address


def dev_account(index: int) -> LocalAccount:
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def dev_accounts(count: int = DEV_ACCOUNT_COUNT) -> list[DevAccount]:
    return [DevAccount(i, dev_account(i), DEV_ROLES.get(i, "free")) for i in range(count)]
