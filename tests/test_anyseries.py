"""Any series, with no spec written for it: series/ at the top, the spec chosen by the
mails' Message-IDs (none when none names them), nothing booted that no spec asks for."""
import json

from arena_patches import cli
from arena_patches.core.verdicts import Status
from arena_patches.mail import spec as spec_mod
from arena_patches.verify import compose
from arena_patches.verify.options import BuildOptions
from tests import mailgen


def _mails(tmp_path, mails, name="mails"):
    d = tmp_path / name
    d.mkdir()
    (d / "s.mbox").write_bytes(mailgen.mbox(mails))
    return d


def test_series_dir_holds_the_shipped_specs():
    assert {"arena-kfuncs", "arena-demo"} <= set(spec_mod.shipped())
    assert spec_mod.load("arena-kfuncs").path.endswith("arena-kfuncs/spec.toml")


def test_empty_spec_name_is_an_input_error(tmp_path, capsys):
    src = _mails(tmp_path, mailgen.series(1, 2))
    assert cli.main(["series", "--spec", "", "--source", str(src), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert "empty spec name" in doc["error"]["message"]


def test_a_series_no_spec_names_gets_no_spec(tmp_path, capsys):
    src = _mails(tmp_path, mailgen.series(1, 2, title="net: frob the widget"))
    assert cli.main(["series", "--source", str(src), "--json"]) == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["series"]["title"] == "net: frob the widget"
    assert "arena" not in out.out.lower() and "arena" not in out.err.lower()


def test_the_spec_whose_message_ids_the_source_holds_is_chosen(tmp_path, capsys):
    mails = mailgen.series(1, 2, domain="arena-patches.invalid")
    for m in mails:  # the demo spec names demo-v1-0@arena-patches.invalid as v1's cover
        m.msgid = m.msgid.replace("v1-", "demo-v1-")
    src = _mails(tmp_path, mails)
    assert cli.main(["series", "--source", str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["series"]["title"] == spec_mod.load("arena-demo").title


def test_no_boot_without_a_boot_table(arena_spec):
    bare = spec_mod.from_dict({"series": {"title": "net: frob"}}, "bare.toml")
    assert not spec_mod.has_boot(bare) and spec_mod.has_boot(arena_spec)
    outcomes = []
    got = compose._boot_stage(bare, None, object(), (), BuildOptions(), outcomes, None)
    assert got == [] and outcomes[0].status is Status.SKIP and "no [boot]" in outcomes[0].reason
