"""FHIR R4 adapter: a Bundle of Encounters -> :class:`~epiradar.ingest.inbound.InboundVisit`.

One visit per ``Encounter`` (https://hl7.org/fhir/R4/encounter.html), completed from the
resources of the same Bundle (https://hl7.org/fhir/R4/bundle.html) that it references or that
reference it: its ``subject`` Patient, its ``serviceProvider`` Organization, the Conditions and
Observations whose ``encounter`` is it. The mapping, the local codes and the choices made are
in ``docs/fhir.md``.

Every Patient, Encounter, Condition, Observation and Organization is validated as FHIR R4
with the ``fhir.resources`` R4B models (R4B changed none of these five). Validation goes through
a shape cache (:class:`ShapeValidator`) that gives the models' verdict at a fraction of their
cost. A resource that fails is an error :class:`EntryIssue` naming the element as FHIRPath
(``Bundle.entry[3].resource.period.start``); the visits it belongs to are left out, the other
visits of the Bundle go through. :func:`read_bundle` never raises: a message that is not a
readable R4 Bundle is one bundle-level issue (``index`` None, severity ``fatal``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import hashlib
import json
import math
import operator
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import AnyUrl, TypeAdapter, ValidationError
from pydantic_core import SchemaValidator

from epiradar.ingest import rules
from epiradar.ingest.inbound import InboundVisit

Severity = Literal["fatal", "error", "warning", "information"]

BUNDLE_TYPES = ("transaction", "batch", "message", "collection")
TAKEN = ("Patient", "Encounter", "Condition", "Observation", "Organization")

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL_SYSTEM = "urn:epiradar:code"
"""Code system of the local Observation codes ``EXPOSURE``, ``CONTACT``, ``LAB``."""
GEOLOCATION = "http://hl7.org/fhir/StructureDefinition/geolocation"
NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ICD10_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://hl7.org/fhir/sid/icd-10-nl",
        "http://hl7.org/fhir/sid/icd-10-de",
    }
)
NOT_ICD10_SYSTEMS = frozenset({"http://snomed.info/sct", LOINC, UCUM})

CHIEF_COMPLAINT = "8661-1"
TEMPERATURE = frozenset({"8310-5", "11289-6", "8331-1"})
AGE = "21612-7"
ONSET = "11368-8"

CLASS_CODES = {"EMER": "E", "AMB": "O", "IMP": "I"}
"""``Encounter.class`` (v3 ActCode) -> patient class (HL7 v2 table 0004); other codes as sent."""
GENDERS = {"male": "M", "female": "F", "other": "U", "unknown": "U"}
"""AdministrativeGender (required binding) -> sex."""
AGE_UNITS: dict[str, Callable[[float], float]] = {
    "a": lambda v: v,
    "mo": lambda v: round(v / 12, 2),
    "wk": lambda v: round(v * 7 / 365.25, 2),
    "d": lambda v: round(v / 365.25, 2),
}
"""UCUM unit of an age Quantity -> years."""
SKIPPED_STATUS = frozenset({"entered-in-error", "cancelled", "refuted"})
"""Observation.status / Condition.verificationStatus of a statement that does not count."""
NOT_VISITS = frozenset({"planned", "cancelled", "entered-in-error"})
"""Encounter.status of an Encounter that is not (or no longer) a visit."""
_ENCOUNTER_STATUS = (
    "planned arrived triaged in-progress onleave finished cancelled entered-in-error"
)
_OBSERVATION_STATUS = "registered preliminary final amended corrected cancelled entered-in-error"
BINDINGS: dict[str, dict[str, frozenset[str]]] = {
    "Bundle.entry": {
        "request.method": frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"})
    },
    "Patient": {"gender": frozenset(GENDERS)},
    "Encounter": {"status": frozenset(f"{_ENCOUNTER_STATUS} unknown".split(" "))},
    "Observation": {"status": frozenset(f"{_OBSERVATION_STATUS} unknown".split(" "))},
}
"""Required bindings (https://hl7.org/fhir/R4/terminologies.html#required) of the codes read,
which the models do not check: an R5 ``Encounter.status`` such as ``completed`` is refused."""


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class EntryIssue:
    """One problem found in a Bundle, shaped like an OperationOutcome.issue
    (https://hl7.org/fhir/R4/operationoutcome.html).

    ``code`` is an IssueType (https://hl7.org/fhir/R4/valueset-issue-type.html): invalid,
    structure, required, value, not-supported, business-rule, forbidden, informational,
    exception. ``raw`` is the JSON of what was rejected: the entry's resource, or for a rejected
    visit the mini-Bundle of its resources (which :func:`read_bundle` reads again).
    """

    index: int | None  # Bundle.entry index; None: the Bundle itself
    expression: str  # FHIRPath of the element at fault
    severity: Severity
    code: str
    diagnostics: str
    raw: str = ""


@dataclass
class BundleResult:
    visits: list[InboundVisit] = field(default_factory=list)
    issues: list[EntryIssue] = field(default_factory=list)
    bundle_type: str | None = None

    @property
    def fatal(self) -> bool:
        """The message as a whole could not be read (not JSON, not an R4 Bundle of a taken type)."""
        return any(issue.severity == "fatal" for issue in self.issues)

    @property
    def errors(self) -> list[EntryIssue]:
        return [i for i in self.issues if i.severity in ("fatal", "error")]


# --------------------------------------------------------------------------------------------
# validation with the fhir.resources R4B models, through a shape cache


_JSON_TYPES = frozenset({str, int, float, bool, type(None), dict, list})


def _shape(value: dict[str, Any], shape: list[Any], leaves: list[Any]) -> None:
    """Append the structure of a JSON object to ``shape`` and its values to ``leaves``.

    Per object: the tuple of its keys (in order), then its ``resourceType`` when that is a
    string; per array: its length. All the values of an object (or items of an array) go to
    ``leaves`` at once, then its objects and arrays are walked, in order. ``shape`` and the
    types of ``leaves`` together give the keys, the nesting, the JSON type of every scalar and
    every ``resourceType``: each step of the walk can be read back from them (a key tuple says
    how many leaves follow, a ``resourceType`` key of a string leaf says a name follows)."""
    shape.append(tuple(value))
    rtype = value.get("resourceType")
    if rtype.__class__ is str:
        shape.append(rtype)
    items = value.values()
    leaves.extend(items)
    for item in items:
        kind = item.__class__
        if kind is dict:
            _shape(item, shape, leaves)
        elif kind is list:
            _shape_list(item, shape, leaves)


def _shape_list(value: list[Any], shape: list[Any], leaves: list[Any]) -> None:
    shape.append(len(value))
    leaves.extend(value)
    for item in value:
        kind = item.__class__
        if kind is dict:
            _shape(item, shape, leaves)
        elif kind is list:
            _shape_list(item, shape, leaves)


def _signature(model: type, value: dict[str, Any]) -> tuple[tuple[Any, ...], list[Any]]:
    """``(key, leaves)`` of a JSON object as ``model`` (see :func:`_shape`): the shape-cache
    key (the model, the shape, the type of each leaf), and the leaves. Raises RecursionError
    when nested too deeply."""
    shape: list[Any] = [model]
    leaves: list[Any] = []
    _shape(value, shape, leaves)
    return (tuple(shape), tuple(map(type, leaves))), leaves


def _plain(key: tuple[Any, ...]) -> bool:
    """Whether a signature is of plain JSON (string keys, JSON values only), as decoded JSON is."""
    shape, kinds = key
    if not _JSON_TYPES.issuperset(kinds):
        return False
    for part in shape:
        if part.__class__ is tuple:
            for name in part:
                if name.__class__ is not str:
                    return False
    return True


def _args(annotation: Any) -> tuple[Any, ...]:
    return typing.get_args(annotation) if typing.get_origin(annotation) is not None else ()


def _model_in(annotation: Any) -> Any:
    """The FHIR model class an annotation stands for (``abc.PeriodType`` -> ``Period``)."""
    from fhir_core.types import FhirBase

    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        return annotation
    for arg in _args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _list_item(annotation: Any) -> Any:
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0]
    for arg in _args(annotation):
        found = _list_item(arg)
        if found is not None:
            return found
    return None


def _fields(model: type) -> dict[Any, Any]:
    cached = _FIELDS.get(model)
    if cached is None:
        cached = {}
        for name, info in model.model_fields.items():  # type: ignore[attr-defined]
            cached[name] = info.annotation
            if info.alias:
                cached[info.alias] = info.annotation
        _FIELDS[model] = cached
    return cached


_FIELDS: dict[type, dict[Any, Any]] = {}


def resource_model(resource_type: Any) -> type | None:
    """The R4B model class of a resource type name, or None (unknown, or not a resource)."""
    if type(resource_type) is not str or resource_type in ("Resource", "DomainResource"):
        return None
    model = _MODELS.get(resource_type)
    if model is None and resource_type not in _MODELS:
        from fhir.resources.R4B import get_fhir_model_class

        try:
            model = get_fhir_model_class(resource_type)
        except (ValueError, ImportError, AttributeError):
            model = None
        if model is not None and not model.has_resource_base():
            model = None
        if len(_MODELS) < 1000:
            _MODELS[resource_type] = model
    return model


_MODELS: dict[str, type | None] = {}


class ShapeValidator:
    """The verdict of ``model.model_validate(data)`` (fhir.resources R4B), cheaply.

    ``fhir.resources`` validates every nested element in Python (about 50 µs for an
    Encounter). Its verdict splits into a part that depends only on the *shape* of the JSON
    (which keys, where lists are, the JSON type of every scalar, the ``resourceType`` of every
    resource: unknown elements, required elements, one ``[x]`` choice, arrays, nulls) and a
    check of each scalar by the primitive type of its element (``dateTime``, ``code``,
    ``id``...), which depends on that scalar alone. So the first object of a shape is validated
    by the model; when it passes, the shape is compiled into the pydantic ``TypeAdapter`` of
    the element of each scalar, and a later object of the same shape is valid when each of its
    scalars passes its adapter (the values that passed are cached). Anything else (a new shape,
    a scalar that fails, input that is not plain JSON) goes to the model, whose errors are
    reported: the verdict is always the model's (``tests/test_fhir.py`` checks it on mutations).
    """

    def __init__(self, max_shapes: int = 4096, max_values: int = 10_000) -> None:
        self._plans: dict[tuple[Any, ...], _Compiled | None] = {}
        self._checks: dict[tuple[Any, type], tuple[set[Any], Any]] = {}
        self.max_shapes = max_shapes
        self.max_values = max_values
        self.full_validations = 0

    def errors(self, model: type, data: Any) -> list[dict[str, Any]]:
        """Pydantic error dicts (``loc``, ``type``, ``msg``) of ``data`` as ``model``; [] if valid."""
        if data.__class__ is not dict:
            return self._validate(model, data)
        try:
            key, leaves = _signature(model, data)
        except RecursionError:
            return self._validate(model, data)
        if not _plain(key):
            return self._validate(model, data)
        return self.verdict(model, data, key, leaves)

    def verdict(
        self, model: type, data: dict[str, Any], key: tuple[Any, ...], leaves: list[Any]
    ) -> list[dict[str, Any]]:
        """:meth:`errors` of ``data``, given its :func:`_signature` (of plain JSON)."""
        compiled = self._plans.get(key)
        if compiled is not None:
            valid, plan = compiled
            if not valid:
                return [dict(error) for error in plan]
            for pick, good, check in plan:
                values = pick(leaves)
                if good.issuperset(values):  # all passed before: the usual case
                    continue
                for value in values:
                    if value not in good:
                        try:
                            check(value)
                        except (ValidationError, ValueError, TypeError):
                            return self._validate(model, data)  # the model says how
                        if len(good) >= self.max_values:
                            good.clear()
                        good.add(value)
            return []
        errors = self._validate(model, data)
        if not errors and key not in self._plans:
            if len(self._plans) >= self.max_shapes:
                self._plans.clear()
            compiled = self._plans[key] = self._compile(model, data)
            if compiled is not None and not compiled[0]:
                return [dict(error) for error in compiled[1]]
        return errors

    def _validate(self, model: type, data: Any) -> list[dict[str, Any]]:
        self.full_validations += 1
        try:
            model.model_validate(data)  # type: ignore[attr-defined]
        except ValidationError as exc:
            return list(exc.errors(include_url=False, include_context=False))
        except RecursionError:
            return [{"loc": (), "type": "too_deep", "msg": "nested too deeply"}]
        except Exception as exc:  # a validator that fails on odd input: not valid either
            return [{"loc": (), "type": "invalid", "msg": f"{type(exc).__name__}: {exc}"}]
        return []

    def _compile(self, model: type, data: dict[str, Any]) -> _Compiled | None:
        """Per check (pydantic ``TypeAdapter``) of the leaves of ``data``: a function picking
        its leaves (in the order of :func:`_shape`), the values that passed it, the check; or
        the errors of JSON types the model took."""
        slots: list[Any] = []
        wrong: list[dict[str, Any]] = []
        try:
            self._walk_model(model, data, slots, (), wrong)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # not understood: this shape always goes to the model
        if wrong:
            return (False, tuple(wrong))
        by_check: dict[int, list[int]] = {}  # the leaves of each check
        for i, slot in enumerate(slots):
            if slot is not None:
                by_check.setdefault(id(slot), []).append(i)
        plan = []
        for where in by_check.values():
            good, check = slots[where[0]]
            where = where if len(where) > 1 else where * 2  # itemgetter of 2+ gives a tuple
            plan.append((operator.itemgetter(*where), good, check))
        return (True, tuple(plan))

    def _walk_model(
        self,
        model: type,
        data: dict[str, Any],
        slots: list[Any],
        loc: tuple[Any, ...],
        wrong: list[Any],
    ) -> None:
        fields = _fields(model)
        inner = []
        for key, value in data.items():
            if key.__class__ is not str:
                raise TypeError(key)
            if key == "resourceType":
                if value.__class__ is not str:
                    raise TypeError(value)
                slots.append(None)
                continue
            annotation = fields[key]
            slots.append(self._slot(annotation, value, (*loc, key), wrong))
            if value.__class__ is dict or value.__class__ is list:
                inner.append((annotation, value, (*loc, key)))
        for annotation, value, where in inner:
            self._walk_inner(annotation, value, slots, where, wrong)

    def _walk_inner(
        self, annotation: Any, value: Any, slots: list[Any], loc: tuple[Any, ...], wrong: list[Any]
    ) -> None:
        if value.__class__ is dict:
            from fhir_core.types import FhirElementOrResourceBase

            base = _model_in(annotation)
            if base is None:
                raise TypeError(annotation)
            if issubclass(base, FhirElementOrResourceBase):
                model = resource_model(value.get("resourceType"))
                if model is None:
                    raise TypeError(annotation)
            else:
                model = base.get_model_klass()
            self._walk_model(model, value, slots, loc, wrong)
            return
        item = _list_item(annotation)
        if item is None:
            raise TypeError(annotation)
        inner = []
        for i, element in enumerate(value):
            slots.append(self._slot(item, element, (*loc, i), wrong))
            if element.__class__ is dict or element.__class__ is list:
                inner.append((element, (*loc, i)))
        for element, where in inner:
            self._walk_inner(item, element, slots, where, wrong)

    def _slot(
        self, annotation: Any, value: Any, loc: tuple[Any, ...], wrong: list[Any]
    ) -> tuple[set[Any], Any] | None:
        """The check of a scalar (None for null, an object or an array)."""
        if value is None or value.__class__ is dict or value.__class__ is list:
            return None
        if _model_in(annotation) is not None:  # the model took a JSON text for an element
            wrong.append({"loc": loc, "type": "json_type", "msg": "a JSON object is expected"})
            return None
        kinds = _json_kinds(annotation)
        if kinds is None:
            raise TypeError(annotation)
        if type(value) not in kinds:  # the model took a number for a date, text for a boolean
            names = " or ".join(sorted({_KIND_NAMES[k] for k in kinds}))
            wrong.append({"loc": loc, "type": "json_type", "msg": f"a JSON {names} is expected"})
        key = (annotation, type(value))
        if key not in self._checks:
            adapter = TypeAdapter(annotation)
            check = adapter.validate_python
            if isinstance(adapter.validator, SchemaValidator):  # the same call, less wrapping
                check = adapter.validator.validate_python
            self._checks[key] = (set(), check)
        return self._checks[key]


_KIND_NAMES = {str: "string", int: "number", float: "number", bool: "boolean"}
_Compiled = tuple[bool, tuple[Any, ...]]


def _json_kinds(annotation: Any) -> tuple[type, ...] | None:
    """The JSON types a primitive element takes (https://hl7.org/fhir/R4/json.html#primitive):
    boolean: true/false; integer and decimal: a number; every other primitive: a string."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _json_kinds(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType or origin is list:
        kinds: set[type] = set()
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                found = _json_kinds(arg)
                if found is None:
                    return None
                kinds.update(found)
        return tuple(kinds)
    if annotation is bool:
        return (bool,)
    if annotation is int or annotation is float or annotation is decimal.Decimal:
        return (int, float)
    if annotation in (str, bytes, uuid.UUID, dt.date, dt.datetime, dt.time, AnyUrl):
        return (str,)
    return None


VALIDATOR = ShapeValidator()
"""The process-wide shape cache used by :func:`read_bundle`."""


def fhirpath(prefix: str, loc: Iterable[Any]) -> str:
    """``Bundle.entry[3].resource`` + pydantic loc ``('identifier', 0, 'value')`` -> FHIRPath
    (https://hl7.org/fhir/R4/fhirpath.html); the extension of a primitive (``_birthDate``)
    is named by its element, validators' own steps (``root``) are left out."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and part and part != "root" and part.isidentifier():
            path += "." + part.removesuffix("__ext").lstrip("_")
    return path


_ERROR_CODES = {
    "missing": "required",
    "model_field_validation.missing": "required",
    "extra_forbidden": "structure",
    "model_validation_format": "structure",
    "fhir-validation-wrong-resource-type": "invalid",
    "value_error": "value",
    "string_pattern_mismatch": "value",
    "string_too_long": "value",
    "too_deep": "structure",
    "json_invalid": "structure",
    "json_type": "structure",
    "not-supported": "not-supported",
}


def _error_code(kind: str) -> str:
    code = _ERROR_CODES.get(kind)
    if code is not None:
        return code
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return "structure"
    return "invalid"


# --------------------------------------------------------------------------------------------
# reading


class _Issues(list[EntryIssue]):
    def add(
        self,
        index: int | None,
        expression: str,
        severity: Severity,
        code: str,
        diagnostics: str,
        raw: str = "",
    ) -> None:
        self.append(EntryIssue(index, expression, severity, code, diagnostics, raw))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_SPACE = re.compile(r"[ \t\n\r]*")
_BLANK = frozenset(" \t\n\r")


_Take = Callable[[int, Any], Any]


def _decode(text: str, take: _Take | None = None) -> tuple[Any, list[tuple[int, int]]]:
    """``json.loads(text)``, and the spans in ``text`` of the items of a top-level ``entry``
    array (so that what is rejected or kept is the entry as sent).

    With ``take``, each of these items is replaced by ``take(index, item)`` as soon as it is
    decoded: what is needed of it is taken while it is in the CPU's caches, and the rest
    freed at once. (A Bundle's objects do not fit in the caches: going over them all again,
    and holding them all, costs more than decoding them.)"""
    space, decode = _SPACE.match, _DECODER.scan_once  # C; StopIteration: no value there
    i = space(text, 0).end()
    if text[i : i + 1] != "{":
        return _DECODER.decode(text), []
    out: dict[str, Any] = {}
    spans: list[tuple[int, int]] = []
    i = space(text, i + 1).end()
    try:
        while text[i] != "}" or out:
            if text[i] != '"':
                raise ValueError(f"expected a member name at {i}")
            key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
            i = space(text, i).end()
            if text[i] != ":":
                raise ValueError(f"expected ':' at {i}")
            i = space(text, i + 1).end()
            if key == "entry" and text[i] == "[":
                items: list[Any] = []
                spans.clear()
                i = space(text, i + 1).end()
                while text[i] != "]":
                    item, end = decode(text, i)
                    items.append(item if take is None else take(len(items), item))
                    spans.append((i, end))
                    if text[end] not in ",]":
                        end = space(text, end).end()
                    if text[end] == "]":
                        i = end
                        break
                    if text[end] != ",":
                        raise ValueError(f"expected ',' or ']' at {end}")
                    i = end + 1
                    if text[i] in _BLANK:
                        i = space(text, i).end()
                    if text[i] == "]":
                        raise ValueError(f"expected a value at {i}")
                out[key], i = items, i + 1
            else:
                out[key], i = decode(text, i)
            i = space(text, i).end()
            if text[i] == "}":
                break
            if text[i] != ",":
                raise ValueError(f"expected ',' or '}}' at {i}")
            i = space(text, i + 1).end()
    except (IndexError, StopIteration):
        raise ValueError(f"expected a JSON value at {i}") from None
    if space(text, i + 1).end() != len(text):
        raise ValueError(f"extra data at {i + 1}")
    return out, spans


def _parse(text: str) -> tuple[Any, list[tuple[int, int]]]:
    """``json.loads(text)``, and the spans in ``text`` of the items of a top-level ``entry``
    array."""
    return _decode(text)


def _load(
    data: bytes | str | dict[str, Any], take: _Take | None = None
) -> tuple[Any, str, list[tuple[int, int]]]:
    if isinstance(data, dict):  # made plain JSON, so that what is checked is what is read
        data = json.dumps(data, allow_nan=False, ensure_ascii=False)
    elif isinstance(data, bytes | bytearray | memoryview):
        data = bytes(data).decode("utf-8-sig")
    if not isinstance(data, str):
        raise ValueError(f"expected JSON text, got {type(data).__name__}")
    value, spans = _decode(data, take)
    return value, data, spans


def _clip(data: Any, limit: int = 1 << 20) -> str:
    """What was rejected, as JSON text (at most ``limit`` characters)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)[:limit].decode("utf-8", "replace")
    if not isinstance(data, str):
        try:
            data = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=repr)
        except (ValueError, TypeError, RecursionError):
            data = repr(data)
    return data[:limit]


_NUMBERS = (int, float)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _number(value: Any) -> str:
    """A JSON number as text: ``39`` -> "39", ``39.0`` -> "39", ``36.5`` -> "36.5"."""
    if value.__class__ is int:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, _NUMBERS):
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def wall_time(value: Any) -> str:
    """FHIR ``dateTime`` -> ``YYYY-MM-DDTHH:MM:SS``, the wall time as sent (offset and
    fraction dropped; a date alone is midnight). Anything else (a partial date such as
    ``2013-03``) is returned as sent, for the value checks to reject."""
    if value.__class__ is str:
        done = _WALL_TIMES.get(value)
        if done is not None:
            return done
    text = _text(value)
    match = rules.DATETIME_RE.fullmatch(text)
    if not match:
        return text
    body = match.group(1)
    if len(body) == 10:
        done = body + "T00:00:00"
    else:
        try:
            when = dt.datetime.fromisoformat(body)
        except ValueError:
            return text
        if len(body) == 19 and body[10] == "T" and body.isascii():
            done = body  # what canonical_time makes of it
        else:
            done = rules.canonical_time(when.replace(microsecond=0))
    if len(_WALL_TIMES) >= 10_000:
        _WALL_TIMES.clear()
    _WALL_TIMES[value] = done
    return done


_WALL_TIMES: dict[str, str] = {}


def _date_part(value: Any) -> str:
    text = _text(value)
    return text[:10] if rules.DATE_RE.fullmatch(text[:10]) else text


def _age_years(birth: str, visit_time: str) -> str:
    """Whole years from ``birthDate`` (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``) to the visit;
    a partial birth date counts from the middle of its year or month."""
    try:
        visit = dt.date.fromisoformat(visit_time[:10])
        parts = [int(p) for p in birth.split("-")]
        born = (*parts, 7, 1)[:3] if len(parts) == 1 else (*parts, 15)[:3]
        dt.date(*born)
    except (ValueError, TypeError):
        return ""
    return str(visit.year - born[0] - ((visit.month, visit.day) < (born[1], born[2])))


def _codings(concept: Any) -> Sequence[dict[str, Any]]:
    if not isinstance(concept, dict):
        return ()
    coding = concept.get("coding")
    return coding if coding.__class__ is list else list(coding or ())


def _concept_text(concept: Any) -> str:
    """``CodeableConcept.text``, else the first coding's display."""
    if not isinstance(concept, dict):
        return ""
    text = _text(concept.get("text"))
    for coding in _codings(concept):
        text = text or _text(coding.get("display"))
    return text


def _concept_code(concept: Any) -> str:
    """The first coding's code, else ``CodeableConcept.text``."""
    for coding in _codings(concept):
        if _text(coding.get("code")):
            return _text(coding["code"])
    return _text(concept.get("text")) if isinstance(concept, dict) else ""


def _reference(value: Any) -> str:
    return _text(value.get("reference")) if isinstance(value, dict) else ""


class _Entry:
    """An entry of a resource of :data:`TAKEN`: for a valid one, what is read of its resource
    (:data:`_READ`) and what it says (:func:`_says`); for another, its resource as sent."""

    __slots__ = ("full_url", "index", "path", "resource", "said", "text", "type", "valid")

    def __init__(
        self,
        index: int,
        resource: dict[str, Any],
        rtype: str,
        full_url: str,
        text: str,  # the entry as sent
        valid: bool = True,
    ) -> None:
        self.index = index
        self.resource = resource
        self.type = rtype
        self.full_url = full_url
        self.text = text
        self.valid = valid
        self.path = f"Bundle.entry[{index}].resource"
        self.said: Any = None  # what the resource says (see _says), once known


_RELATIVE_RE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")


def _relative(reference: str) -> str:
    """``http://x/fhir/Patient/7/_history/2`` -> ``Patient/7``; "" for ``urn:``, ``#`` and others."""
    if reference.startswith(("urn:", "#")):
        return ""
    match = _RELATIVE_RE.search(reference)
    return match.group(1) if match else ""


class _Index:
    """Entries by fullUrl and by ``Type/id``: a reference resolves to the entry whose fullUrl
    it is, else to the entry of that type and id (https://hl7.org/fhir/R4/bundle.html#references)."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.by_key: dict[str, _Entry] = {}
        add = self.by_key.setdefault
        for entry in entries:
            full_url, rid = entry.full_url, entry.resource.get("id")
            if full_url:
                add(full_url, entry)
            if rid:
                add(f"{entry.type}/{rid}", entry)
            local = _relative(full_url) if full_url else ""
            if local:
                add(local, entry)

    def resolve(self, reference: str, want: str) -> _Entry | None:
        entry = self.by_key.get(reference) if reference else None
        if entry is None and reference:
            local = _relative(reference)
            entry = self.by_key.get(local) if local else None
        return entry if entry is not None and entry.type == want else None


def read_bundle(
    data: bytes | str | dict[str, Any], *, facility_id: str | None = None
) -> BundleResult:
    """Read an R4 Bundle (``transaction``, ``batch``, ``message`` or ``collection``;
    https://hl7.org/fhir/R4/bundle.html) into one visit per valid Encounter, and issues.

    ``facility_id`` is the facility the sender is authenticated as: a visit naming another
    facility is refused (issue code ``forbidden``); a visit naming none is that facility's.
    Never raises: a message that cannot be read at all is one ``fatal`` issue.
    """
    # Reading a Bundle makes objects by the hundred thousand (its entries, decoded one by one,
    # and what is taken of them): the cyclic garbage collector would scan those alive again
    # and again (~15% of the time for 500 visits), yet none is in a cycle. It is paused while
    # the Bundle is read (left alone if it was off), and collects later.
    collecting = gc.isenabled()
    if collecting:
        gc.disable()
    try:
        return _read_bundle(data, facility_id)
    finally:
        if collecting:
            gc.enable()


def _read_bundle(data: bytes | str | dict[str, Any], facility_id: str | None) -> BundleResult:
    issues = _Issues()
    result = BundleResult(issues=issues)
    try:
        bundle, text, spans = _load(data, _take)
    except (ValueError, TypeError, RecursionError) as exc:
        issues.add(None, "Bundle", "fatal", "structure", f"not JSON: {exc}", _clip(data))
        return result
    try:
        _read(bundle, text, spans, facility_id, result, issues)
    except RecursionError:
        result.visits.clear()
        issues.add(None, "Bundle", "fatal", "structure", "nested too deeply", _clip(data))
    return result


def _bundle_models() -> list[type]:
    """The R4B ``Bundle`` and ``BundleEntry`` models (imported on first use)."""
    if not _BUNDLE_MODELS:
        from fhir.resources.R4B.bundle import Bundle, BundleEntry

        _BUNDLE_MODELS.extend((Bundle, BundleEntry))
    return _BUNDLE_MODELS


_BUNDLE_MODELS: list[type] = []


def _read(
    bundle: Any,
    text: str,
    spans: list[tuple[int, int]],
    facility_id: str | None,
    result: BundleResult,
    issues: _Issues,
) -> None:
    bundle_model = _bundle_models()[0]

    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        what = bundle.get("resourceType") if isinstance(bundle, dict) else type(bundle).__name__
        raw = _clip(_whole(text))
        issues.add(None, "Bundle", "fatal", "structure", f"not a Bundle: {what!r}", raw)
        return
    items = bundle.get("entry")
    items = [] if items is None else items
    problems = VALIDATOR.errors(bundle_model, {k: v for k, v in bundle.items() if k != "entry"})
    if not isinstance(items, list):
        problems.append({"loc": ("entry",), "type": "list_type", "msg": "entry is not a list"})
    kind = bundle.get("type")
    result.bundle_type = kind if isinstance(kind, str) else None
    if not problems and kind not in BUNDLE_TYPES:
        taken = ", ".join(BUNDLE_TYPES)
        problems.append(
            {
                "loc": ("type",),
                "type": "not-supported",
                "msg": f"Bundle type {kind!r} is not taken (one of {taken})",
            }
        )
    if problems:
        raw = _clip(_whole(text))
        for error in problems[:20]:
            where = fhirpath("Bundle", error["loc"])
            code = _error_code(error["type"])
            issues.add(None, where, "fatal", code, error["msg"], raw)
        return
    message_time = _text(bundle.get("timestamp")) or _text(
        (bundle.get("meta") or {}).get("lastUpdated")
    )

    if len(spans) != len(items):  # "entry" was not where it was looked for: made again
        spans = []
    entries = []
    for i, taken in enumerate(items):
        if taken.__class__ is not _Entry and taken.__class__ is not _Pending:
            taken = _take(i, taken)  # an item _decode did not take
        if taken.__class__ is _Entry:  # valid, read
            taken.text = text[spans[i][0] : spans[i][1]] if spans else _clip(_whole(text, i))
            entries.append(taken)
            continue
        item, problems = taken.item, taken.problems
        sent = text[spans[i][0] : spans[i][1]] if spans else _clip(item)
        entry = _entry(i, item, problems, sent, kind, issues)
        if entry is not None:
            entries.append(entry)
    index = _Index(entries)
    conditions: dict[int, list[_Entry]] = {}
    observations: dict[int, list[_Entry]] = {}
    for entry in entries:
        if entry.type == "Encounter" and entry.valid:  # Encounter.diagnosis.condition links
            group = conditions.setdefault(entry.index, [])
            said = entry.said  # (not an _Encounter: _visit raises what stopped it)
            for reference in said.diagnoses if said.__class__ is _Encounter else ():
                found = index.resolve(reference, "Condition")
                if found is not None and found not in group:  # _Entry: equal if the same
                    group.append(found)
    diagnosed = {id(c) for group in conditions.values() for c in group}
    for entry in entries:
        if entry.type == "Condition" or entry.type == "Observation":
            target = index.resolve(_reference(entry.resource.get("encounter")), "Encounter")
            if target is not None:
                linked = conditions if entry.type == "Condition" else observations
                group = linked.get(target.index)
                if group is None:
                    linked[target.index] = [entry]
                elif entry not in group:
                    group.append(entry)
            elif id(entry) not in diagnosed:
                why = f"{entry.type} not linked to an Encounter of this Bundle: ignored"
                issues.add(
                    entry.index, entry.path + ".encounter", "information", "informational", why
                )
    for group in conditions.values():
        if len(group) > 1:
            group.sort(key=_by_index)

    heads: dict[str, str] = {}
    for entry in entries:
        if entry.type != "Encounter":
            continue
        linked = (conditions.get(entry.index, _NONE), observations.get(entry.index, _NONE))
        try:
            visit = _visit(entry, index, *linked, facility_id, message_time, kind, issues, heads)
        except Exception as exc:  # a fault in one visit must not take the others down
            issues.add(
                entry.index,
                entry.path,
                "error",
                "exception",
                f"could not read this Encounter: {exc!r}",
                _clip(_resource_sent(entry)),
            )
            continue
        if visit is not None:
            result.visits.append(visit)
    if issues:
        issues.sort(key=_issue_order)


_NONE: list[Any] = []


def _by_index(entry: _Entry) -> int:
    return entry.index


def _issue_order(issue: EntryIssue) -> int:
    return -1 if issue.index is None else issue.index


_METHODS = BINDINGS["Bundle.entry"]["request.method"]


def _whole(text: str, entry: int | None = None) -> Any:
    """The Bundle ``text`` decoded again, whole (the entries :func:`_decode` took are not
    kept); or its ``entry``-th entry."""
    bundle = _DECODER.decode(text)
    return bundle if entry is None else bundle["entry"][entry]


def _resource_sent(entry: _Entry) -> Any:
    """The resource of an entry as sent (:func:`_take` keeps only what is read of it)."""
    try:
        return _DECODER.decode(entry.text)["resource"]
    except (ValueError, TypeError, KeyError, RecursionError):
        return entry.resource


class _Pending:
    """An entry :func:`_take` did not take: its issues are for :func:`_entry` to say."""

    __slots__ = ("item", "problems")

    def __init__(self, item: Any, problems: list[dict[str, Any]] | None) -> None:
        self.item = item
        self.problems = problems


def _take(index: int, item: Any) -> _Entry | _Pending:
    """What is kept of the ``index``-th ``Bundle.entry`` (see :func:`_decode`), validated: if
    it is valid and of a resource read, an :class:`_Entry` (its text still "") of what is read
    of the resource (:data:`_READ`) and of what it says (:func:`_says`); else the item and
    its errors: as ``BundleEntry`` and of the :data:`BINDINGS`, None when it is not validated
    (not an object, or not an R4 resource)."""
    if item.__class__ is not dict:
        return _Pending(item, None)
    resource = item.get("resource")
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if resource is not None and resource_model(rtype) is None:
        return _Pending(item, None)
    model = (_BUNDLE_MODELS or _bundle_models())[1]
    shape: list[Any] = [model]
    leaves: list[Any] = []
    try:
        _shape(item, shape, leaves)  # as _signature
    except RecursionError:
        problems = VALIDATOR.errors(model, item)  # the model says how
    else:
        key = (tuple(shape), tuple(map(type, leaves)))
        problems = VALIDATOR.verdict(model, item, key, leaves)
    if problems:
        return _Pending(item, problems)
    problems = _unbound(item, rtype)
    keep = _READ.get(rtype) if not problems else None  # type: ignore[arg-type]
    if keep is None:
        return _Pending(item, problems)
    read = {key: resource[key] for key in keep if key in resource}
    entry = _Entry(index, read, rtype, _text(item.get("fullUrl")), "")  # type: ignore[arg-type]
    _says(entry, resource)
    return entry


_READ = {
    "Encounter": ("id",),
    "Patient": ("id",),
    "Organization": ("id", "identifier"),
    "Condition": ("id", "encounter"),
    "Observation": ("id", "encounter"),
}
"""The elements of each resource of :data:`TAKEN` read after it is validated (by ``_visit``,
the index and the links of ``_read``): all that is kept of a valid resource. What the others
say is taken at once (:data:`_SAYS`)."""


def _entry(
    index: int,
    item: Any,
    problems: list[dict[str, Any]] | None,
    sent: str,
    kind: str,
    issues: _Issues,
) -> _Entry | None:
    """One ``Bundle.entry`` and its errors (:func:`_take`): the entry if its resource
    is one of :data:`TAKEN`."""
    if not isinstance(item, dict):
        path = f"Bundle.entry[{index}]"
        issues.add(index, path, "error", "structure", "an entry is a JSON object", sent)
        return None
    resource = item.get("resource")
    rtype = resource.get("resourceType") if isinstance(resource, dict) else None
    if problems is None:  # not validated: not a resource
        issues.add(
            index,
            f"Bundle.entry[{index}].resource",
            "error",
            "structure",
            f"not an R4 resource: resourceType {rtype!r}",
            sent,
        )
        return None
    if problems:
        path = f"Bundle.entry[{index}]"
        for error in problems[:10]:
            where, code = fhirpath(path, error["loc"]), _error_code(error["type"])
            why = "a JSON object is expected" if error["type"] == "json_invalid" else error["msg"]
            issues.add(index, where, "error", code, why, sent)
        if rtype not in TAKEN:
            return None
    if resource is None:
        request = item.get("request")
        method = request.get("method") if isinstance(request, dict) else None
        severity: Severity = "information" if method in ("GET", "HEAD", None) else "warning"
        issues.add(
            index,
            f"Bundle.entry[{index}]",
            severity,
            "not-supported",
            f"entry without a resource ({method or 'no request'}): ignored",
        )
        return None
    if rtype not in TAKEN:
        if not (kind == "message" and index == 0 and rtype == "MessageHeader"):
            issues.add(
                index,
                f"Bundle.entry[{index}].resource",
                "information",
                "informational",
                f"{rtype} is not read: ignored",
            )
        return None
    return _Entry(index, resource, rtype, _text(item.get("fullUrl")), sent, not problems)


def _unbound(item: dict[str, Any], rtype: str | None) -> list[dict[str, Any]]:
    """Codes of :data:`BINDINGS` outside their value set, as pydantic-like errors."""
    problems = []
    request = item.get("request")
    if isinstance(request, dict):
        method = request.get("method")
        if method is not None and method not in _METHODS:
            problems.append(_unbound_error(("request", "method"), method, _METHODS))
    bindings = BINDINGS.get(rtype or "")
    if bindings:
        resource = item["resource"]
        for element, allowed in bindings.items():
            value = resource.get(element)
            if value is not None and value not in allowed:
                problems.append(_unbound_error(("resource", element), value, allowed))
    return problems


def _unbound_error(loc: tuple[str, str], value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    why = f"{value!r} is not one of {', '.join(sorted(allowed))}"
    return {"loc": loc, "type": "value_error", "msg": why}


def _visit(
    encounter: _Entry,
    index: _Index,
    conditions: list[_Entry],
    observations: list[_Entry],
    facility_id: str | None,
    bundle_time: str,
    bundle_type: str,
    issues: _Issues,
    heads: dict[str, str] | None = None,
) -> InboundVisit | None:
    path = encounter.path
    fields: dict[str, str] = {}
    origins: dict[str, str] = {}

    def put(column: str, value: str, origin: str) -> None:
        if value and not fields.get(column):
            fields[column] = value
            origins[column] = origin

    said = encounter.said
    if said.__class__ is _Encounter:
        enc = said
    else:  # not valid (or what it says could not be taken): read as far as it is refused
        enc = _encounter_head(encounter.resource if said is None else _resource_sent(encounter))
    patient = index.resolve(enc.subject, "Patient")
    organization = index.resolve(enc.provider, "Organization")
    group = [encounter, *([patient] if patient else []), *conditions, *observations]
    message_time = enc.stamp or bundle_time
    raw = _raw(group + ([organization] if organization else []), message_time, bundle_type, heads)

    def refuse(where: str, code: str, why: str) -> None:
        issues.add(encounter.index, where, "error", code, why, raw)

    bad = [f"entry[{e.index}]" for e in group if not e.valid]
    if bad:
        return refuse(path, "invalid", f"visit left out: {', '.join(bad)} not valid R4")
    if enc is not said:
        enc = _mapped(encounter)
    if enc.status in NOT_VISITS:
        why = f"Encounter.status {enc.status!r}: not a visit, not taken"
        issues.add(encounter.index, path + ".status", "warning", "not-supported", why, raw)
        return None
    put("visit_id", enc.visit_id, path + ".identifier[0].value")
    if not fields.get("visit_id"):
        return refuse(
            path + ".identifier", "required", "Encounter.identifier[0].value (visit id) is required"
        )
    put("visit_time", enc.start, path + ".period.start")
    if not fields.get("visit_time"):
        return refuse(
            path + ".period.start", "required", "Encounter.period.start (visit time) is required"
        )

    named, named_at = enc.named, ""
    if named:
        named_at = path + ".serviceProvider.identifier.value"
    elif organization is not None and organization.valid:
        named = _text(((organization.resource.get("identifier") or [{}])[0]).get("value"))
        named_at = organization.path + ".identifier[0].value"
    if named and facility_id and named != facility_id:
        return refuse(
            named_at, "forbidden", f"facility {facility_id!r} cannot send visits of {named!r}"
        )
    if named:
        put("facility_id", named, named_at)
    elif facility_id:
        fields["facility_id"] = facility_id
    else:
        return refuse(
            path + ".serviceProvider",
            "required",
            "no facility: serviceProvider names no Organization identifier",
        )

    put("discharge_time", enc.end, path + ".period.end")
    put("patient_class", enc.patient_class, path + ".class.code")
    put("disposition", enc.disposition, path + ".hospitalization.dischargeDisposition")

    lists: dict[str, list[tuple[str, str]]] = {}
    for obs in observations:  # observations first: they take precedence over what they restate
        for step, a, b, c in _mapped(obs):
            if step == "put":
                put(a, b, c)
            elif step == "item":
                lists.setdefault(a, []).append((b, c))
            else:
                issues.add(obs.index, a, "warning", "value", b)
    if lists:
        for column in _LIST_COLUMNS:
            items = lists.get(column)
            if items:
                sep = "; " if column == "lab_result" else rules.LIST_SEPARATOR
                put(column, sep.join([i for i, _ in items]), items[0][1])
    if enc.complaint:
        put("chief_complaint", enc.complaint, enc.complaint_at)
    _conditions(conditions, fields, origins, put)
    if patient is not None:
        _patient(patient, fields, put)

    if enc.version and enc.rid and enc.stamped:
        control_id = f"Encounter/{enc.rid}/_history/{enc.version}"
        origins["control_id"] = path + ".meta"
    else:
        control_id = "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
        origins["control_id"] = path
    return InboundVisit(
        facility_id=fields["facility_id"],
        control_id=control_id,
        event="encounter",
        message_time=message_time,
        fields=fields,
        raw=raw,
        origins=origins,
    )


class _Encounter:
    """What an Encounter says (what :func:`_visit` reads of it, from it alone)."""

    __slots__ = (
        "complaint",
        "complaint_at",
        "diagnoses",
        "disposition",
        "end",
        "named",
        "patient_class",
        "provider",
        "rid",
        "stamp",
        "stamped",
        "start",
        "status",
        "subject",
        "version",
        "visit_id",
    )

    def __init__(self, subject: str, provider: str, stamp: str) -> None:
        self.subject = subject  # the reference to its Patient
        self.provider = provider  # the reference to its Organization
        self.stamp = stamp  # meta.lastUpdated


def _encounter_head(res: dict[str, Any]) -> _Encounter:
    """What :func:`_visit` reads of any Encounter, valid or not, before it refuses an invalid
    visit: the references to its Patient and Organization, and its time."""
    provider = res.get("serviceProvider") or {}
    meta = res.get("meta") if isinstance(res.get("meta"), dict) else {}
    return _Encounter(
        _reference(res.get("subject")), _reference(provider), _text(meta.get("lastUpdated"))
    )


def _encounter(res: dict[str, Any], path: str) -> _Encounter:
    """What a valid Encounter says (see :func:`_visit`)."""
    enc = _encounter_head(res)
    provider = res.get("serviceProvider") or {}
    meta = res.get("meta") if isinstance(res.get("meta"), dict) else {}
    enc.status = res.get("status")
    identifiers = res.get("identifier") or [{}]
    enc.visit_id = _text(identifiers[0].get("value"))
    period = res.get("period") or {}
    enc.start = wall_time(period.get("start"))
    enc.end = wall_time(period.get("end"))
    enc.named = _text((provider.get("identifier") or {}).get("value"))
    klass = res.get("class") or {}
    enc.patient_class = ""
    if klass.get("system") != NULL_FLAVOR:
        code = _text(klass.get("code"))
        enc.patient_class = CLASS_CODES.get(code, code)
    disposition = (res.get("hospitalization") or {}).get("dischargeDisposition")
    enc.disposition = _concept_code(disposition)
    reasons = [(i, _concept_text(c)) for i, c in enumerate(res.get("reasonCode") or ())]
    reasons = [(i, text) for i, text in reasons if text]
    enc.complaint = "; ".join(text for _, text in reasons)
    enc.complaint_at = f"{path}.reasonCode[{reasons[0][0]}]" if reasons else ""
    enc.version, enc.rid = _text(meta.get("versionId")), _text(res.get("id"))
    enc.stamped = bool(meta.get("lastUpdated"))
    enc.diagnoses = [_reference(d.get("condition")) for d in res.get("diagnosis") or ()]
    return enc


def _raw(
    group: list[_Entry], message_time: str, bundle_type: str, heads: dict[str, str] | None = None
) -> str:
    """The visit's entries as sent, in a Bundle of the same type (``collection`` for a
    ``message``) stamped with the visit's message time: what :func:`read_bundle` reads back
    as the same visit. ``heads``: the start of such a Bundle by message time, made once."""
    head = heads.get(message_time) if heads is not None else None
    if head is None:
        kind = bundle_type if bundle_type in ("transaction", "batch") else "collection"
        stamp = f',"timestamp":{json.dumps(message_time)}' if message_time else ""
        head = f'{{"resourceType":"Bundle","type":"{kind}"{stamp},"entry":['
        if heads is not None:
            heads[message_time] = head
    return head + ",".join([e.text for e in group]) + "]}"


Put = Callable[[str, str, str], None]
_LIST_COLUMNS = ("exposures", "contacts", "lab_result")
_Steps = tuple[tuple[str, str, str, str], ...]


def _observation(res: dict[str, Any], path: str) -> _Steps:
    """What an Observation says, as steps for :func:`_visit` to take in order:
    ``("put", column, value, origin)``, ``("item", column, value, origin)`` (an item of a
    list column), ``("warn", where, why, "")`` (a warning issue)."""
    if res.get("status") in SKIPPED_STATUS:
        return ()
    for coding in _codings(res.get("code")):
        system, code = coding.get("system"), coding.get("code")
        if system == LOINC and code == CHIEF_COMPLAINT:
            if "valueString" in res:
                return (
                    ("put", "chief_complaint", _text(res["valueString"]), path + ".valueString"),
                )
            value = _concept_text(res.get("valueCodeableConcept"))
            return (("put", "chief_complaint", value, path + ".valueCodeableConcept"),)
        if system == LOINC and code in TEMPERATURE:
            return _quantity(res, path, CELSIUS, "temperature", "temperature_c")
        if system == LOINC and code == AGE:
            return _quantity(res, path, AGE_UNITS, "age", "age")
        if system == LOINC and code == ONSET:
            value = _date_part(res.get("valueDateTime"))
            return (("put", "onset_date", value, path + ".valueDateTime"),)
        if system == LOCAL_SYSTEM and code in LOCAL_CODES:
            value, at = _text(res.get("valueString")), path + ".valueString"
            if not value:
                value, at = (
                    _concept_text(res.get("valueCodeableConcept")),
                    path + ".valueCodeableConcept",
                )
            return (("item", LOCAL_CODES[code], value, at),) if value else ()
    return ()


LOCAL_CODES = {"EXPOSURE": "exposures", "CONTACT": "contacts", "LAB": "lab_result"}
CELSIUS: dict[str, Callable[[float], float]] = {
    unit: (lambda v: v) for unit in ("Cel", "C", "°C")
} | {unit: (lambda v: round((v - 32) * 5 / 9, 1)) for unit in ("[degF]", "F", "°F")}
"""Temperature units (UCUM code, else the unit text) -> Celsius."""


def _quantity(
    res: dict[str, Any],
    path: str,
    units: dict[str, Callable[[float], float]],
    what: str,
    column: str,
) -> _Steps:
    """``valueQuantity`` converted by its unit (``code``, else ``unit``) into ``column``;
    nothing if there is none, a warning if its unit is not known."""
    quantity = res.get("valueQuantity") or {}
    value = quantity.get("value")
    if not isinstance(value, _NUMBERS) or isinstance(value, bool):
        return ()
    unit = _text(quantity.get("code")) or _text(quantity.get("unit"))
    convert = units.get(unit)
    if convert is None:
        known = ", ".join(units)
        why = f"{what} unit {unit!r} is not one of {known}: {what} left out"
        return (("warn", path + ".valueQuantity", why, ""),)
    return (("put", column, _number(convert(value)), path + ".valueQuantity.value"),)


def _condition(res: dict[str, Any], path: str) -> tuple[Any, ...]:
    """The ICD-10 codes of a Condition (code, index of its coding) and its onset date; ()
    when it does not count."""
    if _concept_code(res.get("verificationStatus")) in SKIPPED_STATUS:
        return ()
    codes = []
    for k, coding in enumerate(_codings(res.get("code"))):
        value, system = _text(coding.get("code")), coding.get("system")
        if value and (
            system in ICD10_SYSTEMS
            or (system not in NOT_ICD10_SYSTEMS and rules.ICD10_RE.fullmatch(value.upper()))
        ):
            codes.append((value, k))
    return (codes, _date_part(res.get("onsetDateTime")))


def _conditions(
    conditions: list[_Entry], fields: dict[str, str], origins: dict[str, str], put: Put
) -> None:
    """ICD-10 codes of the visit's Conditions, and the earliest onset."""
    codes: list[str] = []
    onset, onset_at = "", ""
    for cond in conditions:
        said = _mapped(cond)
        if not said:
            continue
        found, when = said
        for value, k in found:
            if not codes:
                origins["diagnosis_codes"] = f"{cond.path}.code.coding[{k}].code"
            if value not in codes:
                codes.append(value)
        if when and (not onset or when < onset):
            onset, onset_at = when, cond.path + ".onsetDateTime"
    if codes:
        fields["diagnosis_codes"] = rules.LIST_SEPARATOR.join(codes)
    put("onset_date", onset, onset_at)


_GEOLOCATION_COLUMNS = {"latitude": "residence_lat", "longitude": "residence_lon"}


def _patient_says(res: dict[str, Any], path: str) -> tuple[Any, ...]:
    """What a Patient says: ``(column, value, origin)`` before the age, its birth date, and
    ``(column, value, origin)`` after the age (see :func:`_patient`)."""
    identifiers = res.get("identifier") or [{}]
    head = (
        ("patient_id", _text(identifiers[0].get("value")), path + ".identifier[0].value"),
        ("sex", GENDERS.get(res.get("gender") or "", ""), path + ".gender"),
    )
    birth = _text(res.get("birthDate"))
    address = (res.get("address") or [{}])[0]
    at = path + ".address[0]"
    tail = [
        ("residence_region", _text(address.get("district")), at + ".district"),
        ("residence_region", _text(address.get("postalCode")), at + ".postalCode"),
    ]
    for k, ext in enumerate(address.get("extension") or ()):
        if ext.get("url") == GEOLOCATION:
            for m, part in enumerate(ext.get("extension") or ()):
                column = _GEOLOCATION_COLUMNS.get(part.get("url"))
                if column:
                    value = _number(part.get("valueDecimal"))
                    tail.append((column, value, f"{at}.extension[{k}].extension[{m}].valueDecimal"))
    return (head, birth, tail)


def _patient(patient: _Entry, fields: dict[str, str], put: Put) -> None:
    head, birth, tail = _mapped(patient)
    for column, value, origin in head:
        put(column, value, origin)
    if birth and not fields.get("age"):
        put("age", _age_years(birth, fields["visit_time"]), patient.path + ".birthDate")
    for column, value, origin in tail:
        put(column, value, origin)


_SAYS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "Observation": _observation,
    "Condition": _condition,
    "Patient": _patient_says,
    "Encounter": _encounter,
}
"""What a resource says, from it alone (taken while it is at hand, see :func:`_take`)."""


