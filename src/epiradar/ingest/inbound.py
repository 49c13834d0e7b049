"""What every message adapter (HL7 v2, FHIR) hands to the message pipeline.

An adapter turns one wire message into :class:`InboundVisit` objects: the visit's canonical
fields as text (the same names and text forms as a row of the canonical visits file,
``ingest.rules``), plus where the message came from. It raises :class:`MessageError` for a
message it cannot read at all; the value checks of ``ingest.validate`` run later, on a whole
batch at once, and name the wire field through :attr:`InboundVisit.origins`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EVENTS = ("A01", "A03", "A04", "A08")
"""HL7 v2 ADT trigger events taken: admit, discharge (closes the visit), register, update."""


class MessageError(ValueError):
    """A message that cannot be taken, with the wire field at fault (``PID-7``,
    ``Bundle.entry[2].resource.period.start``) and the reason."""

    def __init__(self, field: str | None, reason: str, *, code: str = "AE") -> None:
        self.field = field
        self.reason = reason
        self.code = code  # HL7 acknowledgement code: AE application error, AR rejected
        super().__init__(f"{field}: {reason}" if field else reason)

    def __reduce__(self):  # noqa: ANN204 - picklable across worker processes, subclasses too
        return (type(self), (self.field, self.reason), dict(self.__dict__))


@dataclass
class InboundVisit:
    """One visit (new or an update of a known one) read from one message.

    ``fields`` holds canonical column names (``ingest.rules.COLUMNS``) -> text; a column left
    out or "" is unknown in this message (an update keeps the stored value). ``patient_id`` is
    still the raw id: the pipeline pseudonymises it before anything is stored.
    """

    facility_id: str  # who sent it: MSH-4 / the token's facility
    control_id: str  # MSH-10, or the FHIR Bundle / entry id: resending it is a no-op
    event: str  # A01, A03, A04, A08; FHIR: "encounter"
    message_time: str  # ISO 8601 time the sender built the message ("" when unknown)
    fields: dict[str, str]
    raw: str  # the verbatim message (for the quarantine)
    origins: dict[str, str] = field(default_factory=dict)
    """Canonical column -> the wire field it came from (``visit_time`` -> ``PV1-44``)."""

    def origin(self, column: str) -> str:
        return self.origins.get(column, column)
