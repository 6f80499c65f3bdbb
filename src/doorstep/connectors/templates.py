"""Templates of payloads, subjects, bodies and columns: Jinja2 in its sandbox.

A template sees the delivery context (see :attr:`doorstep.connectors.base.Message.context`) and
nothing else: no attribute of Python objects beyond plain data, no file system, no imports.
Undefined names are errors (``StrictUndefined``), so a typo in a template fails the delivery with
the template named, instead of sending an empty value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["TemplateRenderError", "render", "render_payload"]

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})
"""Names that Jinja reads as constants, never from the context."""


class TemplateRenderError(ValueError):
    """A template failed to compile or render; the message names where it sits."""


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Any:
    return _ENV.from_string(source)


@lru_cache(maxsize=1024)
def _expression(source: str) -> Any:
    return _ENV.compile_expression(source, undefined_to_none=False)


def render(source: str, context: Mapping[str, Any], *, where: str = "template") -> str:
    """Render one template string; ``where`` names it in errors (e.g. ``actions.offer.payload``)."""
    if "{{" not in source and "{%" not in source:
        return source
    try:
        return str(_compiled(source).render(context))
    except TemplateError as error:
        raise TemplateRenderError(f"{where}: {error}") from None
    except Exception as error:  # the template's own arithmetic or filters failed on this data
        raise TemplateRenderError(f"{where}: {type(error).__name__}: {error}") from None


def render_payload(template: Any, context: Mapping[str, Any], *, where: str = "payload") -> Any:
    """Render every string inside a JSON-like template (dicts, lists, scalars kept as they are).

    A string that is exactly one expression (``"{{ score }}"``) keeps the value's JSON type
    (a number stays a number, a list stays a list); other strings render to text.
    """
    if isinstance(template, str):
        stripped = template.strip()
        if _single_expression(stripped):
            expression = stripped[2:-2].strip()
            if expression in context and expression not in _LITERALS:
                return context[expression]  # a bare name: what Jinja would return, sooner
            try:
                value = _expression(expression)(**context)
            except TemplateError as error:
                raise TemplateRenderError(f"{where}: {error}") from None
            except Exception as error:  # arithmetic or filters failing on this data
                raise TemplateRenderError(f"{where}: {type(error).__name__}: {error}") from None
            if isinstance(value, StrictUndefined):
                raise TemplateRenderError(f"{where}: {stripped} is undefined")
            return value
        return render(template, context, where=where)
    if isinstance(template, Mapping):
        return {
            str(key): render_payload(value, context, where=f"{where}.{key}")
            for key, value in template.items()
        }
    if isinstance(template, list | tuple):
        return [render_payload(v, context, where=f"{where}[{i}]") for i, v in enumerate(template)]
    return template


def _single_expression(text: str) -> bool:
    return (
        text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1 and "{%" not in text
    )
