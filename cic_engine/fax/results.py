"""The end of a fax as mod_spandsp reports it: `spandsp::rxfaxresult` / `spandsp::txfaxresult`
(CUSTOM events; headers as in mod_spandsp_fax.c's phase E handler and our capture fax.esl)."""

from __future__ import annotations

from dataclasses import dataclass

RX_RESULT = "spandsp::rxfaxresult"
TX_RESULT = "spandsp::txfaxresult"
# What the adapters subscribe to: the two results (the per-page and negotiation events are not needed).
FAX_EVENTS = ("CUSTOM", RX_RESULT, TX_RESULT)


@dataclass(frozen=True)
class FaxOutcome:
    uuid: str
    success: bool
    code: int | None  # spandsp's T.30 completion code (0: OK, 49: the call dropped prematurely...)
    text: str
    pages: int  # pages transferred
    total_pages: int | None  # pages of the document (known to the sender)
    remote_station: str | None
    local_station: str | None
    transfer_rate: str | None
    ecm: str | None
    filename: str | None  # the TIFF rxfax wrote / txfax sent
    caller: str | None
    caller_name: str | None
    destination: str | None
    hangup_cause: str | None

    @property
    def partial(self) -> bool:
        return not self.success and self.pages > 0

    def summary(self) -> str:
        of = f" of {self.total_pages}" if self.total_pages else ""
        return f"{self.pages}{of} page{'s' if (self.total_pages or self.pages) != 1 else ''}, {self.text}"


def subclass(event) -> str | None:
    return event.get("Event-Subclass") if event.name == "CUSTOM" else None


def outcome(event) -> FaxOutcome:
    def number(name: str) -> int | None:
        value = (event.get(name) or "").strip()
        return int(value) if value.lstrip("-").isdigit() else None

    def text(name: str) -> str | None:
        value = (event.get(name) or "").strip()
        return value or None

    code = number("fax-result-code")
    return FaxOutcome(
        uuid=event.get("Unique-ID") or "",
        success=event.get("fax-success") == "1",
        code=code,
        text=text("fax-result-text") or (f"result code {code}" if code is not None else "no result reported"),
        pages=number("fax-document-transferred-pages") or 0,
        total_pages=number("fax-document-total-pages") or None,
        remote_station=text("fax-remote-station-id"),
        local_station=text("fax-local-station-id"),
        transfer_rate=text("fax-transfer-rate"),
        ecm=text("fax-ecm-used"),
        filename=text("variable_fax_filename"),
        caller=text("Caller-Caller-ID-Number"),
        caller_name=text("Caller-Caller-ID-Name"),
        destination=text("Caller-Destination-Number"),
        hangup_cause=text("Hangup-Cause"),
    )
