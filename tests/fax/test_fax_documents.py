"""Fax pages as files: the TIFF a real rxfax wrote (tests/fax/data, from FreeSWITCH 1.10.12 and
spandsp 3) read and rendered to PDF; PDFs rendered to fax TIFFs by Ghostscript; damaged files
named as such."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pytest

from cic_engine.fax import document
from tests.fakeswitch.fax import fax_pages, read_pages

DATA = Path(__file__).with_name("data")
RECEIVED = (DATA / "received-2-pages.tif").read_bytes()


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return [(round(float(p.mediabox[2]) / 72, 2), round(float(p.mediabox[3]) / 72, 2)) for p in doc.pages]


def test_the_tiff_a_real_rxfax_wrote_is_read_with_its_pages_and_the_senders_station():
    pages = document.read_tiff(RECEIVED)
    assert (pages.pages, pages.width, pages.dpi, pages.compression) == (2, 1728, (204.0, 196.0), "group3")
    assert pages.station_id == "CIC-TX"


@pytest.mark.parametrize("compression", ["group3", "group4"])
def test_a_multi_page_fax_becomes_a_pdf_of_the_same_pages_at_their_real_size(compression):
    tiff = fax_pages(3, compression=compression)
    pdf = document.tiff_to_pdf(tiff)
    # 1728 px at 204 dpi is 8.47 in wide; 2200 lines at 196 dpi are 11.22 in: the fine-mode aspect is kept.
    assert pdf_pages(pdf) == [(8.47, 11.22)] * 3
    assert pdf_pages(document.tiff_to_pdf(RECEIVED)) == [(8.47, 11.22)] * 2


@pytest.mark.parametrize("damage, reason", [
    (lambda d: d[: len(d) // 2], "cannot be decoded"),
    (lambda d: d[:200], "not a readable image"),
    (lambda d: b"", "empty"),
    (lambda d: b"%PDF-1.4\n" + d, "not a readable image"),
])
def test_a_damaged_file_is_refused_with_what_is_wrong_with_it(damage, reason):
    with pytest.raises(document.UnreadableFax, match=reason):
        document.read_tiff(damage(RECEIVED))


def test_a_png_is_not_taken_for_a_fax():
    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (10, 10)).save(out, format="PNG")
    with pytest.raises(document.UnreadableFax, match="not a TIFF file"):
        document.read_tiff(out.getvalue())


@pytest.mark.parametrize("encoding, compression", [("g3", "group3"), ("g4", "group4")])
def test_a_pdf_is_rendered_as_a_fax_tiff_ghostscript_makes(tmp_path, encoding, compression):
    pdf = document.tiff_to_pdf(fax_pages(2))
    cover = document.cover_page(["To: +86 21 5555 0100", "Your invoice follows."])
    out = tmp_path / "tx.tif"
    pages = document.render_for_fax([cover, pdf], str(out), encoding)
    assert pages.pages == 3
    assert read_pages(out.read_bytes()) == [{"size": (1728, 2292), "dpi": (204, 196), "compression": compression}] * 3
    assert not (tmp_path / "tx.tif.part").exists()


def test_a_pdf_ghostscript_cannot_read_is_refused_and_leaves_no_file(tmp_path):
    with pytest.raises(document.RenderError, match="cannot be rendered as a fax"):
        document.render_for_fax([b"%PDF-1.4\nthis is not really a PDF\n"], str(tmp_path / "tx.tif"))
    assert list(tmp_path.iterdir()) == []
