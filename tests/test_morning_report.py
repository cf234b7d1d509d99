"""The morning's HTML report: valid, self-contained, escaped, grouped, atomic, and drawn."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import time, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

import html5lib
import pytest
from PIL import Image
from test_morning_ledgers import (
    HOSTILE_URL,
    NIGHT_START,
    SCRIPT_ERROR,
    SteppingClock,
    advice,
    build_night,
    build_rows,
)

from rollover.errors import ExitCode, LedgerError
from rollover.ledger import AttachmentState, ErrorKind, Ledger, LedgerRow
from rollover.morning import Pause, RunFacts, write_html_report
from rollover.plan import RowSpec

CHICAGO = ZoneInfo("America/Chicago")
SVG = "{http://www.w3.org/2000/svg}"
CHROMIUM = Path("/usr/bin/chromium")


class NightWindow:
    """A copy window as the engine's Window gives it (start, end, tz)."""

    start = time(22, 0)
    end = time(6, 0)
    tz = CHICAGO


def _run() -> RunFacts:
    return RunFacts(
        started_at=NIGHT_START,
        ended_at=NIGHT_START + timedelta(hours=3, minutes=30),
        exit_code=ExitCode.STOPPED,
        calls={"POST /courses/{id}/copy": 24, "GET /courses/{id}/tasks/{id}": 180},
        quota_used=230,
        quota_remaining=9000,
        stopped="outside the window",
    )


