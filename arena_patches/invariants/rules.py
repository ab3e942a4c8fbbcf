"""Invariant rules as data (the spec's [[invariants]]) and their evaluation on C text.

Kinds: parses, include, function, calls, not-calls, called-after (B after A on every
path), lock-balanced, acquires, not-acquires, call-under-lock, call-not-under-lock,
no-double-unlock, btf-flag (a BTF_ID_FLAGS entry has / lacks a flag), error-path-calls,
regex. Names in callee/first/then/lock are regular expressions (fullmatch; "a|b").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import bad_input
from ..model import Status
from . import cparse, helpers, locks
from .dialect import Dialect

KINDS = ("parses", "include", "function", "calls", "not-calls", "called-after", "lock-balanced",
         "acquires", "not-acquires", "call-under-lock", "call-not-under-lock", "no-double-unlock",
         "btf-flag", "error-path-calls", "regex")


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    file: str
    claim: str
    claimed_in: int | None
    patch: int | None
    function: str | None = None
    args: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def arg(self, name: str, default: Any = None) -> Any:
        return self.args.get(name, default)


@dataclass(frozen=True)
class CompilerReading:
    """What a build said about one file at one commit: the compiler as the judge of
    `parses` where the build stage compiled the file (tree-sitter-c is the no-build path)."""
    parses: bool
    how: str  # "gcc for x86_64 compiled it at v8 1/4" or the syntax error it printed


# What each kind needs (besides id, file); names that are regular expressions are compiled
# when the spec is read, so a rule is never judged against a missing or broken argument.
NEEDS: dict[str, tuple[str, ...]] = {
    "parses": (), "include": ("header",), "function": ("function",),
    "calls": ("function", "callee"), "not-calls": ("function", "callee"),
    "called-after": ("function", "first", "then"), "lock-balanced": ("function",),
    "acquires": ("function", "lock"), "not-acquires": ("function", "lock"),
    "call-under-lock": ("function", "callee", "lock"), "call-not-under-lock": ("function", "callee", "lock"),
    "no-double-unlock": ("function",), "btf-flag": ("function", "flag"),
    "error-path-calls": ("function", "after", "callees"), "regex": ("pattern",)}
OPTIONAL = {"lock", "present", "guard"}
_REGEXES = {"callee", "first", "then", "lock", "after", "pattern", "guard"}


def from_spec(raw: dict, origin: str) -> list[Rule]:
    out = []
    rules = raw.get("invariants", [])
    if not isinstance(rules, list):
        raise bad_input(f"{origin}: invariants", "must be a list of [[invariants]] tables")
    for i, d in enumerate(rules):
        where = f"{origin}: [[invariants]] #{i + 1}"
        if not isinstance(d, dict) or not d.get("id") or not d.get("file"):
            raise bad_input(where, f"needs id, file and a kind among {', '.join(KINDS)}")
        if d.get("kind") not in KINDS:
            raise bad_input(where, f"kind {str(d.get('kind'))[:40]!r} is not one of {', '.join(KINDS)}")
        where = f"{origin}: invariant {d['id']!r}"
        f = d["file"]
        if isinstance(f, str) and (f.startswith("/") or ".." in f.split("/") or "\x00" in f):
            raise bad_input(where, f"file {f!r} must be a path inside the tree (relative, no '..')")
        known = {"id", "kind", "file", "claim", "claimed_in", "patch", "function"}
        args = {k: v for k, v in d.items() if k not in known}
        _check(d, args, where)
        out.append(Rule(d["id"], d["kind"], d["file"], d.get("claim", ""), d.get("claimed_in"),
                        d.get("patch"), d.get("function"), args))
    return out


def _check(d: dict, args: dict, where: str) -> None:
    kind = d["kind"]
    for k in ("id", "file", "claim", "function"):
        if k in d and not isinstance(d[k], str):
            raise bad_input(where, f"{k} must be a string")
    for k in ("claimed_in", "patch"):
        if d.get(k) is not None and (not isinstance(d[k], int) or isinstance(d[k], bool)):
            raise bad_input(where, f"{k} must be a version or patch number")
    missing = [n for n in NEEDS[kind] if d.get(n) in (None, "", [])]
    if missing:
        raise bad_input(where, f"a {kind} rule needs {', '.join(missing)}")
    for n in NEEDS[kind]:
        if n != "callees" and not isinstance(d.get(n), str):
            raise bad_input(where, f"{n} must be a string")
    unknown = sorted(set(args) - set(NEEDS[kind]) - OPTIONAL)
    if unknown:
        raise bad_input(where, f"{', '.join(unknown)}: not an argument of a {kind} rule "
                               f"(it takes {', '.join(NEEDS[kind] + tuple(sorted(OPTIONAL))) or 'nothing more'})")
    if "callees" in args and not (isinstance(args["callees"], list) and all(isinstance(x, str) for x in args["callees"])):
        raise bad_input(where, "callees must be a list of names")
    if "present" in args and not isinstance(args["present"], bool):
        raise bad_input(where, "present must be true or false")
    for k in _REGEXES & set(args) | ({"function"} if kind == "btf-flag" else set()):
        v = d.get(k)
        if not isinstance(v, str):
            raise bad_input(where, f"{k} must be a string (a regular expression)")
        try:
            re.compile(v)
        except re.error as e:
            raise bad_input(where, f"{k} {v!r} is not a regular expression ({e})")


def _rx(pattern: str) -> re.Pattern:
    return re.compile(rf"(?:{pattern})")


@dataclass(frozen=True)
class Verdict:
    status: Status
    detail: str


def _fn(cf: cparse.CFile, rule: Rule) -> Verdict | None:
    if rule.function and rule.function not in cf.functions:
        return Verdict(Status.SKIP, f"{rule.function}() is not in {rule.file}")
    return None


def _locks(a: locks.Analysis, pattern: str | None):
    rx = _rx(pattern) if pattern else None
    return lambda names: {n for n in names if rx is None or rx.fullmatch(n)}


def evaluate(rule: Rule, text: str | None, dialect: Dialect | None = None,
             compiled: CompilerReading | None = None) -> Verdict:
    if text is None:
        return Verdict(Status.SKIP, f"{rule.file} does not exist here")
    cf = cparse.parse(text, rule.file, dialect)
    k = rule.kind
    if k == "parses":
        return _parses(rule, text, cf, compiled)
    if k == "include":
        h = rule.arg("header")
        return Verdict(Status.PASS, f"includes <{h}>") if h in cf.includes else \
            Verdict(Status.FAIL, f"<{h}> is not included")
    if k == "btf-flag":
        flags = cf.btf_flags()
        rx = _rx(rule.function or ".*")
        names = [n for n in flags if rx.fullmatch(n)]
        if not names:
            return Verdict(Status.SKIP, f"no BTF_ID_FLAGS entry matches {rule.function}")
        flag, want = rule.arg("flag"), rule.arg("present", True)
        wrong = [n for n in names if (flag in flags[n]) != want]
        what = "has" if want else "lacks"
        return Verdict(Status.FAIL, f"{', '.join(wrong)} {'lacks' if want else 'has'} {flag}") if wrong \
            else Verdict(Status.PASS, f"{', '.join(names)} {what} {flag}")
    if k == "regex":
        if rule.function and rule.function not in cf.functions:
            return Verdict(Status.SKIP, f"{rule.function}() is not in {rule.file}")
        if rule.function:  # the function's own lines, as written (not as preprocessed)
            f = cf.functions[rule.function]
            scope = "\n".join(text.splitlines()[f.start_line - 1:f.end_line])
        else:
            scope = text
        found = re.search(rule.arg("pattern"), scope, re.M) is not None
        want = rule.arg("present", True)
        return Verdict(Status.PASS if found == want else Status.FAIL,
                       f"/{rule.arg('pattern')}/ {'found' if found else 'not found'}")
    if k == "function":
        return Verdict(Status.PASS, f"{rule.function}() exists") if rule.function in cf.functions \
            else Verdict(Status.FAIL, f"{rule.function}() is missing")
    skip = _fn(cf, rule)
    if skip:
        return skip
    fn = cf.functions[rule.function]
    if k in ("calls", "not-calls"):
        rx = _rx(rule.arg("callee"))
        hits = [(n, c.start_point[0] + 1) for n, c in cparse.calls_in(cf, fn.node) if rx.fullmatch(n)]
        if k == "calls":
            return Verdict(Status.PASS, f"calls {hits[0][0]}() at line {hits[0][1]}") if hits else \
                Verdict(Status.FAIL, f"{rule.function}() never calls {rule.arg('callee')}")
        return Verdict(Status.FAIL, f"calls {hits[0][0]}() at line {hits[0][1]}") if hits else \
            Verdict(Status.PASS, f"{rule.function}() does not call {rule.arg('callee')}")
    if k == "error-path-calls":
        return _error_path(cf, fn, rule)
    first, then = rule.arg("first"), rule.arg("then")
    order = []
    if k == "called-after":
        names = {n for n, _ in cparse.calls_in(cf, fn.node)}
        order = [(a, b) for a in names if _rx(first).fullmatch(a) for b in names if _rx(then).fullmatch(b)]
        if not any(_rx(first).fullmatch(n) for n in names):
            return Verdict(Status.SKIP, f"{rule.function}() does not call {first}")
        if not order:
            return Verdict(Status.FAIL, f"{rule.function}() calls {first} but never {then}")
    guards = {}
    if k == "called-after":
        named = rule.arg("guard")
        guards = {g: set(order) for g in named.split("|")} if named else \
            helpers.guard_variables(cf, fn, order)
    a = locks.analyse(cf, rule.function, order, guards)
    match = _locks(a, rule.arg("lock"))
    if k == "called-after":
        bad = [(ln, how) for ln, how, states in a.exits if any(s.pending for s in states)]
        why = ""
        if guards:
            g = ", ".join(sorted(guards))
            why = (f" that produced something (where {g}, computed from what {first} produced, is 0, "
                   f"the code rightly skips {then})" if not named else f" where {g} is not 0")
        return Verdict(Status.FAIL, "; ".join(f"the path leaving at line {ln} ({how}) calls {first} "
                                               f"without {then} after it" for ln, how in bad[:3])) \
            if bad else Verdict(Status.PASS, f"{then} follows {first} on every path{why}")
    if k == "lock-balanced":
        helper = helpers.lock_helpers(cf).get(rule.function)
        if helper is not None and helper.acquires and any(match({x}) for x in helper.acquires):
            return Verdict(Status.PASS, f"a lock helper ({helper.why}): returns holding "
                           f"{', '.join(helper.acquires)} on purpose"
                           f"{' when it returns 0' if helper.mode == 'zero' else ''}; its callers release it")
        bad = [(ln, how, sorted(set().union(*(match(s.held) for s in st)))) for ln, how, st in a.exits
               if any(match(s.held) for s in st)]
        if bad:
            return Verdict(Status.FAIL, "; ".join(f"{', '.join(l)} still held at the {how} on line {ln}"
                                                   for ln, how, l in bad[:3]))
        taken = sorted({l for l, _ in a.acquired if match({l})})
        return Verdict(Status.PASS, f"{', '.join(taken) or 'no lock'} released on all "
                                    f"{len(a.exits)} exits")
    if k in ("acquires", "not-acquires"):
        taken = [(l, ln) for l, ln in a.acquired if match({l})]
        if (k == "acquires") == bool(taken):
            return Verdict(Status.PASS, f"takes {taken[0][0]} at line {taken[0][1]}" if taken
                           else f"takes no lock matching {rule.arg('lock')}")
        return Verdict(Status.FAIL, f"takes {taken[0][0]} at line {taken[0][1]}" if taken
                       else f"takes no lock matching {rule.arg('lock')}")
    if k in ("call-under-lock", "call-not-under-lock"):
        rx = _rx(rule.arg("callee"))
        events = [c for c in a.calls if rx.fullmatch(c.name)]
        if not events:
            return Verdict(Status.SKIP, f"{rule.function}() does not call {rule.arg('callee')}")
        under = k == "call-under-lock"
        bad = [c for c in events if any(bool(match(s.all_held)) != under for s in c.states)]
        if bad:
            c = bad[0]
            return Verdict(Status.FAIL, f"{c.name}() at line {c.line} runs "
                           f"{'without' if under else 'with'} {rule.arg('lock')} held on some path")
        return Verdict(Status.PASS, f"every {rule.arg('callee')}() call ({len(events)}) runs "
                                    f"{'under' if under else 'outside'} {rule.arg('lock')}")
    if k == "no-double-unlock":
        dbl = [(l, ln) for l, ln in a.double_unlocks if match({l})]
        return Verdict(Status.FAIL, f"{dbl[0][0]} released at line {dbl[0][1]} when not held on some path") \
            if dbl else Verdict(Status.PASS, "no lock released twice")
    raise AssertionError(k)


def _parses(rule: Rule, text: str, cf: cparse.CFile, compiled: CompilerReading | None) -> Verdict:
    if not text.strip():
        return Verdict(Status.SKIP, f"{rule.file} is empty")
    if "\x00" in text or text.count("\ufffd") * 20 > len(text):
        return Verdict(Status.FAIL, f"{rule.file} is not C source (binary content)")
    if not cf.functions and cf.root.has_error:
        errs = [(None, None, "no function, and errors at file scope")]
    else:
        errs = cf.parse_errors()
    found = "; ".join((f"{fn}() line {ln}: " if fn else "") + what for fn, ln, what in errs[:4])
    how = f"tree-sitter-c; attribute macros from {cf.dialect}" + \
        (f"; {cf.one_branch} #if groups inside code judged on one branch" if cf.one_branch else "")
    if compiled is not None:  # the compiler judged; tree-sitter's reading is said beside it
        aside = f"; tree-sitter-c read it differently: {found}" if errs and compiled.parses else \
            ("; tree-sitter-c read it without error" if not errs and not compiled.parses else "")
        return Verdict(Status.PASS if compiled.parses else Status.FAIL,
                       f"judged by the compiler: {compiled.how}{aside}")
    return Verdict(Status.FAIL, f"{found} ({how})") if errs else \
        Verdict(Status.PASS, f"{len(cf.functions)} functions parse ({how})")


def _error_path(cf: cparse.CFile, fn: cparse.Function, rule: Rule) -> Verdict:
    """After `after(...)`, the `if` that tests its result, and where its branch goes
    (following a goto to its label), must call every one of `callees`."""
    rx = _rx(rule.arg("after"))
    calls = cparse.calls_in(cf, fn.node)
    site = next((c for n, c in calls if rx.fullmatch(n)), None)
    if site is None:
        return Verdict(Status.SKIP, f"{rule.function}() does not call {rule.arg('after')}")
    # the statement holding the call, then the next if statement
    stmt = site
    while stmt.parent is not None and stmt.parent.type != "compound_statement":
        stmt = stmt.parent
    branch = stmt if stmt.type == "if_statement" else None
    sib = stmt.next_named_sibling
    while branch is None and sib is not None:
        if sib.type == "if_statement":
            branch = sib
        sib = sib.next_named_sibling
    if branch is None:
        return Verdict(Status.FAIL, f"no error check after {rule.arg('after')}()")
    body = branch.child_by_field_name("consequence")
    names = {n for n, _ in cparse.calls_in(cf, body)}
    for g in re.findall(r"\bgoto\s+(\w+)\s*;", cf.node_text(body)):
        label_at = re.search(rf"^\s*{g}\s*:", cf.node_text(fn.node), re.M)
        if label_at:
            rest_start = fn.node.start_byte + label_at.start()
            names |= {n for n, c in calls if c.start_byte >= rest_start}
    missing = [c for c in rule.arg("callees", []) if not any(_rx(c).fullmatch(n) for n in names)]
    line = branch.start_point[0] + 1
    return Verdict(Status.FAIL, f"the error path at line {line} does not call {', '.join(missing)}") \
        if missing else Verdict(Status.PASS, f"the error path at line {line} calls "
                                             f"{', '.join(rule.arg('callees', []))}")
