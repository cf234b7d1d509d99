"""rollover.toml: where it is found, what it may hold, how options override it, and copy profiles.

CLI tests drive `rollover.cli.cli` in-process with click's CliRunner and `--sandbox`, as
test_cli.py does; copy-body tests run the real engine against the sandbox app in-process.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from cli_runs import FAST, invoke, sandbox_config, sandbox_run
from click.testing import Result
from harness import Learn, make_learn, row

from rollover.cli import cli
from rollover.config import SETTINGS, Config, load_config
from rollover.engine import Rollover, RunOptions
from rollover.errors import ConfigInvalid
from rollover.ledger import Ledger
from rollover.manifest import ManifestRow
from rollover.plan import (
    CONTENT_AREAS,
    DISCUSSIONS,
    PROFILES,
    CopyOptions,
    DateShift,
    configured_profile,
    copy_options,
    row_spec,
)
from rollover.plan import SETTINGS as COPY_SETTINGS
from rollover.sandbox import LearnSandbox, validate_request_body

REPO = Path(__file__).resolve().parent.parent
COPY_PATH = "/learn/api/public/v2/courses/{courseId}/copy"
MANIFEST = """\
source_course_id,target_course_id,copy_profile
BIO-101-FA26,BIO-101-001-SP27,light
BIO-101-FA26,BIO-101-002-SP27,
CHEM-110-FA26,CHEM-110-001-SP27,exact
"""
LIGHT = """\
[profiles.light]
announcements = false
discussions = "ForumsOnly"
settings = {guestAccess = false}
"""
KNOWN_KEYS = (
    "adopt_settle, allow_nonempty_shell, base_url, concurrency, learn_user, notify, poll_max, "
    "poll_min, profiles, quota_reserve, shift_calendar, shift_dates, task_timeout, timezone, "
    "verify, window"
)


def write(path: Path, text: str) -> Path:
    """Write `text` to `path` (making its directory) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def copies_of(manifest: Path) -> dict[str, CopyOptions | None]:
    """The `copy` object the sandbox beside `manifest` received for each target (None: none)."""
    state = manifest.with_name(manifest.stem + ".sandbox.json")
    record = LearnSandbox.load(state).record
    return {event.target_course_id: event.options for event in record.copies}


def light_options() -> CopyOptions:
    """What [profiles.light] in LIGHT means: the default, three options changed."""
    options = copy_options("default")
    assert options is not None
    options["announcements"] = False
    options["discussions"] = "ForumsOnly"
    options["settings"]["guestAccess"] = False
    return options


def error_lines(result: Result) -> list[str]:
    """The `Error:` and `Hint:` lines on stderr (a multi-line error keeps its indented lines)."""
    lines = result.stderr.splitlines()
    start = next(at for at, line in enumerate(lines) if line.startswith("Error: "))
    return lines[start:]


async def _engine_run(
    learn: Learn,
    rows: list[ManifestRow],
    ledger_path: Path,
    profiles: dict[str, CopyOptions | None],
) -> None:
    """One run of the real engine over rows whose specs name configured profiles."""
    with Ledger(ledger_path, clock=learn.clock.datetime) as ledger:
        ledger.sync_manifest([row_spec(r, profiles) for r in rows])
        async with learn.client() as client:
            await Rollover(
                ledger,
                client,
                RunOptions(poll_min=1.0, poll_max=30.0),
                clock=learn.clock.datetime,
                sleep=learn.clock.sleep,
                monotonic=learn.clock.time,
            ).run()


def sent_copy_bodies(learn: Learn) -> dict[str, dict[str, Any]]:
    """Each copy POST body the tool sent, by the target it named (courseId or primary id)."""
    bodies = {}
    for method, path, body in learn.transport.sent:
        if method == "POST" and path.endswith("/copy"):
            target = body["targetCourse"]
            bodies[target.get("courseId") or target["id"]] = body
    return bodies


