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
from dataclasses import dataclass, field

from tree_sitter import Node

from .cparse import CFile, Function, calls_in

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
SCOPED = "__scoped_guard"  # what cparse.preprocess makes of scoped_guard(...)


@dataclass(frozen=True)
class State:
    held: frozenset[str] = frozenset()  # explicitly acquired
    guards: frozenset[str] = frozenset()  # held by guard()/scoped_guard() scopes
    cond: frozenset[tuple[str, str, str]] = frozenset()  # (variable, lock, success) untested
    pending: frozenset[tuple[str, str]] = frozenset()  # call-order marks (A, B): A seen, B not yet

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
    return re.sub(r"\s+", "", arg).lstrip("&").strip("()")


class _Walker:
    def __init__(self, cf: CFile, fn: Function, order: list[tuple[str, str]]):
        self.cf, self.fn = cf, fn
        self.order = order
        self.res = Analysis(fn.name)
        self.labels: dict[str, set[State]] = {}
        self.loops: list[tuple[set[State], set[State]]] = []  # (break, continue) states

    def text(self, n: Node) -> str:
        return self.cf.node_text(n)

    # -- expressions: calls in order, with their lock effects
    def _args(self, call: Node) -> list[str]:
        a = call.child_by_field_name("arguments")
        return [self.text(x) for x in a.named_children] if a is not None else []

    def expr(self, n: Node | None, states: set[State], assign_to: str | None = None) -> set[State]:
        if n is None:
            return states
        for name, call in calls_in(self.cf, n):
            args = self._args(call)
            line = call.start_point[0] + 1
            self.res.calls.append(CallEvent(name, line, frozenset(states), args))
            states = {self._call_effect(s, name, args, line, assign_to) for s in states}
        return self._cap(states)

    def _call_effect(self, s: State, name: str, args: list[str], line: int, assign_to: str | None) -> State:
        pending = frozenset(p for p in s.pending if p[1] != name)
        pending |= frozenset(p for p in self.order if p[0] == name)
        s = State(s.held, s.guards, s.cond, pending)
        m = re.fullmatch(r"guard\((\w+)\)", name)
        if m and args:  # guard(mutex)(&l): the outer call has the lock argument
            lock = lock_name(args[0])
            self.res.acquired.append((lock, line))
            return State(s.held, s.guards | {lock}, s.cond, s.pending)
        if name in ACQUIRE and args:
            lock = lock_name(args[0])
            self.res.acquired.append((lock, line))
            if ACQUIRE[name] != "always" and assign_to:
                return State(s.held | {lock}, s.guards, s.cond | {(assign_to, lock, ACQUIRE[name])}, s.pending)
            return State(s.held | {lock}, s.guards, s.cond, s.pending)
        if name in RELEASE and args:
            lock = lock_name(args[0])
            if lock not in s.held:
                self.res.double_unlocks.append((lock, line))
            return State(s.held - {lock}, s.guards, s.cond, s.pending)
        return s

    def _cap(self, states: set[State]) -> set[State]:
        if len(states) > MAX_STATES:
            self.res.approximations.append(f"more than {MAX_STATES} states: merged")
            return set(list(states)[:MAX_STATES])
        return states

    # -- conditions
    def _split(self, cond: Node, states: set[State]) -> tuple[set[State], set[State]]:
        """States where the condition is true, and where it is false."""
        c = cond
        while c.type == "parenthesized_expression" and c.named_children:
            c = c.named_children[0]
        negate = False
        if c.type == "unary_expression" and self.text(c).lstrip().startswith("!"):
            negate, c = True, c.named_children[-1]
            while c.type == "parenthesized_expression" and c.named_children:
                c = c.named_children[0]
        if c.type == "call_expression":
            name = self.text(c.child_by_field_name("function")).strip()
            mode = ACQUIRE.get(name)
            args = self._args(c)
            if mode in ("zero", "true") and args:
                lock = lock_name(args[0])
                self.res.calls.append(CallEvent(name, c.start_point[0] + 1, frozenset(states), args))
                self.res.acquired.append((lock, c.start_point[0] + 1))
                got = {State(s.held | {lock}, s.guards, s.cond, s.pending) for s in states}
                # zero on success: the call's value is true when it failed
                true_s, false_s = (states, got) if mode == "zero" else (got, states)
                return (false_s, true_s) if negate else (true_s, false_s)
        states = self.expr(cond, states)
        var = self.text(c).strip()
        if c.type == "binary_expression":
            left = c.child_by_field_name("left")
            var = self.text(left).strip() if left is not None else var
        tested = {(s, entry) for s in states for entry in s.cond if entry[0] == var}
        if not tested:
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
            failed = State(s.held - {e[1] for e in entries}, s.guards, rest, s.pending)
            ok = State(s.held, s.guards, rest, s.pending)
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
            return {State(s.held, s.guards & entry_guards, s.cond, s.pending) for s in states}
        if t == "labeled_statement":
            label = self.text(n.child_by_field_name("label")).strip()
            states = set(states) | self.labels.pop(label, set())
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
            self.labels.setdefault(label, set()).update(states)
            return set()
        if t == "if_statement" and self.text(n.child_by_field_name("condition")).lstrip("( ").startswith(SCOPED):
            # scoped_guard(kind, &l) { body }: the lock is held in the body and only there
            cond = n.child_by_field_name("condition")
            call = next((x for _, x in calls_in(self.cf, cond)), None)
            args = self._args(call) if call is not None else []
            lock = lock_name(args[1]) if len(args) > 1 else "?"
            self.res.acquired.append((lock, n.start_point[0] + 1))
            inside = {State(s.held, s.guards | {lock}, s.cond, s.pending) for s in states}
            out = self.stmt(n.child_by_field_name("consequence"), inside)
            return {State(s.held, s.guards - {lock}, s.cond, s.pending) for s in out}
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
        end = self.stmt(body, {State()}) if body is not None else {State()}
        if end:
            self.res.exits.append((self.fn.end_line, "end", frozenset(end)))
        for label in self.labels:
            self.res.approximations.append(f"goto {label}: jumps backwards or to a missing label")
        return self.res


def analyse(cf: CFile, function: str, order: list[tuple[str, str]] | None = None) -> Analysis | None:
    fn = cf.functions.get(function)
    if fn is None:
        return None
    return _Walker(cf, fn, order or []).run()
