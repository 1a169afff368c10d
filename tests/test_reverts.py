"""A revert reaches Python as a readable exception with the error's name and arguments, never as bare hex."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from backend.chain.client import ChainClient
from backend.chain.reverts import ContractRevert, RevertDecoder
from tests.dao import RESIDENT


def test_custom_error_from_a_transaction_is_named_with_arguments(dao):
    member = dao.issue(RESIDENT)
    with pytest.raises(ContractRevert) as exc:
        dao.issue(RESIDENT, member)
    assert exc.value.error == "MembershipCardAlreadyMember"
    assert exc.value.args_dict == {"account": member.address}
    assert str(exc.value) == f"MembershipCardAlreadyMember(account={member.address})"
    selector = function_signature_to_4byte_selector("MembershipCardAlreadyMember(address)").hex()
    assert selector not in str(exc.value)


def test_revert_of_a_mined_transaction_is_decoded_by_replay(dao):
    """With an explicit gas limit nothing estimates first: the transaction is mined, fails, and is replayed."""
    member = dao.issue(RESIDENT)
    with pytest.raises(ContractRevert) as exc:
        dao.client.transact(dao.card.functions.issue(member.address, 9), dao.issuer, gas=300_000)
    assert str(exc.value) == "MembershipCardInvalidSegment(segment=9)"


def test_openzeppelin_errors_are_named_too(dao):
    with pytest.raises(ContractRevert) as exc:
        dao.client.call(dao.governor.functions.state(42))
    assert str(exc.value) == "GovernorNonexistentProposal(proposalId=42)"


def test_error_string_panic_and_unknown_selectors():
    decoder = RevertDecoder([])
    message = bytes.fromhex("08c379a0") + encode(["string"], ["not allowed"])
    assert str(decoder.decode(message)) == "Error(message=not allowed)"
    panic = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert str(decoder.decode(panic)) == "Panic(code=0x11, meaning=arithmetic overflow or underflow)"
    unknown = decoder.decode("0xdeadbeef")
    assert unknown.error == "UnknownError" and unknown.args_dict["selector"] == "0xdeadbeef"
    assert decoder.decode(None).error == "Revert"


def test_decoder_covers_every_error_of_every_contract(client: ChainClient):
    from backend.chain.artifacts import load_artifacts

    names = {item["name"] for a in load_artifacts().values() for item in a.abi if item["type"] == "error"}
    for name in names:
        item = next(i for a in load_artifacts().values() for i in a.abi if i.get("name") == name and i["type"] == "error")
        types = [p["type"] for p in item["inputs"]]
        if any(t.startswith("tuple") for t in types):
            continue
        selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
        decoded = client.decoder.decode(selector + encode(types, [_zero(t) for t in types]))
        assert decoded.error == name


def _zero(abi_type: str):
    if abi_type == "address":
        return "0x" + "00" * 20
    if abi_type in ("string",):
        return ""
    if abi_type == "bytes" or abi_type.startswith("bytes"):
        return b"" if abi_type == "bytes" else b"\x00" * int(abi_type[5:])
    if abi_type == "bool":
        return False
    return 0