# --- finding the file and overriding it ---------------------------------------------------------


def test_config_beside_the_manifest_is_used_without_config_option(tmp_path: Path) -> None:
    """rollover.toml beside MANIFEST is read when --config is not given, and is named."""
    manifest = write(tmp_path / "m.csv", MANIFEST.replace(",exact", ","))
    write(tmp_path / "rollover.toml", "concurrency = 2\n" + LIGHT)
    result = invoke("validate", manifest)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"Config: {tmp_path / 'rollover.toml'}"
    assert "with 2 at once" in result.stdout


def test_config_option_names_a_file_elsewhere_and_wins_over_the_one_beside(tmp_path: Path) -> None:
    """`--config PATH` is read instead of the rollover.toml beside MANIFEST."""
    manifest = write(tmp_path / "m.csv", MANIFEST.replace(",exact", ","))
    write(tmp_path / "rollover.toml", "concurrency = 2\n")  # no `light`: would fail the manifest
    elsewhere = write(tmp_path / "etc" / "spring.toml", "concurrency = 3\n" + LIGHT)
    result = invoke("validate", manifest, "--config", elsewhere)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == f"Config: {elsewhere}"
    assert "with 3 at once" in result.stdout


def test_without_a_config_file_the_contract_defaults_hold(tmp_path: Path) -> None:
    """No file and no --config: no Config line and the contract's defaults (4 copies at once)."""
    manifest = write(tmp_path / "m.csv", "source_course_id,target_course_id\nA,B\n")
    result = invoke("validate", manifest)
    assert result.exit_code == 0, result.output
    assert "Config:" not in result.output
    assert "with 4 at once" in result.stdout
    assert Config().option_defaults() == {}


def test_a_missing_config_path_is_a_usage_error(tmp_path: Path) -> None:
    """`--config` naming no file exits 2 naming the option and the path."""
    manifest = write(tmp_path / "m.csv", "source_course_id,target_course_id\nA,B\n")
    result = invoke("validate", manifest, "--config", tmp_path / "nope.toml")
    assert result.exit_code == 2
    assert "Invalid value for '--config'" in result.stderr and "nope.toml" in result.stderr


def test_file_settings_reach_the_run_and_the_command_line_overrides_them(tmp_path: Path) -> None:
    """quota_reserve from the file stops the run; `--quota-reserve 0` on the command line wins."""
    rows = "source_course_id,target_course_id\n" + "".join(
        f"BIO-101-FA26,BIO-101-{i:03d}-SP27\n" for i in range(1, 4)
    )
    quota = sandbox_config(tmp_path, "quota_limit = 50\n")
    for name, extra, code in (("file", [], 3), ("cli", ["--quota-reserve", "0"], 0)):
        manifest = write(tmp_path / name / "m.csv", rows)
        write(tmp_path / name / "rollover.toml", "quota_reserve = 100\nconcurrency = 1\n")
        result = invoke("run", manifest, "--sandbox", "--sandbox-config", quota, *FAST, *extra)
        assert result.exit_code == code, result.output
        assert ("Stopped early: quota reserve reached" in result.stdout) is (code == 3)


def test_base_url_precedence_is_command_line_then_environment_then_file(tmp_path: Path) -> None:
    """The file's base_url is used alone; LEARN_BASE_URL beats it and --base-url beats both."""
    manifest = write(tmp_path / "m.csv", "source_course_id,target_course_id\nA,B\n")
    write(tmp_path / "rollover.toml", 'base_url = "https://learn.example.edu"\n')
    from_file = invoke("run", manifest)
    assert from_file.exit_code == 2
    assert "Error: LEARN_KEY and LEARN_SECRET must be set in the environment" in from_file.stderr
    from_env = invoke("run", manifest, env={"LEARN_BASE_URL": "http://env.example.edu"})
    assert "'http://env.example.edu' uses plain http" in from_env.stderr
    from_option = invoke(
        "run",
        manifest,
        "--base-url",
        "http://option.example.edu",
        env={"LEARN_BASE_URL": "http://env.example.edu"},
    )
    assert "'http://option.example.edu' uses plain http" in from_option.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "rollover.toml"]


