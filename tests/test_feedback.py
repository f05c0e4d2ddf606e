"""Ratings and moderated comments (services/feedback.py, server/portal/feedback.py, server/admin/moderation.py),
published as schema.org aggregateRating and DQV user feedback without changing the dataset's digest."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pyoxigraph as ox
import pytest

from server.audit import dataset_digest
from services.feedback import APPROVED, PENDING, REJECTED, Feedback

DQV = "http://www.w3.org/ns/dqv#"
OA = "http://www.w3.org/ns/oa#"
RDF_VALUE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#value")


def _dataset(platform, index: int) -> str:
    """A demo dataset of its own per test (the demo platform is shared by the session)."""
    return platform.store.dataset_uris()[index].rsplit("/", 1)[-1]


def _jsonld(html: str) -> dict:
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert found, "the page has no JSON-LD"
    return json.loads(found.group(1))


def _client(app, sign_in, role="public", department=None):
    client = app.test_client()
    account = sign_in(client, role, department)
    return client, account


def test_the_store_rates_once_per_account_and_moderates(tmp_path):
    fb = Feedback(tmp_path / "feedback.sqlite")
    assert fb.rate("demo.a", "u1", 4) is None
    assert fb.rate("demo.a", "u1", 2) == 4  # changed, not added
    fb.rate("demo.a", "u2", 5)
    fb.rate("demo.a", "u3", 5)
    rating = fb.rating("demo.a")
    assert (rating.value, rating.count) == (4.0, 3)
    fb.rate("demo.a", "u4", 5)
    assert (fb.rating("demo.a").value, fb.rating("demo.a").count) == (4.25, 4)
    assert fb.rating("demo.b") is None
    for bad in (0, 6, 3.5, True):
        with pytest.raises(Exception):
            fb.rate("demo.a", "u1", bad)
    first = fb.comment("demo.a", "u1", "甲", "坐标有误")
    second = fb.comment("demo.a", "u2", "乙", "很好")
    assert [c.status for c in fb.comments("demo.a", None)] == [PENDING, PENDING]
    assert fb.comments("demo.a") == []
    fb.decide(second, True, "r1")
    with pytest.raises(Exception):
        fb.decide(first, False, "r1")  # a rejection needs its reason
    fb.decide(first, False, "r1", "无关内容")
    assert [c.body for c in fb.comments("demo.a")] == ["很好"]
    assert fb.get(first).status == REJECTED and fb.get(first).reason == "无关内容"
    with pytest.raises(Exception):
        fb.decide(second, False, "r1", "again")  # decided once
    assert fb.get(second).status == APPROVED
    fb.close()


def test_anonymous_is_refused_and_staff_cannot_rate(demo_app, demo_platform, sign_in):
    dataset = _dataset(demo_platform, 1)
    anonymous = demo_app.test_client()
    # (no session: the CSRF check is passed by a token in the form the anonymous page does not give)
    page = anonymous.get(f"/datasets/{dataset}").get_data(as_text=True)
    assert 'action="/feedback/' not in page and "/admin/login?next=" in page
    answer = anonymous.post(f"/feedback/{dataset}/rating", data={"rating": "5"},
                            headers={"Accept": "text/html"})
    assert answer.status_code == 400  # no CSRF token: refused before anything (the 401 test follows)
    publisher, _ = _client(demo_app, sign_in, "publisher", "D017")
    assert publisher.post(f"/feedback/{dataset}/rating", data={"rating": "5"}).status_code == 403
    assert demo_platform.feedback.rating(dataset) is None


def test_anonymous_post_with_a_valid_token_is_401(demo_app, demo_platform):
    """An anonymous session that holds a CSRF token (the sign-in page gives one) is still refused: 401."""
    from tests.conftest import csrf_of

    dataset = _dataset(demo_platform, 1)
    client = demo_app.test_client()
    token = csrf_of(client.get("/admin/login").get_data(as_text=True))
    for path, data in ((f"/feedback/{dataset}/rating", {"rating": "4"}),
                       (f"/feedback/{dataset}/comment", {"body": "hello"})):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 401
    assert client.post(f"/feedback/{dataset}/rating", data={"rating": "4"}).status_code == 400  # no CSRF token


def test_rating_once_per_account_changed_rating_and_aggregate(demo_app, demo_platform, sign_in):
    dataset = _dataset(demo_platform, 2)
    uri = demo_platform.dataset_uri(dataset)
    digest = dataset_digest(demo_platform.store, uri)
    stored = demo_platform.store.digests()[uri]
    first, _ = _client(demo_app, sign_in)
    second, _ = _client(demo_app, sign_in)
    assert first.post(f"/feedback/{dataset}/rating", data={"rating": "2"}).status_code == 303
    assert first.post(f"/feedback/{dataset}/rating", data={"rating": "5"}).status_code == 303  # changed
    assert second.post(f"/feedback/{dataset}/rating", data={"rating": "4"}).status_code == 303
    assert second.post(f"/feedback/{dataset}/rating", data={"rating": "9"}).status_code == 400
    html = first.get(f"/datasets/{dataset}").get_data(as_text=True)
    assert _jsonld(html)["aggregateRating"] == {"@type": "AggregateRating", "ratingValue": 4.5, "ratingCount": 2,
                                                "bestRating": 5, "worstRating": 1}
    assert '<option value="5" selected>' in html  # the account's own rating
    # an unrated dataset has no aggregateRating
    other = _dataset(demo_platform, 3)
    assert "aggregateRating" not in _jsonld(demo_app.test_client().get(f"/datasets/{other}").get_data(as_text=True))
    # the DQV feedback is served with the dataset; its content digest is what it was
    turtle = demo_app.test_client().get(f"/datasets/{dataset}.ttl")
    assert turtle.status_code == 200
    graph = list(ox.parse(turtle.data, format=ox.RdfFormat.TURTLE))
    notes = [t.object for t in graph if t.subject == ox.NamedNode(uri)
             and t.predicate == ox.NamedNode(DQV + "hasQualityAnnotation")]
    assert len(notes) == 1
    about = {(t.predicate.value, t.object.value) for t in graph if t.subject == notes[0]}
    assert (ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type").value, DQV + "UserQualityFeedback") in about
    assert ("http://www.w3.org/1999/02/22-rdf-syntax-ns#type", OA + "Annotation") in about
    assert (OA + "motivatedBy", DQV + "qualityAssessment") in about
    assert (OA + "hasTarget", uri) in about
    values = [Decimal(v) for p, v in about if p == RDF_VALUE.value]
    assert values == [Decimal("4.5")]
    assert ("https://schema.org/ratingCount", "2") in about
    assert dataset_digest(demo_platform.store, uri) == digest
    assert demo_platform.store.digests()[uri] == stored
    # the served graph passes the shapes as the dataset's own graph does
    from access.policy import public_view

    validator = demo_platform.validator
    own = validator.validate(public_view(uri, demo_platform.store.dataset_triples(uri)))
    served = validator.validate(graph)
    assert served.count("Violation") == own.count("Violation") == 0


def test_comments_wait_for_moderation_and_decisions_are_audited(demo_app, demo_platform, sign_in):
    dataset = _dataset(demo_platform, 4)
    uri = demo_platform.dataset_uri(dataset)
    user, _ = _client(demo_app, sign_in)
    assert user.post(f"/feedback/{dataset}/comment", data={"body": "第三行的经度有误"}).status_code == 303
    assert user.post(f"/feedback/{dataset}/comment", data={"body": "广告内容"}).status_code == 303
    assert user.post(f"/feedback/{dataset}/comment", data={"body": "   "}).status_code == 400
    pending = [c for c in demo_platform.feedback.comments(dataset, PENDING)]
    assert [c.body for c in pending] == ["第三行的经度有误", "广告内容"]
    public = demo_app.test_client()
    assert "第三行的经度有误" not in public.get(f"/datasets/{dataset}").get_data(as_text=True)
    own = user.get(f"/datasets/{dataset}").get_data(as_text=True)  # its author sees it is waiting
    assert f'id="my-pending-{pending[0].id}"' in own
    # a publisher may not moderate; a user neither; anonymous is sent to sign in
    publisher, _ = _client(demo_app, sign_in, "publisher", "D017")
    assert publisher.get("/admin/moderation").status_code == 403
    assert publisher.post(f"/admin/moderation/{pending[0].id}", data={"decision": "approve"}).status_code == 403
    assert user.post(f"/admin/moderation/{pending[0].id}", data={"decision": "approve"}).status_code == 403
    assert public.get("/admin/moderation", headers={"Accept": "application/json"}).status_code == 401
    reviewer, reviewer_id = _client(demo_app, sign_in, "reviewer")
    page = reviewer.get("/admin/moderation").get_data(as_text=True)
    assert "第三行的经度有误" in page and f'id="pending-{pending[1].id}"' in page
    assert reviewer.post(f"/admin/moderation/{pending[0].id}", data={"decision": "approve"}).status_code == 303
    assert reviewer.post(f"/admin/moderation/{pending[1].id}", data={"decision": "reject"}).status_code == 400
    assert reviewer.post(f"/admin/moderation/{pending[1].id}",
                         data={"decision": "reject", "reason": "广告"}).status_code == 303
    assert reviewer.post(f"/admin/moderation/{pending[1].id}", data={"decision": "approve"}).status_code == 409
    html = public.get(f"/datasets/{dataset}").get_data(as_text=True)
    assert "第三行的经度有误" in html and "广告内容" not in html
    turtle = public.get(f"/datasets/{dataset}.ttl")
    graph = list(ox.parse(turtle.data, format=ox.RdfFormat.TURTLE))
    bodies = [t.object.value for t in graph if t.predicate == RDF_VALUE]
    assert bodies == ["第三行的经度有误"]
    entries = [e for e in demo_platform.audit.entries(actor=reviewer_id)
               if e.action.startswith("feedback.comment.")]
    assert [(e.action, e.target, e.before, e.after) for e in entries] == [
        ("feedback.comment.approve", f"comment:{pending[0].id}", "pending", "approved"),
        ("feedback.comment.reject", f"comment:{pending[1].id}", "pending", "rejected")]
    assert entries[1].detail == {"dataset": dataset, "reason": "广告"}


def test_feedback_on_both_backends(tmp_path, database_url):
    from core.database import open_database

    fb = Feedback(open_database(database_url, "feedback", tmp_path / "feedback.sqlite", auto_migrate=True))
    fb.rate("demo.z", "u1", 3)
    fb.rate("demo.z", "u1", 1)
    fb.rate("demo.z", "u2", 2)
    assert (fb.rating("demo.z").value, fb.rating("demo.z").count) == (1.5, 2)
    n = fb.comment("demo.z", "u1", "甲", "字段缺失")
    fb.decide(n, True, "r")
    assert [c.body for c in fb.comments("demo.z")] == ["字段缺失"]
    assert [c.id for c in fb.decided()] == [n]
    fb.close()
