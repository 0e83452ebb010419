"""Sign-in, credentials, scope, masking and audit against a real database and app."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from cityos.bootstrap import Platform
from cityos.identity import store
from cityos.identity.audit import seal, verify
from cityos.identity.seed import DEMO_PASSWORD

PW = DEMO_PASSWORD


def token_for(client: Any, username: str, scope: str = "*") -> str:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PW, "scope": scope})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def test_demo_seed_has_one_user_per_role_and_sign_in_works(seeded: Platform, client: Any) -> None:
    tok = token_for(client, "district.operator")
    me = client.get("/api/v1/me", headers=bearer(tok)).json()
    assert me["username"] == "district.operator" and me["grants"][0]["role"] == "district_operator"
    assert client.get("/api/v1/auth/check", headers=bearer(tok)).status_code == 200
    assert client.get("/api/v1/auth/check").status_code == 401


def test_wrong_passwords_lock_the_account_and_are_audited(seeded: Platform, client: Any) -> None:
    for _ in range(5):
        r = client.post("/api/v1/auth/token", data={"username": "verifier", "password": "wrong-password-x"})
        assert r.status_code == 401 and r.json()["error"]["field"] == "password"
    r = client.post("/api/v1/auth/token", data={"username": "verifier", "password": PW})
    assert r.status_code == 401 and "locked" in r.json()["error"]["message"]
    with seeded.db.read() as conn:
        reasons = [d["reason"] for d in conn.execute(
            select(store.audit_log.c.details).where(store.audit_log.c.action == "auth.failed",
                                                    store.audit_log.c.object_id == "verifier")).scalars()]
    assert reasons.count("wrong password") == 5 and "locked" in reasons
    r = client.post("/api/v1/auth/token", data={"username": "nobody", "password": PW})
    assert r.status_code == 401 and r.json()["error"]["message"] == "wrong user name or password"


def test_api_keys_expire_and_revoke(seeded: Platform, client: Any) -> None:
    admin = bearer(token_for(client, "admin"))
    r = client.post("/api/v1/apikeys", json={"name": "ci", "scopes": ["user.read"]}, headers=admin)
    assert r.status_code == 201
    key, kid = r.json()["key"], r.json()["id"]
    assert client.get("/api/v1/users", headers={"X-API-Key": key}).status_code == 200
    # The key's scope does not cover granting roles, though its user may.
    r = client.post("/api/v1/users/grid.member/roles", json={"role": "verifier", "node": "500103"},
                    headers={"X-API-Key": key})
    assert r.status_code == 403 and "not among this key's scopes" in r.json()["error"]["message"]
    assert client.delete(f"/api/v1/apikeys/{kid}", headers=admin).status_code == 204
    r = client.get("/api/v1/users", headers={"X-API-Key": key})
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    tok = token_for(client, "auditor")
    with seeded.db.begin() as conn:
        conn.execute(update(store.credentials).where(store.credentials.c.kind == "token")
                     .values(expires_at=seeded.clock.now() - timedelta(seconds=1)))
    r = client.get("/api/v1/me", headers=bearer(tok))
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    r = client.get("/api/v1/me", headers=bearer("cos_forged_abc"))
    assert r.status_code == 401 and "unknown" in r.json()["error"]["message"]


def test_forged_session_cookie_is_anonymous(seeded: Platform, client: Any) -> None:
    client.cookies.set("cityos_session", "forged-token")
    assert client.get("/api/v1/me").json()["authenticated"] is False
    with seeded.db.read() as conn:
        assert conn.execute(select(store.audit_log.c.object_type).where(store.audit_log.c.action == "auth.failed")).scalars().all() == ["session"]
    r = client.get("/admin/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_granting_outside_scope_is_refused_and_audited(seeded: Platform, client: Any) -> None:
    dadmin = bearer(token_for(client, "district.admin"))
    with seeded.db.read() as conn:
        districts = [r[0] for r in conn.execute(select(store.org_units.c.division_code)
                                                 .where(store.org_units.c.kind == "centre",
                                                        store.org_units.c.level == "district")
                                                 .order_by(store.org_units.c.division_code))]
    mine, other = districts[0], districts[1]
    ok = client.post("/api/v1/users/grid.member/roles", json={"role": "verifier", "node": mine}, headers=dadmin)
    assert ok.status_code == 201
    r = client.post("/api/v1/users/grid.member/roles", json={"role": "verifier", "node": other}, headers=dadmin)
    assert r.status_code == 403 and other in r.json()["error"]["message"]
    r = client.post("/api/v1/users/grid.member/roles", json={"role": "system_admin", "node": mine}, headers=dadmin)
    assert r.status_code == 403
    r = client.post("/api/v1/users/grid.member/roles", json={"role": "verifier", "node": "12"}, headers=dadmin)
    assert r.status_code == 400 and r.json()["error"]["field"] == "code"
    with seeded.db.read() as conn:
        refused = conn.execute(select(store.audit_log.c.details).where(store.audit_log.c.action == "access.denied")).scalars().all()
    assert len(refused) == 2 and other in refused[0]["reason"] and "administrator" in refused[1]["reason"]


def test_personal_data_is_masked_without_purpose(seeded: Platform, client: Any) -> None:
    op = bearer(token_for(client, "city.operator"))
    users = client.get("/api/v1/users", headers=op).json()["users"]
    assert all(u["phone"] in (None, "138****0000") for u in users)
    r = client.get("/api/v1/users", headers={**op, "X-Purpose": "case follow-up 12345"})
    assert any(u["phone"] == "13800000000" for u in r.json()["users"])
    with seeded.db.read() as conn:
        purposes = conn.execute(select(store.audit_log.c.purpose).where(store.audit_log.c.action == "personal.read")).scalars().all()
    assert purposes == ["case follow-up 12345"]
    # An auditor may list users but never sees personal data unmasked.
    aud = bearer(token_for(client, "auditor"))
    r = client.get("/api/v1/users", headers={**aud, "X-Purpose": "curiosity"})
    assert all(u["phone"] in (None, "138****0000") for u in r.json()["users"])


def test_audit_chain_detects_change_and_deletion(seeded: Platform, client: Any) -> None:
    for name in ("admin", "auditor", "dispatcher"):
        token_for(client, name)
    now = seeded.clock.now()
    assert seal(seeded.db, now + timedelta(seconds=10)) >= 6
    assert verify(seeded.db).ok
    t = store.audit_log
    with seeded.db.begin() as conn:
        victim = conn.execute(select(t.c.id, t.c.seal_seq).where(t.c.seal_seq == 3)).one()
        conn.execute(update(t).where(t.c.id == victim.id).values(actor="someone-else"))
    res = verify(seeded.db)
    assert not res.ok and res.broken_at == 3 and res.broken_id == victim.id and "content" in (res.reason or "")
    with seeded.db.begin() as conn:
        conn.execute(t.delete().where(t.c.id == victim.id))
    res = verify(seeded.db)
    assert res.broken_at == 3 and "missing" in (res.reason or "")


def test_parallel_verify_names_the_same_first_broken_record(seeded: Platform) -> None:
    from cityos.identity.model import AuditEntry

    now = seeded.clock.now()
    with seeded.db.begin() as conn:
        store.append_audit(conn, [AuditEntry(at=now - timedelta(minutes=i), actor=f"user.{i}", role="verifier",
                                             node="500103", action="case.verify", object_type="case",
                                             object_id=str(i), ip="10.0.0.1", purpose=None,
                                             details={"n": i, "note": "复核"}) for i in range(30)])
    seal(seeded.db, now + timedelta(seconds=10))
    t = store.audit_log
    with seeded.db.read() as conn:
        by_seq = dict(conn.execute(select(t.c.seal_seq, t.c.id).where(t.c.seal_seq.is_not(None))).all())
    last = max(by_seq)
    hi1 = -(-last // 2)  # the two ranges: 1..hi1 and hi1+1..last

    def both() -> Any:
        one, two = verify(seeded.db, workers=1), verify(seeded.db, workers=2)
        assert one == two  # the parallel walk gives the one answer of a walk from the start
        return two

    res = both()
    assert res.ok and res.checked == last

    def set_actor(seq: int, actor: str) -> str:
        with seeded.db.begin() as conn:
            old = conn.execute(select(t.c.actor).where(t.c.seal_seq == seq)).scalar_one()
            conn.execute(update(t).where(t.c.seal_seq == seq).values(actor=actor))
        return str(old)

    # Tampering in the 2nd range while the 1st is intact.
    old = set_actor(last - 1, "intruder")
    res = both()
    assert (res.broken_at, res.broken_id, res.checked) == (last - 1, by_seq[last - 1], last - 2)
    assert "content" in (res.reason or "")
    # A change in the 1st range as well: that one is the first.
    old2 = set_actor(2, "intruder")
    assert verify(seeded.db, workers=2).broken_at == 2
    set_actor(last - 1, old)
    set_actor(2, old2)
    assert verify(seeded.db, workers=2).ok
    # Deletion at the boundary: the last record of the 1st range, then the first of the 2nd too.
    with seeded.db.begin() as conn:
        conn.execute(t.delete().where(t.c.seal_seq == hi1))
    res = both()
    assert (res.broken_at, res.broken_id, res.checked) == (hi1, by_seq[hi1 + 1], hi1 - 1)
    assert "missing" in (res.reason or "")
    with seeded.db.begin() as conn:
        conn.execute(t.delete().where(t.c.seal_seq == hi1 + 1))
    res = both()
    assert (res.broken_at, res.broken_id) == (hi1, by_seq[hi1 + 2])
    assert f"{hi1}..{hi1 + 1}" in (res.reason or "")


def test_auditor_search_by_actor_object_and_time(seeded: Platform, client: Any) -> None:
    token_for(client, "dispatcher")
    aud = bearer(token_for(client, "auditor"))
    r = client.get("/api/v1/audit", params={"actor_name": "dispatcher"}, headers=aud).json()
    assert r["total"] >= 1 and all(rec["actor"] == "dispatcher" for rec in r["records"])
    r = client.get("/api/v1/audit", params={"object_type": "user", "object_id": "auditor"}, headers=aud).json()
    assert any(rec["action"] == "auth.sign_in" for rec in r["records"])
    future = (seeded.clock.now() + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/audit", params={"since": future}, headers=aud).json()["total"] == 0
    op = bearer(token_for(client, "grid.member"))
    assert client.get("/api/v1/audit", headers=op).status_code == 403


def test_cli_apikey_create_prints_the_key_last(seeded: Platform, database_url: str,
                                               monkeypatch: pytest.MonkeyPatch, client: Any) -> None:
    from cityos.cli import app

    monkeypatch.setenv("CITYOS_DATABASE_URL", database_url)
    result = CliRunner().invoke(app, ["apikey", "create", "--name", "loader", "--user", "data.officer"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"cos_[0-9a-f]{8}_[\w-]{43}", key)
    assert client.get("/api/v1/me", headers={"X-API-Key": key}).json()["username"] == "data.officer"
    result = CliRunner().invoke(app, ["audit", "verify"])
    assert result.exit_code == 0 and "audit chain intact" in result.output


def test_rate_limit_answers_429_with_retry_after(seeded: Platform, client: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seeded.settings, "rate_limit_ip_per_minute", 3)  # CITYOS_RATE_LIMIT_IP_PER_MINUTE
    codes = [client.get("/api/v1/me").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    r = client.get("/api/v1/me")
    assert int(r.headers["retry-after"]) >= 1 and r.json()["error"]["code"] == "rate_limited"


def test_a_key_sees_grant_changes_and_deactivation_at_once(seeded: Platform, client: Any) -> None:
    # The credential, its user and the grants are read afresh on every request (no cache).
    admin = bearer(token_for(client, "admin"))
    key = client.post("/api/v1/apikeys", json={"name": "k", "username": "grid.member"}, headers=admin).json()["key"]
    before = client.get("/api/v1/me", headers={"X-API-Key": key}).json()["grants"]
    r = client.post("/api/v1/users/grid.member/roles", json={"role": "verifier", "node": "500103"}, headers=admin)
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    after = client.get("/api/v1/me", headers={"X-API-Key": key}).json()["grants"]
    assert [g["id"] for g in after] == [g["id"] for g in before] + [gid] and after[-1]["role"] == "verifier"
    assert client.delete(f"/api/v1/roles/{gid}", headers=admin).status_code == 204
    assert client.get("/api/v1/me", headers={"X-API-Key": key}).json()["grants"] == before
    with seeded.db.begin() as conn:
        conn.execute(update(store.role_grants).where(store.role_grants.c.user_id == select(store.users.c.id)
                     .where(store.users.c.username == "grid.member").scalar_subquery()).values(revoked_at=seeded.clock.now()))
    me = client.get("/api/v1/me", headers={"X-API-Key": key}).json()
    assert me["username"] == "grid.member" and me["grants"] == []
    with seeded.db.begin() as conn:
        conn.execute(update(store.users).where(store.users.c.username == "grid.member").values(active=False))
    r = client.get("/api/v1/me", headers={"X-API-Key": key})
    assert r.status_code == 401 and "user inactive" in r.json()["error"]["message"]