def _says(entry: _Entry, resource: dict[str, Any]) -> None:
    """Set ``entry.said`` to what its resource says (:data:`_SAYS`), or to the exception that
    stopped it, which :func:`_mapped` raises when a visit reads it."""
    says = _SAYS.get(entry.type)
    if says is not None:
        try:
            entry.said = says(resource, entry.path)
        except Exception as exc:  # as the visit would have raised it
            entry.said = exc.with_traceback(None)  # not its frames


def _mapped(entry: _Entry) -> Any:
    """What an entry's resource says (see :func:`_says`)."""
    if entry.said is None:
        _says(entry, entry.resource)
    said = entry.said
    if isinstance(said, Exception):
        raise said
    return said


# --------------------------------------------------------------------------------------------
# responses


def operation_outcome(result: BundleResult, *, accepted: int | None = None) -> dict[str, Any]:
    """An R4 OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html) of ``result``:
    one issue per :class:`EntryIssue`, and when nothing was an error an information issue
    with the number of visits accepted (``accepted``, by default the visits read)."""
    issues: list[dict[str, Any]] = []
    for item in result.issues:
        issue: dict[str, Any] = {"severity": item.severity, "code": item.code}
        if item.diagnostics:
            issue["diagnostics"] = item.diagnostics
        if item.expression:
            issue["expression"] = [item.expression]
        issues.append(issue)
    if not result.errors:
        count = len(result.visits) if accepted is None else accepted
        note = f"{count} visit{'' if count == 1 else 's'} accepted"
        issues.append({"severity": "information", "code": "informational", "diagnostics": note})
    return {"resourceType": "OperationOutcome", "issue": issues}
