"""The sandbox on disk: a snapshot plus a journal of calls, never behind what a client has seen.

A "kill" here is dropping the live sandbox without any final save, then loading from disk: the
reloaded site must equal the one that never stopped, RNG positions, quota and record included.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from harness import FakeClock
from processes import wait_for_rows_past_pending

from rollover.cli import sandbox_site
from rollover.errors import UsageError
from rollover.manifest import load_manifest
from rollover.plan import PROFILES
from rollover.sandbox import (
    EndpointCall,
    InvalidJson,
    LearnSandbox,
    Reply,
    SandboxConfig,
    SeedUser,
    SiteJournal,
    create_app,
    journal_path,
)

API = "/learn/api/public"
KEY, SECRET = "rollover-sandbox-key", "rollover-sandbox-secret"
BASIC = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
# Every random stream in play, so a replay that drew differently would show.
CONFIG: dict[str, Any] = {
    "copy_seconds": 3.0,
    "copy_sigma": 1.0,
    "slots": 2,
    "error_rate": 0.15,
    "drop_copy_response_rate": 0.2,
    "complete_with_errors_rate": 0.3,
    "partial_copy_rate": 0.4,
    "users": [SeedUser("ada"), SeedUser("root", system_admin=True)],
    "seed": 11,
}
ENROL = {"courseRoleId": "Instructor", "availability": {"available": "Yes"}}

Answer = Callable[[EndpointCall], Reply]


def site(clock: FakeClock) -> LearnSandbox:
    """A fresh sandbox with every fault and random stream switched on."""
    return LearnSandbox(SandboxConfig(**CONFIG), clock=clock)


def applied(sandbox: LearnSandbox) -> Answer:
    """Answer calls on `sandbox` directly, with nothing written anywhere."""
    return lambda call: call.apply(sandbox)


def rehearse(answer: Answer, clock: FakeClock, targets: range) -> list[Reply]:
    """A rehearsal's calls for `targets`: token, copies, polls, patches, lookups; the replies."""
    replies: list[Reply] = []

    def call(method: str, *args: Any) -> Reply:
        replies.append(answer(EndpointCall(method, args)))
        clock.advance(0.9)
        return replies[-1]

    token = call("request_token", BASIC, {"grant_type": "client_credentials"}).body
    auth = f"Bearer {token['access_token']}"
    # Exact copies of BIO101 carry its members; enrolments into copies below 15% are lost.
    call("put_membership", "courseId:BIO101-SP26", "userName:ada", {"courseRoleId": "Grader"}, auth)
    for n in targets:
        target = f"T-{n:03d}"
        copied = call(
            "copy_course", "courseId:BIO101-SP26", {"targetCourse": {"courseId": target}}, auth
        )
        call("put_membership", f"courseId:{target}", "userName:ada", ENROL, auth)
        if "Location" in copied.headers:
            *_, course, _, task = copied.headers["Location"].split("/")
            call("get_task", course, task, auth)
        call("get_membership", f"courseId:{target}", "userName:ada", auth, "courseRoleId")
        call("patch_course", f"courseId:{target}", {"name": f"Section {n}"}, auth)
    call("copy_course", "courseId:BIO101-SP26", InvalidJson(), auth)
    call("patch_course", "courseId:T-000", {"invalid_json": [1]}, auth)
    call("list_courses", {"courseId": "T-", "fields": "id,courseId"}, auth)
    call("get_course", "v1", "courseId:HIST200-SP26", auth, "id,name")
    call("get_term", "externalId:SP26", auth)
    call("list_terms", {}, auth)
    call("unknown_endpoint", "DELETE", auth)
    call("get_task", "_1_1", "_9_1", "Bearer stale")
    first = f"courseId:T-{targets[0]:03d}"
    call("get_user", "userName:ada", auth, "id,userName")
    call("patch_membership", first, "userName:ada", {"courseRoleId": "Student"}, auth)
    call("put_membership", "courseId:HIST200-SP26", "userName:root", ENROL, auth)
    call("put_membership", "courseId:HIST200-SP26", "userName:ada", InvalidJson(), auth)
    call("list_memberships", first, {"limit": "1"}, auth)
    call("list_contents", first, {"recursive": "true", "limit": "5"}, auth)
    call("list_content_children", "courseId:BIO101-SP26", "_1_1", {}, auth)
    call("list_columns", "v2", first, {"fields": "id"}, auth)
    return replies


