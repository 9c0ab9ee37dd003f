"""Fax in the simulated switch: mod_spandsp's `rxfax` on a fax line and `txfax` on an originated
leg, with the events FreeSWITCH sends for them (spandsp::rx/txfaxnegociateresult, one
rx/txfaxpageresult per page, rx/txfaxresult) and a real TIFF written where the dialplan says.

Events are the captured ones (captures/fax.esl, a two-page fax over loopback) with this fax's
values put in: the same headers in the same order. The loopback endpoint's own variables are
left out, as a call from a SIP gateway does not have them.
"""

from __future__ import annotations

import io
import uuid as uuidlib
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import gevent
import gevent.event
from PIL import Image, ImageDraw, ImageSequence

from cic_engine.esl.protocol import FrameReader

from . import wire

CAPTURE = Path(__file__).with_name("captures") / "fax.esl"
LOOPBACK_ONLY = ("variable_other_loopback_leg_uuid", "variable_loopback_leg", "variable_originate_endpoint")
# spandsp's T.30 completion codes (t30_api.h) and texts (t30_completion_code_to_str) the simulator uses.
OK = (0, "OK")
T0_EXPIRED = (2, "Timed out waiting for initial communication")
T1_EXPIRED = (3, "Timed out waiting for the first message")
FILE_ERROR = (41, "TIFF/F file cannot be opened")
CALL_DROPPED = (49, "The call dropped prematurely")


def _templates() -> dict[str, wire.Headers]:
    out: dict[str, wire.Headers] = {}
    for frame in FrameReader().feed(CAPTURE.read_bytes()):
        if frame.content_type == "text/event-plain":
            end = frame.body.find(b"\n\n")
            pairs = [p for p in wire.header_pairs(frame.body[:end]) if p[0] not in LOOPBACK_ONLY]
            out.setdefault(dict(pairs)["Event-Subclass"], pairs)
    return out


TEMPLATES = _templates()


def fax_pages(count: int, label: str = "page", compression: str = "group3") -> bytes:
    """A fax document: `count` pages of 1728x2200 at 204x196 dpi, each with its number written on it."""
    pages = []
    for n in range(1, count + 1):
        page = Image.new("1", (1728, 2200), 1)
        draw = ImageDraw.Draw(page)
        draw.rectangle((100, 100, 1628, 300), outline=0, width=6)
        draw.text((140, 160), f"{label} {n} of {count}", fill=0)
        for y in range(400, 2000, 60):
            draw.line((140, y, 140 + (y * 7 + n * 131) % 1400, y), fill=0, width=3)
        pages.append(page)
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", compression=compression, dpi=(204, 196), save_all=True,
                  append_images=pages[1:])
    return out.getvalue()


def read_pages(data: bytes) -> list[dict]:
    """What a fax machine printed of a TIFF: each page's size, resolution and compression."""
    with Image.open(io.BytesIO(data)) as image:
        return [{"size": frame.size, "dpi": tuple(round(x) for x in frame.info.get("dpi", (0, 0))),
                 "compression": frame.info.get("compression")} for frame in ImageSequence.Iterator(image)]


