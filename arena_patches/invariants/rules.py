"""Invariant rules as data (the spec's [[invariants]]) and their evaluation on C text.

Kinds: parses, include, function, calls, not-calls, called-after (B after A on every
path), lock-balanced, acquires, not-acquires, call-under-lock, call-not-under-lock,
no-double-unlock, btf-flag (a BTF_ID_FLAGS entry has / lacks a flag), error-path-calls,
regex. Names in callee/first/then/lock are regular expressions (fullmatch; "a|b").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from arena_patches.core.errors import bad_input
from arena_patches.core.verdicts import Status
from arena_patches.invariants import cparse, helpers, locks, regex
from arena_patches.invariants.dialect import Dialect



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


@dataclass(frozen=True)
class Kind:
    """A rule kind: what it needs and may take (besides id and file), and its judge. Names
    that are regular expressions are compiled when the spec is read, so a rule is never
    judged against a missing or broken argument."""
    name: str
    needs: tuple[str, ...]
    optional: tuple[str, ...]
    judge: Callable[["Ctx"], "Verdict"]
    in_function: bool  # judged inside `function` (skip when the file has no such function)
    compiler: bool = False  # takes the build stage's compiler reading where there is one
    function_regex: bool = False  # its `function` is a regular expression


KIND: dict[str, Kind] = {}
_REGEXES = {"callee", "first", "then", "lock", "after", "pattern", "guard"}


def kind(name: str, needs: tuple[str, ...] = (), optional: tuple[str, ...] = (), in_function: bool = True,
         compiler: bool = False, function_regex: bool = False):
    def register(judge: Callable[["Ctx"], "Verdict"]):
        KIND[name] = Kind(name, needs, optional, judge, in_function, compiler, function_regex)
        return judge
    return register


def from_spec(raw: dict, origin: str) -> list[Rule]:
    out = []
    rules = raw.get("invariants", [])
    if not isinstance(rules, list):
        raise bad_input(f"{origin}: invariants", "must be a list of [[invariants]] tables")
    for i, d in enumerate(rules):
        where = f"{origin}: [[invariants]] #{i + 1}"
        if not isinstance(d, dict) or not d.get("id") or not d.get("file"):
            raise bad_input(where, f"needs id, file and a kind among {', '.join(KIND)}")
        if d.get("kind") not in KIND:
            raise bad_input(where, f"kind {str(d.get('kind'))[:40]!r} is not one of {', '.join(KIND)}")
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
    spec = KIND[kind]
    for k in ("id", "file", "claim", "function"):
        if k in d and not isinstance(d[k], str):
            raise bad_input(where, f"{k} must be a string")
    for k in ("claimed_in", "patch"):
        if d.get(k) is not None and (not isinstance(d[k], int) or isinstance(d[k], bool)):
            raise bad_input(where, f"{k} must be a version or patch number")
    missing = [n for n in spec.needs if d.get(n) in (None, "", [])]
    if missing:
        raise bad_input(where, f"a {kind} rule needs {', '.join(missing)}")
    for n in spec.needs:
        if n != "callees" and not isinstance(d.get(n), str):
            raise bad_input(where, f"{n} must be a string")
    unknown = sorted(set(args) - set(spec.needs) - set(spec.optional))
    if unknown:
        raise bad_input(where, f"{', '.join(unknown)}: not an argument of a {kind} rule "
                               f"(it takes {', '.join(spec.needs + spec.optional) or 'nothing more'})")
    if "callees" in args and not (isinstance(args["callees"], list) and all(isinstance(x, str) for x in args["callees"])):
        raise bad_input(where, "callees must be a list of names")
    for v in args.get("callees", []):  # each is fullmatched as a regular expression
        try:
            regex.compile(v)
        except regex.RegexError as e:
            raise bad_input(where, f"callees: {v!r} is not a regular expression ({e})")
    if "present" in args and not isinstance(args["present"], bool):
        raise bad_input(where, "present must be true or false")
    for k in _REGEXES & set(args) | ({"function"} if spec.function_regex else set()):
        v = d.get(k)
        if not isinstance(v, str):
            raise bad_input(where, f"{k} must be a string (a regular expression)")
        try:
            regex.compile(v, multiline=k == "pattern")
        except regex.RegexError as e:
            raise bad_input(where, f"{k} {v!r} is not a regular expression ({e})")


def _rx(pattern: str):
    return regex.compile(rf"(?:{pattern})")


@dataclass(frozen=True)
class Verdict:
    status: Status
    detail: str


def _fn(cf: cparse.CFile, rule: Rule) -> Verdict | None:
    if rule.function and rule.function not in cf.functions:
        return Verdict(Status.SKIP, f"{rule.function}() is not in {rule.file}")
    return None


def _lock_matcher(pattern: str | None):
    rx = _rx(pattern) if pattern else None
    return lambda names: {n for n in names if rx is None or rx.fullmatch(n)}


@dataclass
class Ctx:
    """What a judge reads: the rule, the file's text and parse, the compiler's reading, the
    function (for in-function kinds), and the path analysis, made once on demand."""
    rule: Rule
    text: str
    cf: cparse.CFile
    compiled: CompilerReading | None = None
    fn: cparse.Function | None = None

    def analysis(self, order=(), guards=None) -> locks.Analysis:
        return locks.analyse(self.cf, self.rule.function, list(order), guards or {})

    @cached_property
    def match(self):
        """Lock names that match the rule's `lock` (all, without one); compiled once."""
        return _lock_matcher(self.rule.arg("lock"))


