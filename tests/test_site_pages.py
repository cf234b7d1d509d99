"""A web page where Learn's REST API should answer (a sign-on gateway, a proxy) is the site's
problem, never a row's: retried like a 5xx, then the run stops, exit 2 before any change was
sent and 3 after, every row left where a re-run against the mended site finishes it."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from cli_runs import FAST, invoke, sandbox_config, write
from click.testing import Result
from harness import BASE_URL, Learn, make_learn, mock_client, sections

from rollover import runner
from rollover.engine import RunOptions
from rollover.errors import CopyOutcomeUnknown, LearnAnsweredPage, LearnUnreachable
from rollover.learn import RetryPolicy, Site
from rollover.ledger import Ledger, State
from rollover.manifest import Manifest, ManifestRow
from rollover.sandbox import LearnSandbox, SandboxConfig, create_app

SIGN_IN = 'answered a web page (text/html, titled "Sign in") where Learn\'s REST API should be'
COPY = {"targetCourse": {"courseId": "NEW-SP27"}, "copy": {"contentAreas": True}}


def page(status: int, title: str = "Sign in", kind: str = "text/html") -> httpx.Response:
    """A page for browsers, as a gateway or proxy answers."""
    body = f"<!DOCTYPE html><html><head><title>{title}</title></head><body>x</body></html>"
    return httpx.Response(status, headers={"Content-Type": kind}, content=body.encode())


# -- the sandbox's gateway ------------------------------------------------------------------


def test_the_sandbox_gateway_answers_every_path_with_its_page_then_lets_calls_through() -> None:
    """sign_in_page_from/_calls: calls 2 to 4, whatever their path, get the sign-in page (200,
    text/html) and never reach Learn; call 5 does."""
    sandbox = LearnSandbox(SandboxConfig(sign_in_page_from=2, sign_in_page_calls=3))
    transport = httpx.ASGITransport(app=create_app(sandbox))

    async def calls() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            token = await http.post(
                "/learn/api/public/v1/oauth2/token",
                auth=(sandbox.config.key, sandbox.config.secret),
                data={"grant_type": "client_credentials"},
            )
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            return [
                token,
                await http.post(
                    "/learn/api/public/v2/courses/courseId:BIO101-SP26/copy",
                    json=COPY,
                    headers=bearer,
                ),
                await http.get("/anything/at/all", headers=bearer),
                await http.get("/learn/api/public/v3/courses/courseId:BIO101-SP26", headers=bearer),
                await http.get("/learn/api/public/v3/courses/courseId:BIO101-SP26", headers=bearer),
            ]

    answers = asyncio.run(calls())
    assert [a.status_code for a in answers] == [200] * 5
    pages = [a for a in answers if a.headers["content-type"].startswith("text/html")]
    assert pages == answers[1:4]
    assert all("<title>Sign in</title>" in a.text for a in pages)
    assert answers[4].json()["courseId"] == "BIO101-SP26"
    assert sandbox.record.copies == [] and sandbox.record.faults["sign_in_page"] == 3


@pytest.mark.parametrize("key", ["sign_in_page_from", "sign_in_page_calls"])
def test_the_sandbox_gateway_counts_calls_from_one(key: str) -> None:
    """A gateway from call 0, or for 0 calls, is refused with the key named."""
    with pytest.raises(ValueError, match=key):
        SandboxConfig.from_dict({key: 0})


# -- the client ------------------------------------------------------------------------------


def test_a_sign_in_page_from_the_first_call_is_retried_then_a_usage_error() -> None:
    """A page on the token call is retried like a 5xx, then LearnAnsweredPage (exit 2) naming
    the page's type and title; the site is not taken to have answered (nothing is bound)."""
    learn = make_learn(sign_in_page_from=1)
    answered: list[str] = []

    async def scenario() -> LearnAnsweredPage:
        async with learn.client(retry=RetryPolicy(attempts=4, max_wait=2.0)) as client:
            client.on_token_granted = lambda: answered.append("answered")
            with pytest.raises(LearnAnsweredPage) as raised:
                await client.get_course("courseId:BIO-101-FA26", "id")
            assert client.changes_sent == 0
            return raised.value

    error = asyncio.run(scenario())
    assert error.message == f"{BASE_URL} {SIGN_IN}"
    assert error.exit_code == 2 and isinstance(error, LearnUnreachable)
    assert error.hint is not None and error.hint.startswith(
        "a sign-on page or proxy stands in front of /learn/api; check --base-url"
    )
    assert learn.sandbox.record.faults["sign_in_page"] == 4  # one ladder, the sign-in's
    assert answered == []