class FaxLeg:
    """One fax call: received on a fax line (rxfax) or sent on an originated leg (txfax)."""

    def __init__(self, switch, direction: str, caller: str, destination: str, filename: str,
                 variables: dict[str, str] | None = None, uuid: str | None = None):
        self.switch = switch
        self.uuid = uuid or str(uuidlib.uuid4())
        self.direction = direction  # "rx" or "tx"
        self.caller = caller
        self.destination = destination
        self.filename = filename
        self.variables = dict(variables or {})
        self.partner = None
        self.held = False
        self.ended = gevent.event.Event()
        self.result: tuple[int, str] | None = None
        self.pages_done = 0

    # The simulated channel (what switch.channels holds) ----------------------------------------

    def hang_up(self, cause: str = "NORMAL_CLEARING") -> None:
        self._end(cause)

    def linked(self, other) -> None:
        pass

    def unlinked(self, other) -> None:
        pass

    # Events -------------------------------------------------------------------------------

    def _values(self, local: str, remote: str, total: int | None) -> dict[str, str]:
        app = "rxfax" if self.direction == "rx" else "txfax"
        inbound = self.direction == "rx"
        return {
            "Unique-ID": self.uuid, "Channel-Call-UUID": self.uuid, "Caller-Unique-ID": self.uuid, "uuid": self.uuid,
            "variable_uuid": self.uuid, "variable_call_uuid": self.uuid,
            "Channel-Name": f"sofia/external/{self.caller if inbound else self.destination}",
            "Caller-Channel-Name": f"sofia/external/{self.caller if inbound else self.destination}",
            "variable_channel_name": f"sofia/external/{self.caller if inbound else self.destination}",
            "Caller-Caller-ID-Number": self.caller, "Caller-Orig-Caller-ID-Number": self.caller,
            "Caller-ANI": self.caller, "Caller-Destination-Number": self.destination,
            "Caller-Source": "mod_sofia", "Caller-Callee-ID-Number": self.destination,
            "variable_current_application_data": self.filename, "variable_current_application": app,
            "variable_fax_filename": self.filename,
            "variable_fax_ident": local, "fax-local-station-id": local, "variable_fax_local_station_id": local,
            "fax-remote-station-id": remote, "variable_fax_remote_station_id": remote,
            "variable_fax_header": self.variables.get("fax_header", ""),
            **({"fax-document-total-pages": str(total), "variable_fax_document_total_pages": str(total)}
               if total is not None else {}),
        }

    def _emit(self, subclass: str, values: dict[str, str]) -> None:
        now = datetime.now(UTC)
        values = {**values, "Event-Date-Local": now.strftime("%Y-%m-%d %H:%M:%S"),
                  "Event-Date-GMT": format_datetime(now, usegmt=True),
                  "Event-Date-Timestamp": str(int(now.timestamp() * 1_000_000)),
                  "Event-Sequence": str(next(self.switch.sequence)), "Core-UUID": self.switch.core_uuid,
                  "FreeSWITCH-Hostname": self.switch.hostname, "FreeSWITCH-Switchname": self.switch.hostname}
        headers = [(name, values.get(name, value)) for name, value in TEMPLATES[subclass]]
        self.switch.emit_headers("CUSTOM", headers, subclass=subclass)

    def run(self, pages: list[bytes], remote_station: str, fail: tuple[int, str] | None = None,
            drop_after: int | None = None, page_s: float = 0.02) -> tuple[int, str]:
        """The T.30 session: negotiation, the pages (until `drop_after`), the result."""
        side = self.direction
        local = self.variables.get("fax_ident", "")
        total = len(pages) if side == "tx" else None
        base = self._values(local, remote_station, total)
        if fail is not None and drop_after is None:  # nothing was negotiated: no fax at the far end
            result, done = fail, 0
        else:
            self._emit(f"spandsp::{side}faxnegociateresult", base)
            done = 0
            for n, page in enumerate(pages, start=1):
                if drop_after is not None and n > drop_after:
                    break
                gevent.sleep(page_s)
                done = n
                self._emit(f"spandsp::{side}faxpageresult", {
                    **base, "fax-document-transferred-pages": str(n), "variable_fax_document_transferred_pages": str(n),
                    "fax-image-size": str(len(page)), "variable_fax_image_size": str(len(page))})
            result = fail or OK
        self.pages_done, self.result = done, result
        self._emit(f"spandsp::{side}faxresult", {
            **base, "fax-success": "1" if result == OK else "0", "variable_fax_success": "1" if result == OK else "0",
            "fax-result-code": str(result[0]), "variable_fax_result_code": str(result[0]),
            "fax-result-text": result[1], "variable_fax_result_text": result[1],
            "fax-document-transferred-pages": str(done), "variable_fax_document_transferred_pages": str(done),
            "fax-document-total-pages": str(total if total is not None else done),
            "variable_fax_document_total_pages": str(total if total is not None else done),
            "Hangup-Cause": "NORMAL_CLEARING",
            **({"fax-remote-station-id": "", "variable_fax_remote_station_id": ""} if done == 0 and fail else {})})
        return result

    def _end(self, cause: str) -> None:
        if self.ended.is_set():
            return
        self.ended.set()
        self.switch.channels.pop(self.uuid, None)
        self.switch.emit("CHANNEL_HANGUP_COMPLETE", [("Unique-ID", self.uuid), ("Hangup-Cause", cause),
                                                     ("Caller-Destination-Number", self.destination)])


