"""A ledger that follows the rollover: a manifest saved under a new name is sent back to the
ledger that made its copies, advice never offers a second copy into a course the tool may have
filled, and `resolve --not-copied` never turns the row's own course into someone else's."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from cli_runs import FAST, invoke, sandbox_config, sandbox_run, write
from harness import TEACHERS, engine_run, instructors, make_learn, row
from test_status import trouble_row

from rollover.cli import Invocation, next_step
from rollover.engine import RunOptions
from rollover.ledger import ErrorKind, Ledger, Resolution, State, ledgers_beside
from rollover.plan import row_spec
from rollover.sandbox import LearnSandbox

SPRING = (
    "source_course_id,target_course_id,copy_into_existing,name,instructors\n"
    "HIST-210-FA26,HIST-210-001-SP27,false,History 210,userName:jdoe;userName:tnguyen\n"
    "BIO-101-FA26,BIO-101-001-SP27,false,Biology 101,\n"
    "CHEM-110-FA26,CHEM-110-001-SP27,true,Chemistry 110,\n"
)


def rehearse(tmp_path: Path, manifest: Path, *extra: str | Path) -> tuple[int, str]:
    """One `run --sandbox` of `manifest` with near-instant copies: (exit code, all output)."""
    result = sandbox_run(tmp_path, manifest, "--adopt-settle", "0", "-q", *extra)
    return result.exit_code, result.output


def copies_per_target(state: Path) -> Counter[str]:
    """How many copies the simulated Learn made into each target."""
    return Counter(copy.target_course_id for copy in LearnSandbox.load(state).record.copies)


def test_a_renamed_manifest_is_sent_back_to_the_ledger_that_made_its_copies(
    tmp_path: Path,
) -> None:
    """spring.csv rehearsed, then saved as spring-final.csv: the run refuses (exit 2) naming
    spring.sandbox.ledger.sqlite, how many targets it holds and `--ledger`; with that --ledger
    it resumes and copies nothing twice."""
    spring = write(tmp_path / "spring.csv", SPRING)
    code, out = rehearse(tmp_path, spring)
    assert code == 0, out
    final = tmp_path / "spring-final.csv"
    shutil.copy(spring, final)

    code, out = rehearse(tmp_path, final)

    old = tmp_path / "spring.sandbox.ledger.sqlite"
    assert code == 2, out
    assert f"{old} already records 3 of this manifest's targets" in out
    assert "HIST-210-001-SP27, BIO-101-001-SP27, CHEM-110-001-SP27" in out
    assert f"Hint: pass --ledger {old} to continue from it" in out
    assert not (tmp_path / "spring-final.sandbox.ledger.sqlite").exists()

    code, out = rehearse(tmp_path, final, "--ledger", old)
    assert code == 0, out
    assert copies_per_target(tmp_path / "spring.sandbox.json") == {
        "HIST-210-001-SP27": 1,
        "BIO-101-001-SP27": 1,
        "CHEM-110-001-SP27": 1,
    }
    with Ledger(old, read_only=True) as ledger:
        assert [row.attempts for row in ledger.rows()] == [1, 1, 1]


def test_validate_check_learn_names_the_other_ledger_as_a_problem(tmp_path: Path) -> None:
    """`validate --check-learn --sandbox` of the renamed manifest lists the other ledger as a
    problem on the line of its first target, with the --ledger to pass, and exits 2."""
    spring = write(tmp_path / "spring.csv", SPRING)
    assert rehearse(tmp_path, spring)[0] == 0
    final = tmp_path / "spring-final.csv"
    shutil.copy(spring, final)

    checked = invoke("validate", final, "--check-learn", "--sandbox")

    old = tmp_path / "spring.sandbox.ledger.sqlite"
    assert checked.exit_code == 2, checked.output
    assert f"line 2, target_course_id 'HIST-210-001-SP27': {old} already records 3" in (
        checked.output
    )
    assert f"pass --ledger {old} to continue from it" in checked.output


def _bound_ledger(path: Path, site: str, targets: list[str]) -> None:
    """A ledger at `path` bound to `site`, holding rows for `targets`."""
    with Ledger(path) as ledger:
        ledger.sync_manifest(
            [row_spec(row(n + 2, "SRC-1", target)) for n, target in enumerate(targets)]
        )
        ledger.bind_site(site)


def test_ledgers_beside_ignore_other_sites_unbound_ledgers_and_rehearsals(tmp_path: Path) -> None:
    """Only a ledger bound to the same site and holding a target counts: one of another site,
    one never bound, one holding none of the targets, a rehearsal's (for a real run) and the
    run's own are left out; a file that is not a ledger is reported unreadable."""
    site = "https://learn.example.edu"
    _bound_ledger(tmp_path / "spring.ledger.sqlite", site, ["A-1", "B-1"])
    _bound_ledger(tmp_path / "other.ledger.sqlite", "https://learn.other.edu", ["A-1"])
    _bound_ledger(tmp_path / "fall.ledger.sqlite", site, ["Z-9"])
    _bound_ledger(tmp_path / "spring.sandbox.ledger.sqlite", site, ["A-1"])
    _bound_ledger(tmp_path / "final.ledger.sqlite", site, ["A-1"])
    with Ledger(tmp_path / "unbound.ledger.sqlite") as ledger:
        ledger.sync_manifest([])
    (tmp_path / "broken.ledger.sqlite").write_bytes(b"not a database, just bytes" * 100)

    found = ledgers_beside(
        tmp_path,
        ["B-1", "A-1", "C-1"],
        own=tmp_path / "final.ledger.sqlite",
        rehearsal=False,
        same_site=lambda bound: bound == site,
    )

    assert [(f.path.name, f.targets) for f in found.holding] == [
        ("spring.ledger.sqlite", ("B-1", "A-1"))
    ]
    assert [path.name for path, _ in found.unreadable] == ["broken.ledger.sqlite"]