def test_a_page_for_a_few_calls_is_retried_and_the_call_succeeds() -> None:
    """A gateway that answers pages for two calls and then lets calls through costs retries,
    not the call."""
    learn = make_learn(sign_in_page_from=2, sign_in_page_calls=2)

    async def scenario() -> dict[str, object]:
        async with learn.client() as client:
            return await client.get_course("courseId:BIO-101-FA26", "courseId")

    assert asyncio.run(scenario()) == {"courseId": "BIO-101-FA26"}
    assert learn.sandbox.record.faults["sign_in_page"] == 2


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (page(404, "Not Found"), '(text/html, titled "Not Found")'),
        (page(403, "Access denied &amp; logged"), '(text/html, titled "Access denied & logged")'),
        (page(502, "Bad\n  Gateway"), '(text/html, titled "Bad Gateway")'),
        (page(200, "x", kind="application/json"), '(application/json, titled "x")'),
        (httpx.Response(200, text="OK"), "(text/plain)"),
        (httpx.Response(200, content=b"<html><body>no title</body></html>"), "(no content type)"),
    ],
)
def test_an_answer_that_is_not_learns_json_is_the_site_on_any_status(
    answer: httpx.Response, shown: str
) -> None:
    """HTML on an error status, or a 2xx that is not JSON on a call that reads JSON, is
    LearnAnsweredPage (never LearnNotFound or a row-level error), after its retries."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return answer

    async def scenario() -> None:
        async with mock_client(handler) as client:
            with pytest.raises(LearnAnsweredPage) as raised:
                await client.get_course("courseId:X", "id")
        assert raised.value.message == (
            f"{BASE_URL} answered a web page {shown} where Learn's REST API should be"
        )

    asyncio.run(scenario())
    assert len(seen) == 4  # retried like a 5xx


def test_a_page_never_shows_the_password_in_the_base_url() -> None:
    """The site named in the message is the base URL without its user name and password."""

    async def scenario() -> None:
        site = "https://ops:hunter2@learn.example.edu"
        async with mock_client(lambda r: page(200), base_url=site) as c:
            with pytest.raises(LearnAnsweredPage) as raised:
                await c.get_term("externalId:FA26", "id")
        assert raised.value.message == f"https://learn.example.edu {SIGN_IN}"
        assert "hunter2" not in f"{raised.value.message} {raised.value.hint}"

    asyncio.run(scenario())


def test_a_copy_post_answered_with_a_page_has_an_unknown_outcome() -> None:
    """A page on the copy POST (a 403 from a proxy, say) may hide Learn's answer: the outcome
    is unknown (reconciled), not a refused copy that fails the row; it is never re-sent."""
    posts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posts.append(request.method)
        return page(403, "Forbidden")

    async def scenario() -> None:
        async with mock_client(handler) as client:
            with pytest.raises(CopyOutcomeUnknown) as raised:
                await client.copy_course("courseId:A", COPY)
        assert isinstance(raised.value.__cause__, LearnAnsweredPage)
        assert 'titled "Forbidden"' in raised.value.message

    asyncio.run(scenario())
    assert posts == ["POST"]


def test_an_enrolment_answered_with_a_page_is_not_an_enrolment() -> None:
    """A PUT answered 200 with a sign-in page enrolled nobody: LearnAnsweredPage, not done."""

    async def scenario() -> None:
        async with mock_client(lambda r: page(200)) as client:
            with pytest.raises(LearnAnsweredPage):
                await client.enrol("_5_1", "userName:jdoe", "Instructor")

    asyncio.run(scenario())


# -- the run ---------------------------------------------------------------------------------


def site_of(learn: Learn) -> Site:
    """The run's view of the simulated site."""
    config = learn.sandbox.config
    return Site(BASE_URL, config.key, config.secret, identity="test", transport=learn.transport)


