"""Parse ``doorstep.yaml`` text into a :class:`Spec`, with every problem located.

Errors name the file, the line and the dotted key, and suggest the nearest valid name::

    doorstep.yaml:14 policy.rules[1].when: unknown column 'scroe' (did you mean 'score'?)

Parsing is pure (text in, spec out); reading the file is the caller's business.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from doorstep.core.spec.alerts import alert_issues
from doorstep.core.spec.audit import audit_issues
from doorstep.core.spec.fairness import fairness_issues
from doorstep.core.spec.models import Spec
from doorstep.core.spec.sources import source_issues
from doorstep.core.spec.streams import stream_issues
from doorstep.core.suggest import closest, did_you_mean
from doorstep.errors import SpecError, SpecIssue

__all__ = [
    "SpecDocument",
    "check_spec",
    "format_key",
    "monitoring_issues",
    "parse_spec",
    "policy_columns",
    "policy_issues",
]

Key = tuple[str | int, ...]
_ENV = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_key(key: Key) -> str:
    """``("policy", "rules", 1, "when")`` → ``policy.rules[1].when``."""
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True)
class SpecDocument:
    """A parsed spec with the line of every key, to locate later problems (missing model file,
    model/spec mismatch) in the same ``file:line key: message`` form."""

    spec: Spec
    file: str
    lines: Mapping[Key, int]
    secret_keys: frozenset[Key] = frozenset()
    """Keys whose value came from an environment variable: never echo them back."""
    env_values: frozenset[str] = frozenset()
    """The values taken from environment variables themselves (what each ``${VAR}`` became),
    wherever they sit in their key's value: never echo them back either."""

    def issue(self, key: Key, message: str) -> SpecIssue:
        return SpecIssue(self.file, _line_of(self.lines, key), format_key(key), message)


def parse_spec(text: str, *, file: str = "doorstep.yaml", env: Mapping[str, str]) -> SpecDocument:
    """Parse and validate spec text; raise :class:`SpecError` listing every problem found."""
    doc, issues = check_spec(text, file=file, env=env)
    if doc is None or issues:
        raise SpecError(issues)
    return doc


def check_spec(
    text: str, *, file: str = "doorstep.yaml", env: Mapping[str, str], policy: bool = True
) -> tuple[SpecDocument | None, list[SpecIssue]]:
    """Parse spec text and find every problem at once.

    Returns the document (``None`` when the spec as written cannot be built) and the problems:
    YAML, environment variables, unknown keys and bad values, and the checks that span sections
    (names that refer to other names; the policy's rules, unless ``policy`` is false and the
    document is returned: the caller then compiles them knowing the model). When the only
    thing keeping the spec from being built is unknown keys (typos), the checks that span
    sections still run on the spec without them, so a misspelt key does not hide a misspelt
    column.
    """
    try:
        raw = YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        return None, [SpecIssue(file, line, "", f"not valid YAML: {exc.problem}")]
    if not isinstance(raw, CommentedMap):
        return None, [SpecIssue(file, 1, "", "a spec must be a mapping with keys app, model…")]
    reader = _Reader(file, env)
    data = reader.plain(raw)
    lines = reader.lines
    issues = list(reader.issues)
    unset = {issue.key for issue in issues}  # an unset variable's "" is no second problem
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        typos = _typo_targets(errors, data)  # a misspelt required key is also "missing"
        for error in errors:
            issue = _locate(error, data, lines, file)
            if issue.key in unset or (error["type"] == "missing" and issue.key in typos):
                continue
            issues.append(issue)
        salvaged = _without_unknown_keys(data, exc)
        if salvaged is not None:
            rest = SpecDocument(
                salvaged, file, lines, frozenset(reader.secrets), frozenset(reader.values)
            )
            issues += _cross_check(rest)  # the caller goes no further: check the rules now
        return None, issues
    doc = SpecDocument(spec, file, lines, frozenset(reader.secrets), frozenset(reader.values))
    issues += _cross_check(doc, policy=policy)
    return (None if reader.issues else doc), issues