def carry_on(sandbox: LearnSandbox, start: float) -> list[Reply]:
    """The replies to more calls from `start` on, on a clock of the sandbox's own."""
    sandbox.clock = clock = FakeClock(start)
    return rehearse(applied(sandbox), clock, range(20, 25))


def loaded(state: Path, clock: FakeClock) -> LearnSandbox:
    """The site as a restarted process would find it at `state`."""
    return LearnSandbox.load(state, clock=clock)


def journal_lines(state: Path) -> list[bytes]:
    """The journal's lines, header first, each with its newline."""
    return journal_path(state).read_bytes().splitlines(keepends=True)


def test_killed_app_reloads_equal_to_a_site_that_never_stopped(tmp_path: Path) -> None:
    """Every call the app answered survives a kill: reload and carry on exactly as the live site."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    live = site(clock)

    async def scenario(client: httpx.AsyncClient) -> None:
        form = {"grant_type": "client_credentials"}
        token = await client.post(f"{API}/v1/oauth2/token", auth=(KEY, SECRET), data=form)
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        for n in range(8):
            copied = await client.post(
                f"{API}/v2/courses/courseId:CHEM110-SP26/copy",
                json={"targetCourse": {"courseId": f"C-{n}"}},
                headers=headers,
            )
            clock.advance(1.3)
            if "location" in copied.headers:
                await client.get(copied.headers["location"], headers=headers)
            else:
                await client.get(f"{API}/v1/courses/courseId:C-{n}/tasks/_0_1", headers=headers)
            await client.patch(
                f"{API}/v3/courses/courseId:C-{n}", json={"description": "Spring"}, headers=headers
            )
        await client.post(
            f"{API}/v2/courses/courseId:CHEM110-SP26/copy", content=b"{no", headers=headers
        )
        await client.get(
            f"{API}/v3/courses", params={"name": "Chem", "limit": "2"}, headers=headers
        )
        await client.get(f"{API}/v2/courses/courseId:C-1", params={"fields": "id"}, headers=headers)
        await client.put(f"{API}/nowhere", headers=headers)
        await client.get("/__sandbox__/record")
        member = f"{API}/v1/courses/courseId:C-0/users/userName:ada"
        await client.put(member, json={"courseRoleId": "Instructor"}, headers=headers)
        await client.patch(member, json={"courseRoleId": "Grader"}, headers=headers)
        await client.put(member.replace("C-0", "C-1"), content=b"{no", headers=headers)
        await client.get(member, params={"fields": "courseRoleId"}, headers=headers)
        await client.get(f"{API}/v1/users/userName:ada", headers=headers)
        await client.get(
            f"{API}/v1/courses/courseId:C-0/users", params={"limit": "1"}, headers=headers
        )
        await client.get(
            f"{API}/v1/courses/courseId:C-1/contents", params={"recursive": "true"}, headers=headers
        )
        await client.get(f"{API}/v1/courses/courseId:C-1/contents/_3_1/children", headers=headers)
        await client.get(f"{API}/v2/courses/courseId:C-1/gradebook/columns", headers=headers)

    async def serve() -> None:
        transport = httpx.ASGITransport(app=create_app(live, state_path=state))
        async with httpx.AsyncClient(transport=transport, base_url="http://learn.test") as client:
            await scenario(client)

    asyncio.run(serve())
    reloaded = loaded(state, clock)
    assert reloaded.to_state() == live.to_state()
    assert sum(reloaded.record.calls.values()) == 1 + 8 * 3 + 4 + 9
    assert reloaded.teaching.to_dict() == live.teaching.to_dict()
    assert carry_on(reloaded, clock.now) == carry_on(live, clock.now)
    assert reloaded.to_state() == live.to_state()


def test_each_call_appends_one_short_line_and_leaves_the_snapshot_alone(tmp_path: Path) -> None:
    """Persisting a call costs one journal line of bounded size; the snapshot is not rewritten."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    journal = SiteJournal(site(clock), state)
    snapshot = state.read_bytes()
    replies = rehearse(journal.answer, clock, range(30))
    lines = journal_lines(state)
    assert len(lines) == 1 + len(replies)
    assert max(len(line) for line in lines) < 300
    assert state.read_bytes() == snapshot