def run_rows(learn: Learn, rows: list[ManifestRow], tmp_path: Path) -> runner.RunReport:
    """`runner.run` over `rows` against `learn`, on its virtual clock."""
    manifest = Manifest(tmp_path / "m.csv", tuple(rows), (), ZoneInfo("UTC"))
    return asyncio.run(
        runner.run(
            manifest,
            site_of(learn),
            ledger_path=tmp_path / "l.sqlite",
            results_path=tmp_path / "r.csv",
            options=RunOptions(poll_min=1.0, poll_max=10.0, adopt_settle=60.0),
            sleep=learn.clock.sleep,
            clock=learn.clock.datetime,
            monotonic=learn.clock.time,
        )
    )


def states(tmp_path: Path) -> dict[str, State]:
    """Each row's ledger state, by target."""
    with Ledger(tmp_path / "l.sqlite") as ledger:
        return {row.target_course_id: row.state for row in ledger.rows()}


def test_a_page_from_the_first_call_stops_the_run_with_exit_2(tmp_path: Path) -> None:
    """Nothing that changes Learn was sent: exit 2 with the page named and the hint, every row
    pending, no copy made, and the ledger bound to no site."""
    learn = make_learn(sign_in_page_from=1)
    report = run_rows(learn, sections(3), tmp_path)
    assert report.exit_code == 2
    assert report.stopped == f"{BASE_URL} {SIGN_IN}"
    assert report.hint is not None and "exempt /learn/api from single sign-on" in report.hint
    assert set(states(tmp_path).values()) == {State.PENDING}
    assert learn.sandbox.record.copies == []
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.bound_site() is None


def test_a_page_mid_run_stops_resumable_and_a_rerun_copies_each_once(tmp_path: Path) -> None:
    """From the 4th call on (after two copy POSTs), pages: retried, then exit 3 with no row
    failed, the POSTed rows still polling their task (a page is not "task gone") and the rows
    whose POST met the page at `intent`; the mended site then finishes every row, one copy
    per target."""
    learn = make_learn(sign_in_page_from=4, copy_seconds=5.0)
    rows = sections(4)
    stopped = run_rows(learn, rows, tmp_path)
    assert stopped.exit_code == 3
    assert stopped.stopped == f"{BASE_URL} {SIGN_IN}"
    assert sorted(states(tmp_path).values()) == [State.INTENT] * 2 + [State.LOCATED] * 2
    assert stopped.counts == {"pending": 4}
    assert len(learn.sandbox.record.copies) == 2

    learn.sandbox.config = replace(learn.sandbox.config, sign_in_page_from=None)
    finished = run_rows(learn, rows, tmp_path)
    assert finished.exit_code == 0, finished.stopped
    assert set(states(tmp_path).values()) == {State.DONE}
    assert learn.sandbox.record.copies_per_target() == {r.target_course_id: 1 for r in rows}
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert not any(row.adopted for row in ledger.rows())  # each task was seen to finish


def test_a_page_for_a_few_calls_mid_run_is_retried_and_the_run_finishes(tmp_path: Path) -> None:
    """Three pages in the middle of a run cost retries only: every row done, one copy each."""
    learn = make_learn(sign_in_page_from=6, sign_in_page_calls=3, copy_seconds=5.0)
    rows = sections(4)
    report = run_rows(learn, rows, tmp_path)
    assert report.exit_code == 0, report.stopped
    assert learn.sandbox.record.faults["sign_in_page"] == 3
    assert learn.sandbox.record.copies_per_target() == {r.target_course_id: 1 for r in rows}


