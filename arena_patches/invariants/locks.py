"""Which locks are held at each call and at each exit of a function, on every path.

A path-sensitive walk over the function's statements (its control-flow graph, followed
structurally): each program point carries a set of states, a state being the locks held
(explicitly, or by a guard() scope), the conditional acquisitions not yet tested, and the
"A was called, B not yet" marks of call-order rules. It understands
- conditional acquisition: `if (raw_res_spin_lock_irqsave(&l, f)) return;` (zero on
  success), `if (!spin_trylock(&l)) goto out;` (true on success), and the same through a
  variable (`ret = raw_res_spin_lock(&l); if (ret) ...`);
- guard(mutex)(&l) and scoped_guard(...) { }: held until the scope ends, released at
  every exit inside it;
- returns, forward gotos to labels, loops (zero or one turn), break, continue, switch.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from tree_sitter import Node

from arena_patches.invariants.cparse import CFile, Function, calls_in

# name -> when the call succeeded: "always", "zero" (returns 0 on success), "true"
ACQUIRE = {"mutex_lock": "always", "mutex_lock_nested": "always", "mutex_lock_interruptible": "zero",
           "mutex_lock_killable": "zero", "mutex_trylock": "true", "spin_lock": "always",
           "spin_lock_irq": "always", "spin_lock_irqsave": "always", "spin_lock_bh": "always",
           "spin_trylock": "true", "spin_trylock_irqsave": "true", "raw_spin_lock": "always",
           "raw_spin_lock_irq": "always", "raw_spin_lock_irqsave": "always", "raw_spin_trylock": "true",
           "raw_res_spin_lock": "zero", "raw_res_spin_lock_irqsave": "zero", "read_lock": "always",
           "write_lock": "always", "read_lock_bh": "always", "write_lock_bh": "always",
           "down_read": "always", "down_write": "always", "down_read_trylock": "true",
           "down_write_trylock": "true"}
RELEASE = {"mutex_unlock", "spin_unlock", "spin_unlock_irq", "spin_unlock_irqrestore", "spin_unlock_bh",
           "raw_spin_unlock", "raw_spin_unlock_irq", "raw_spin_unlock_irqrestore", "raw_res_spin_unlock",
           "raw_res_spin_unlock_irqrestore", "read_unlock", "write_unlock", "read_unlock_bh",
           "write_unlock_bh", "up_read", "up_write"}
MAX_STATES = 256
from arena_patches.invariants.rewrite import SCOPED


@dataclass(frozen=True)
class State:
    held: frozenset[str] = frozenset()  # explicitly acquired
    guards: frozenset[str] = frozenset()  # held by guard()/scoped_guard() scopes
    cond: frozenset[tuple[str, str, str]] = frozenset()  # (variable, lock, success) untested
    pending: frozenset[tuple[str, str]] = frozenset()  # call-order marks (A, B): A seen, B not yet
    facts: frozenset[tuple[str, bool]] = frozenset()  # (variable, truth) known on this path

    @property
    def all_held(self) -> frozenset[str]:
        return self.held | self.guards


@dataclass
class CallEvent:
    name: str
    line: int
    states: frozenset[State]
    args: list[str]


@dataclass
class Analysis:
    function: str
    calls: list[CallEvent] = field(default_factory=list)
    exits: list[tuple[int, str, frozenset[State]]] = field(default_factory=list)  # line, how, states
    double_unlocks: list[tuple[str, int]] = field(default_factory=list)
    acquired: list[tuple[str, int]] = field(default_factory=list)
    approximations: list[str] = field(default_factory=list)

    def held_at_calls(self, callee: str) -> list[tuple[int, list[frozenset[str]]]]:
        return [(c.line, [s.all_held for s in c.states]) for c in self.calls if c.name == callee]


def lock_name(arg: str) -> str:
    s = re.sub(r"\s+", "", arg).lstrip("&")
    while s.startswith("(") and s.endswith(")") and _balanced(s[1:-1]):
        s = s[1:-1].lstrip("&")
    return s


def _balanced(s: str) -> bool:
    depth = 0
    for c in s:
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return False
    return depth == 0


def _unparen(c: Node) -> Node:
    while c.type == "parenthesized_expression" and c.named_children:
        c = c.named_children[0]
    return c


_ZERO = re.compile(r"^(0|NULL|false)$")
_CONST = {"0": False, "NULL": False, "false": False, "1": True, "true": True}


def simple_test(cf: CFile, cond: Node) -> tuple[str, bool] | None:
    """`x`, `!x`, `x == 0`, `x != NULL`...: (x, whether the condition is true when x is)."""
    c = _unparen(cond)
    truthy = True
    while c.type == "unary_expression" and cf.node_text(c).lstrip().startswith("!"):
        truthy, c = not truthy, _unparen(c.named_children[-1])
    if c.type == "binary_expression":
        op = c.child_by_field_name("operator")
        left, right = c.child_by_field_name("left"), c.child_by_field_name("right")
        if op is None or left is None or right is None or op.type not in ("==", "!=") \
                or not _ZERO.match(cf.node_text(right).strip()):
            return None
        truthy = truthy if op.type == "!=" else not truthy
        c = _unparen(left)
    if c.type != "identifier":
        return None
    return cf.node_text(c).strip(), truthy


class _Walker:
    def __init__(self, cf: CFile, fn: Function, order: list[tuple[str, str]],
                 guards: dict[str, set[tuple[str, str]]] | None = None,
                 helpers: dict[str, "Helper"] | None = None):
        self.cf, self.fn = cf, fn
        self.order = order
        self.guards = guards or {}  # variable -> call-order pairs it waives when false
        self.helpers = helpers or {}
        self.res = Analysis(fn.name)
        self.labels: dict[str, set[State]] = {}
        self.inject: dict[str, set[State]] = {}  # states reaching a label by a backward goto
        self.back: dict[str, set[State]] = {}
        self.passed: set[str] = set()  # labels already walked in this pass
        self.loops: list[tuple[set[State], set[State]]] = []  # (break, continue) states
        # Variables tested more than once are followed (`if (!locked) lock; ... if (!locked)
        # unlock;` is one decision, not two): their truth is a fact on each path.
        tests: dict[str, int] = {}
        stack = [fn.node]
        while stack:
            n = stack.pop()
            if n.type in ("if_statement", "conditional_expression"):
                c = n.child_by_field_name("condition")
                t = simple_test(cf, c) if c is not None else None
                if t:
                    tests[t[0]] = tests.get(t[0], 0) + 1
            stack.extend(n.children)
        self.tracked = {v for v, k in tests.items() if k > 1} | set(self.guards)

    def text(self, n: Node) -> str:
        return self.cf.node_text(n)

    # -- expressions: calls in order, with their lock effects
    def _args(self, call: Node) -> list[str]:
        a = call.child_by_field_name("arguments")
        return [self.text(x) for x in a.named_children] if a is not None else []

    def _assigned(self, n: Node) -> set[str]:
        """Tracked variables that `n` may change (assignments, ++/--, &x passed on)."""
        out = set()
        stack = [n]
        while stack:
            x = stack.pop()
            target = None
            if x.type == "assignment_expression":
                target = x.child_by_field_name("left")
            elif x.type == "update_expression":
                target = x.child_by_field_name("argument")
            elif x.type == "pointer_expression" and self.cf.node_text(x).lstrip().startswith("&"):
                target = x.child_by_field_name("argument")
            if target is not None and self.cf.node_text(target).strip() in self.tracked:
                out.add(self.cf.node_text(target).strip())
            stack.extend(x.children)
        return out

    def _forget(self, states: set[State], names: set[str]) -> set[State]:
        if not names:
            return states
        return {replace(s, facts=frozenset(f for f in s.facts if f[0] not in names)) for s in states}

    def expr(self, n: Node | None, states: set[State], assign_to: str | None = None) -> set[State]:
        if n is None:
            return states
        states = self._forget(states, self._assigned(n) | ({assign_to} & self.tracked))
        const = _CONST.get(self.text(n).strip()) if assign_to in self.tracked else None
        if const is not None:  # `locked = true;`: known from here on
            states = {replace(s, facts=s.facts | {(assign_to, const)}) for s in states}
        for name, call in calls_in(self.cf, n):
            args = self._args(call)
            line = call.start_point[0] + 1
            self.res.calls.append(CallEvent(name, line, frozenset(states), args))
            states = {self._call_effect(s, name, args, line, assign_to) for s in states}
        return self._cap(states)

    def _call_effect(self, s: State, name: str, args: list[str], line: int, assign_to: str | None) -> State:
        pending = frozenset(p for p in s.pending if p[1] != name)
        pending |= frozenset(p for p in self.order if p[0] == name)
        s = replace(s, pending=pending)
        m = re.fullmatch(r"guard\((\w+)\)", name)
        if m and args:  # guard(mutex)(&l): the outer call has the lock argument
            lock = lock_name(args[0])
            self.res.acquired.append((lock, line))
            return replace(s, guards=s.guards | {lock})
        for lock, mode in self._acquires(name, args):
            self.res.acquired.append((lock, line))
            if mode != "always" and assign_to:
                s = replace(s, held=s.held | {lock}, cond=s.cond | {(assign_to, lock, mode)})
            else:
                s = replace(s, held=s.held | {lock})
        for lock in self._releases(name, args):
            if lock not in s.held:
                self.res.double_unlocks.append((lock, line))
            s = replace(s, held=s.held - {lock})
        return s

    def _acquires(self, name: str, args: list[str]) -> list[tuple[str, str]]:
        if name in ACQUIRE and args:
            return [(lock_name(args[0]), ACQUIRE[name])]
        h = self.helpers.get(name)
        return [(h.lock_for(t, args), h.mode) for t in h.acquires] if h else []

    def _releases(self, name: str, args: list[str]) -> list[str]:
        if name in RELEASE and args:
            return [lock_name(args[0])]
        h = self.helpers.get(name)
        return [h.lock_for(t, args) for t in h.releases] if h else []

    def _cap(self, states: set[State]) -> set[State]:
        if len(states) <= MAX_STATES:
            return states
        states = {replace(s, facts=frozenset()) for s in states}  # a sound merge first
        if len(states) > MAX_STATES:
            self.res.approximations.append(f"more than {MAX_STATES} states: merged")
            keep = sorted(states, key=_state_key)[:MAX_STATES]  # the same ones on every run
            return set(keep)
        return states

    # -- conditions
    def _split(self, cond: Node, states: set[State]) -> tuple[set[State], set[State]]:
        """States where the condition is true, and where it is false (`!`, `&&` and `||`
        followed with their short circuit: `if (x || !trylock(&l)) return;`)."""
        c = _unparen(cond)
        if c.type == "unary_expression" and self.text(c).lstrip().startswith("!"):
            f, t = self._split(c.named_children[-1], states)
            return t, f
        op = c.child_by_field_name("operator") if c.type == "binary_expression" else None
        if op is not None and op.type in ("&&", "||"):
            lt, lf = self._split(c.child_by_field_name("left"), states)
            if op.type == "&&":
                rt, rf = self._split(c.child_by_field_name("right"), lt)
                return rt, self._cap(lf | rf)
            rt, rf = self._split(c.child_by_field_name("right"), lf)
            return self._cap(lt | rt), rf
        t, f = self._split_locks(c, states)
        test = simple_test(self.cf, cond)
        if test is None or test[0] not in self.tracked:
            return t, f
        var, truthy = test
        t = self._assume(t, var, truthy)
        f = self._assume(f, var, not truthy)
        if var in self.guards:  # `if (mapped) flush(...)`: nothing to flush where it is 0
            waived = frozenset(self.guards[var])
            if truthy:
                f = {replace(s, pending=s.pending - waived) for s in f}
            else:
                t = {replace(s, pending=s.pending - waived) for s in t}
        return t, f

    @staticmethod
    def _assume(states: set[State], var: str, value: bool) -> set[State]:
        """Keep the paths where `var` can be `value`, and remember it there."""
        return {replace(s, facts=s.facts | {(var, value)}) for s in states if (var, not value) not in s.facts}

    def _split_locks(self, cond: Node, states: set[State]) -> tuple[set[State], set[State]]:
        c = _unparen(cond)
        negate = False
        if c.type == "unary_expression" and self.text(c).lstrip().startswith("!"):
            negate, c = True, _unparen(c.named_children[-1])
        if c.type == "call_expression":
            name = self.text(c.child_by_field_name("function")).strip()
            args = self._args(c)
            conditional = [(lock, mode) for lock, mode in self._acquires(name, args) if mode in ("zero", "true")]
            if conditional:
                line = c.start_point[0] + 1
                self.res.calls.append(CallEvent(name, line, frozenset(states), args))
                got = set(states)
                for lock, _ in conditional:
                    self.res.acquired.append((lock, line))
                    got = {replace(s, held=s.held | {lock}) for s in got}
                # zero on success: the call's value is true when it failed
                true_s, false_s = (states, got) if conditional[0][1] == "zero" else (got, states)
                return (false_s, true_s) if negate else (true_s, false_s)
        states = self.expr(cond, states)
        var = self.text(c).strip()
        if c.type == "binary_expression":
            left = c.child_by_field_name("left")
            var = self.text(left).strip() if left is not None else var
        if not any(entry[0] == var for s in states for entry in s.cond):
            return states, states
        true_s, false_s = set(), set()
        zero_true = c.type == "binary_expression" and re.search(r"==\s*0\b", self.text(c))
        for s in states:
            entries = [e for e in s.cond if e[0] == var]
            if not entries:
                true_s.add(s)
                false_s.add(s)
                continue
            rest = s.cond - set(entries)
            failed = replace(s, held=s.held - {e[1] for e in entries}, cond=rest)
            ok = replace(s, cond=rest)
            success_when_true = all(e[2] == "true" for e in entries) != bool(zero_true)
            t, f = (ok, failed) if success_when_true else (failed, ok)
            true_s.add(t)
            false_s.add(f)
        return (false_s, true_s) if negate else (true_s, false_s)

    # -- statements
    def stmt(self, n: Node, states: set[State]) -> set[State]:
        if not states and n.type != "labeled_statement":
            return states
        t = n.type
        if t == "compound_statement":
            entry_guards = frozenset().union(*(s.guards for s in states))
            for c in n.named_children:
                states = self.stmt(c, states)
            # guards taken in this scope end with it
            return {replace(s, guards=s.guards & entry_guards) for s in states}
        if t == "labeled_statement":
            label = self.text(n.child_by_field_name("label")).strip()
            self.passed.add(label)
            states = set(states) | self.labels.pop(label, set()) | self.inject.get(label, set())
            body = [c for c in n.named_children if c.type != "statement_identifier"]
            return self.stmt(body[0], states) if body else states
        if t == "expression_statement":
            e = n.named_children[0] if n.named_children else None
            if e is not None and e.type == "assignment_expression":
                return self.expr(e.child_by_field_name("right"), states,
                                 self.text(e.child_by_field_name("left")).strip())
            return self.expr(e, states)
        if t == "declaration":
            for d in n.named_children:
                if d.type == "init_declarator":
                    states = self.expr(d.child_by_field_name("value"), states,
                                       self.text(d.child_by_field_name("declarator")).strip().lstrip("*"))
            return states
        if t == "return_statement":
            for c in n.named_children:
                states = self.expr(c, states)
            self.res.exits.append((n.start_point[0] + 1, "return", frozenset(states)))
            return set()
        if t == "goto_statement":
            label = self.text(n.child_by_field_name("label")).strip()
            # a label already walked is a loop: its states are walked again (run())
            (self.back if label in self.passed else self.labels).setdefault(label, set()).update(states)
            return set()
        if t == "if_statement" and self.text(n.child_by_field_name("condition")).lstrip("( ").startswith(SCOPED):
            # scoped_guard(kind, &l) { body }: the lock is held in the body and only there
            cond = n.child_by_field_name("condition")
            call = next((x for _, x in calls_in(self.cf, cond)), None)
            args = self._args(call) if call is not None else []
            lock = lock_name(args[1]) if len(args) > 1 else "?"
            self.res.acquired.append((lock, n.start_point[0] + 1))
            inside = {replace(s, guards=s.guards | {lock}) for s in states}
            out = self.stmt(n.child_by_field_name("consequence"), inside)
            return {replace(s, guards=s.guards - {lock}) for s in out}
        if t == "if_statement":
            cond = n.child_by_field_name("condition")
            yes, no = self._split(cond, states) if cond is not None else (states, states)
            out = self.stmt(n.child_by_field_name("consequence"), yes)
            alt = n.child_by_field_name("alternative")
            if alt is not None:
                alt_body = alt.named_children[-1] if alt.type == "else_clause" else alt
                return self._cap(out | self.stmt(alt_body, no))
            return self._cap(out | no)
        if t in ("for_statement", "while_statement", "do_statement"):
            for field_name in ("initializer", "condition"):
                c = n.child_by_field_name(field_name)
                if c is not None:
                    states = self.stmt(c, states) if c.type in ("declaration",) else self.expr(c, states)
            self.loops.append((set(), set()))
            body = n.child_by_field_name("body")
            after = self.stmt(body, set(states)) if body is not None else set(states)
            brk, cont = self.loops.pop()
            upd = n.child_by_field_name("update")
            looped = self.expr(upd, after | cont) if upd is not None else after | cont
            return self._cap(set(states) | looped | brk)
        if t == "switch_statement":
            states = self.expr(n.child_by_field_name("condition"), states)
            self.loops.append((set(), set()))
            out = set()
            body = n.child_by_field_name("body")
            for case in (body.named_children if body is not None else []):
                if case.type == "case_statement":
                    flow = set(states) | out
                    out = set()
                    for c in case.named_children[1 if case.child_by_field_name("value") else 0:]:
                        flow = self.stmt(c, flow)
                    out = flow
            brk, _ = self.loops.pop()
            return self._cap(out | brk | set(states))
        if t == "break_statement":
            if self.loops:
                self.loops[-1][0].update(states)
            return set()
        if t == "continue_statement":
            if self.loops:
                self.loops[-1][1].update(states)
            return set()
        # anything else (a comment, an empty statement, an unparsed piece): its calls count
        return self.expr(n, states)

    def run(self) -> Analysis:
        body = self.fn.node.child_by_field_name("body")
        for _ in range(8):  # backward gotos: walk again until no new state reaches a label
            self.res, self.labels, self.back, self.passed = Analysis(self.fn.name), {}, {}, set()
            end = self.stmt(body, {State()}) if body is not None else {State()}
            grown = {k: v for k, v in self.back.items() if not v <= self.inject.get(k, set())}
            if not grown:
                break
            for k, v in grown.items():
                self.inject[k] = self._cap(self.inject.get(k, set()) | v)
        else:
            self.res.approximations.append("backward gotos: stopped after 8 passes")
        if end:
            self.res.exits.append((self.fn.end_line, "end", frozenset(end)))
        for label in self.labels:
            self.res.approximations.append(f"goto {label}: no such label")
        return self.res


def _state_key(s: State) -> tuple:
    return tuple(sorted(map(str, x)) for x in (s.held, s.guards, s.cond, s.pending, s.facts))


@dataclass(frozen=True)
class Helper:
    """A function that takes (or drops) a lock for its caller: `trampoline_lock(tr)`."""
    name: str
    params: tuple[str, ...]
    acquires: tuple[str, ...] = ()  # lock names in terms of the parameters
    releases: tuple[str, ...] = ()
    mode: str = "always"  # "zero": holds the lock only when it returns 0
    why: str = ""

    def lock_for(self, template: str, args: list[str]) -> str:
        out = template
        for p, a in zip(self.params, args):
            a = re.sub(r"\s+", "", a)
            if a.startswith("&"):  # b->lock with b = &t->buckets[i]: t->buckets[i].lock
                out = re.sub(rf"\b{re.escape(p)}->", lambda _: lock_name(a) + ".", out)
            out = re.sub(rf"\b{re.escape(p)}\b", lambda _: a if a.isidentifier() else f"({a})", out)
        return lock_name(out)


def analyse(cf: CFile, function: str, order: list[tuple[str, str]] | None = None,
            guards: dict[str, set[tuple[str, str]]] | None = None) -> Analysis | None:
    fn = cf.functions.get(function)
    if fn is None:
        return None
    from arena_patches.invariants.helpers import lock_helpers
    return _Walker(cf, fn, order or [], guards, lock_helpers(cf)).run()


def analyse_plain(cf: CFile, function: str) -> Analysis | None:
    """Without the file's lock helpers (what the helpers themselves are judged by)."""
    fn = cf.functions.get(function)
    return _Walker(cf, fn, []).run() if fn is not None else None