def test_replay_spans_a_compaction(tmp_path: Path) -> None:
    """Calls before a compaction live in the snapshot, calls after it in the new journal."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    live = site(clock)
    journal = SiteJournal(live, state)
    rehearse(journal.answer, clock, range(6))
    journal.compact()
    after = rehearse(journal.answer, clock, range(6, 10))
    assert len(journal_lines(state)) == 1 + len(after)
    assert loaded(state, clock).to_state() == live.to_state()


def test_journal_compacts_itself_once_it_outgrows_the_snapshot(tmp_path: Path) -> None:
    """With no floor, the journal never grows past the snapshot by more than one call's line."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    live = site(clock)
    journal = SiteJournal(live, state, min_compact_bytes=0)
    first_header = journal_lines(state)[0]
    sizes = []

    def answer(call: EndpointCall) -> Reply:
        reply = journal.answer(call)
        sizes.append((journal_path(state).stat().st_size, state.stat().st_size))
        return reply

    rehearse(answer, clock, range(150))
    assert journal_lines(state)[0] != first_header
    assert all(journal_bytes <= snapshot_bytes + 300 for journal_bytes, snapshot_bytes in sizes)
    assert loaded(state, clock).to_state() == live.to_state()


def test_crash_between_snapshot_and_journal_reset_repeats_no_call(tmp_path: Path) -> None:
    """A journal left over from before the new snapshot is ignored, not replayed a second time."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    live = site(clock)
    journal = SiteJournal(live, state)
    rehearse(journal.answer, clock, range(5))
    old_journal = journal_path(state).read_bytes()
    journal.compact()
    journal_path(state).write_bytes(old_journal)
    assert loaded(state, clock).to_state() == live.to_state()


def test_stale_journal_beside_a_state_saved_afresh_is_ignored(tmp_path: Path) -> None:
    """A site saved over another's state file does not inherit that site's journaled calls."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    rehearse(SiteJournal(site(clock), state).answer, clock, range(4))
    fresh = LearnSandbox(SandboxConfig(seed=3), clock=clock)
    fresh.save(state)
    assert loaded(state, clock).to_state() == fresh.to_state()


@pytest.mark.parametrize(
    "tail", [b'{"now":1790000', b"\0" * 40, b"\n\n"], ids=["half a line", "zeros", "blank lines"]
)
def test_a_torn_journal_tail_is_ignored(tmp_path: Path, tail: bytes) -> None:
    """Whatever a torn write left after the last whole line is dropped, not replayed or fatal."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    live = site(clock)
    rehearse(SiteJournal(live, state).answer, clock, range(4))
    with journal_path(state).open("ab") as journal:
        journal.write(tail)
    assert loaded(state, clock).to_state() == live.to_state()


def test_a_torn_header_leaves_the_snapshot_alone(tmp_path: Path) -> None:
    """A journal whose header was cut short holds no call: the snapshot is the whole site."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    live = site(clock)
    SiteJournal(live, state)
    journal_path(state).write_bytes(journal_path(state).read_bytes()[:9])
    assert loaded(state, clock).to_state() == live.to_state()


