from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0] == "```sh" and lines[3] == "```"
    main, tests = lines[1], lines[2]
    assert main == "scripts/setup && .venv/bin/arena-patches demo"
    assert tests == "scripts/setup && .venv/bin/pytest"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "sed -n '2,3p' README.md" in ci and "eval" in ci
    assert (ROOT / "scripts" / "setup").stat().st_mode & 0o111