run = cli.commands["run"]


def test_every_setting_stands_for_a_run_option_of_the_same_name() -> None:
    """Each settings key is the name of a `run` parameter, so the file can fill it."""
    assert set(SETTINGS) <= {param.name for param in run.params}


def test_load_config_reads_every_setting_and_profile(tmp_path: Path) -> None:
    """Every known key lands in Config with its type; whole seconds become floats."""
    path = write(
        tmp_path / "rollover.toml",
        """\
base_url = "https://learn.example.edu"
concurrency = 8
poll_min = 2
poll_max = 90.5
task_timeout = 7200
adopt_settle = 0
window = "22:00-06:00"
timezone = "America/Chicago"
quota_reserve = 500
"""
        + LIGHT,
    )
    config = load_config(path)
    assert config.option_defaults() == {
        "base_url": "https://learn.example.edu",
        "concurrency": 8,
        "poll_min": 2.0,
        "poll_max": 90.5,
        "task_timeout": 7200.0,
        "adopt_settle": 0.0,
        "window": "22:00-06:00",
        "timezone": "America/Chicago",
        "quota_reserve": 500,
    }
    assert isinstance(config.poll_min, float)
    assert dict(config.profiles) == {"light": light_options()}
    assert set(config.all_profiles()) == {"default", "no-discussions", "exact", "light"}


@pytest.mark.parametrize(
    ("value", "shift"),
    [('"+17w"', DateShift(days=119)), ('" Term "', DateShift(term=True)), (None, None)],
)
def test_shift_dates_is_read_as_the_manifest_column_is(
    tmp_path: Path, value: str | None, shift: DateShift | None
) -> None:
    """shift_dates in the file is a DateShift by the column's rule (None when absent), and is
    the default of the --shift-dates option, which reaches the plan through `row_spec`."""
    text = "concurrency = 2\n" + (f"shift_dates = {value}\n" if value else "")
    config = load_config(write(tmp_path / "rollover.toml", text))
    assert config.shift_dates == shift
    assert config.option_defaults() == {
        "concurrency": 2,
        **({"shift_dates": shift} if shift else {}),
    }


def test_a_utf8_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Notepad's UTF-8 with BOM is accepted like plain UTF-8."""
    path = tmp_path / "rollover.toml"
    path.write_bytes(b"\xef\xbb\xbfconcurrency = 2\n")
    assert load_config(path).concurrency == 2


