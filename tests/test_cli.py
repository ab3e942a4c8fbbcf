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