def test_a_page_stops_the_live_check_with_exit_2(tmp_path: Path) -> None:
    """The preflight (`--check-learn`, `--preflight`) sends only reads: a page is exit 2."""
    learn = make_learn(sign_in_page_from=1)
    manifest = Manifest(tmp_path / "m.csv", tuple(sections(2)), (), ZoneInfo("UTC"))
    with pytest.raises(LearnAnsweredPage) as raised:
        asyncio.run(
            runner.preflight(
                manifest, site_of(learn), ledger_path=tmp_path / "l.sqlite", sleep=learn.clock.sleep
            )
        )
    assert raised.value.exit_code == 2


# -- the command line ------------------------------------------------------------------------


HINT = (
    "Hint: a sign-on page or proxy stands in front of /learn/api; check --base-url (or "
    "LEARN_BASE_URL): it must be the site's root as Learn's REST API answers it (e.g. "
    "https://learn.example.edu, not a /webapps/... page), or ask the site's admins to exempt /learn/api from single sign-on; then run the same command "
    "again (the ledger resumes where it stopped)\n"
)


def cli_run(tmp_path: Path, gateway: str) -> tuple[Result, str]:
    """`run --sandbox` of two rows behind a gateway configured by `gateway` (TOML lines); the
    result and the simulated site's address."""
    manifest = write(
        tmp_path / "spring.csv",
        "source_course_id,target_course_id\nBIO101-SP26,BIO101-FA26\nCHEM110-SP26,CHEM110-FA26\n",
    )
    config = sandbox_config(tmp_path, gateway)
    result = invoke("run", manifest, "--sandbox", "--sandbox-config", config, *FAST)
    found = re.search(r"Sandbox: simulated Learn at (\S+) ", result.stdout)
    assert found is not None, result.output
    return result, found.group(1)


def test_the_cli_says_what_answered_and_what_to_do_with_exit_2(tmp_path: Path) -> None:
    """`run` against a site whose sign-on page answers from the first call exits 2 with the
    exact Error and Hint lines; no row failed and the ledger is bound to no site."""
    result, site = cli_run(tmp_path, "sign_in_page_from = 1\n")
    assert result.exit_code == 2, result.output
    assert f"Error: {site} {SIGN_IN}\n" in result.stderr
    assert HINT in result.stderr
    assert "2 rows: 0 done, 0 failed, 0 needs_review, 2 pending" in result.stdout
    with Ledger(tmp_path / "spring.sandbox.ledger.sqlite") as ledger:
        assert ledger.bound_site() is None  # a sign-on page is not the site answering


def test_the_cli_stops_resumable_with_exit_3_once_copies_were_posted(tmp_path: Path) -> None:
    """Pages from the first poll on (both copies POSTed): exit 3, the page and the hint said,
    no row failed."""
    result, site = cli_run(tmp_path, "sign_in_page_from = 4\n")
    assert result.exit_code == 3, result.output
    assert f"Stopped early: {site} {SIGN_IN}\n" in result.stdout
    assert "Error:" not in result.stderr and HINT in result.stderr
    assert "2 rows: 0 done, 0 failed, 0 needs_review, 2 pending" in result.stdout


def test_a_sign_on_pages_401_is_a_page_not_refused_credentials() -> None:
    """A 401 that is a web page says nothing of Learn's token: no renewal, no LearnAuthError
    (exit 2, fix the key), but the page, retried."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return page(401, "Authentication required")

    async def scenario() -> None:
        async with mock_client(handler) as client:
            with pytest.raises(LearnAnsweredPage) as raised:
                await client.get_course("courseId:X", "id")
            assert client.calls["POST /v1/oauth2/token"] == 1
        assert 'titled "Authentication required"' in raised.value.message

    asyncio.run(scenario())
    assert len(seen) == 4