def _typo_targets(errors: list[Any], data: Any) -> set[str]:
    """The dotted keys the unknown keys of ``errors`` are closest to (``model.task`` for
    ``model.tsak``)."""
    out: set[str] = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            key = _data_key(tuple(error["loc"]), data)
            close = closest(str(key[-1]), _allowed_keys(key[:-1], data))
            if close is not None:
                out.add(format_key((*key[:-1], close)))
    return out


def _without_unknown_keys(data: Any, error: ValidationError) -> Spec | None:
    """The spec as the suggestions would fix it, when unknown (and so missing) keys were its
    only problems: each unknown key renamed to the allowed key it is closest to (``tsak`` →
    ``task``), or left out."""
    if any(e["type"] not in ("extra_forbidden", "missing") for e in error.errors()):
        return None
    fixed = copy.deepcopy(data)
    for e in error.errors():
        if e["type"] != "extra_forbidden":
            continue
        key = _data_key(tuple(e["loc"]), data)
        parent = fixed
        for part in key[:-1]:
            parent = parent[part]
        if not isinstance(parent, dict) or key[-1] not in parent:
            continue
        value = parent.pop(key[-1])
        close = closest(str(key[-1]), _allowed_keys(key[:-1], data))
        if close is not None and close not in parent:
            parent[close] = value
    try:
        return Spec.model_validate(fixed)
    except ValidationError:
        return None


class _Reader:
    """Turns ruamel nodes into plain values, recording 1-based lines and expanding ``${VAR}``."""

    def __init__(self, file: str, env: Mapping[str, str]) -> None:
        self.file, self.env = file, env
        self.lines: dict[Key, int] = {}
        self.issues: list[SpecIssue] = []
        self.secrets: set[Key] = set()
        self.values: set[str] = set()

    def plain(self, node: Any, key: Key = ()) -> Any:
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for k, v in node.items():
                child = (*key, str(k))
                self.lines[child] = node.lc.key(k)[0] + 1
                out[str(k)] = self.plain(v, child)
            return out
        if isinstance(node, CommentedSeq):
            items = []
            for i, v in enumerate(node):
                child = (*key, i)
                self.lines[child] = node.lc.item(i)[0] + 1
                items.append(self.plain(v, child))
            return items
        if isinstance(node, str) and "${" in node:
            return _ENV.sub(lambda match: self._expand(match, key), node)
        return node

    def _expand(self, match: re.Match[str], key: Key) -> str:
        escaped, name, default = match.group(1), match.group(2), match.group(3)
        if escaped:
            return match.group(0)[1:]
        if name in self.env:
            self.secrets.add(key)
            self.values.add(self.env[name])
            return self.env[name]
        if default is not None:
            return default
        self.issues.append(
            SpecIssue(
                self.file,
                _line_of(self.lines, key),
                format_key(key),
                f"environment variable {name} is not set "
                f"(set it, or write ${{{name}:-default}} to give a default)",
            )
        )
        return ""


def _line_of(lines: Mapping[Key, int], key: Key) -> int | None:
    for end in range(len(key), 0, -1):
        if key[:end] in lines:
            return lines[key[:end]]
    return None


def _data_key(loc: tuple[str | int, ...], data: Any) -> Key:
    """Pydantic locations include union tags; keep only the parts that exist in the data."""
    key: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part.startswith("function-"):
            continue
        elif not isinstance(node, dict | list):
            continue
        elif loc[-1] == part:  # a missing or extra key: name it
            key.append(part)
            break
        else:
            continue
        key.append(part)
    return tuple(key)


def _locate(error: Any, data: Any, lines: Mapping[Key, int], file: str) -> SpecIssue:
    loc = tuple(error["loc"])
    key = _data_key(loc, data)
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(key[:-1], data)
        message = f"unknown key {key[-1]!r}{did_you_mean(str(key[-1]), allowed)}"
        if allowed:
            message += f"; allowed keys: {', '.join(sorted(allowed))}"
    elif kind == "missing":
        message = f"required key {key[-1]!r} is missing"
        key_line = _line_of(lines, key[:-1])
        return SpecIssue(file, key_line, format_key(key), message)
    elif kind == "literal_error":
        got = error.get("input")
        expected = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        message = f"{message}, got {got!r}{did_you_mean(str(got), expected)}"
    elif kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        got = ctx.get("tag")
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        key = (*key, str(ctx.get("discriminator", "type")).strip("'"))
        message = f"unknown type {got!r}{did_you_mean(str(got), expected)}; one of " + ", ".join(
            expected
        )
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{message}, got {error['input']!r}"
    return SpecIssue(file, _line_of(lines, key), format_key(key), message)


