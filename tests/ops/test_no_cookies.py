"""No door keeps anything in a cookie: Flask's session is off."""

from __future__ import annotations

from flask import session
from flask.sessions import NullSession

from app import create_app
from tests.conftest import TEST_SECRET_KEY


def test_the_session_is_off_and_refuses_writes() -> None:
    app = create_app(
        {"TESTING": True, "SECRET_KEY": TEST_SECRET_KEY, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    seen: list[bool] = []

    @app.get("/remember")
    def remember() -> str:
        seen.append(isinstance(session._get_current_object(), NullSession) and not session)  # type: ignore[attr-defined]
        try:
            session["user"] = "ada"
        except RuntimeError:
            return "refused"
        return "kept"

    client = app.test_client()
    response = client.get("/remember")
    assert response.get_data(as_text=True) == "refused"
    assert "Set-Cookie" not in response.headers
    assert seen == [True]
