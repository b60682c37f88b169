"""The console's files and /admin/me over HTTP: served from the package, locked to this server."""

import pytest

pytestmark = pytest.mark.integration


def test_console_page_and_modules_are_served_with_a_strict_policy(client):
    page = client.get("/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'self'" in policy
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "http://" not in page.text and "https://" not in page.text  # nothing loaded from elsewhere
    for name in ("app.js", "api.js", "inbox.js", "knowledge.js", "insights.js", "console.css"):
        asset = client.get(f"/console/{name}")
        assert asset.status_code == 200, name
        assert "https://" not in asset.text and "http://" not in asset.text.replace("http://www.w3.org/2000/svg", "")
    assert client.get("/console/app.js").headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("name", ["missing.js", "..%2Fconsole.py", ".hidden.js", "index.py", "%2E%2E%2Fapp.py"])
def test_only_the_console_files_are_served(client, name):
    assert client.get(f"/console/{name}").status_code == 404


def test_me_names_the_key_and_its_role(client, admin_headers, make_key):
    assert client.get("/admin/me").status_code == 401
    assert client.get("/admin/me", headers=admin_headers).json() == {"name": "bootstrap-admin", "role": "admin"}
    assert client.get("/admin/me", headers=make_key("viewer")).json()["role"] == "viewer"