def _allowed_keys(parent: Key, data: Any) -> list[str]:
    """Keys a mapping at ``parent`` of ``data`` may hold, read from the spec's JSON Schema (a
    union of kinds, such as a connector, is resolved by the ``type`` the data gives it)."""
    schema = Spec.model_json_schema()
    defs = schema.get("$defs", {})

    def resolve(n: dict[str, Any], value: Any) -> dict[str, Any]:
        while True:
            while "$ref" in n:
                n = defs[n["$ref"].rsplit("/", 1)[-1]]
            if "anyOf" in n:
                options = [o for o in n["anyOf"] if o.get("type") != "null"]
                if len(options) == 1:
                    n = options[0]
                    continue
            if "oneOf" in n:
                found = n.get("discriminator", {})
                tag = (
                    value.get(found.get("propertyName", "type"))
                    if isinstance(value, dict)
                    else None
                )
                target = found.get("mapping", {}).get(tag) if isinstance(tag, str) else None
                if target is None:
                    return {}
                n = {"$ref": target}
                continue
            return n

    node: dict[str, Any] = schema
    value = data
    for part in parent:
        node = resolve(node, value)
        props = node.get("properties", {})
        patterns = node.get("patternProperties", {})
        if isinstance(part, str) and part in props:
            node = props[part]
        elif isinstance(part, str) and any(re.search(p, part) for p in patterns):
            node = next(v for p, v in patterns.items() if re.search(p, part))
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        elif isinstance(part, int) and "items" in node:
            node = node["items"]
        else:
            return []
        if isinstance(value, dict) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            value = None
    return list(resolve(node, value).get("properties", {}))


def _cross_check(doc: SpecDocument, *, policy: bool = True) -> list[SpecIssue]:
    """Checks that span sections: names that refer to other names, rules that must compile
    (with ``policy``)."""
    spec = doc.spec
    issues: list[SpecIssue] = []
    connectors = list(spec.connectors)
    for name, action in spec.actions.items():
        if action.connector is not None and action.connector not in spec.connectors:
            issues.append(
                doc.issue(
                    ("actions", name, "connector"),
                    f"unknown connector {action.connector!r}"
                    + did_you_mean(action.connector, connectors)
                    + (
                        f"; declared connectors: {', '.join(connectors)}"
                        if connectors
                        else "; declare it under 'connectors'"
                    ),
                )
            )
        declared = spec.connectors.get(action.connector or "")
        if declared is not None and declared.type == "email" and not getattr(declared, "to", []):
            issues.append(
                doc.issue(
                    ("connectors", action.connector or "", "to"),
                    f"e-mail connector {action.connector!r} delivers decisions (action "
                    f"{name!r}) and needs 'to'; only a connector carrying alerts alone goes to "
                    "app.owner by default",
                )
            )
    if spec.model.task != "binary" and spec.model.positive_class is not None:
        issues.append(
            doc.issue(
                ("model", "positive_class"), f"applies to binary models, not {spec.model.task}"
            )
        )
    for rule in spec.explain.for_:
        if rule == "on_demand" and len(spec.explain.for_) > 1:
            issues.append(
                doc.issue(("explain", "for"), "'on_demand' cannot be combined with others")
            )
    issues.extend(url_issues(doc))
    issues.extend(monitoring_issues(doc))
    issues.extend(alert_issues(doc))
    issues.extend(fairness_issues(doc))
    issues.extend(audit_issues(doc))
    issues.extend(source_issues(doc))
    issues.extend(stream_issues(doc))
    if not policy or spec.model.task == "multiclass":
        return issues  # rules may use score_<class>: checked once the model's classes are known
    issues.extend(policy_issues(doc, policy_columns(spec)))
    return issues


