"""Fuzzing `rollover run` with hostile manifests: it ends with exit 2 or 3, never a traceback.

Learn is a loopback port that accepts each connection and closes it at once, so a valid manifest
stops at the network (exit 3) and an invalid one must stop before it (exit 2, zero connections).
Each example is also loaded directly, to know which of the two it should be.

A valid manifest at the network costs seconds: the client backs off between its five attempts
with real sleeps, and the CLI has no seam to shorten them. So in each test only the first
valid manifests (`network_runs`) go to the listener; later valid ones run with a --window that
is closed for hours, which still reads the manifest, creates the ledger and writes the results,
and must exit 3 without a single connection.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click import unstyle
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rollover.cli import cli
from rollover.errors import ManifestInvalid
from rollover.manifest import COLUMNS, load_manifest
from rollover.plan import PROFILES, refuse_exact_copies

SAMPLE = Path(__file__).resolve().parent.parent / "sample_manifests" / "fall2026.csv"
CREDENTIALS = {"LEARN_KEY": "fuzz-key", "LEARN_SECRET": "fuzz-secret", "LEARN_BASE_URL": None}
# tmp_path and the listener are shared by a test's examples; each example has its own ledger.
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]


class ClosingListener:
    """A loopback TCP port that accepts every connection, counts it and closes it at once."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)  # so the accepting thread notices close() promptly
        self._address = self._server.getsockname()[:2]
        self.url = f"http://127.0.0.1:{self._address[1]}"
        self._peers: list[tuple[str, int]] = []
        self._accepted = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="closing-listener", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, peer = self._server.accept()
            except TimeoutError:
                continue
            connection.close()
            with self._accepted:
                self._peers.append(peer[:2])
                self._accepted.notify_all()

    def connections(self) -> int:
        """How many connections were made to the port so far, queued ones included."""
        # accept() takes connections in arrival order: once a probe made now has been
        # accepted, so has every connection the command under test made before it.
        with socket.create_connection(self._address) as probe:
            mine = probe.getsockname()[:2]
            with self._accepted:
                if not self._accepted.wait_for(lambda: mine in self._peers, timeout=10):
                    raise AssertionError("the listener never accepted its probe")
                self._peers.remove(mine)
                return len(self._peers)

    def close(self) -> None:
        """Stop accepting and release the port."""
        self._stop.set()
        self._thread.join()
        self._server.close()


class RunBench:
    """Runs `rollover run` on one manifest after another, each with a fresh ledger."""

    def __init__(
        self, tmp_path: Path, learn: ClosingListener, quiet: ClosingListener, network_runs: int
    ) -> None:
        self.tmp_path = tmp_path
        self.learn = learn
        # Runs that must not call (refused, window closed) point at a listener of their own: a
        # connection a network run left behind can never be counted against them.
        self.quiet = quiet
        self.network_runs_left = network_runs
        self.runs = 0
        opens = datetime.now(UTC) + timedelta(hours=12)
        self.closed_window = f"{opens:%H:%M}-{opens + timedelta(minutes=1):%H:%M}"

    def run(self, content: bytes) -> None:
        """Run MANIFEST=content and assert the outcome its validity calls for."""
        self.runs += 1
        folder = self.tmp_path / f"run{self.runs}"
        folder.mkdir()
        path, ledger = folder / "manifest.csv", folder / "manifest.ledger.sqlite"
        path.write_bytes(content)
        refused = _refusal(path)
        to_network = refused is None and self.network_runs_left > 0
        site = self.learn if to_network else self.quiet
        args = [
            "run",
            str(path),
            "--base-url",
            site.url,
            "--poll-min",
            "0.05",
            "--poll-max",
            "0.2",
            "--ledger",
            str(ledger),
            "--results",
            str(folder / "results.csv"),
            "--timezone",
            "UTC",
            "--concurrency",
            "1",
        ]
        if refused is None and not to_network:
            args += ["--window", self.closed_window]
        if to_network:
            self.network_runs_left -= 1
        before = site.connections()
        result = CliRunner().invoke(cli, args, env=CREDENTIALS)
        connections = site.connections() - before

        output = result.output
        event(
            "refused"
            if refused is not None
            else "accepted, to the network"
            if to_network
            else "accepted, window closed"
        )
        assert "Traceback" not in output
        assert result.exception is None or isinstance(result.exception, SystemExit), output
        assert result.exit_code in (2, 3), output
        if refused is not None:
            assert (result.exit_code, connections) == (2, 0), output
            assert not ledger.exists()
            for problem in refused.problems:  # click drops ANSI sequences off a terminal: so
                assert unstyle(f"{path}: {problem}") in output  # must we
            for warning in refused.warnings:  # printed even though the file is refused
                assert unstyle(f"Warning: {path}: {warning}") in output
            assert "nothing was sent to Learn" in output
        elif to_network:
            assert result.exit_code == 3, output
            assert connections > 0
            assert "Stopped early: " in output
        else:
            assert (result.exit_code, connections) == (3, 0), output
            assert "Stopped early: " in output and self.closed_window in output
            assert (folder / "results.csv").exists()