UNCLEAN = (
    "source_course_id,target_course_id,name,instructors\n"
    "HIST-210-FA26,HIST-210-001-SP27,History 210,userName:jdoe;userName:tnguyen\n"
)


def unclean_rehearsal(tmp_path: Path) -> Path:
    """A rehearsal whose one new course was copied, patched and both instructors enrolled, but
    which Learn ended CompleteWithErrors: the row is needs_review, its course in Learn."""
    manifest = write(tmp_path / "spring.csv", UNCLEAN)
    config = sandbox_config(tmp_path, "complete_with_errors_rate = 1.0\n")
    ran = invoke(
        "run", manifest, "--sandbox", "--sandbox-config", config, *FAST, "--adopt-settle", "0", "-q"
    )
    assert ran.exit_code == 1, ran.output
    with Ledger(tmp_path / "spring.sandbox.ledger.sqlite", read_only=True) as ledger:
        (row,) = ledger.rows()
        assert (row.state.value, row.enrolled) == ("needs_review", 2)
    return manifest


def test_resolve_not_copied_is_refused_when_learn_holds_the_new_course(tmp_path: Path) -> None:
    """`resolve --not-copied --sandbox` asks the rehearsal's Learn: it holds the row's new
    course, so the decision is refused (exit 2), saying to use --copied; the row is unchanged."""
    manifest = unclean_rehearsal(tmp_path)

    refused = invoke("resolve", manifest, "2", "--not-copied", "--sandbox")

    assert refused.exit_code == 2, refused.output
    assert "Error: Learn holds HIST-210-001-SP27 (_" in refused.output
    assert f"run `rollover resolve {manifest} 2 --copied --sandbox`" in refused.output
    with Ledger(tmp_path / "spring.sandbox.ledger.sqlite", read_only=True) as ledger:
        (row,) = ledger.rows()
        assert (row.state.value, row.resolution) == ("needs_review", None)


