"""Long messages: split into SMPP parts with a concatenation header (UDH), and parts read back
into one message (UDH with an 8- or 16-bit reference, or the SAR TLVs)."""

from __future__ import annotations

from dataclasses import dataclass

from .alphabet import DC_GSM, Encoded, encode

ESM_UDHI = 0x40  # esm_class: the short message starts with a user data header
SINGLE = {DC_GSM: 160, 0x08: 140}  # octets in one message without a header
PART = {DC_GSM: 153, 0x08: 134}  # octets of text in a part, after the 6-octet header
MAX_PARTS = 255

# TLVs of segmentation and reassembly (SMPP 3.4, 5.3.2.22-24)
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F


class MessageTooLong(ValueError):
    """More than 255 parts: no phone can put it together."""


@dataclass(frozen=True)
class Outgoing:
    data_coding: int
    esm_class: int
    parts: list[bytes]  # each a whole short_message, header included


def split(text: str, reference: int) -> Outgoing:
    """The SMPP parts of a text. `reference` (0-255) identifies the set on the phone: derive it
    from the message's own id, so that a retry sends the same set again."""
    encoded = encode(text)
    if encoded.size <= SINGLE[encoded.data_coding]:
        return Outgoing(encoded.data_coding, 0, [b"".join(encoded.units)])
    chunks = _chunks(encoded, PART[encoded.data_coding])
    if len(chunks) > MAX_PARTS:
        raise MessageTooLong(f"the text needs {len(chunks)} parts; at most {MAX_PARTS} can be put together")
    ref = reference % 256
    return Outgoing(encoded.data_coding, ESM_UDHI, [
        bytes((0x05, 0x00, 0x03, ref, len(chunks), seq)) + chunk for seq, chunk in enumerate(chunks, start=1)])


def _chunks(encoded: Encoded, limit: int) -> list[bytes]:
    chunks: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for unit in encoded.units:  # whole characters only: an escape or a surrogate pair stays in one part
        if size + len(unit) > limit:
            chunks.append(b"".join(current))
            current, size = [], 0
        current.append(unit)
        size += len(unit)
    if current:
        chunks.append(b"".join(current))
    return chunks


@dataclass(frozen=True)
class Part:
    reference: int  # the set's reference, from the sender
    total: int
    seq: int  # 1-based


def read_part(short_message: bytes, esm_class: int, tlvs: dict[int, bytes] | None = None) -> tuple[Part | None, bytes]:
    """(where the part belongs, if it is one; the payload without its header). Other header
    elements (ports, ...) are skipped. A header that does not add up is taken as no header."""
    tlvs = tlvs or {}
    if esm_class & ESM_UDHI and short_message:
        length = short_message[0]
        header, payload = short_message[1:1 + length], short_message[1 + length:]
        if len(header) == length:
            i = 0
            part = None
            while i + 2 <= len(header):
                iei, iel = header[i], header[i + 1]
                data = header[i + 2:i + 2 + iel]
                if len(data) != iel:
                    break
                if iei == 0x00 and iel == 3:
                    part = Part(reference=data[0], total=data[1], seq=data[2])
                elif iei == 0x08 and iel == 4:
                    part = Part(reference=int.from_bytes(data[:2], "big"), total=data[2], seq=data[3])
                i += 2 + iel
            return (part if part and 1 <= part.seq <= part.total else None), payload
    if SAR_MSG_REF_NUM in tlvs and SAR_TOTAL_SEGMENTS in tlvs and SAR_SEGMENT_SEQNUM in tlvs:
        part = Part(reference=int.from_bytes(tlvs[SAR_MSG_REF_NUM], "big"),
                    total=int.from_bytes(tlvs[SAR_TOTAL_SEGMENTS], "big"),
                    seq=int.from_bytes(tlvs[SAR_SEGMENT_SEQNUM], "big"))
        return (part if 1 <= part.seq <= part.total else None), short_message
    return None, short_message
