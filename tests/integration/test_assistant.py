"""The assistant through its API on the seeded demo city, on a real database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from cityos.bootstrap import Platform
from cityos.geo import store as geo_store
from cityos.governance import store as gstore
from tests.integration.test_case_loop import grid_point, login


def divisions(p: Platform, level: str) -> list[tuple[str, str]]:
    d = geo_store.divisions
    with p.db.read() as conn:
        return [(r[0], r[1]) for r in conn.execute(select(d.c.code, d.c.name_zh).where(d.c.level == level)
                                                   .order_by(d.c.code)).all()]


def test_classify_suggests_three_subclasses_and_routes(seeded: Platform, client: Any) -> None:
    lon, lat, grid = grid_point(seeded)
    member = login(client, "grid.member")
    r = client.post("/api/v1/assistant/classify", json={"text": "自来水井盖被人偷了，路上一个大洞", "lon": lon, "lat": lat},
                    headers=member)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "tfidf" and len(body["suggestions"]) == 3
    top = body["suggestions"][0]
    assert top["category"] == "P0101" and 0 < top["confidence"] <= 1
    assert top["routing"]["unit"] == f"D-{grid[:6]}-water"
    en = client.post("/api/v1/assistant/classify", json={"text": "the street light outside my flat is out"}).json()
    assert en["suggestions"][0]["category"] == "P0104" and "routing" not in en["suggestions"][0]


def test_a_correction_changes_a_later_suggestion(seeded: Platform, client: Any) -> None:
    text = "小区门口那个铁皮箱子嗡嗡响还冒火星"
    before = client.post("/api/v1/assistant/classify", json={"text": text}).json()["suggestions"][0]["category"]
    target = "P0106" if before != "P0106" else "P0107"
    anon = client.post("/api/v1/assistant/corrections", json={"text": text, "category": target})
    assert anon.status_code == 401
    member = login(client, "grid.member")
    assert client.post("/api/v1/assistant/corrections", json={"text": text, "category": target},
                       headers=member).status_code == 403
    op = login(client, "district.operator")
    bad = client.post("/api/v1/assistant/corrections", json={"text": text, "category": "X9999"}, headers=op)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "category"
    r = client.post("/api/v1/assistant/corrections", json={"text": text, "category": target, "suggested": before},
                    headers=op)
    assert r.status_code == 201, r.text
    after = client.post("/api/v1/assistant/classify", json={"text": "铁皮箱子嗡嗡响还冒火星"}).json()
    assert after["suggestions"][0]["category"] == target


def test_duplicates_near_in_space_time_and_meaning(seeded: Platform, client: Any) -> None:
    lon, lat, _ = grid_point(seeded)
    member = login(client, "grid.member")

    def report(desc: str, cat: str, dlon: float = 0.0) -> int:
        r = client.post("/api/v1/cases", json={"category": cat, "description": desc, "lon": lon + dlon, "lat": lat,
                                               "source": "grid"}, headers=member)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    a = report("上水井盖丢失，路上有个洞", "P0101")
    b = report("自来水井盖被偷了，有个大洞", "P0101", 0.0002)
    far = report("上水井盖丢失，路上有个洞", "P0101", 0.05)
    other = report("楼下广场舞音响太吵", "E0601")
    r = client.get(f"/api/v1/assistant/cases/{a}/duplicates", headers=member)
    assert r.status_code == 200, r.text
    found = {d["id"]: d for d in r.json()["duplicates"]}
    assert b in found and far not in found and other not in found
    assert 0 < found[b]["score"] <= 1 and found[b]["metres"] < 50
    # a case reported after the index was built is found: the index catches up by id
    c = report("上水井盖没了，一个大洞", "P0101", -0.0002)
    again = {d["id"] for d in client.get(f"/api/v1/assistant/cases/{a}/duplicates", headers=member).json()["duplicates"]}
    assert {b, c} <= again
    assert client.get("/api/v1/assistant/cases/999999999/duplicates", headers=member).status_code == 404


def test_questions_are_answered_within_scope_with_citations(seeded: Platform, client: Any) -> None:
    districts = divisions(seeded, "district")
    townships = divisions(seeded, "township")
    d_code, d_name = districts[0]
    with seeded.db.begin() as conn:  # make some cases overdue this week
        ids = [r[0] for r in conn.execute(select(gstore.cases.c.id).where(gstore.cases.c.district_code == d_code)
                                          .limit(3)).all()]
        conn.execute(update(gstore.cases).where(gstore.cases.c.id.in_(ids))
                     .values(overdue=True, overdue_at=seeded.clock.now()))
    op = login(client, "district.operator")
    r = client.post("/api/v1/assistant/ask", json={"question": f"{d_name}本周有多少超期案件？"}, headers=op)
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["kind"] == "overdue_count" and ans["count"] >= len(ids) and ans["place"] == d_code
    assert {c["id"] for c in ans["citations"]} >= set(ids)
    t_code, t_name = next(t for t in townships if t[0].startswith(d_code))
    who = client.post("/api/v1/assistant/ask", json={"question": f"{t_name}的污水井盖破了谁负责？"}, headers=op).json()
    assert who["kind"] == "who_handles" and who["category"] == "P0102"
    assert who["routing"]["unit"].startswith(f"D-{d_code}-") and who["citations"][0]["code"] == "P0102"
    assert who["citations"][1]["code"] == t_code
    # another district: outside the township operator's scope, answered with nothing
    if len(districts) > 1:
        tw = login(client, "township.operator")
        out = client.post("/api/v1/assistant/ask", json={"question": f"{districts[1][1]}有多少逾期案件"},
                          headers=tw).json()
        assert out["count"] == 0 and out.get("out_of_scope") and out["citations"] == []
    other = client.post("/api/v1/assistant/ask", json={"question": "路灯坏了怎么办"}, headers=op).json()
    assert other["kind"] == "search" and other["hits"]["categories"][0]["category"] == "P0104"


def test_bad_input_is_a_clear_error_never_a_crash(seeded: Platform, client: Any) -> None:
    for body in ({"text": ""}, {"text": "   "}, {"text": "x" * 5000}):
        r = client.post("/api/v1/assistant/classify", json=body)
        assert r.status_code == 400 and r.json()["error"]["field"] == "text", r.text
    r = client.post("/api/v1/assistant/classify", json={"text": "Der Gehweg ist völlig kaputt"})
    assert r.status_code == 200 and r.json()["low_confidence"] is True
    op = login(client, "district.operator")
    r = client.post("/api/v1/assistant/ask", json={"question": "问" * 600}, headers=op)
    assert r.status_code == 400 and r.json()["error"]["field"] == "question"
    r = client.get("/api/v1/assistant/search", params={"q": ""})
    assert r.status_code == 400 and r.json()["error"]["field"] == "q"


class _ChatServer:
    """A real HTTP server on loopback speaking the OpenAI chat-completions protocol: it echoes
    the first case number it was given as the answer, and keeps the requests it got."""

    def __init__(self, status: int = 200) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen: list[dict[str, Any]] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                user = body["messages"][-1]["content"]
                number = user.split("case [", 1)[1].split("]", 1)[0] if "case [" in user else "none"
                out = json.dumps({"model": "echo-1", "choices": [{"message": {"role": "assistant",
                                                                               "content": f"See [{number}]."}}]})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(out.encode())

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_generative_backend_phrases_answers_from_scoped_records_and_failure_falls_back(
        seeded: Platform, client: Any, monkeypatch: Any) -> None:
    op = login(client, "township.operator")
    question = "井盖的事情最近怎么样了"
    server = _ChatServer()
    try:
        monkeypatch.setattr(seeded.settings, "assistant_llm_url", server.url)
        monkeypatch.setattr(seeded.settings, "assistant_llm_key", "k-123")
        r = client.post("/api/v1/assistant/ask", json={"question": question}, headers=op)
        assert r.status_code == 200, r.text
        ans = r.json()
        assert ans["kind"] == "generated" and ans["model"] == "echo-1"
        sent = server.seen[-1]
        assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer k-123"
        # only cases in the township operator's scope were handed to the model
        scope = {c["node"][:9] for c in ans["hits"]["cases"]}
        assert len(scope) <= 1
        if ans["hits"]["cases"]:
            assert [c["number"] for c in ans["citations"]] == [ans["hits"]["cases"][0]["number"]]
    finally:
        server.close()
    broken = _ChatServer(status=500)
    try:
        monkeypatch.setattr(seeded.settings, "assistant_llm_url", broken.url)
        ans = client.post("/api/v1/assistant/ask", json={"question": question}, headers=op).json()
        assert ans["kind"] == "search" and broken.seen  # asked, failed, answered with the hits
    finally:
        broken.close()