def evaluate(rule: Rule, text: str | None, dialect: Dialect | None = None,
             compiled: CompilerReading | None = None) -> Verdict:
    if text is None:
        return Verdict(Status.SKIP, f"{rule.file} does not exist here")
    spec = KIND[rule.kind]
    ctx = Ctx(rule, text, cparse.parse(text, rule.file, dialect), compiled)
    if spec.in_function:
        skip = _fn(ctx.cf, rule)
        if skip:
            return skip
        ctx.fn = ctx.cf.functions[rule.function]
    return spec.judge(ctx)


@kind("parses", in_function=False, compiler=True)
def _judge_parses(c: Ctx) -> Verdict:
    return _parses(c.rule, c.text, c.cf, c.compiled)


@kind("include", needs=("header",), in_function=False)
def _include(c: Ctx) -> Verdict:
    h = c.rule.arg("header")
    return Verdict(Status.PASS, f"includes <{h}>") if h in c.cf.includes else \
        Verdict(Status.FAIL, f"<{h}> is not included")


@kind("btf-flag", needs=("function", "flag"), optional=("present",), in_function=False, function_regex=True)
def _btf_flag(c: Ctx) -> Verdict:
    rule, flags = c.rule, c.cf.btf_flags()
    rx = _rx(rule.function or ".*")
    names = [n for n in flags if rx.fullmatch(n)]
    if not names:
        return Verdict(Status.SKIP, f"no BTF_ID_FLAGS entry matches {rule.function}")
    flag, want = rule.arg("flag"), rule.arg("present", True)
    wrong = [n for n in names if (flag in flags[n]) != want]
    what = "has" if want else "lacks"
    return Verdict(Status.FAIL, f"{', '.join(wrong)} {'lacks' if want else 'has'} {flag}") if wrong \
        else Verdict(Status.PASS, f"{', '.join(names)} {what} {flag}")


@kind("regex", needs=("pattern",), optional=("present",), in_function=False)
def _regex(c: Ctx) -> Verdict:
    rule, cf = c.rule, c.cf
    if rule.function and rule.function not in cf.functions:
        return Verdict(Status.SKIP, f"{rule.function}() is not in {rule.file}")
    if rule.function:  # the function's own lines, as written (not as preprocessed)
        f = cf.functions[rule.function]
        scope = "\n".join(c.text.splitlines()[f.start_line - 1:f.end_line])
    else:
        scope = c.text
    found = regex.compile(rule.arg("pattern"), multiline=True).search(scope) is not None
    want = rule.arg("present", True)
    return Verdict(Status.PASS if found == want else Status.FAIL,
                   f"/{rule.arg('pattern')}/ {'found' if found else 'not found'}")


@kind("function", needs=("function",), in_function=False)
def _function(c: Ctx) -> Verdict:
    return Verdict(Status.PASS, f"{c.rule.function}() exists") if c.rule.function in c.cf.functions \
        else Verdict(Status.FAIL, f"{c.rule.function}() is missing")


def _callee_hits(c: Ctx) -> list[tuple[str, int]]:
    rx = _rx(c.rule.arg("callee"))
    return [(n, x.start_point[0] + 1) for n, x in cparse.calls_in(c.cf, c.fn.node) if rx.fullmatch(n)]


@kind("calls", needs=("function", "callee"))
def _calls(c: Ctx) -> Verdict:
    hits = _callee_hits(c)
    return Verdict(Status.PASS, f"calls {hits[0][0]}() at line {hits[0][1]}") if hits else \
        Verdict(Status.FAIL, f"{c.rule.function}() never calls {c.rule.arg('callee')}")


@kind("not-calls", needs=("function", "callee"))
def _not_calls(c: Ctx) -> Verdict:
    hits = _callee_hits(c)
    return Verdict(Status.FAIL, f"calls {hits[0][0]}() at line {hits[0][1]}") if hits else \
        Verdict(Status.PASS, f"{c.rule.function}() does not call {c.rule.arg('callee')}")


@kind("error-path-calls", needs=("function", "after", "callees"))
def _judge_error_path(c: Ctx) -> Verdict:
    return _error_path(c.cf, c.fn, c.rule)