def url_issues(doc: SpecDocument) -> list[SpecIssue]:
    """The ``url`` of every feature source and connector whose port is not a number: found
    with the spec, not as a traceback when the source or the database is first opened. A URL
    from the environment is not quoted (it may hold a password)."""
    issues: list[SpecIssue] = []
    spec = doc.spec
    named: list[tuple[Key, Any]] = [
        *((("features", n), s) for n, s in spec.features.items()),
        *((("connectors", n), s) for n, s in spec.connectors.items()),
        *((("streams", n, "source"), s.source) for n, s in spec.streams.items()),
    ]
    for where, entry in named:
        url = getattr(entry, "url", None)
        if not isinstance(url, str) or "://" not in url:
            continue
        netloc = urlsplit(url).netloc.rpartition("@")[2]
        ports = [part.rpartition(":")[2] for part in netloc.split(",") if ":" in part]
        bad = [p for p in ports if not p.isdigit() and not p.endswith("]")]
        if bad:
            key: Key = (*where, "url")
            shown = "" if key in doc.secret_keys else f" ({bad[0]!r})"
            issues.append(
                doc.issue(
                    key,
                    f"the port of the URL is not a number{shown}; write it as "
                    "SCHEME://USER:PASSWORD@HOST:PORT/..., the port a number (or none, for the "
                    "default), and special characters of the password %-encoded",
                )
            )
    return issues


def monitoring_issues(doc: SpecDocument) -> list[SpecIssue]:
    """The ``monitoring`` section against the model's task and the input names."""
    from doorstep.core.outcomes import outcome_semantics

    spec = doc.spec
    issues: list[SpecIssue] = []
    try:
        semantics = outcome_semantics(spec)
    except ValueError as exc:
        message, key = exc.args
        return [doc.issue(("monitoring", "outcome", key), message)]
    reserved = {"decision_id", "entity_id", "observed_at", spec.inputs.id}
    if semantics.field in reserved:
        issues.append(
            doc.issue(
                ("monitoring", "outcome", "field"),
                f"{semantics.field!r} names the outcome's key or time; choose another column "
                f"name for the {semantics.kind}",
            )
        )
    if spec.monitoring.threshold is not None and spec.model.task != "binary":
        issues.append(
            doc.issue(
                ("monitoring", "threshold"), f"applies to binary models, not {spec.model.task}"
            )
        )
    return issues


def policy_issues(
    doc: SpecDocument, columns: Mapping[str, str], *, undeclared: Collection[str] = ()
) -> list[SpecIssue]:
    """Compile the policy against the columns a rule may use; locate every problem (one per
    rule's ``when`` at most). ``undeclared``: features the model uses that no input declares;
    a rule naming one is not told to change (the input is what is missing)."""
    from doorstep.core.policy import policy_problems

    spec = doc.spec
    problems = policy_problems(
        spec.policy,
        columns,
        categories={n: f.values or [] for n, f in spec.inputs.fields.items() if f.values},
        actions=list(spec.actions),
    )
    issues: list[SpecIssue] = []
    for problem in problems:
        key: Key = (
            ("policy", "default")
            if problem.rule is None
            else ("policy", "rules", problem.rule, problem.key)
        )
        message = problem.message
        if problem.column is not None and problem.column in undeclared:
            message = (
                f"unknown column {problem.column!r}: the model uses {problem.column!r}, but no "
                f"input declares it; declare it under inputs.fields (was an input renamed? see "
                "model.path) rather than changing the rule"
            )
        where = f" (at character {problem.position + 1})" if problem.position is not None else ""
        issues.append(doc.issue(key, message + where))
    return issues


def policy_columns(spec: Spec, classes: list[str] | None = None) -> dict[str, str]:
    """Names a rule may use: every input field, the entity id, and the score columns
    (multiclass: ``score`` of the predicted class, ``score_<class>`` and ``predicted_class``)."""
    columns: dict[str, str] = {spec.inputs.id: "string"}
    columns.update({name: f.type for name, f in spec.inputs.fields.items()})
    columns["score"] = "float"
    for label in classes or []:
        columns[f"score_{label}"] = "float"
    if classes:
        columns["predicted_class"] = "string"
    return columns
