"""One-time sign-in links."""

from __future__ import annotations

import pytest
from django.test import Client

from web.loginlink import make_link


@pytest.mark.django_db
def test_link_signs_in_once(cluster, owner) -> None:
    """A link signs its user in and lists their clusters; opening it again is refused."""
    path = make_link("alice", "http://testserver").removeprefix("http://testserver")
    browser = Client()
    resp = browser.get(path)
    assert resp.status_code == 302
    page = browser.get("/")
    assert b"lab" in page.content
    again = Client().get(path)
    assert again.status_code == 400
    assert b"already used" in again.content


@pytest.mark.django_db
def test_tampered_link_is_refused(owner) -> None:
    path = make_link("alice", "http://testserver").removeprefix("http://testserver")
    resp = Client().get(path.replace("/accounts/link/", "/accounts/link/x"))
    assert resp.status_code == 400


@pytest.mark.django_db
def test_signed_out_home_explains_how_to_sign_in() -> None:
    resp = Client().get("/")
    assert resp.status_code == 200 and b"manage.py loginlink" in resp.content