def test_resolve_not_copied_offline_then_the_next_run_adopts_the_course(tmp_path: Path) -> None:
    """Without a site to ask, `--not-copied` is accepted with a note; the next run finds the
    course made after the row's first request, adopts it as the row's own copy instead of
    failing it "choose another target_course_id", copies nothing again and keeps 2 of 2
    enrolled."""
    manifest = unclean_rehearsal(tmp_path)
    ledger_path = tmp_path / "spring.sandbox.ledger.sqlite"

    accepted = invoke("resolve", manifest, "2", "--not-copied", "--ledger", ledger_path)
    assert accepted.exit_code == 0, accepted.output
    assert "Note: Learn was not asked whether it holds HIST-210-001-SP27" in accepted.output

    code, out = rehearse(tmp_path, manifest)

    assert code == 0, out
    assert copies_per_target(tmp_path / "spring.sandbox.json") == {"HIST-210-001-SP27": 1}
    with Ledger(ledger_path, read_only=True) as ledger:
        (row,) = ledger.rows()
        assert (row.state.value, row.adopted, row.enrolled) == ("done", True, 2)
        history = [event.detail for event in ledger.history(row.target_course_id)]
    assert any("first copy request" in (detail or "") for detail in history)


def test_a_row_resolved_not_copied_an_hour_later_adopts_its_own_course(tmp_path: Path) -> None:
    """A new course copied and enrolled (Learn ended it CompleteWithErrors), resolved
    --not-copied by a person although Learn holds it: an hour later the run's copy gets 409,
    and the course, made after the row's FIRST request, is adopted and proven, not failed as
    taken; no second copy, both instructors still enrolled."""
    learn = make_learn(complete_with_errors_rate=1.0, users=TEACHERS)
    rows = [
        row(
            2,
            "BIO-101-FA26",
            "BIO-101-001-SP27",
            name="Biology 101",
            instructors=instructors("userName:jane.doe", "userName:bob"),
        )
    ]
    ledger_path = tmp_path / "l.sqlite"
    options = RunOptions(poll_min=1.0, poll_max=30.0, adopt_settle=60.0)
    _, first = engine_run(learn, rows, ledger_path, options)
    assert (first[0].state, first[0].enrolled) == (State.NEEDS_REVIEW, 2)
    learn.clock.now += 3600
    with Ledger(ledger_path, clock=learn.clock.datetime) as ledger:
        ledger.resolve("BIO-101-001-SP27", Resolution.NOT_COPIED)

    _, final = engine_run(learn, rows, ledger_path, options)

    assert (final[0].state, final[0].adopted, final[0].enrolled) == (State.DONE, True, 2)
    assert [copy.target_course_id for copy in learn.sandbox.record.copies] == ["BIO-101-001-SP27"]


QUOTA_SEEN = datetime(2026, 12, 6, 16, 51, 47, tzinfo=UTC)


def _ledger_with_quota(tmp_path: Path) -> Path:
    """spring.csv and its ledger, whose run last saw Learn's quota at 16:51:47 UTC."""
    manifest = write(tmp_path / "spring.csv", UNCLEAN)
    with Ledger(tmp_path / "spring.ledger.sqlite", clock=lambda: QUOTA_SEEN) as ledger:
        ledger.sync_manifest([row_spec(row(2, "HIST-210-FA26", "HIST-210-001-SP27"))])
        ledger.record_quota(9000, 10000)
    return manifest


def test_status_shows_times_in_the_configured_zone(tmp_path: Path) -> None:
    """`status` shows the quota's time in the run's zone: rollover.toml's `timezone` (on a
    machine in Chicago), and --timezone over it; `--json` keeps ISO UTC."""
    manifest = _ledger_with_quota(tmp_path)
    write(tmp_path / "rollover.toml", 'timezone = "Europe/Berlin"\n')

    configured = invoke("status", manifest)
    given = invoke("status", manifest, "--timezone", "Asia/Tokyo")
    as_json = invoke("status", manifest, "--json")

    assert "when last seen, 2026-12-06 17:51:47 CET" in configured.output, configured.output
    assert "when last seen, 2026-12-07 01:51:47 JST" in given.output, given.output
    assert '"seen_at": "2026-12-06T16:51:47+00:00"' in as_json.output