@kind("called-after", needs=("function", "first", "then"), optional=("guard",))
def _called_after(c: Ctx) -> Verdict:
    rule, first, then = c.rule, c.rule.arg("first"), c.rule.arg("then")
    names = {n for n, _ in cparse.calls_in(c.cf, c.fn.node)}
    order = [(a, b) for a in names if _rx(first).fullmatch(a) for b in names if _rx(then).fullmatch(b)]
    if not any(_rx(first).fullmatch(n) for n in names):
        return Verdict(Status.SKIP, f"{rule.function}() does not call {first}")
    if not order:
        return Verdict(Status.FAIL, f"{rule.function}() calls {first} but never {then}")
    named = rule.arg("guard")
    guards = {g: set(order) for g in named.split("|")} if named else \
        helpers.guard_variables(c.cf, c.fn, order)
    a = c.analysis(order, guards)
    bad = [(ln, how) for ln, how, states in a.exits if any(s.pending for s in states)]
    why = ""
    if guards:
        g = ", ".join(sorted(guards))
        why = (f" that produced something (where {g}, computed from what {first} produced, is 0, "
               f"the code rightly skips {then})" if not named else f" where {g} is not 0")
    return Verdict(Status.FAIL, "; ".join(f"the path leaving at line {ln} ({how}) calls {first} "
                                           f"without {then} after it" for ln, how in bad[:3])) \
        if bad else Verdict(Status.PASS, f"{then} follows {first} on every path{why}")


@kind("lock-balanced", needs=("function",), optional=("lock",))
def _lock_balanced(c: Ctx) -> Verdict:
    rule, match = c.rule, c.match
    helper = helpers.lock_helpers(c.cf).get(rule.function)
    if helper is not None and helper.acquires and any(match({x}) for x in helper.acquires):
        return Verdict(Status.PASS, f"a lock helper ({helper.why}): returns holding "
                       f"{', '.join(helper.acquires)} on purpose"
                       f"{' when it returns 0' if helper.mode == 'zero' else ''}; its callers release it")
    a = c.analysis()
    bad = [(ln, how, sorted(set().union(*(match(s.held) for s in st)))) for ln, how, st in a.exits
           if any(match(s.held) for s in st)]
    if bad:
        return Verdict(Status.FAIL, "; ".join(f"{', '.join(l)} still held at the {how} on line {ln}"
                                               for ln, how, l in bad[:3]))
    taken = sorted({l for l, _ in a.acquired if match({l})})
    return Verdict(Status.PASS, f"{', '.join(taken) or 'no lock'} released on all {len(a.exits)} exits")


def _acquire_verdict(c: Ctx, want: bool) -> Verdict:
    taken = [(l, ln) for l, ln in c.analysis().acquired if c.match({l})]
    said = f"takes {taken[0][0]} at line {taken[0][1]}" if taken else \
        f"takes no lock matching {c.rule.arg('lock')}"
    return Verdict(Status.PASS if want == bool(taken) else Status.FAIL, said)


@kind("acquires", needs=("function", "lock"))
def _acquires(c: Ctx) -> Verdict:
    return _acquire_verdict(c, True)


@kind("not-acquires", needs=("function", "lock"))
def _not_acquires(c: Ctx) -> Verdict:
    return _acquire_verdict(c, False)


def _lock_at_calls(c: Ctx, under: bool) -> Verdict:
    rule = c.rule
    rx = _rx(rule.arg("callee"))
    events = [x for x in c.analysis().calls if rx.fullmatch(x.name)]
    if not events:
        return Verdict(Status.SKIP, f"{rule.function}() does not call {rule.arg('callee')}")
    bad = [x for x in events if any(bool(c.match(s.all_held)) != under for s in x.states)]
    if bad:
        x = bad[0]
        return Verdict(Status.FAIL, f"{x.name}() at line {x.line} runs "
                       f"{'without' if under else 'with'} {rule.arg('lock')} held on some path")
    return Verdict(Status.PASS, f"every {rule.arg('callee')}() call ({len(events)}) runs "
                                f"{'under' if under else 'outside'} {rule.arg('lock')}")


@kind("call-under-lock", needs=("function", "callee", "lock"))
def _call_under_lock(c: Ctx) -> Verdict:
    return _lock_at_calls(c, True)


@kind("call-not-under-lock", needs=("function", "callee", "lock"))
def _call_not_under_lock(c: Ctx) -> Verdict:
    return _lock_at_calls(c, False)


@kind("no-double-unlock", needs=("function",), optional=("lock",))
def _no_double_unlock(c: Ctx) -> Verdict:
    dbl = [(l, ln) for l, ln in c.analysis().double_unlocks if c.match({l})]
    return Verdict(Status.FAIL, f"{dbl[0][0]} released at line {dbl[0][1]} when not held on some path") \
        if dbl else Verdict(Status.PASS, "no lock released twice")


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
