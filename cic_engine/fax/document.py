"""Fax pages as files: a received TIFF checked page by page and rendered to PDF (img2pdf, which
keeps the bilevel pages lossless and their 204x196 dpi aspect), and the agent's PDFs rendered to
the TIFF that `txfax` sends (Ghostscript's tiffg3/tiffg4 devices at fax resolution).

Pure functions of bytes, except `render_for_fax`, which runs Ghostscript as a child process.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import textwrap
import warnings
from dataclasses import dataclass

import img2pdf
from PIL import Image, ImageDraw, ImageFont, ImageSequence, UnidentifiedImageError

FAX_WIDTH_PX = 1728  # T.4: 215 mm at 204 dpi
FAX_DPI = (204, 196)  # "fine" resolution
PAPER_HEIGHT_PX = {"a4": 2292, "letter": 2156}  # 297 mm / 11 in at 196 dpi
MAX_PAGES = 200
GS_TIMEOUT_S = 120


class UnreadableFax(ValueError):
    """The file is not a fax this engine can read; the message says what is wrong with it."""


class RenderError(ValueError):
    """A document could not be made into fax pages; the message says why."""


@dataclass(frozen=True)
class FaxPages:
    pages: int
    width: int
    height: int
    dpi: tuple[float, float]
    compression: str
    station_id: str | None  # what spandsp wrote as the ImageDescription: the sender's station id


def read_tiff(data: bytes) -> FaxPages:
    """Every page decoded once, so a truncated or corrupt file is found here, not in the inbox."""
    if not data:
        raise UnreadableFax("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns, then raises, about the same corrupt tag
            image = Image.open(io.BytesIO(data))
            if image.format != "TIFF":
                raise UnreadableFax(f"not a TIFF file (it reads as {image.format or 'unknown'})")
            first = None
            pages = 0
            for frame in ImageSequence.Iterator(image):
                pages += 1
                if pages > MAX_PAGES:
                    raise UnreadableFax(f"more than {MAX_PAGES} pages")
                frame.load()
                if first is None:
                    first = (frame.size, frame.info.get("dpi") or (0, 0), frame.info.get("compression", "raw"),
                             frame.tag_v2.get(270))
    except UnreadableFax:
        raise
    except UnidentifiedImageError:
        raise UnreadableFax("not a readable image (not a TIFF, or cut short before its first page)") from None
    except Exception as exc:  # a decoder fed hostile bytes raises OSError, ValueError, TypeError...
        raise UnreadableFax(f"the TIFF cannot be decoded: {exc or type(exc).__name__}") from None
    if first is None:
        raise UnreadableFax("the TIFF has no page")
    (width, height), dpi, compression, station = first
    return FaxPages(pages, width, height, (float(dpi[0]), float(dpi[1])), compression,
                    str(station).strip() or None if station else None)


def tiff_to_pdf(data: bytes) -> bytes:
    """The pages as a PDF of images only (no scripts, no forms): safe to show in the inbox."""
    try:
        return img2pdf.convert(data, rotation=img2pdf.Rotation.ifvalid)
    except Exception as exc:  # img2pdf raises plain Exceptions of several kinds for a bad image
        raise UnreadableFax(f"the TIFF cannot be rendered to PDF: {exc}") from None


def cover_page(lines: list[str], paper: str = "a4") -> bytes:
    """A one-page PDF at fax resolution with the agent's text, put before the documents."""
    height = PAPER_HEIGHT_PX[paper]
    page = Image.new("1", (FAX_WIDTH_PX, height), 1)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=34)
    y = 120
    for line in lines:
        for piece in textwrap.wrap(line, 80) or [""]:
            if y > height - 120:
                break
            draw.text((110, y), piece, fill=0, font=font)
            y += 46
    out = io.BytesIO()
    page.save(out, format="TIFF", compression="group4", dpi=FAX_DPI)
    return tiff_to_pdf(out.getvalue())


def ghostscript() -> str | None:
    return shutil.which("gs")


def render_for_fax(pdfs: list[bytes], out_path: str, encoding: str = "g4", paper: str = "a4",
                   run=None) -> FaxPages:
    """The PDFs, in order, as one multi-page fax TIFF at `out_path` (1728 px wide, 204x196 dpi,
    T.4 (g3) or T.6 (g4)). `run` is subprocess.run or a cooperative equivalent."""
    if run is None:
        import subprocess

        run = subprocess.run
    gs = ghostscript()
    if gs is None:
        raise RenderError("Ghostscript (gs) is not installed on this host")
    device = {"g3": "tiffg3", "g4": "tiffg4"}[encoding]
    with tempfile.TemporaryDirectory(prefix="cic-fax-") as work:
        inputs = []
        for n, pdf in enumerate(pdfs):
            path = os.path.join(work, f"in-{n}.pdf")
            with open(path, "wb") as fh:
                fh.write(pdf)
            inputs.append(path)
        partial = out_path + ".part"
        command = [gs, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", f"-sDEVICE={device}",
                   f"-r{FAX_DPI[0]}x{FAX_DPI[1]}", f"-g{FAX_WIDTH_PX}x{PAPER_HEIGHT_PX[paper]}",
                   "-dFIXEDMEDIA", "-dPDFFitPage", f"-sOutputFile={partial}", *inputs]
        try:
            done = run(command, capture_output=True, timeout=GS_TIMEOUT_S)
        except Exception as exc:  # a timeout, or gs killed
            raise RenderError(f"Ghostscript did not finish: {exc}") from None
        problem = _gs_problem(done.returncode, done.stdout + done.stderr)
        if problem:
            _remove(partial)
            raise RenderError(f"the document cannot be rendered as a fax: {problem}")
        with open(partial, "rb") as fh:
            data = fh.read()
        try:
            pages = read_tiff(data)
        except UnreadableFax as exc:
            _remove(partial)
            raise RenderError(f"Ghostscript made an unreadable fax: {exc}") from None
        os.replace(partial, out_path)  # txfax never sees a half-written file
    return pages


def _gs_problem(returncode: int, output: bytes) -> str | None:
    text = output.decode("utf-8", "replace")
    # gs 10 exits 0 for a PDF it could not read but prints "**** Error"; both mean no document.
    lines = [line.strip(" *") for line in text.splitlines() if "error" in line.lower()]
    if returncode != 0 or lines:
        return (lines[0] if lines else text.strip().splitlines()[-1] if text.strip() else f"exit {returncode}")[:300]
    return None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