# --- messages -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "error"),
    [
        ("concurrency = 0\n", "line 1: concurrency = 0: must be a whole number from 1 to 64"),
        (
            'poll_max = "60"\n',
            'line 1: poll_max = "60": must be a number of seconds greater than 0',
        ),
        (
            "adopt_settle = -1\n",
            "line 1: adopt_settle = -1: must be a number of seconds, 0 or more",
        ),
        (
            "quota_reserve = true\n",
            "line 1: quota_reserve = true: must be a whole number, 0 or more",
        ),
        (
            'window = "10pm-6am"\n',
            'line 1: window = "10pm-6am": must be a daily span of local time, HH:MM-HH:MM, e.g. '
            '"22:00-06:00"',
        ),
        (
            'timezone = "Mars/Olympus"\n',
            'line 1: timezone = "Mars/Olympus": must be an IANA time zone name, e.g. '
            '"America/Chicago"',
        ),
        (
            'base_url = "http://learn.example.edu"\n',
            'line 1: base_url = "http://learn.example.edu": must be the Learn site\'s address, e.g. '
            '"https://learn.example.edu" (plain http:// is accepted only for 127.0.0.1, ::1 and '
            "localhost)",
        ),
        ("poll_min = 90\npoll_max = 60\n", "line 1: poll_min = 90 is larger than poll_max = 60"),
        (
            'shift_dates = "119d"\n',
            'line 1: shift_dates = "119d": a shift needs its sign: write +119d to move dates '
            "later or -119d to move them earlier",
        ),
        (
            "shift_dates = 119\n",
            'line 1: shift_dates = 119: must be a date shift in quotes, e.g. "+119d", "-7d", '
            '"+17w" or "term"',
        ),
        (
            "# tuning\nconcurrancy = 2\n",
            "line 2: unknown key 'concurrancy' (did you mean 'concurrency'?); the known keys are: "
            + KNOWN_KEYS,
        ),
        (
            "[profiles.light]\nannouncments = false\n",
            "line 2: [profiles.light] unknown copy option 'announcments' (did you mean "
            "'announcements'?); the options are Learn's: adaptiveReleaseRules, announcements, "
            "assessments, blogs, calendar, contacts, contentAlignments, contentAreas, discussions, "
            "glossary, gradebook, groupSettings, journals, retentionRules, rubrics, settings, tasks, "
            "wikis",
        ),
        (
            '[profiles.light]\ndiscussions = "Some"\n',
            'line 2: [profiles.light] discussions = "Some": must be "None", "ForumsAndStarterPosts" '
            'or "ForumsOnly"',
        ),
        (
            '[profiles.light]\nblogs = "no"\n',
            'line 2: [profiles.light] blogs = "no": must be true or false',
        ),
        (
            "[profiles.light]\nblogs = false\nsettings = {guestAcess = false}\n",
            "line 3: [profiles.light] unknown setting 'guestAcess' (did you mean 'guestAccess'?); the "
            "settings are: availability, bannerImage, duration, enrollmentOptions, guestAccess, "
            "languagePack, navigationSettings, observerAccess",
        ),
        (
            "[profiles.light.settings]\navailability = 1\n",
            "line 2: [profiles.light] settings.availability = 1: must be true or false",
        ),
        ("profiles.light.wikis = 0\n", "line 1: [profiles.light] wikis = 0: must be true or false"),
        (
            "[profiles.Default]\nblogs = false\n",
            "line 1: [profiles.Default] 'default' is a built-in profile (default, exact, "
            "no-discussions): give yours another name",
        ),
        (
            "[profiles.exact]\n",
            "line 1: [profiles.exact] 'exact' is a built-in profile (default, exact, no-discussions): "
            "give yours another name",
        ),
        (
            "[profiles.light]\n[profiles.Light]\n",
            "line 2: [profiles.Light] differs from [profiles.light] only in case, and the manifest "
            "matches names ignoring case: keep one",
        ),
        (
            "profiles = 3\n",
            "line 1: profiles must be tables of copy options, e.g. [profiles.light] with "
            "announcements = false",
        ),
        ("concurrency = \n", "not valid TOML: Invalid value (at line 1, column 15)"),
    ],
)
def test_a_bad_config_exits_2_with_file_line_key_and_the_fix(
    tmp_path: Path, toml: str, error: str
) -> None:
    """Bad values, unknown keys and bad profiles are refused before anything runs, exactly."""
    manifest = write(tmp_path / "m.csv", "source_course_id,target_course_id\nA,B\n")
    config = write(tmp_path / "rollover.toml", toml)
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 2, result.output
    assert error_lines(result) == [
        f"Error: {config}: {error}",
        f"Hint: fix {config} and run the same command again; nothing was sent to Learn",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "rollover.toml", "sandbox.toml"]


