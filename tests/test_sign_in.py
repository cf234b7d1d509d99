"""Signing in: a ledger is bound only to a site that granted a token, and a wrong address
(--base-url naming a /webapps/... page) is told apart from a wrong key or secret."""

from __future__ import annotations

import asyncio
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from cli_runs import FAST, invoke
from click.testing import Result
from harness import BASE_URL, Learn, VirtualClock, make_learn, sections

from rollover import runner
from rollover.cli import default_files
from rollover.engine import RunOptions
from rollover.errors import LearnAuthError, LedgerError, WrongSiteAddress
from rollover.learn import LearnClient, RetryPolicy, Site
from rollover.ledger import Ledger
from rollover.manifest import Manifest
from rollover.plan import row_spec
from rollover.sandbox import LearnSandbox, SandboxConfig, SandboxServer, SeedCourse, create_app

PORTAL = f"{BASE_URL}/webapps/portal/execute"


def run_at(
    learn: Learn, manifest_path: Path, base_url: str, *, secret: str | None = None
) -> runner.RunReport:
    """`runner.run` of three rows against `learn` at `base_url`, on the manifest's default
    ledger, as the CLI names the site (its identity is the URL given)."""
    config = learn.sandbox.config
    site = Site(
        base_url,
        config.key,
        config.secret if secret is None else secret,
        identity=base_url,
        transport=learn.transport,
    )
    files = default_files(manifest_path)
    manifest = Manifest(manifest_path, tuple(sections(3)), (), ZoneInfo("UTC"))
    return asyncio.run(
        runner.run(
            manifest,
            site,
            ledger_path=files.ledger,
            results_path=files.results,
            options=RunOptions(poll_min=1.0, poll_max=10.0),
            sleep=learn.clock.sleep,
            clock=learn.clock.datetime,
            monotonic=learn.clock.time,
        )
    )


def bound_site(manifest_path: Path) -> str | None:
    """The site the manifest's default ledger is bound to, if any."""
    with Ledger(default_files(manifest_path).ledger) as ledger:
        return ledger.bound_site()


def test_the_sandbox_answers_404_to_a_token_request_under_a_webapps_page() -> None:
    """A token POST under /webapps/portal/execute meets Learn's web server, not its REST API:
    404 whatever the credentials, no token, no quota charged."""
    learn = make_learn()
    config = learn.sandbox.config

    async def ask() -> httpx.Response:
        async with httpx.AsyncClient(transport=learn.transport, base_url=PORTAL) as http:
            return await http.post(
                "/learn/api/public/v1/oauth2/token",
                auth=(config.key, config.secret),
                data={"grant_type": "client_credentials"},
            )

    answer = asyncio.run(ask())
    assert answer.status_code == 404
    assert "access_token" not in answer.json()
    assert learn.sandbox.token is None


def test_a_webapps_address_then_the_root_on_the_same_default_ledger(tmp_path: Path) -> None:
    """--base-url naming the portal page stops with exit 2 saying it is not the site's root (and
    which is), binds nothing and copies nothing; the root then runs on the same default ledger."""
    learn = make_learn(copy_seconds=1.0)
    manifest = tmp_path / "spring.csv"
    wrong = run_at(learn, manifest, PORTAL)
    assert wrong.exit_code == 2
    assert wrong.stopped == (
        f"{PORTAL} is not the address of a Learn site's REST API: it answered 404 (The "
        "requested resource was not found) where Learn's token endpoint (POST "
        "/learn/api/public/v1/oauth2/token) should be"
    )
    assert wrong.hint == (
        f"check --base-url (or LEARN_BASE_URL): it must be the site's root, {BASE_URL}, not a "
        "page under it; then run the same command again (no ledger is bound to an address that "
        "never granted a token)"
    )
    assert bound_site(manifest) is None
    assert learn.sandbox.record.copies == []

    right = run_at(learn, manifest, BASE_URL)
    assert right.exit_code == 0, right.stopped
    assert right.counts["done"] == 3
    assert bound_site(manifest) == BASE_URL


def test_a_wrong_secret_then_the_right_one_on_the_same_default_ledger(tmp_path: Path) -> None:
    """A refused key/secret stops with exit 2 naming LEARN_KEY/LEARN_SECRET, the REST
    integration's registration and its user's entitlements; nothing is bound, and the right
    secret then runs on the same ledger."""
    learn = make_learn(copy_seconds=1.0)
    manifest = tmp_path / "spring.csv"
    wrong = run_at(learn, manifest, BASE_URL, secret="not-the-secret")
    assert wrong.exit_code == 2
    assert wrong.stopped == (
        "Learn answered 401 on POST /v1/oauth2/token: the site refused the REST application's "
        "key and secret (Client authentication failed)"
    )
    assert wrong.hint is not None
    for named in (
        "LEARN_KEY and LEARN_SECRET",
        "System Admin > REST API Integrations",
        "application's id",
        "'End user access'",
        "'Authorized to act as user'",
        "integration user's role needs the entitlements",
    ):
        assert named in wrong.hint
    assert "not-the-secret" not in f"{wrong.stopped} {wrong.hint}"
    assert bound_site(manifest) is None

    right = run_at(learn, manifest, BASE_URL)
    assert right.exit_code == 0, right.stopped
    assert bound_site(manifest) == BASE_URL


