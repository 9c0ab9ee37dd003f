"""Fax documents and results: TIFF in, PDF for the inbox; PDF out, fax TIFF for txfax; the
result events of FreeSWITCH's mod_spandsp read into one outcome."""


def kind_of(content: bytes) -> str | None:
    """"pdf" or "tiff" by the file's first bytes (its name and claimed type may say anything).
    Here, not in document.py, so that checking a reply does not load the imaging libraries."""
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None