@pytest.mark.parametrize(
    ("toml", "key", "line"),
    [
        ('key = "KEY-zq81-distinctive"\n', "key", 1),
        ('concurrency = 2\nLEARN_SECRET = "KEY-zq81-distinctive"\n', "LEARN_SECRET", 2),
        ('[learn]\napi_token = "KEY-zq81-distinctive"\n', "learn.api_token", 2),
        ('[profiles.light]\npassword = "KEY-zq81-distinctive"\n', "profiles.light.password", 2),
    ],
)
def test_a_secret_in_the_file_is_refused_without_showing_it(
    tmp_path: Path, toml: str, key: str, line: int
) -> None:
    """A key/secret/token entry is refused naming file, line and key, pointing to LEARN_KEY."""
    manifest = write(tmp_path / "m.csv", "source_course_id,target_course_id\nA,B\n")
    config = write(tmp_path / "rollover.toml", toml)
    result = invoke("validate", manifest)
    assert result.exit_code == 2
    assert f"Error: {config}: " in result.stderr  # one problem, or `2 problems:` ([learn])
    assert (
        f"line {line}: {key}: credentials are never read from a file; set LEARN_KEY and "
        "LEARN_SECRET in the environment and delete this line" in result.stderr
    )
    assert "KEY-zq81-distinctive" not in result.output


def test_every_problem_in_the_file_is_listed_at_once_in_line_order(tmp_path: Path) -> None:
    """Several problems come back together, one per line, sorted by line."""
    path = write(tmp_path / "rollover.toml", 'window = "x"\nsecret = "s"\n[profiles.a]\nx = 1\n')
    with pytest.raises(ConfigInvalid) as caught:
        load_config(path)
    assert caught.value.message.splitlines() == [
        f"{path}: 3 problems:",
        '  line 1: window = "x": must be a daily span of local time, HH:MM-HH:MM, e.g. '
        '"22:00-06:00"',
        "  line 2: secret: credentials are never read from a file; set LEARN_KEY and "
        "LEARN_SECRET in the environment and delete this line",
        "  line 4: [profiles.a] unknown copy option 'x'; the options are Learn's: "
        "adaptiveReleaseRules, announcements, assessments, blogs, calendar, contacts, "
        "contentAlignments, contentAreas, discussions, glossary, gradebook, groupSettings, "
        "journals, retentionRules, rubrics, settings, tasks, wikis",
    ]


# --- profiles in the manifest -------------------------------------------------------------------


def test_unknown_profile_in_the_manifest_names_line_column_and_value(tmp_path: Path) -> None:
    """A copy_profile neither built in nor configured exits 2 with line, column and value."""
    manifest = write(
        tmp_path / "m.csv", "source_course_id,target_course_id,copy_profile\nA,B,light\nC,D,heavy\n"
    )
    write(tmp_path / "rollover.toml", LIGHT)
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 2
    assert (
        f"{manifest}: line 3, column copy_profile: unknown copy profile; the known profiles "
        "are: default, exact, light, no-discussions (more can be defined under "
        "[profiles.NAME] in rollover.toml) (value 'heavy')"
    ) in result.stderr
    assert f"Error: {manifest}: 1 problem; nothing was sent to Learn" in result.stderr
    assert not (tmp_path / "m.ledger.sqlite").exists()


def test_configured_profile_is_sent_as_the_copy_object(tmp_path: Path) -> None:
    """A run with a configured profile sends its options; blank cells send the default's."""
    manifest = write(tmp_path / "m.csv", MANIFEST.replace(",exact", ",LIGHT"))
    write(tmp_path / "rollover.toml", LIGHT)
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 0, result.output
    assert copies_of(manifest) == {
        "BIO-101-001-SP27": light_options(),
        "BIO-101-002-SP27": copy_options("default"),
        "CHEM-110-001-SP27": light_options(),  # names match ignoring case
    }


def test_editing_a_profile_after_its_copies_were_made_copies_nothing_again(tmp_path: Path) -> None:
    """Changed profile contents on a re-run request no second copy (at most once per row)."""
    manifest = write(tmp_path / "m.csv", MANIFEST.replace(",exact", ","))
    config = write(tmp_path / "rollover.toml", LIGHT)
    assert sandbox_run(tmp_path, manifest).exit_code == 0
    write(config, LIGHT + "blogs = false\n")
    again = sandbox_run(tmp_path, manifest)
    assert again.exit_code == 0, again.output
    assert "Plan: no copy left to start" in again.stdout
    assert copies_of(manifest)["BIO-101-001-SP27"] == light_options()


