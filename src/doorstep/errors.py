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
    │   ├── RecordsInvalidError    records of a request break the input contract (each named)
    │   │   ├── EntityNotFoundError    a feature source has no row for a record's entity id
    │   │   ├── EntityAmbiguousError   a feature source has two rows or more for a record's id
    │   │   └── FeaturesStaleError     looked-up features older than the source's max_age
    │   ├── PayloadTooLargeError   a request body or batch beyond the configured limits
    │   └── ModelMisfitError       a model version to register does not fit its app's spec
    ├── ExampleError           an unknown example, or a folder that is not empty
    ├── SettingsError          an environment variable or option has a value doorstep cannot use
    ├── PluginError            an entry point cannot be loaded
    ├── StoreError             the store refuses an operation (e.g. a model version's hash changed)
    │   └── StoreUnavailableError  the database cannot be reached or is locked: retry later
    ├── FeatureSourceUnavailableError  a feature source is down or slower than its timeout
    │   └── EntityIdRefusedError   a source refused the ids of a lookup as data (one bad id)
    ├── StreamUnavailableError a message bus of a stream cannot be reached or refuses a call
    ├── NotFoundError          a decision, app or key does not exist
    ├── ConflictError          the request contradicts what is already recorded
    │   ├── ReviewConflictError    the decision is not pending review, or was reviewed already
    │   ├── ReviewClaimedError     another reviewer holds the case (a claim not yet expired)
    │   └── IdempotencyConflictError  an Idempotency-Key reused with another body
    ├── AuthError              no valid API key, or a revoked one
    └── PermissionDeniedError  the key's role may not do this
        ├── BackfillDeniedError  a field only admin/owner keys may send (decided_at)
        └── CsrfError          a page's form came without its session's CSRF token
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "DoorstepError",
    "ExampleError",
    "ExplanationError",
    "InputError",
    "PayloadTooLargeError",
    "RecordError",
    "RecordsInvalidError",
    "EntityNotFoundError",
    "EntityAmbiguousError",
    "EntityIdRefusedError",
    "FeaturesStaleError",
    "FeatureSourceUnavailableError",
    "ModelError",
    "ModelMismatchError",
    "ModelMisfitError",
    "PluginError",
    "StreamUnavailableError",
    "AddressNotAllowedError",
    "ConnectorSpecError",
    "PolicyError",
    "SettingsError",
    "SpecError",
    "SpecIssue",
    "StoreError",
    "StoreUnavailableError",
    "NotFoundError",
    "ConflictError",
    "ReviewConflictError",
    "ReviewClaimedError",
    "IdempotencyConflictError",
    "AuthError",
    "PermissionDeniedError",
    "BackfillDeniedError",
    "CsrfError",
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

    def __init__(
        self,
        message: str,
        *,
        rule: int | None = None,
        position: int | None = None,
        key: str = "when",
        column: str | None = None,
    ):
        self.rule = rule
        """0-based index of the rule, or ``None`` for the default."""
        self.position = position
        """0-based character in the rule's ``when``."""
        self.key = key
        """The rule's key at fault: ``when`` or ``action``."""
        self.column = column
        """The unknown column the rule names, when that is the problem."""
        super().__init__(message)


class InputError(DoorstepError):
    """A batch input cannot be read at all: unknown format, unreadable file, missing column."""

    code = "input_invalid"


class ModelMisfitError(InputError):
    """A model version to register does not fit its app: its inputs, categories, the policy's
    columns or its explanations disagree with the spec (``issues``: each located in the spec)."""

    code = "model_misfit"

    def __init__(self, message: str, issues: list[SpecIssue]) -> None:
        self.issues = issues
        super().__init__(message + "\n" + "\n".join(f"  {issue}" for issue in issues))


@dataclass(frozen=True, slots=True)
class RecordError:
    """One problem with one record: the record, its entity, the field and the rule it broke.

    The one shape of a per-record problem everywhere: an API answer's ``errors``, a batch run's
    errors, a rejects file, an outcome refused. JSON: ``{record, entity_id, field, rule,
    message}`` in that order (:meth:`as_dict`; orjson writes the dataclass the same way)."""

    record: int | None
    """Where the record is: its 0-based position in a request's records, or its 1-based row in
    a file; ``None`` for the request as a whole (a bad body) or a run's entity."""
    entity_id: str | None
    field: str | None
    """The field at fault (``None`` when the record as a whole is)."""
    rule: str
    """The rule broken, a stable word: ``required``, ``type``, ``min``, ``entity_unknown``,
    ``stale``, ``json`` …"""
    message: str
    """A sentence a person can act on."""

    @classmethod
    def of_field(cls, field: str, rule: str, message: str) -> RecordError:
        """A problem with a field of the request itself: a parameter, a form field, a key of
        a verdict's body (no record, no entity)."""
        return cls(None, None, field, rule, message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "entity_id": self.entity_id,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
        }


class RecordsInvalidError(InputError):
    """Records (or request fields) break the input contract; ``errors`` names each one
    (:class:`RecordError`)."""

    def __init__(self, message: str, errors: list[RecordError]) -> None:
        super().__init__(message)
        self.errors = errors


class EntityNotFoundError(RecordsInvalidError):
    """A feature source has no row for the entity id of a record that needs its values; each
    one is named in ``errors`` with rule ``entity_unknown``."""

    code = "entity_unknown"


class EntityAmbiguousError(RecordsInvalidError):
    """A feature source holds two rows or more for the entity id of a record that needs its
    values: which one is meant cannot be told, so the record is refused (rule
    ``entity_ambiguous``) rather than decided on one picked at random."""

    code = "entity_ambiguous"


class FeaturesStaleError(RecordsInvalidError):
    """Features looked up for a record are older than their source's ``max_age`` and the
    source says ``on_stale: refuse``; each one is named in ``errors`` with rule ``stale``."""

    code = "features_stale"


class PayloadTooLargeError(InputError):
    """A request body or batch beyond the configured limits."""

    code = "payload_too_large"


class ExampleError(DoorstepError):
    """The example does not exist, or the folder to write it in is not empty."""

    code = "example_invalid"


class SettingsError(DoorstepError, ValueError):
    """An environment variable or command-line option has a value doorstep cannot use (e.g. a
    ``DOORSTEP_SESSION_SECRET`` too short to sign sessions safely); the message names it."""

    code = "settings_invalid"


class PluginError(DoorstepError):
    """An entry point (model adapter, connector or feature source) is missing or fails to load."""

    code = "plugin_invalid"


class AddressNotAllowedError(DoorstepError):
    """A connector's target resolves to an address it may not reach (see the module docstring)."""

    code = "address_not_allowed"

    def __init__(self, connector: str, target: str, address: str, kind: str) -> None:
        self.connector = connector
        self.target = target
        self.address = address
        self.kind = kind
        super().__init__(
            f"connector {connector!r}: {target} resolves to {address}, "
            f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address; "
            "add it to allow_networks to allow it"
        )


class ConnectorSpecError(DoorstepError):
    """A connector's spec entry cannot work (bad secret, URL or network); ``key`` names the key
    under ``connectors.<name>`` so the spec loader can point at its line."""

    code = "connector_invalid"

    def __init__(self, connector: str, key: str, message: str) -> None:
        self.connector = connector
        self.key = key
        super().__init__(f"connector {connector!r} {key}: {message}")


class StoreError(DoorstepError):
    """The store refuses an operation, e.g. a model version registered with another hash."""

    code = "store_error"


class StoreUnavailableError(StoreError):
    """The database cannot be reached, or is locked past the timeout. Retry later."""

    code = "store_unavailable"


class FeatureSourceUnavailableError(DoorstepError):
    """A feature source cannot be reached, fails, or does not answer within its ``timeout``.
    Nothing was decided or recorded; retry later."""

    code = "feature_source_unavailable"

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        super().__init__(message)


class StreamUnavailableError(DoorstepError):
    """The message bus of a stream cannot be reached, or refuses a call (fetch, acknowledge,
    publish a dead letter). Nothing unacknowledged is lost: the bus delivers it again."""

    code = "stream_unavailable"

    def __init__(self, stream: str, message: str) -> None:
        self.stream = stream
        super().__init__(message)


class EntityIdRefusedError(FeatureSourceUnavailableError):
    """A source refused the ids of a lookup as data (a database's ``DataError``: a value its
    id column cannot hold), not as an outage. The caller splits the lookup to find the ids at
    fault and refuses their records alone (rule ``id_invalid``); the others are decided. A
    source that does not tell raises :class:`FeatureSourceUnavailableError`, as before."""


class NotFoundError(DoorstepError):
    """A decision, app or key that does not exist."""

    code = "not_found"


class ConflictError(DoorstepError):
    """The request contradicts what is already recorded."""

    code = "conflict"


class ReviewConflictError(ConflictError):
    """The decision is not pending review, or another verdict was recorded first."""

    code = "review_conflict"


class ReviewClaimedError(ConflictError):
    """Another reviewer claimed this decision and the claim has not expired: they work it."""

    code = "review_claimed"


class IdempotencyConflictError(ConflictError):
    """An ``Idempotency-Key`` was reused with a different request body."""

    code = "idempotency_conflict"


class AuthError(DoorstepError):
    """No API key, an unknown one, or a revoked one."""

    code = "unauthenticated"


class PermissionDeniedError(DoorstepError):
    """The key's role may not use this route or act on this app."""

    code = "permission_denied"


class BackfillDeniedError(PermissionDeniedError):
    """A request field only some roles may send (``decided_at``: backfilling history, for
    admin and owner keys); ``errors`` names the field."""

    code = "permission_denied"

    def __init__(self, message: str, errors: list[RecordError]) -> None:
        super().__init__(message)
        self.errors = errors


class CsrfError(PermissionDeniedError):
    """A form of the pages was posted without the CSRF token of the signed-in session (or of the
    sign-in form): it may come from another site, or from a page opened before signing in again."""

    code = "csrf_invalid"