def token_answer(answer: httpx.Response) -> BaseException:
    """What signing in raises when the token URL gives `answer` (every call, no retries)."""
    clock = VirtualClock()
    client = LearnClient(
        PORTAL,
        "k",
        "s",
        transport=httpx.MockTransport(lambda request: answer),
        sleep=clock.sleep,
        monotonic=clock.time,
        retry=RetryPolicy(attempts=2, max_wait=1.0),
    )

    async def sign_in() -> BaseException:
        async with client:
            with pytest.raises((WrongSiteAddress, LearnAuthError)) as raised:
                await client.get_course("_1_1", "id")
            return raised.value

    return asyncio.run(sign_in())


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (httpx.Response(404), "it answered 404"),
        (httpx.Response(405, json={"status": 405, "message": "Method not allowed"}), "405"),
        (httpx.Response(302, headers={"Location": "/webapps/login/"}), "it answered 302"),
        (
            httpx.Response(401, json={"status": 401, "message": "Bearer token is invalid"}),
            "it answered 401 (Bearer token is invalid)",
        ),
        (httpx.Response(200, json={"status": "ok"}), "it answered 200 without a token"),
    ],
)
def test_no_token_endpoint_at_the_address_is_a_wrong_address(
    answer: httpx.Response, said: str
) -> None:
    """404, 405, a redirect, a 401 in the shape of Learn's resource errors (never its token
    endpoint's) or a 200 without a token: the address is wrong (exit 2), not the key."""
    error = token_answer(answer)
    assert isinstance(error, WrongSiteAddress) and error.exit_code == 2
    assert said in error.message
    assert error.hint is not None and f"site's root, {BASE_URL}, not a page" in error.hint


@pytest.mark.parametrize("status", [400, 401])
def test_an_oauth_refusal_is_the_key_or_secret(status: int) -> None:
    """`invalid_client` on 400 or 401 from the token endpoint: the credentials (exit 2)."""
    error = token_answer(
        httpx.Response(
            status,
            json={"error": "invalid_client", "error_description": "Client authentication failed"},
        )
    )
    assert isinstance(error, LearnAuthError) and error.exit_code == 2
    assert "(Client authentication failed)" in error.message
    assert error.hint is not None and "LEARN_KEY and LEARN_SECRET" in error.hint


def test_a_ledger_of_another_site_that_never_copied_is_safe_to_delete(tmp_path: Path) -> None:
    """Refusing a ledger bound to another site: with no copy ever requested, the hint names the
    file as safe to delete; once an intent was recorded, it no longer does."""
    path = tmp_path / "spring.ledger.sqlite"
    with Ledger(path) as ledger:
        ledger.sync_manifest([row_spec(row) for row in sections(2)])
        ledger.bind_site(PORTAL)
        with pytest.raises(LedgerError) as never_copied:
            ledger.check_site(BASE_URL)
        assert never_copied.value.hint == (
            f"no copy was ever requested from this ledger: if {BASE_URL} is the right site, "
            f"{path} is safe to delete (then run the same command again); else pass --base-url "
            "of the ledger's site"
        )
        ledger.record_intent(sections(2)[0].target_course_id)
        with pytest.raises(LedgerError) as copied:
            ledger.check_site(BASE_URL)
        assert copied.value.hint == (
            "pass the --ledger of this site, or --base-url of the ledger's site"
        )


def test_the_cli_tells_a_webapps_address_from_a_wrong_key_and_neither_blocks_the_right_one(
    tmp_path: Path,
) -> None:
    """`rollover run` against a simulated Learn on loopback: the portal page's address, then a
    wrong secret, each exit 2 with its own Error and Hint and no ledger bound; then the root
    with the right key runs on the same default ledger."""
    sandbox = LearnSandbox(
        SandboxConfig(copy_seconds=0.05, courses=[SeedCourse("BIO-101-FA26", "Biology")])
    )
    manifest = tmp_path / "spring.csv"
    manifest.write_text(
        "source_course_id,target_course_id\nBIO-101-FA26,BIO-101-001-SP27\n", encoding="utf-8"
    )
    config = sandbox.config

    def run(base_url: str, secret: str) -> Result:
        return invoke(
            "run",
            manifest,
            "--base-url",
            base_url,
            *FAST,
            "-q",
            env={"LEARN_KEY": config.key, "LEARN_SECRET": secret},
        )

    with SandboxServer(create_app(sandbox)) as server:
        root = server.base_url
        portal = f"{root}/webapps/portal/execute"
        wrong_address = run(portal, config.secret)
        wrong_secret = run(root, "not-the-secret")
        right = run(root, config.secret)
    assert wrong_address.exit_code == 2, wrong_address.output
    assert (
        f"Error: {portal} is not the address of a Learn site's REST API: it answered 404 (The "
        "requested resource was not found) where Learn's token endpoint (POST "
        "/learn/api/public/v1/oauth2/token) should be\n"
        f"Hint: check --base-url (or LEARN_BASE_URL): it must be the site's root, {root}, not "
        "a page under it;"
    ) in wrong_address.stderr
    assert wrong_secret.exit_code == 2, wrong_secret.output
    assert (
        "Error: Learn answered 401 on POST /v1/oauth2/token: the site refused the REST "
        "application's key and secret (Client authentication failed)\n"
        "Hint: check LEARN_KEY and LEARN_SECRET:"
    ) in wrong_secret.stderr
    assert "not-the-secret" not in wrong_secret.output
    assert right.exit_code == 0, right.output
    assert bound_site(manifest) == root
    assert sandbox.record.copies_per_target() == {"BIO-101-001-SP27": 1}