def test_a_whole_line_that_is_no_call_is_an_error_naming_it(tmp_path: Path) -> None:
    """A decodable line that is not a journaled call stops the load with its line number."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    replies = rehearse(SiteJournal(site(clock), state).answer, clock, range(1))
    with journal_path(state).open("ab") as journal:
        journal.write(b'{"now":1,"call":"drop_database","args":[]}\n')
    line = 1 + len(replies) + 1
    with pytest.raises(ValueError, match=rf"sandbox\.json\.journal, line {line}: .*drop_database"):
        loaded(state, clock)


def test_credentials_other_than_the_sites_own_never_reach_the_journal(tmp_path: Path) -> None:
    """A wrong key/secret or extra form fields are not written; the journal is private too."""
    clock, state = FakeClock(), tmp_path / "learn.sandbox.json"
    live = site(clock)
    journal = SiteJournal(live, state)
    leaked = "real-learn-secret-0000"
    wrong = "Basic " + base64.b64encode(f"real-key:{leaked}".encode()).decode()
    refused = journal.answer(
        EndpointCall(
            "request_token", (wrong, {"grant_type": "client_credentials", "client_secret": leaked})
        )
    )
    assert refused.status == 401
    rehearse(journal.answer, clock, range(2))
    written = journal_path(state).read_bytes() + state.read_bytes()
    assert leaked.encode() not in written and wrong.encode() not in written
    assert journal_path(state).stat().st_mode & 0o077 == 0
    assert loaded(state, clock).to_state() == live.to_state()


# -- the rehearsal -------------------------------------------------------------------------------


def write_manifest(path: Path, count: int) -> Path:
    """A manifest copying BIO-101-FA26 into `count` new sections in SP27."""
    lines = ["source_course_id,target_course_id,name,term_id"]
    lines += [f"BIO-101-FA26,BIO-101-{n:03d}-SP27,Section {n},SP27" for n in range(1, count + 1)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_rehearsal_site_resumes_from_what_it_left_on_disk(tmp_path: Path) -> None:
    """Leaving the site writes nothing more; the next one knows every call the last answered."""
    manifest = load_manifest(
        write_manifest(tmp_path / "spring.csv", 2), timezone=ZoneInfo("UTC"), profiles=PROFILES
    )
    state = tmp_path / "spring.sandbox.json"
    with sandbox_site(manifest, state) as learn, httpx.Client(base_url=learn.base_url) as client:
        token = client.post(
            f"{API}/v1/oauth2/token",
            auth=(learn.key, learn.secret),
            data={"grant_type": "client_credentials"},
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        copied = client.post(
            f"{API}/v2/courses/courseId:BIO-101-FA26/copy",
            headers=headers,
            json={"targetCourse": {"courseId": "BIO-101-001-SP27"}},
        )
        assert copied.status_code == 202
        on_disk = state.read_bytes(), journal_path(state).read_bytes()
    assert (state.read_bytes(), journal_path(state).read_bytes()) == on_disk
    with sandbox_site(manifest, state) as learn, httpx.Client(base_url=learn.base_url) as client:
        task = client.get(copied.headers["location"], headers=headers)
        assert task.status_code in (200, 303)
        course = client.get(f"{API}/v3/courses/courseId:BIO-101-001-SP27", headers=headers)
        assert course.status_code == 200
    assert LearnSandbox.load(state).record.copies_per_target() == {"BIO-101-001-SP27": 1}


def test_rehearsal_state_it_cannot_read_is_a_usage_error(tmp_path: Path) -> None:
    """A journal line that is no call stops `--sandbox` with the file and what to delete."""
    manifest = load_manifest(
        write_manifest(tmp_path / "spring.csv", 1), timezone=ZoneInfo("UTC"), profiles=PROFILES
    )
    state = tmp_path / "spring.sandbox.json"
    with sandbox_site(manifest, state):
        pass
    with journal_path(state).open("ab") as journal:
        journal.write(b'{"now":1,"call":"get_task","args":"nope"}\n')
    with pytest.raises(UsageError) as caught, sandbox_site(manifest, state):
        pass
    assert f"the sandbox state {state} cannot be read" in caught.value.message
    assert caught.value.hint == (
        "delete it, spring.sandbox.json.journal and the ledger beside "
        "them to start the rehearsal afresh"
    )


@pytest.mark.e2e
def test_sigkilled_sandbox_rehearsal_resumes_and_copies_each_target_once(tmp_path: Path) -> None:
    """`run --sandbox` killed with SIGKILL mid-run, then run again: each target copied once."""
    manifest = write_manifest(tmp_path / "spring.csv", 6)
    config = tmp_path / "sandbox.toml"
    config.write_text("copy_seconds = 0.3\nslots = 1\n", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "rollover",
        "run",
        str(manifest),
        "--sandbox",
        "--sandbox-config",
        str(config),
        "--poll-min",
        "0.05",
        "--poll-max",
        "0.2",
    ]
    ledger = tmp_path / "spring.sandbox.ledger.sqlite"
    with (tmp_path / "killed.out").open("w") as out:
        run = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            wait_for_rows_past_pending(ledger, 2, run)
        finally:
            run.kill()
            run.wait()
    assert run.returncode == -signal.SIGKILL
    final = subprocess.run(
        [*command, "--adopt-settle", "3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert final.returncode == 0, final.stdout + final.stderr
    assert "Rollover: 6 rows: 6 done, 0 failed" in final.stdout
    record = LearnSandbox.load(tmp_path / "spring.sandbox.json").record
    targets = [f"BIO-101-{n:03d}-SP27" for n in range(1, 7)]
    assert record.copies_per_target() == dict.fromkeys(targets, 1)
    assert sorted(p.course_id for p in record.patches) == targets
    assert all(p.copy_complete for p in record.patches)
