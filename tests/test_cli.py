import json

from arena_patches import cli
from tests import mailgen


def test_bad_source_exit_2(tmp_path, capsys):
    assert cli.main(["series", "--source", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "nope: no such file or directory" in err and "Traceback" not in err


def test_offline_lore_names_what_it_could_not_fetch(capsys, monkeypatch):
    from arena_patches.mail import lore

    def offline(msgid):
        raise ConnectionError("Failed to resolve host: Name or service not known")
    monkeypatch.setattr(lore, "_node_fetch", lambda: offline)
    assert cli.main(["series", "--spec", "arena-kfuncs"]) == 2
    err = capsys.readouterr().err
    assert "20251111163424.16471-1-puranjay@kernel.org" in err
    assert "unreachable" in err and "--source PATH" in err


def test_lore_cache_serves_later_runs(tmp_path, capsys, monkeypatch):
    from arena_patches.mail import lore
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "demo: a series"\n[[versions]]\nversion = 2\n'
                    'cover = "v2-0@example.org"\n')
    calls = []

    def fetch(msgid):
        calls.append(msgid)
        return mailgen.mbox(mailgen.series(2, 2))
    monkeypatch.setattr(lore, "_node_fetch", lambda: fetch)
    assert cli.main(["series", "--spec", str(spec), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(lore, "_node_fetch", lambda: (_ for _ in ()).throw(AssertionError))
    assert cli.main(["series", "--spec", str(spec), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == first["versions"]
    assert calls == ["v2-0@example.org"]


def test_json_is_clean_and_total(tmp_path, capsys):
    f = tmp_path / "s.mbox"
    f.write_bytes(mailgen.mbox(mailgen.series(1, 2, skip=(2,))))
    spec = tmp_path / "s.toml"
    spec.write_text('[series]\ntitle = "demo: a series"\n')
    assert cli.main(["series", "--spec", str(spec), "--source", str(f), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (v,) = doc["versions"]
    assert v["missing"] == [2]
    assert v["patches"][1] == {"number": 2, "present": False, "message_id": None,
                               "subject": None, "files": []}


def test_progress_into_a_log_says_each_phase_and_each_step_not_each_file(monkeypatch, capsys):
    """stderr a log (CI): the numbered steps, the message that starts each phase (the cold
    base build says itself before its minutes of make), and no line per imported file."""
    import io
    from arena_patches import cli as cli_mod

    class Log(io.StringIO):
        def isatty(self):
            return False
    log = Log()
    monkeypatch.setattr(cli_mod.sys, "stderr", log)
    with cli_mod.progress() as say:
        for n in range(0, 5000, 1000):
            say(f"importing the 6.12 kernel: {n} files")
        say("build x86_64 v1 base")
        say("[1/4] v1 1/4 x86_64 fail 12 s")
        say("build x86_64 v1 2/4")
        say("[2/4] v1 2/4 x86_64 pass 9 s")
    assert log.getvalue().splitlines() == [
        "importing the 6.12 kernel: 0 files", "build x86_64 v1 base", "[1/4] v1 1/4 x86_64 fail 12 s",
        "build x86_64 v1 2/4", "[2/4] v1 2/4 x86_64 pass 9 s"]