def _refusal(path: Path) -> ManifestInvalid | None:
    """What `run` should refuse this manifest with (as its CLI reads it), or None if valid."""
    try:
        refuse_exact_copies(load_manifest(path, timezone=ZoneInfo("UTC"), profiles=PROFILES))
    except ManifestInvalid as exc:
        return exc
    return None


@pytest.fixture
def learn_down() -> Iterator[ClosingListener]:
    """A Learn that is down: connections are accepted and dropped."""
    listener = ClosingListener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.fixture
def bench(tmp_path: Path, learn_down: ClosingListener) -> Iterator[Callable[[int], RunBench]]:
    """A RunBench against the listener; the argument is how many valid runs may reach it."""
    made: list[RunBench] = []
    quiet = ClosingListener()

    def make(network_runs: int) -> RunBench:
        if not made:
            made.append(RunBench(tmp_path, learn_down, quiet, network_runs))
        return made[0]

    try:
        yield make
    finally:
        quiet.close()


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(content=st.binary(max_size=400))
def test_random_bytes_exit_2_without_a_connection(
    bench: Callable[[int], RunBench], content: bytes
) -> None:
    """Any bytes at all: exit 2 before the network (or 3 if by chance they make a manifest)."""
    bench(0).run(content)


# Pieces of manifests, right and wrong, and characters that trouble parsers and terminals.
_PIECES = st.sampled_from(
    [
        *COLUMNS,
        "Source_Course_ID ",
        "targt_course_id",
        "copy_profle",
        "Start Date",
        "notes",
        ",",
        ",",
        ",",
        '"',
        '""',
        "\n",
        "\r\n",
        "\r",
        ";",
        "\t",
        " ",
        "2027-01-11",
        "2027-05-07T23:59:00-05:00",
        "2027-13-01",
        "2027-03-14T02:30",
        "9999-12-31T23:59:59-23:59",
        "true",
        "false",
        "maybe",
        "Yes",
        "Term",
        "Y",
        "n",
        "2027-02-30",
        "exact",
        "default",
        "no-discussions",
        "BIO-101-001-FA26",
        "BIO-101-001-SP27",
        "_123_1",
        '=HYPERLINK("http://x")',
        "+1",
        "@x",
        "\ufeff",
        "\u200b",
        "\u202e",
        "\x00",
        "\x1b[31m",
        "\u00e9",
        "\U0001d505",
        "\U0001f600",
        "\u0130",
        "\ud7ff",
        "\u2028",
        "userName:jdoe",
        "userName:jdoe=TeachingAssistant;_12_1",
        "=Grader",
        "jdoe",
        "user:jdoe",
        ";;",
        "userName:jdoe=Instuctor",
    ]
)
_BODY = st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=60).map("".join)
_ROW = st.lists(_PIECES, min_size=1, max_size=5).map(",".join)
_HEADED = st.builds(
    lambda names, rows, tail: ",".join(names) + "\n" + "\n".join(rows) + tail,
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5),
    st.lists(_ROW, max_size=4),
    _BODY,
)
# Nearer to valid: the required columns first, then rows of plausible cells (some repeat); a
# misspelled or unknown column now and then, so refusals carry warnings too.
_CELL = st.sampled_from(
    [
        "A-FA26",
        "A-SP27",
        "B-FA26",
        "B-SP27",
        "_123_1",
        "",
        "true",
        "no",
        "Term",
        "default",
        "2027-01-11",
        "2027-05-07",
        " x ",
        '"a,b"',
        '"two\nlines"',
        "\u00e9",
        "\x1b[0m",
        "userName:jdoe",
        "userName:jdoe=Grader;_12_1;",
        "jdoe",
        "userName:=Instuctor",
        "A-SP27;B-SP27",
        "externalId:A 1",
        "_7_1;b-sp27;",
        "C;;D",
    ]
)
_PLAUSIBLE = st.builds(
    lambda names, rows, newline: (
        newline.join(
            [",".join(["source_course_id", "target_course_id", *names])]
            + [",".join(row) for row in rows]
        )
        + newline
    ),
    st.lists(
        st.sampled_from([*COLUMNS[2:], "copy_profle", "instructor", "notes"]),
        max_size=3,
        unique=True,
    ),
    st.lists(st.lists(_CELL, min_size=2, max_size=5), min_size=1, max_size=4),
    st.sampled_from(["\n", "\r\n"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(
    text=st.one_of(_BODY, _HEADED, _PLAUSIBLE),
    encoding=st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"]),
)
def test_csv_like_text_exits_2_or_3_and_never_connects_when_invalid(
    bench: Callable[[int], RunBench], text: str, encoding: str
) -> None:
    """Headers, commas, quotes, line breaks, dates and odd characters: exit 2 or 3, no trace."""
    bench(0).run(text.encode(encoding, errors="replace"))


_SAMPLE_TEXT = SAMPLE.read_text(encoding="utf-8")
# (what, which, where): what to do, to which part, and where in it (taken modulo its length).
_MUTATION = st.tuples(
    st.sampled_from(["drop", "duplicate", "swap"]),
    st.sampled_from(["char", "line", "cell"]),
    st.integers(0, 10**6),
)


def _mutate(parts: list[str], what: str, at: int) -> list[str]:
    """parts with one element dropped, doubled, or swapped with the next."""
    if not parts:
        return parts
    at %= len(parts)
    if what == "drop":
        return parts[:at] + parts[at + 1 :]
    if what == "duplicate":
        return parts[: at + 1] + parts[at:]
    after = (at + 1) % len(parts)
    swapped = list(parts)
    swapped[at], swapped[after] = swapped[after], swapped[at]
    return swapped


def _mutated(text: str, mutations: list[tuple[str, str, int]]) -> str:
    """The text after each mutation in turn: on its characters, its lines or one line's cells."""
    for what, which, at in mutations:
        if which == "char":
            text = "".join(_mutate(list(text), what, at))
        elif which == "line":
            text = "".join(_mutate(text.splitlines(keepends=True), what, at))
        else:
            lines = text.splitlines(keepends=True)
            if lines:
                line = at % len(lines)
                body = lines[line].rstrip("\r\n")
                cells = ",".join(_mutate(body.split(","), what, at // len(lines)))
                lines[line] = cells + lines[line][len(body) :]
                text = "".join(lines)
    return text


@settings(max_examples=250, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(mutations=st.lists(_MUTATION, max_size=4))
@example(mutations=[])  # the sample itself, valid: it goes to the listener and exits 3
def test_mutated_sample_manifest_exits_2_or_3(
    bench: Callable[[int], RunBench], mutations: list[tuple[str, str, int]]
) -> None:
    """The sample manifest with characters, lines or cells dropped, doubled or swapped."""
    bench(1).run(_mutated(_SAMPLE_TEXT, mutations).encode())
