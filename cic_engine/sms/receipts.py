"""Delivery receipts: the SMSC's deliver_sm that reports on a message we sent (esm_class
0x04), in the de-facto text format of SMPP 3.4 Appendix B and the receipted_message_id /
message_state TLVs, which win when both are present."""

from __future__ import annotations

import re
from dataclasses import dataclass

ESM_RECEIPT_MASK = 0x3C
ESM_SMSC_RECEIPT = 0x04
RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_STATE = 0x0427
NETWORK_ERROR_CODE = 0x0423

# message_state TLV values (SMPP 3.4, 5.2.28) to the text format's stat words
_STATES = {1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN",
           8: "REJECTD"}
FINAL_OK = {"DELIVRD"}
FINAL_FAILED = {"EXPIRED", "DELETED", "UNDELIV", "REJECTD"}
_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):\s*(\S*)", re.IGNORECASE)


@dataclass(frozen=True)
class Receipt:
    message_id: str  # the SMSC's id, as its submit_sm_resp gave it
    stat: str  # DELIVRD, UNDELIV, ...
    error: str | None

    @property
    def outcome(self) -> str:
        """delivered, failed, or pending (ENROUTE, ACCEPTD, UNKNOWN)."""
        return "delivered" if self.stat in FINAL_OK else "failed" if self.stat in FINAL_FAILED else "pending"


def is_receipt(esm_class: int) -> bool:
    return esm_class & ESM_RECEIPT_MASK == ESM_SMSC_RECEIPT


def parse(short_message: bytes, tlvs: dict[int, bytes] | None = None) -> Receipt | None:
    """The receipt in a deliver_sm, or None when it names no message."""
    tlvs = tlvs or {}
    fields = {k.lower(): v for k, v in _FIELD.findall(short_message.decode("latin-1"))}
    message_id = tlvs.get(RECEIPTED_MESSAGE_ID, b"").rstrip(b"\0").decode("latin-1") or fields.get("id", "")
    state = tlvs.get(MESSAGE_STATE)
    stat = _STATES.get(state[0], "UNKNOWN") if state else fields.get("stat", "UNKNOWN").upper()
    if not message_id:
        return None
    error = fields.get("err")
    if NETWORK_ERROR_CODE in tlvs:
        error = tlvs[NETWORK_ERROR_CODE].hex()
    return Receipt(message_id=message_id, stat=stat, error=None if error in (None, "", "000") else error)


def id_forms(message_id: str) -> list[str]:
    """The forms an SMSC's id may take between its submit_sm_resp and its receipt: the same
    number in hex or decimal, zero-padded or not, in any case. Compared after normal_id."""
    forms = {normal_id(message_id)}
    for base_from, render in ((10, lambda n: format(n, "X")), (16, str)):
        try:
            forms.add(normal_id(render(int(message_id, base_from))))
        except ValueError:
            continue
    return sorted(forms)


def normal_id(message_id: str) -> str:
    return message_id.strip().upper().lstrip("0")
