"""Organisations: the city registers one and grants its issuer key the role on chain (relayed); the organisation's
staff sign in with their own wallet, hand out invitations that members claim gas-free, and create badge types."""

from __future__ import annotations

from eth_account import Account

from tests.dao import RELATIONSHIP_POPULATION


def register(stack, admin, name_en: str = "Kanazawa Noh Museum") -> dict:
    city = stack.sign_in(stack.dao.city)
    response = stack.api.post("/organisations", headers=city, json={
        "name_ja": "金沢能楽美術館", "name_en": name_en, "description": "能楽の美術館",
        "website": "https://www.kanazawa-noh-museum.gr.jp/", "admin_address": admin.address})
    assert response.status_code == 201, response.text
    body = response.json()
    assert stack.wait_job(body["grant_job"]["id"])["status"] == "confirmed"
    stack.index()
    return body["organisation"]


def test_register_invite_and_claim(stack):
    admin = Account.create()
    org = register(stack, admin)
    assert stack.api.get(f"/organisations/{org['id']}").json()["issuer_role_granted"] is True
    staff = stack.sign_in(admin)
    assert "organisation" in stack.api.get("/auth/me", headers=staff).json()["roles"]

    invitee = Account.create()
    response = stack.api.post(f"/organisations/{org['id']}/invitations", headers=staff,
                              json={"invitee": invitee.address, "segment": RELATIONSHIP_POPULATION})
    assert response.status_code == 201, response.text
    signed = response.json()
    assert signed["invitation"]["issuer"] == org["issuer_address"]
    claim = stack.api.post("/claims", json={"invitation": signed["invitation"], "signature": signed["signature"]})
    assert claim.status_code == 202, claim.text
    assert stack.wait_job(claim.json()["id"])["status"] == "confirmed"
    stack.index()
    member = stack.sign_in(invitee)
    me = stack.api.get("/auth/me", headers=member).json()
    assert me["roles"] == ["member"] and me["segment"] == RELATIONSHIP_POPULATION
    assert stack.api.get(f"/organisations/{org['id']}").json()["active_cards_issued"] == 1


def test_an_organisation_acts_only_for_itself(stack):
    first, second = Account.create(), Account.create()
    org1, org2 = register(stack, first, "Org one"), register(stack, second, "Org two")
    response = stack.api.post(f"/organisations/{org2['id']}/invitations", headers=stack.sign_in(first),
                              json={"invitee": Account.create().address, "segment": 1})
    assert response.status_code == 403 and org1["id"] != org2["id"]
    # the same admin wallet cannot administer two organisations
    city = stack.sign_in(stack.dao.city)
    response = stack.api.post("/organisations", headers=city, json={"name_ja": "重複", "name_en": "Duplicate",
                                                                    "admin_address": first.address})
    assert response.status_code == 409 and response.json()["type"].endswith("/conflict")
