"""Bad and odd input, from synthetic mails: never a traceback, what can be read is read."""
import mailbox
import quopri

import pytest

from arena_patches.mail import series as series_mod
from arena_patches.core.errors import UserError
from arena_patches.mail import local
from tests import mailgen


def build(path, spec):
    msgs, problems = local.read(path)
    return series_mod.build(msgs, spec, problems)


def test_two_versions_in_one_mbox_and_gaps(tmp_path, plain_spec):
    f = tmp_path / "all.mbox"
    f.write_bytes(mailgen.mbox(mailgen.series(1, 3) + mailgen.series(2, 3, skip=(2,))))
    s = build(f, plain_spec)
    assert [v.version for v in s.versions] == [1, 2]
    assert s.version(1).missing == () and s.version(2).missing == (2,)
    assert [p.number for p in s.version(2).patches] == [1, 3]
    p = s.version(1).patch(2)
    assert p.paths == ("lib/demo.c",) and p.files[0].added == 1 and p.files[0].removed == 0
    assert p.base_blobs == (("lib/demo.c", "1111111"),)
    assert ("Signed-off-by", "Jane Dev <jane@example.org>") in p.trailers


def test_directory_dedupes_by_message_id(tmp_path, plain_spec):
    mails = mailgen.series(1, 2)
    (tmp_path / "a").mkdir()
    for i, m in enumerate(mails):
        (tmp_path / "a" / f"{i}.eml").write_bytes(m.as_bytes())
    (tmp_path / "copy.mbx").write_bytes(mailgen.mbox(mails))
    (tmp_path / "notes.txt").write_text("ignored: not a mail suffix")
    msgs, problems = local.read(tmp_path)
    assert sorted(m.message_id for m in msgs) == sorted(m.msgid for m in mails)
    assert problems == []


def test_maildir(tmp_path, plain_spec):
    md = mailbox.Maildir(tmp_path / "md")
    for m in mailgen.series(2, 2):
        md.add(m.as_bytes())
    s = build(tmp_path / "md", plain_spec)
    assert [(v.version, len(v.patches)) for v in s.versions] == [(2, 2)]


def test_truncated_mbox_keeps_what_it_can(tmp_path, plain_spec):
    data = mailgen.mbox(mailgen.series(1, 2))
    f = tmp_path / "cut.mbox"
    f.write_bytes(data[: data.rfind(b"+added")])  # cut inside the last patch's hunk
    s = build(f, plain_spec)
    v = s.version(1)
    assert v.patch(1) is not None and v.patch(1).files[0].added == 1
    assert v.patch(2) is not None  # read, and its broken diff reported
    assert any("does not parse" in p.message and "cut.mbox" in p.origin for p in s.problems)


def test_not_mail_and_empty_files(tmp_path, plain_spec):
    (tmp_path / "x.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 binary junk")
    (tmp_path / "y.patch").write_bytes(b"")
    good = mailgen.series(1, 1)
    (tmp_path / "z.mbox").write_bytes(mailgen.mbox(good))
    msgs, problems = local.read(tmp_path)
    assert len(msgs) == 2
    origins = {p.origin.rsplit("/", 1)[-1]: p.message for p in problems}
    assert "not a mail message" in origins["x.eml"] and origins["y.patch"] == "empty message"


def test_only_junk_is_a_clear_error(tmp_path):
    (tmp_path / "x.eml").write_text("hello, this is not a mail\n")
    with pytest.raises(UserError) as e:
        local.read(tmp_path)
    assert str(tmp_path) in str(e.value) and "no readable mail" in str(e.value)