def split_pages(data: bytes) -> list[bytes]:
    """Each page of a TIFF as its own single-page TIFF (what one page's transfer carries)."""
    out = []
    with Image.open(io.BytesIO(data)) as image:
        for frame in ImageSequence.Iterator(image):
            one = io.BytesIO()
            frame.save(one, format="TIFF", compression="group3", dpi=(204, 196))
            out.append(one.getvalue())
    return out


def receive(switch, caller: str, destination: str, spool: str, document: bytes, station: str = "",
            outcome: str = "ok", announce: bool = True) -> FaxLeg:
    """A fax machine calls a fax line: the dialplan's rxfax writes `spool`/rx-<uuid>.tif.

    outcome: "ok"; "dropped" (the sender hangs up after the first page: a partial fax);
    "no-fax" (a person calls the fax line: no page, no file); "corrupt" (the file on disk is
    damaged, as a full disk or a crash leaves it). `announce=False`: the switch sends no result
    event (the engine was not listening when it would have).
    """
    leg = FaxLeg(switch, "rx", caller, destination, "", {"fax_ident": switch.fax_ident})
    leg.filename = f"{spool}/rx-{leg.uuid}.tif"
    switch.channels[leg.uuid] = leg
    switch.faxes.append(leg)
    pages = split_pages(document) if outcome != "no-fax" else []

    def session():
        # spandsp writes the file as pages arrive and closes it before the result: it is whole by then.
        if outcome != "no-fax":
            kept = _as_received(document, 1 if outcome == "dropped" else None, station)
            if outcome == "corrupt":
                kept = kept[: len(kept) // 3]
            Path(leg.filename).write_bytes(kept)
        if announce:
            fail = {"dropped": CALL_DROPPED, "no-fax": T0_EXPIRED}.get(outcome)
            leg.run(pages, station, fail=fail, drop_after=1 if outcome == "dropped" else None)
        leg._end("NORMAL_CLEARING")
    leg.greenlet = gevent.spawn(session)
    return leg


def _as_received(document: bytes, count: int | None, station: str) -> bytes:
    """The first `count` pages as spandsp's T.4 receiver writes them: T.4 2-D (group3), 204x196
    dpi, the sender's station id as ImageDescription and spandsp as Software."""
    with Image.open(io.BytesIO(document)) as image:
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)][:count]
    out = io.BytesIO()
    frames[0].save(out, format="TIFF", compression="group3", dpi=(204, 196), save_all=True,
                   append_images=frames[1:], tiffinfo={270: station, 305: "Spandsp 20230620 140530"})
    return out.getvalue()


def transmit(switch, leg: FaxLeg, behaviour: str) -> None:
    """txfax on an answered leg: the far end is a fax machine ("answer"), a fax machine that
    hangs up after the first page ("fax-drop"), or a person ("voice")."""
    try:
        data = Path(leg.filename).read_bytes()
        pages = split_pages(data)
    except (OSError, ValueError):
        pages, data = [], b""
    if not pages:
        leg.run([], "", fail=FILE_ERROR)
    elif behaviour == "voice":
        leg.run(pages, "", fail=T1_EXPIRED)
    elif behaviour == "fax-drop":
        leg.run(pages, switch.remote_station, fail=CALL_DROPPED, drop_after=1)
    else:
        leg.run(pages, switch.remote_station)
    switch.sent_faxes.append({"number": leg.destination, "uuid": leg.uuid, "variables": leg.variables,
                              "file": leg.filename, "pages": read_pages(data) if pages else [],
                              "pages_sent": leg.pages_done, "result": leg.result})
    leg._end("NORMAL_CLEARING")
