"""The walk: which locks are held at each call and at each exit of a function, on every path.

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
from dataclasses import replace

from tree_sitter import Node

from arena_patches.invariants.cparse import CFile, Function, calls_in
from arena_patches.invariants.lockstate import (
    _CONST,
    ACQUIRE,
    MAX_STATES,
    RELEASE,
    Analysis,
    CallEvent,
    Helper,
    State,
    _state_key,
    _unparen,
    lock_name,
    simple_test,
)
from arena_patches.invariants.macros import SCOPED


class Walker:
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
        walk = _STATEMENTS.get(n.type)
        if n.type == "if_statement" and self.text(n.child_by_field_name("condition")).lstrip("( ").startswith(SCOPED):
            walk = Walker._scoped_guard
        # anything else (a comment, an empty statement, an unparsed piece): its calls count
        return walk(self, n, states) if walk else self.expr(n, states)

    def _compound(self, n: Node, states: set[State]) -> set[State]:
        entry_guards = frozenset().union(*(s.guards for s in states))
        for c in n.named_children:
            states = self.stmt(c, states)
        # guards taken in this scope end with it
        return {replace(s, guards=s.guards & entry_guards) for s in states}

    def _labeled(self, n: Node, states: set[State]) -> set[State]:
        label = self.text(n.child_by_field_name("label")).strip()
        self.passed.add(label)
        states = set(states) | self.labels.pop(label, set()) | self.inject.get(label, set())
        body = [c for c in n.named_children if c.type != "statement_identifier"]
        return self.stmt(body[0], states) if body else states

    def _expression(self, n: Node, states: set[State]) -> set[State]:
        e = n.named_children[0] if n.named_children else None
        if e is not None and e.type == "assignment_expression":
            return self.expr(e.child_by_field_name("right"), states,
                             self.text(e.child_by_field_name("left")).strip())
        return self.expr(e, states)

    def _declaration(self, n: Node, states: set[State]) -> set[State]:
        for d in n.named_children:
            if d.type == "init_declarator":
                states = self.expr(d.child_by_field_name("value"), states,
                                   self.text(d.child_by_field_name("declarator")).strip().lstrip("*"))
        return states

    def _return(self, n: Node, states: set[State]) -> set[State]:
        for c in n.named_children:
            states = self.expr(c, states)
        self.res.exits.append((n.start_point[0] + 1, "return", frozenset(states)))
        return set()

    def _goto(self, n: Node, states: set[State]) -> set[State]:
        label = self.text(n.child_by_field_name("label")).strip()
        # a label already walked is a loop: its states are walked again (run())
        (self.back if label in self.passed else self.labels).setdefault(label, set()).update(states)
        return set()

    def _scoped_guard(self, n: Node, states: set[State]) -> set[State]:
        """scoped_guard(kind, &l) { body }: the lock is held in the body and only there."""
        cond = n.child_by_field_name("condition")
        call = next((x for _, x in calls_in(self.cf, cond)), None)
        args = self._args(call) if call is not None else []
        lock = lock_name(args[1]) if len(args) > 1 else "?"
        self.res.acquired.append((lock, n.start_point[0] + 1))
        inside = {replace(s, guards=s.guards | {lock}) for s in states}
        out = self.stmt(n.child_by_field_name("consequence"), inside)
        return {replace(s, guards=s.guards - {lock}) for s in out}

    def _if(self, n: Node, states: set[State]) -> set[State]:
        cond = n.child_by_field_name("condition")
        yes, no = self._split(cond, states) if cond is not None else (states, states)
        out = self.stmt(n.child_by_field_name("consequence"), yes)
        alt = n.child_by_field_name("alternative")
        if alt is not None:
            alt_body = alt.named_children[-1] if alt.type == "else_clause" else alt
            return self._cap(out | self.stmt(alt_body, no))
        return self._cap(out | no)

    def _loop(self, n: Node, states: set[State]) -> set[State]:
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

    def _switch(self, n: Node, states: set[State]) -> set[State]:
        states = self.expr(n.child_by_field_name("condition"), states)
        self.loops.append((set(), set()))
        out = set()
        body = n.child_by_field_name("body")
        for case in (body.named_children if body is not None else []):
            if case.type == "case_statement":
                flow = set(states) | out
                for c in case.named_children[1 if case.child_by_field_name("value") else 0:]:
                    flow = self.stmt(c, flow)
                out = flow
        brk, _ = self.loops.pop()
        return self._cap(out | brk | set(states))

    def _break(self, n: Node, states: set[State]) -> set[State]:
        if self.loops:
            self.loops[-1][0].update(states)
        return set()

    def _continue(self, n: Node, states: set[State]) -> set[State]:
        if self.loops:
            self.loops[-1][1].update(states)
        return set()

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


_STATEMENTS = {"compound_statement": Walker._compound, "labeled_statement": Walker._labeled,
               "expression_statement": Walker._expression, "declaration": Walker._declaration,
               "return_statement": Walker._return, "goto_statement": Walker._goto,
               "if_statement": Walker._if, "for_statement": Walker._loop, "while_statement": Walker._loop,
               "do_statement": Walker._loop, "switch_statement": Walker._switch,
               "break_statement": Walker._break, "continue_statement": Walker._continue}


def analyse_plain(cf: CFile, function: str) -> Analysis | None:
    """Without the file's lock helpers (what the helpers themselves are judged by)."""
    fn = cf.functions.get(function)
    return Walker(cf, fn, []).run() if fn is not None else None