def test_report_html_shows_times_in_the_configured_zone(tmp_path: Path) -> None:
    """`report --html` says its times are in the config file's zone, not the machine's, and
    --timezone wins over the file."""
    manifest = _ledger_with_quota(tmp_path)
    write(tmp_path / "rollover.toml", 'timezone = "Europe/Berlin"\n')

    configured = invoke("report", manifest, "--html", tmp_path / "a.html")
    given = invoke("report", manifest, "--html", tmp_path / "b.html", "--timezone", "UTC")

    assert configured.exit_code == 0 and given.exit_code == 0, configured.output + given.output
    assert "times in Europe/Berlin" in (tmp_path / "a.html").read_text(encoding="utf-8")
    assert "times in UTC" in (tmp_path / "b.html").read_text(encoding="utf-8")


def test_a_runs_html_report_shows_times_in_the_run_s_zone(tmp_path: Path) -> None:
    """`run --html` with `timezone` in rollover.toml writes its report in that zone."""
    manifest = write(tmp_path / "spring.csv", UNCLEAN)
    write(tmp_path / "rollover.toml", 'timezone = "Europe/Berlin"\n')

    code, out = rehearse(tmp_path, manifest, "--html", tmp_path / "night.html")

    assert code == 0, out
    assert "times in Europe/Berlin" in (tmp_path / "night.html").read_text(encoding="utf-8")


def _failed_ledger(path: Path, site: str, failures: dict[str, ErrorKind | None]) -> None:
    """A ledger bound to `site` whose rows (copies into shells when their kind says so) failed
    as `failures` says (None: left pending)."""
    with Ledger(path) as ledger:
        ledger.sync_manifest(
            [
                row_spec(
                    row(
                        n + 2,
                        "HIST-210-FA26",
                        target,
                        copy_into_existing=kind is ErrorKind.SHELL_NOT_EMPTY,
                    )
                )
                for n, (target, kind) in enumerate(failures.items())
            ]
        )
        ledger.bind_site(site)
        for target, kind in failures.items():
            if kind is not None:
                ledger.record_failed(target, kind, f"{kind.words} (as a run before the fix)")


def test_advice_on_a_taken_target_or_a_full_shell_names_the_ledger_that_holds_it(
    tmp_path: Path,
) -> None:
    """A renamed manifest's ledger from before the refusal, its rows failed as taken and as
    shells not empty: `status` advises `--ledger` with the ledger beside it that holds them,
    and never offers --allow-nonempty-shell."""
    write(tmp_path / "spring-final.csv", SPRING)
    targets = ["HIST-210-001-SP27", "CHEM-110-001-SP27"]
    _failed_ledger(
        tmp_path / "spring.sandbox.ledger.sqlite",
        "sandbox:spring.sandbox.json",
        dict.fromkeys(targets),
    )
    _failed_ledger(
        tmp_path / "spring-final.sandbox.ledger.sqlite",
        "sandbox:spring-final.sandbox.json",
        {targets[0]: ErrorKind.TARGET_TAKEN, targets[1]: ErrorKind.SHELL_NOT_EMPTY},
    )

    shown = invoke("status", tmp_path / "spring-final.csv", "--sandbox")

    old = tmp_path / "spring.sandbox.ledger.sqlite"
    assert shown.exit_code == 0, shown.output
    assert shown.output.count(f"run again with --ledger {old} to continue from it") == 2
    assert "--allow-nonempty-shell" not in shown.output


def test_a_full_shell_s_advice_looks_first_and_offers_the_flag_last() -> None:
    """With no other ledger holding the shell, the advice says this ledger never copied into
    it and to look at its content first; --allow-nonempty-shell comes only last, for content
    that must stay."""
    failed = replace(
        trouble_row(State.FAILED, ErrorKind.SHELL_NOT_EMPTY, "holds 12 items", into=True),
        copied_into=None,
    )

    advice = next_step(failed, Invocation("spring.csv")) or ""

    assert advice.startswith("first look at what X-SP27 holds in Learn. This ledger never copied")
    assert "do not copy again" in advice
    assert advice.index("do not copy again") < advice.index("--allow-nonempty-shell")
    assert advice.endswith(
        "only if it must stay and the copy be added to it, run again with "
        "--retry-failed --allow-nonempty-shell"
    )
