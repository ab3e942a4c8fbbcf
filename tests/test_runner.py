"""The one subprocess runner: argv lists, timeouts that kill the whole process group and
are recorded, watching output to end a guest once it has answered."""
import time

from arena_patches.core.runner import Runner, reproducer


def test_a_hung_process_is_killed_and_recorded():
    t0 = time.monotonic()
    r = Runner().run(["sh", "-c", "sleep 60 & sleep 60"], timeout=1)
    assert r.timed_out and r.returncode == -9 and time.monotonic() - t0 < 10


def test_until_ends_the_process_after_its_last_answer():
    t0 = time.monotonic()
    r = Runner().run(["sh", "-c", "echo ARENA-PROBE start; echo ARENA-PROBE end; sleep 60"],
                     timeout=30, until=lambda out: "ARENA-PROBE end" in out, grace=0.5)
    assert not r.timed_out and "ARENA-PROBE end" in r.stdout and time.monotonic() - t0 < 10
    r = Runner().run(["sh", "-c", "echo never; sleep 60"], timeout=1, until=lambda out: "end" in out)
    assert r.timed_out and r.stdout == "never\n"


def test_no_shell_and_a_pasteable_reproducer():
    evil = "$(touch /tmp/pwned); `id`"
    r = Runner().run(["printf", "%s", evil])
    assert r.stdout == evil
    assert reproducer(["make", "O=/o d", evil], "/src", {"ARCH": "x86_64"}) == \
        "(cd /src && ARCH=x86_64 make 'O=/o d' '$(touch /tmp/pwned); `id`')"