def test_a_profile_edited_before_its_copy_is_requested_is_sent_as_edited(tmp_path: Path) -> None:
    """The ledger keeps the file's options at each sync, so a pending row copies the latest."""
    learn = make_learn()
    rows = [row(2, "BIO-101-FA26", "BIO-101-001-SP27", copy_profile="light")]
    first, problems = configured_profile({"blogs": False})
    assert problems == []
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.sync_manifest([row_spec(r, {**PROFILES, "light": first}) for r in rows])
    edited, _ = configured_profile({"blogs": False, "wikis": False})
    asyncio.run(_engine_run(learn, rows, tmp_path / "l.sqlite", {**PROFILES, "light": edited}))
    assert learn.sandbox.record.copies[0].options == edited


# --- exact --------------------------------------------------------------------------------------


def test_exact_is_refused_without_allow_exact_before_any_request(tmp_path: Path) -> None:
    """`run` refuses `exact` rows with exit 2, naming their lines, and starts nothing at all."""
    manifest = write(tmp_path / "m.csv", MANIFEST + "CHEM-110-FA26,CHEM-110-002-SP27,Exact\n")
    write(tmp_path / "rollover.toml", LIGHT)
    result = sandbox_run(tmp_path, manifest)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{manifest}: line 4, column copy_profile: an exact copy also copies the source course's "
        "enrolled users (last term's students and instructors) into the target (value 'exact')",
        f"{manifest}: line 5, column copy_profile: an exact copy also copies the source course's "
        "enrolled users (last term's students and instructors) into the target (value 'exact')",
        f"Error: {manifest}: 2 rows ask for copy_profile exact, Learn's exact copy, which also "
        "copies enrolled users; nothing was sent to Learn",
        "Hint: give those lines another copy_profile (default copies all content and no users), "
        "or if the users must come along, run again with --allow-exact",
    ]
    # No ledger and no simulated site: not one request was made.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv", "rollover.toml", "sandbox.toml"]


def test_exact_with_allow_exact_sends_no_copy_object(tmp_path: Path) -> None:
    """With `--allow-exact` the exact row's copy request has no `copy` object; others keep it."""
    manifest = write(tmp_path / "m.csv", MANIFEST)
    write(tmp_path / "rollover.toml", LIGHT)
    result = sandbox_run(tmp_path, manifest, "--allow-exact")
    assert result.exit_code == 0, result.output
    assert (
        f"Warning: {manifest}: line 4 asks for copy_profile exact, Learn's exact copy, which "
        "also copies the source courses' enrolled users (allowed by --allow-exact)"
    ) in result.stderr
    copies = copies_of(manifest)
    assert copies["CHEM-110-001-SP27"] is None
    assert copies["BIO-101-001-SP27"] == light_options()


def test_exact_copy_request_body_has_no_copy_key(tmp_path: Path) -> None:
    """The engine's POST for an `exact` row carries only targetCourse."""
    learn = make_learn()
    rows = [
        row(2, "BIO-101-FA26", "BIO-101-001-SP27", copy_profile="exact"),
        row(3, "CHEM-110-FA26", "HIST-210-SP27", copy_into_existing=True, copy_profile="exact"),
    ]
    asyncio.run(_engine_run(learn, rows, tmp_path / "l.sqlite", dict(PROFILES)))
    bodies = list(sent_copy_bodies(learn).values())
    assert len(bodies) == 2
    assert [set(body) for body in bodies] == [{"targetCourse"}, {"targetCourse"}]


