"""The Learn check of a manifest with instructors and shells: users exist, shells are empty."""

from __future__ import annotations

from pathlib import Path

from cli_runs import invoke, write

MANIFEST = (
    "source_course_id,target_course_id,copy_into_existing,instructors\n"
    "BIO-101-FA26,BIO-101-001-SP27,false,userName:jdoe;_999_1=TeachingAssistant\n"
    "HIST-210-FA26,HIST-210-001-SP27,true,userName:jdoe\n"
)


def check(tmp_path: Path, *extra: str) -> tuple[int, str]:
    manifest = write(tmp_path / "spring.csv", MANIFEST)
    config = write(tmp_path / "sandbox.toml", 'shells_with_content = ["HIST-210-001-SP27"]\n')
    result = invoke(
        "validate", manifest, "--check-learn", "--sandbox", "--sandbox-config", config, *extra
    )
    return result.exit_code, result.stdout


def test_check_learn_names_unknown_instructors_and_shells_that_hold_content(
    tmp_path: Path,
) -> None:
    """Each distinct instructor is looked up once and an unknown one is a problem on its line;
    a shell holding content is a problem naming how many items and the way out."""
    code, out = check(tmp_path)
    assert code == 2, out
    assert (
        "line 2, instructors '_999_1': no such user in Learn: correct the id (userName:, "
        "externalId: or _N_1) or remove the user from the cell"
    ) in out
    assert "line 3, target_course_id 'HIST-210-001-SP27': the shell already holds " in out
    assert (
        "a copy would be added to them: empty it in Learn, or run with --allow-nonempty-shell"
        in out
    )
    assert "2 instructors by id; the content of 1 shell" in out
    assert "  instructors to enrol:        3" in out


def test_allow_nonempty_shell_leaves_only_the_unknown_user(tmp_path: Path) -> None:
    """With --allow-nonempty-shell a shell's content is no problem; the unknown user still is."""
    code, out = check(tmp_path, "--allow-nonempty-shell")
    assert code == 2, out
    assert "Problems: 1" in out and "_999_1" in out
    assert "the shell already holds" not in out
