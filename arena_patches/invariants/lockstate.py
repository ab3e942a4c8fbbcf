"""The lock analysis' vocabulary: which calls take and drop locks, the state a path
carries, what the walk records, a lock's name from its argument, and a lock helper (a
function that takes or drops a lock for its caller)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from tree_sitter import Node

from arena_patches.invariants.cparse import CFile

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