def test_non_utf8_quoted_printable_and_multipart(tmp_path, plain_spec):
    mails = mailgen.series(1, 1)
    latin = mailgen.Mail("l1@example.org", "Re: [PATCH 1/1] demo: patch number 1",
                         "Gr\xfc\xdfe, looks fine.\n", in_reply_to="v1-1@example.org",
                         references=("v1-0@example.org", "v1-1@example.org"),
                         sender="Rev Iewer <rev@example.org>")
    raw_latin = latin.as_bytes().decode().encode("latin-1").replace(
        b"\n\n", b"\nContent-Type: text/plain; charset=iso-8859-1\n\n", 1)
    qp_text = quopri.encodestring("This needs a fix = really, caf\u00e9.\n".encode()).decode()
    qp = mailgen.Mail("q1@example.org", "Re: [PATCH 1/1] demo: patch number 1", qp_text,
                      in_reply_to="v1-1@example.org", sender="Q P <qp@example.org>",
                      headers=(("Content-Type", 'text/plain; charset="UTF-8"'),
                               ("Content-Transfer-Encoding", "quoted-printable")))
    multi = mailgen.Mail("m1@example.org", "Re: [PATCH 1/1] demo: patch number 1",
                         "--XX\nContent-Type: text/plain; charset=us-ascii\n\nThe robot says: "
                         "error.\n--XX\nContent-Type: text/x-config\n\nCONFIG_X=y\n--XX--\n",
                         in_reply_to="v1-1@example.org", sender="kernel test robot <lkp@intel.com>",
                         headers=(("MIME-Version", "1.0"),
                                  ("Content-Type", 'multipart/mixed; boundary="XX"')))
    f = tmp_path / "m.mbox"
    f.write_bytes(mailgen.mbox(mails) + b"From x@z Thu Jan  1 00:00:00 1970\n" + raw_latin
                  + b"\n" + mailgen.mbox([qp, multi]))
    s = build(f, plain_spec)
    replies = {r.message_id: r for r in s.version(1).replies}
    assert "Grüße" in replies["l1@example.org"].excerpt
    assert "fix = really, café" in replies["q1@example.org"].excerpt
    assert replies["m1@example.org"].excerpt == "The robot says: error."
    assert replies["m1@example.org"].kind.value == "build-robot"
    assert all(r.patch == 1 for r in replies.values())


def test_message_without_diff_is_not_a_patch(tmp_path, plain_spec):
    m = mailgen.series(1, 2)
    m[2].body = "I forgot the diff.\n"
    f = tmp_path / "s.mbox"
    f.write_bytes(mailgen.mbox(m))
    s = build(f, plain_spec)
    assert s.version(1).missing == (2,)


def test_resend_under_patch_two_with_other_ids(tmp_path, plain_spec):
    """Like the real v3: 2..3 sent again in a second run, threaded under the new 2/3."""
    first = mailgen.series(3, 3, skip=(2, 3))
    cover = first[0]
    p2 = mailgen.Mail("run2-1@example.org", "[PATCH v3 2/3] demo: patch number 2",
                      mailgen.patch_body(3, 2), in_reply_to=cover.msgid, references=(cover.msgid,),
                      date="Mon, 13 Nov 2025 10:05:00 +0000")
    p3 = mailgen.Mail("run2-2@example.org", "[PATCH v3 3/3] demo: patch number 3",
                      mailgen.patch_body(3, 3), in_reply_to=p2.msgid,
                      references=(cover.msgid, p2.msgid), date="Mon, 13 Nov 2025 10:05:01 +0000")
    again = mailgen.Mail("run3-1@example.org", "[PATCH v3 RESEND 2/3] demo: patch number 2",
                         mailgen.patch_body(3, 2), in_reply_to=cover.msgid,
                         references=(cover.msgid,), date="Mon, 13 Nov 2025 11:00:00 +0000")
    f = tmp_path / "v3.mbox"
    f.write_bytes(mailgen.mbox(first + [p2, p3, again]))
    s = build(f, plain_spec)
    v = s.version(3)
    assert v.missing == () and v.patch(3).message_id == "run2-2@example.org"
    assert v.patch(2).message_id == "run3-1@example.org"  # the latest copy wins
    assert v.patch(2).resent_ids == ("run2-1@example.org",)


def test_spec_filters_other_series(tmp_path):
    from arena_patches.mail import spec as spec_mod
    mine = mailgen.series(1, 1)
    other = mailgen.series(1, 1, title="other: unrelated", domain="other.org")
    other[1].subject = "[PATCH 1/1] other: unrelated"
    f = tmp_path / "both.mbox"
    f.write_bytes(mailgen.mbox(mine + other))
    spec = spec_mod.from_dict({"series": {"title": "demo"},
                               "versions": [{"version": 1, "cover": "<v1-0@example.org>"}]})
    s = build(f, spec)
    assert [p.message_id for p in s.version(1).patches] == ["v1-1@example.org"]
    assert set(s.ignored) == {"v1-0@other.org", "v1-1@other.org"}


def test_bad_spec_is_named(tmp_path):
    from arena_patches.mail import spec as spec_mod
    bad = tmp_path / "bad.toml"
    bad.write_text("[series\n")
    with pytest.raises(UserError) as e:
        spec_mod.load(str(bad))
    assert str(bad) in str(e.value)
    bad.write_text("[series]\nlist = 'x'\n")
    with pytest.raises(UserError, match="title"):
        spec_mod.load(str(bad))
