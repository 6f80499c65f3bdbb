"""The one exception tree of doorstep.

Every error carries a stable ``code`` (documented in ``docs/errors.md``) and a message that says
what was expected, what was found, where (file and line, record and field) and how to fix it.
HTTP status codes belong to the web layer alone.

::

    DoorstepError
    ├── SpecError              the spec file is invalid (one or more located issues)
    ├── ModelError             a model file cannot be loaded or used
    │   └── ModelMismatchError the model and the spec's input contract disagree
    ├── ExplanationError       contributions do not add up to the model's output
    ├── PolicyError            a policy rule cannot be compiled or evaluated
    ├── InputError             a batch input cannot be read at all (missing column, bad file)
    ├── ExampleError           an unknown example, or a folder that is not empty
    └── PluginError            an entry point cannot be loaded
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DoorstepError",
    "ExampleError",
    "ExplanationError",
    "InputError",
    "ModelError",
    "ModelMismatchError",
    "PluginError",
    "PolicyError",
    "SpecError",
    "SpecIssue",
]


class DoorstepError(Exception):
    """Base of every error doorstep raises on purpose."""

    code = "doorstep_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec, located by file, line and dotted key path."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where} {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class SpecError(DoorstepError):
    """The spec is invalid; ``issues`` lists every problem found, in file order."""

    code = "spec_invalid"

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.line if i.line is not None else 0, i.key))
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in the spec"
        super().__init__(head + ":\n" + "\n".join(f"  {issue}" for issue in self.issues))


class ModelError(DoorstepError):
    """A model file is missing, unreadable, of an unknown kind, or fails at predict time."""

    code = "model_invalid"


class ModelMismatchError(ModelError):
    """The model's own feature names, order or categories disagree with the spec's inputs."""

    code = "model_mismatch"

    def __init__(self, model: str, mismatches: list[str]) -> None:
        self.mismatches = mismatches
        lines = "\n".join(f"  - {m}" for m in mismatches)
        super().__init__(
            f"The model {model} does not match the spec's inputs "
            f"({len(mismatches)} mismatch{'es' if len(mismatches) != 1 else ''}):\n{lines}"
        )


class ExplanationError(DoorstepError):
    """Contributions plus base value do not reproduce the model's output."""

    code = "explanation_not_additive"


class PolicyError(DoorstepError):
    """A rule has a syntax error, an unknown column or an unsupported construct."""

    code = "policy_invalid"

    def __init__(self, message: str, *, rule: int | None = None, position: int | None = None):
        self.rule = rule
        self.position = position
        super().__init__(message)


class InputError(DoorstepError):
    """A batch input cannot be read at all: unknown format, unreadable file, missing column."""

    code = "input_invalid"


class ExampleError(DoorstepError):
    """The example does not exist, or the folder to write it in is not empty."""

    code = "example_invalid"


class PluginError(DoorstepError):
    """An entry point (model adapter or connector) is missing or fails to load."""

    code = "plugin_invalid"