@pytest.mark.parametrize(
    ("flag", "tail"),
    [
        ((), "; `rollover run` refuses it unless given --allow-exact"),
        (("--allow-exact",), " (allowed by --allow-exact)"),
    ],
)
def test_validate_accepts_exact_with_a_warning(
    tmp_path: Path, flag: tuple[str, ...], tail: str
) -> None:
    """`validate` exits 0 on `exact` rows and warns, naming them and what `run` will do."""
    manifest = write(tmp_path / "m.csv", MANIFEST.replace(",light", ",exact"))
    result = invoke("validate", manifest, *flag)
    assert result.exit_code == 0, result.output
    assert (
        f"Warning: {manifest}: lines 2, 4 ask for copy_profile exact, Learn's exact copy, "
        f"which also copies the source courses' enrolled users{tail}"
    ) in result.stderr


# --- the official spec --------------------------------------------------------------------------


def test_hand_written_copy_options_are_the_official_specs() -> None:
    """profiles.py's option lists equal CopyV2 in Learn's spec, so the check can't drift."""
    spec = json.loads(
        (REPO / "rollover" / "sandbox" / "learn-swagger-3900.65.0.json").read_text(encoding="utf-8")
    )
    body = next(p for p in spec["paths"][COPY_PATH]["post"]["parameters"] if p["in"] == "body")
    copy = body["schema"]["properties"]["copy"]["properties"]
    booleans = {name for name, schema in copy.items() if schema.get("type") == "boolean"}
    assert booleans == set(CONTENT_AREAS)
    assert tuple(copy["discussions"]["enum"]) == DISCUSSIONS
    assert set(copy["settings"]["properties"]) == set(COPY_SETTINGS)
    assert all(s["type"] == "boolean" for s in copy["settings"]["properties"].values())
    assert set(copy) == {*CONTENT_AREAS, "discussions", "settings"}


def test_every_profile_body_validates_against_the_official_spec() -> None:
    """Built-in profiles (exact too) and configured ones give copy bodies the spec accepts."""
    nothing, problems = configured_profile(
        {
            **dict.fromkeys(CONTENT_AREAS, False),
            "discussions": "None",
            "settings": dict.fromkeys(COPY_SETTINGS, False),
        }
    )
    assert problems == []
    profiles: dict[str, CopyOptions | None] = {
        **PROFILES,
        "nothing": nothing,
        "light": light_options(),
    }
    for name in profiles:
        spec = row_spec(row(2, "A", "B", copy_profile=name), profiles)
        for target_pk in (None, "_55_1"):
            body = spec.copy_request(target_pk)
            assert validate_request_body("POST", COPY_PATH, body) == [], (name, body)
            assert ("copy" in body) is (name != "exact")


def test_built_in_profiles_stay_names_in_the_ledger_and_configured_ones_carry_options() -> None:
    """Ledger specs: built-ins by name only (old ledgers unchanged), configured with options."""
    profiles = {**PROFILES, "light": light_options()}
    assert row_spec(row(2, "A", "B"), profiles).copy is None
    assert row_spec(row(2, "A", "B", copy_profile="exact"), profiles).copy is None
    assert row_spec(row(2, "A", "B", copy_profile="light"), profiles).copy == light_options()


def test_no_discussions_leaves_announcements_behind_too() -> None:
    """The built-in `no-discussions` copies neither discussions nor announcements."""
    options = copy_options("no-discussions")
    assert options is not None
    assert (options["discussions"], options["announcements"]) == ("None", False)


def test_sample_config_is_valid_and_matches_the_sample_manifest() -> None:
    """sample_manifests/rollover.toml loads, and the sample manifest validates with it."""
    sample = REPO / "sample_manifests"
    config = load_config(sample / "rollover.toml")
    assert config.profiles
    result = invoke("validate", sample / "fall2026.csv")
    assert result.exit_code == 0, result.output
    assert f"Config: {sample / 'rollover.toml'}" in result.stdout
