"""What one function tells about another, within a file: lock helpers and guard variables.

Lock helpers: `trampoline_lock(tr)` returns holding a mutex on purpose and
`trampoline_unlock(tr)` drops it. A function is taken for an acquiring helper when it
returns holding a lock it took and says so: by its name (`*lock*`, not `*unlock*`), by
`__acquires(...)`, or by a caller in the file that pairs it with a releasing function of
the same lock. Its callers then see the lock taken at the call (with the parameters
replaced by the call's arguments), and the helper itself is reported as a helper.

Guard variables: `if (mapped) flush_cache_vmap(...)`. A variable computed from what the
first call of a call-order rule produced (its return value, or an object passed to it by
address: `apply_to_page_range(..., &data)` then `mapped += data.i`) that decides whether
the second call runs: where it is 0, the first call produced nothing to follow up.
"""
from __future__ import annotations

import re

from tree_sitter import Node

from arena_patches.invariants.cparse import CFile, Function, calls_in
from arena_patches.invariants.lockstate import ACQUIRE, RELEASE, Helper, lock_name, simple_test
from arena_patches.invariants.lockwalk import analyse_plain

_LOCKISH = re.compile(r"\b(" + "|".join(sorted(set(ACQUIRE) | RELEASE, key=len, reverse=True))
                      + r")\s*\(")
_ANNOT = re.compile(r"\b__(acquires|releases|cond_acquires)\s*\(")


def params(cf: CFile, fn: Function) -> tuple[str, ...]:
    d = fn.node.child_by_field_name("declarator")
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    plist = d.child_by_field_name("parameters") if d is not None else None
    out = []
    for p in (plist.named_children if plist is not None else []):
        names = re.findall(r"\w+", cf.node_text(p.child_by_field_name("declarator"))) \
            if p.child_by_field_name("declarator") is not None else []
        if names:
            out.append(names[-1] if not names[-1].isdigit() else names[0])
    return tuple(out)


def _header(cf: CFile, fn: Function) -> str:
    body = fn.node.child_by_field_name("body")
    end = body.start_point[0] if body is not None else fn.start_line
    lines = cf.text.splitlines()
    return "\n".join(lines[max(fn.start_line - 2, 0):end + 1])


def lock_helpers(cf: CFile) -> dict[str, Helper]:
    if "lock_helpers" in cf.cache:
        return cf.cache["lock_helpers"]
    cf.cache["lock_helpers"] = {}  # no recursion through analyse()
    found: dict[str, Helper] = {}
    for name, fn in cf.functions.items():
        if not _LOCKISH.search(cf.node_text(fn.node)):
            continue
        a = analyse_plain(cf, name)
        taken = {lock for lock, _ in a.acquired}
        exit_states = [s for _, _, st in a.exits for s in st]
        acq = sorted({lock for lock in taken if any(lock in s.held for s in exit_states)})
        rel = sorted({lock for lock, _ in a.double_unlocks if lock not in taken})
        if not acq and not rel:
            continue
        returns_value = re.match(r"\s*(static\s+|inline\s+)*void\b", cf.node_text(fn.node)) is None
        always = all(lock in s.held for s in exit_states for lock in acq) or not returns_value
        header = _header(cf, fn)
        annot = _ANNOT.search(header)
        if annot:
            why = "annotated " + annot.group(0).rstrip("( ")
        elif acq and "lock" in name and "unlock" not in name:
            why = "named as a lock helper"
        elif rel and not acq:
            why = "releases a lock its caller took"
        else:
            why = ""
        found[name] = Helper(name, params(cf, fn), tuple(acq), tuple(rel),
                             "always" if always else "zero", why)
    # the rest count as helpers only when a caller pairs them with a release of that lock
    for name, h in list(found.items()):
        if h.why:
            continue
        partner = _paired(cf, h, found) if h.acquires else None
        if partner:
            found[name] = Helper(h.name, h.params, h.acquires, h.releases, h.mode,
                                 f"paired with {partner}() by its callers")
        else:
            del found[name]
    cf.cache["lock_helpers"] = found
    return found


def _paired(cf: CFile, h: Helper, helpers: dict[str, Helper]) -> str | None:
    for fn in cf.functions.values():
        calls = [(n, c) for n, c in calls_in(cf, fn.node)]
        mine = [_args(cf, c) for n, c in calls if n == h.name]
        if not mine:
            continue
        locks = {h.lock_for(t, args) for args in mine for t in h.acquires}
        for n, c in calls:
            args = _args(cf, c)
            if n in RELEASE and args and _lock(args[0]) in locks:
                return n
            other = helpers.get(n)
            if other and any(other.lock_for(t, args) in locks for t in other.releases):
                return n
    return None


def _lock(arg: str) -> str:
    return lock_name(arg)


def _args(cf: CFile, call: Node) -> list[str]:
    a = call.child_by_field_name("arguments")
    return [cf.node_text(x) for x in a.named_children] if a is not None else []


def guard_variables(cf: CFile, fn: Function, pairs: list[tuple[str, str]]) -> dict[str, set[tuple[str, str]]]:
    """variable -> the (first, then) pairs it waives where it is 0 (see the module doc)."""
    out: dict[str, set[tuple[str, str]]] = {}
    calls = calls_in(cf, fn.node)
    assigns = _assignments(cf, fn.node)
    for first, then in pairs:
        produced: set[str] = set()
        for n, c in calls:
            if n != first:
                continue
            produced |= {m.group(1) for a in _args(cf, c) for m in [re.match(r"\s*&\s*(\w+)", a)] if m}
            parent = c.parent
            while parent is not None and parent.type == "parenthesized_expression":
                parent = parent.parent
            if parent is not None and parent.type == "assignment_expression":
                produced.add(cf.node_text(parent.child_by_field_name("left")).strip())
            elif parent is not None and parent.type == "init_declarator":
                produced |= set(re.findall(r"\w+", cf.node_text(parent.child_by_field_name("declarator")))[-1:])
        grown = True
        while grown:  # what is computed from the products is a product too
            grown = False
            for left, right in assigns:
                if left not in produced and produced & set(re.findall(r"\b\w+\b", right)):
                    produced.add(left)
                    grown = True
        for n in _ifs(fn.node):
            test = simple_test(cf, n.child_by_field_name("condition"))
            body = n.child_by_field_name("consequence")
            if test and test[1] and test[0] in produced and body is not None and \
                    any(name == then for name, _ in calls_in(cf, body)):
                out.setdefault(test[0], set()).add((first, then))
    return out


def _assignments(cf: CFile, root: Node) -> list[tuple[str, str]]:
    out = []
    stack = [root]
    while stack:
        x = stack.pop()
        if x.type == "assignment_expression":
            left, right = x.child_by_field_name("left"), x.child_by_field_name("right")
            if left is not None and right is not None and left.type == "identifier":
                out.append((cf.node_text(left).strip(), cf.node_text(right)))
        stack.extend(x.children)
    return out


def _ifs(root: Node) -> list[Node]:
    out, stack = [], [root]
    while stack:
        x = stack.pop()
        if x.type == "if_statement" and x.child_by_field_name("condition") is not None:
            out.append(x)
        stack.extend(x.children)
    return out