@pytest.fixture
def night(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """The night's ledger and its targets by status."""
    ledger = tmp_path / "spring2027.ledger.sqlite"
    return ledger, build_night(ledger)


def _write(ledger: Path, out: Path, **options: object) -> str:
    settings: dict[str, object] = {
        "title": "Spring 2027",
        "advice": advice,
        "window": NightWindow(),
        "run": _run(),
        "zone": CHICAGO,
        "pauses": [
            Pause(
                NIGHT_START + timedelta(hours=1),
                NIGHT_START + timedelta(hours=1, minutes=20),
                "quota reserve <reached>",
            )
        ],
    }
    settings.update(options)
    write_html_report(ledger, out, **settings)  # type: ignore[arg-type]
    return out.read_text(encoding="utf-8")


def _tree(text: str) -> Element:
    return html5lib.parse(text, namespaceHTMLElements=False)


def _text(element: Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _by_class(tree: Element, tag: str, name: str) -> list[Element]:
    return [e for e in tree.iter(tag) if name in (e.get("class") or "").split()]


def test_the_report_parses_as_strict_html5(night: tuple[Path, dict[str, list[str]]]) -> None:
    """The whole file parses under html5lib's strict mode: not a single parse error."""
    ledger, _ = night
    text = _write(ledger, ledger.with_name("report.html"))
    html5lib.HTMLParser(strict=True).parse(text)
    assert text.startswith("<!DOCTYPE html>")


def test_every_row_that_needs_a_person_is_there_with_advice_link_and_trail(
    night: tuple[Path, dict[str, list[str]]],
) -> None:
    """Each failed or needs_review row has an article with its error, its advice (escaped),
    its course link when it is http(s) and its audit trail folded in <details>."""
    ledger, by_status = night
    tree = _tree(_write(ledger, ledger.with_name("report.html")))
    articles = _by_class(tree, "article", "person")
    needing = by_status["failed"] + by_status["needs_review"]
    assert len(articles) == len(needing) == 3
    for target, article in zip(needing, articles, strict=True):
        assert target in _text(article)
        expected = f"What to do: open {target} in Learn <b>then</b> rollover resolve"
        assert expected in _text(article)
        assert not list(article.iter("b"))  # the advice's markup is text, not markup
        details = article.find("details")
        assert details is not None
        assert "Audit trail" in _text(details)
        assert "copy requested" in _text(details)  # the intent's transition
    hostile = articles[1]
    assert HOSTILE_URL in _text(hostile)  # shown as text ...
    assert all(a.get("href") != HOSTILE_URL for a in tree.iter("a"))  # ... never a link
    links = {a.get("href") for a in tree.iter("a")}
    assert "https://learn.example.edu/ultra/courses/_1_1/outline" in links


def test_a_script_in_an_error_is_escaped_text(night: tuple[Path, dict[str, list[str]]]) -> None:
    """An error text holding <script> is written escaped, so the page shows it and runs nothing."""
    ledger, _ = night
    text = _write(ledger, ledger.with_name("report.html"))
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in text
    assert "<script" not in text.lower()
    tree = _tree(text)
    assert not list(tree.iter("script"))
    errors = [_text(p) for p in _by_class(tree, "p", "error")]
    assert SCRIPT_ERROR in errors
    assert "quota reserve <reached>" in _text(tree)  # a pause's reason, escaped too


def test_the_chart_is_inline_svg_and_the_page_needs_no_network(
    night: tuple[Path, dict[str, list[str]]],
) -> None:
    """The timeline is an <svg> inside the page (no image file, no prolog); nothing is loaded
    from elsewhere: no script, stylesheet link, image or external url()."""
    ledger, _ = night
    text = _write(ledger, ledger.with_name("report.html"))
    tree = _tree(text)
    figures = _by_class(tree, "figure", "chart")
    assert len(figures) == 1
    svgs = list(figures[0].iter(f"{SVG}svg"))
    assert len(svgs) == 1
    assert len(list(svgs[0].iter(f"{SVG}path"))) > 20
    assert "<?xml" not in text and "<!DOCTYPE svg" not in text
    assert not list(tree.iter("img")) and not list(tree.iter("link"))
    assert not [e for e in tree.iter() if e.get("src")]
    assert "url(http" not in text and "@import" not in text
    caption = _text(figures[0])
    assert "the copy window, 22:00\u201306:00 America/Chicago" in caption


def _group_table(tree: Element) -> dict[str, list[str]]:
    table = _by_class(tree, "table", "groups")[0]
    body = table.find("tbody")
    assert body is not None
    rows: dict[str, list[str]] = {}
    for tr in body.iter("tr"):
        cells = [_text(cell) for cell in tr if cell.tag in ("th", "td")]
        rows[cells[0]] = cells[1:6]
    return rows


def test_rows_are_grouped_by_department_prefix(night: tuple[Path, dict[str, list[str]]]) -> None:
    """By prefix: one line per department (target before its first `-`), counts by status
    done, failed, needs review, pending and all rows; a target without `-` goes last."""
    ledger, _ = night
    tree = _tree(_write(ledger, ledger.with_name("report.html"), group_by="prefix"))
    assert _group_table(tree) == {
        "BIO": ["5", "1", "0", "0", "6"],
        "CHEM": ["4", "1", "0", "1", "6"],
        "HIST": ["5", "0", "1", "0", "6"],
        "MATH": ["5", "0", "0", "1", "6"],
        "(no prefix)": ["0", "0", "0", "1", "1"],
    }
    summaries = [_text(s) for s in tree.iter("summary") if _text(s).startswith("Department")]
    assert summaries[0] == "Department BIO: 6 rows, 5 done, 1 failed"


def test_rows_are_grouped_by_term(night: tuple[Path, dict[str, list[str]]]) -> None:
    """By term: the patch's termId without `externalId:`; rows without a term go last."""
    ledger, _ = night
    tree = _tree(_write(ledger, ledger.with_name("report.html"), group_by="term"))
    assert _group_table(tree) == {
        "SP27": ["12", "2", "0", "2", "16"],
        "SU27": ["7", "0", "1", "0", "8"],
        "(no term)": ["0", "0", "0", "1", "1"],
    }


def test_the_glance_counts_statuses_calls_and_busy_copy_slots(tmp_path: Path) -> None:
    """Rows by status, requests to Learn and quota used come from the run; Learn's copy workers
    busy is the union of the request-to-copied spans (three copies of 5 min, one after another:
    15 min)."""
    ledger = tmp_path / "l.sqlite"
    clock = SteppingClock(NIGHT_START)
    build_rows(ledger, done=3, failed=1, clock=clock)
    run = RunFacts(
        NIGHT_START,
        clock.now + timedelta(minutes=30),
        ExitCode.ROWS_NEED_ATTENTION,
        {"GET x": 7, "POST y": 3},
        12,
    )
    tree = _tree(_write(ledger, tmp_path / "r.html", run=run, pauses=()))
    facts = {
        _text(term): _text(value)
        for div in tree.iter("div")
        if (term := div.find("dt")) is not None and (value := div.find("dd")) is not None
    }
    assert facts["Learn's copy workers busy"].startswith("15 min")
    assert facts["Requests to Learn"] == "10 this run"
    assert facts["Quota used"] == "12 calls counted by Learn"
    assert facts["Exit code"] == "1 rows need a person"
    assert facts["Started"] == "2027-01-10 22:00:00 CST"
    statuses = [_text(li) for li in _by_class(tree, "ul", "statuses")[0].iter("li")]
    assert statuses == ["3 done", "1 failed", "0 needs review", "0 pending", "4 rows"]


def test_the_report_is_replaced_atomically_and_a_failure_leaves_the_old_one(
    night: tuple[Path, dict[str, list[str]]],
) -> None:
    """The new report is moved into place (a new file, never rewritten in place); when writing
    fails, the previous report stays whole and no temporary file is left."""
    ledger, _ = night
    out = ledger.with_name("report.html")
    out.write_text("yesterday's report", encoding="utf-8")
    before = out.stat().st_ino
    _write(ledger, out)
    assert out.stat().st_ino != before
    good = out.read_text(encoding="utf-8")

    def broken_advice(row: LedgerRow) -> str:
        raise RuntimeError("advice broke")

    with pytest.raises(RuntimeError):
        _write(ledger, out, advice=broken_advice)
    assert out.read_text(encoding="utf-8") == good
    leftovers = sorted(p.name for p in out.parent.iterdir() if "report" in p.name)
    assert leftovers == ["report.html"]


def test_no_ledger_is_an_error_and_none_is_created(tmp_path: Path) -> None:
    """A report of a ledger that does not exist is refused, and no empty ledger is left."""
    missing = tmp_path / "missing.ledger.sqlite"
    with pytest.raises(LedgerError, match="no ledger at"):
        write_html_report(missing, tmp_path / "r.html", title="x")
    assert not missing.exists() and not (tmp_path / "r.html").exists()


def test_an_empty_ledger_still_makes_a_valid_report(tmp_path: Path) -> None:
    """A ledger with no rows yet gives a strict-valid page with an (empty) chart and no rows."""
    ledger = tmp_path / "l.sqlite"
    build_rows(ledger)
    out = tmp_path / "r.html"
    write_html_report(ledger, out, title="Nothing yet", zone=CHICAGO)
    text = out.read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(text)
    assert "None: no row failed or needs review." in text and "<svg" in text


def _distinct_colours(png: Path) -> int:
    with Image.open(png) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    return len(colours)


def test_chromium_draws_the_report(
    night: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    """Headless Chromium opens the file with the network unused and draws a page that is not
    blank: many colours, the header's navy and the done rows' green among them."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (Debian's chromium package)")
    ledger, _ = night
    out = ledger.with_name("report.html")
    _write(ledger, out)
    shot = tmp_path / "shot.png"
    profile = tmp_path / "chromium-profile"
    completed = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={shot}",
            "--window-size=1200,1600",
            out.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
        check=False,
    )
    assert shot.exists(), completed.stderr[-2000:]
    assert _distinct_colours(shot) > 50
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1200, 1600)
        assert rgb.getpixel((5, 5)) == (0x23, 0x36, 0x4D)  # the header
        colours = {colour for _, colour in rgb.getcolors(maxcolors=1 << 20) or []}
    assert (0x2E, 0x8B, 0x57) in colours  # the done share of the status bar
    shutil.rmtree(profile, ignore_errors=True)


def _merged_ledger(path: Path) -> None:
    """A ledger whose BIO-XL is done with two sections attached (a third dropped from the
    manifest but still attached), and whose CHEM-XL failed on a section Learn refused."""
    bio = ("BIO-1-001", "externalId:BIO-1-002")
    with Ledger(path, clock=SteppingClock(NIGHT_START)) as ledger:
        ledger.sync_manifest(
            [
                RowSpec(
                    "BIO-XL",
                    2,
                    "BIO-FA26",
                    False,
                    {"name": "Biology"},
                    children=(*bio, "BIO-1-003"),
                ),
                RowSpec("CHEM-XL", 3, "CHEM-FA26", False, children=("CHEM-1-001", "CHEM-1-002")),
                RowSpec("ART-SP27", 4, "ART-FA26", False),
            ]
        )
        for target, pk in (("BIO-XL", "_5_1"), ("CHEM-XL", "_6_1")):
            ledger.record_intent(target)
            ledger.record_location(target, f"/learn/api/public/v1/courses/_1_1/tasks/{pk}")
            ledger.record_copied(target, pk)
            ledger.record_patched(target)
        for n, child in enumerate((*bio, "BIO-1-003"), start=40):
            ledger.record_attachment("BIO-XL", child, AttachmentState.ATTACHED, child_pk=f"_{n}_1")
        ledger.record_done("BIO-XL")
        ledger.record_attachment("CHEM-XL", "CHEM-1-001", AttachmentState.ATTACHED)
        ledger.record_attachment(
            "CHEM-XL", "CHEM-1-002", AttachmentState.FAILED, error="<b>already a child</b>"
        )
        ledger.record_failed("CHEM-XL", ErrorKind.CHILD_REFUSED, "Learn refused CHEM-1-002")
        ledger.sync_manifest(
            [
                RowSpec("BIO-XL", 2, "BIO-FA26", False, {"name": "Biology"}, children=bio),
                RowSpec("CHEM-XL", 3, "CHEM-FA26", False, children=("CHEM-1-001", "CHEM-1-002")),
                RowSpec("ART-SP27", 4, "ART-FA26", False),
            ]
        )


def test_merged_sets_show_each_parent_and_its_sections_in_plain_words(tmp_path: Path) -> None:
    """A section "Merged sections" lists each course with sections: how many are attached, each
    section's state in plain words (Learn's refusal escaped), the dropped one still attached
    and why it stays; a refused section is in its row's audit trail too."""
    ledger = tmp_path / "merged.ledger.sqlite"
    _merged_ledger(ledger)
    text = _write(ledger, tmp_path / "report.html")
    html5lib.HTMLParser(strict=True).parse(text)
    tree = _tree(text)
    courses = _by_class(tree, "article", "merged")
    assert [_text(course) for course in courses] == [
        "Line 2: BIO-XL Biology done 2 of 2 sections attached "
        "BIO-1-001 (_40_1): attached externalId:BIO-1-002 (_41_1): attached "
        "BIO-1-003 (_42_1): no longer in the manifest, still attached in Learn: rollover never "
        "separates a section; separate it in Learn if wanted",
        "Line 3: CHEM-XL failed 1 of 2 sections attached CHEM-1-001: attached "
        "CHEM-1-002: refused by Learn <b>already a child</b>",
    ]
    assert not list(tree.iter("b"))  # Learn's words are text, never markup
    (person,) = _by_class(tree, "article", "person")
    steps = [[_text(cell) for cell in step.iter("td")][1:] for step in person.iter("tr")]
    assert ["section", "CHEM-1-002: refused by Learn (<b>already a child</b>)"] in steps


def test_a_night_without_merged_sections_has_no_such_section(
    night: tuple[Path, dict[str, list[str]]],
) -> None:
    """The merged sections' part is left out when no row asks for any."""
    ledger, _ = night
    assert 'id="merged"' not in _write(ledger, ledger.with_name("report.html"))
