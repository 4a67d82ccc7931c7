"""Users and workspaces in the dashboard: an admin makes a user and a workspace; the user
signs in with the token and sees that workspace only; the admin switches between
workspaces; anyone makes and revokes their own API tokens."""

from __future__ import annotations

from tests import sources
from tests.dashboard.conftest import Visit


def test_an_admin_makes_a_user_who_sees_only_their_workspace(visit: Visit, tmp_path):
    server = visit.server
    with server.client() as admin:
        admin.create_dataset(
            "admins-reviews",
            "text-classification",
            sources.write_rows(tmp_path / "r.csv", sources.review_rows(40)),
        )
    page = visit.sign_in()
    page.click("#admin-link")
    page.wait_for_selector("#users-table")
    page.fill("#workspace-form input[name=name]", "lab")
    page.click("#workspace-form button[type=submit]")
    page.wait_for_selector("#workspaces-table td:has-text('lab')")
    page.fill("#user-form input[name=user]", "dana")
    page.fill("#user-form input[name=workspace]", "lab")
    page.click("#user-form button[type=submit]")
    token = page.wait_for_selector("#user-token").inner_text().strip()
    page.wait_for_selector("#users-table td:has-text('lab (member)')")
    page.wait_for_selector("#audit-table td:has-text('POST /api/v1/users')")
    visit.shot("admin-users-and-workspaces")

    with server.client(token=token) as dana:
        dana.create_dataset(
            "danas-digits",
            "image-classification",
            sources.digits_folder(tmp_path / "digits", limit=60),
        )
    page.click("#sign-out")
    visit.sign_in(token)
    assert page.inner_text("#who") == "dana (member)"
    assert page.eval_on_selector_all("#workspace option", "os => os.map(o => o.value)") == ["lab"]
    page.click("#nav a[href='#/datasets']")
    page.wait_for_selector("td:has-text('danas-digits')")
    assert "admins-reviews" not in page.inner_text("#view")
    assert page.is_hidden("#admin-link")

    page.click("#sign-out")
    visit.sign_in()
    page.select_option("#workspace", "lab")
    page.click("#nav a[href='#/datasets']")
    page.wait_for_selector("td:has-text('danas-digits')")
    assert "admins-reviews" not in page.inner_text("#view")
    page.click("a:has-text('danas-digits')")
    page.wait_for_selector("img[alt^='train image']")
    visit.wait_until(  # the images load from the chosen workspace (?workspace=lab)
        "[...document.querySelectorAll(\"img[alt^='train image']\")].every(i => i.naturalWidth > 0)"
    )
    page.select_option("#workspace", "default")
    page.click("#nav a[href='#/datasets']")
    page.wait_for_selector("td:has-text('admins-reviews')")
    assert "danas-digits" not in page.inner_text("#view")


def test_make_and_revoke_your_own_token(visit: Visit):
    page = visit.sign_in()
    page.click("#account-link")
    page.wait_for_selector("#my-workspaces td:has-text('default')")
    page.fill("#token-form input[name=name]", "notebook")
    page.fill("#token-form input[name=expires]", "7d")
    page.click("#token-form button[type=submit]")
    secret = page.wait_for_selector("#token-secret").inner_text().strip()
    assert secret.startswith("fm_")
    with visit.server.client(token=secret) as me:
        assert me.me().name == "admin"
    row = page.wait_for_selector("#tokens-table tr:has-text('notebook')")
    visit.shot("account-tokens")
    row.query_selector("button:has-text('Revoke')").click()
    page.wait_for_selector("#tokens-table tr:has-text('notebook')", state="detached")
