"""Real-world mail from the sample collection mail-mime-parser's tests use (Hunnysoft's MUA
samples: Outlook, Netscape, Eudora, Pine; see corpus/README.md for origin and licence). What
each message should read as (sender, subject, text, how many attachments) is in
corpus/expected.json, taken from that project's functional tests; the text and attachments are
checked against the original files the samples were made from (corpus/files/)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cic_engine.mail.mime import parse
from cic_engine.mail.text import html_to_text

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def original(name: str) -> str:
    return (CORPUS / "files" / name).read_bytes().decode("iso-8859-1")  # as the samples' files were written


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.eml")), ids=lambda p: p.stem)
def test_every_message_of_the_corpus_parses_to_something_to_show(path):
    # m1011 has no expectations: Netscape wrote its UTF-7 body wrongly (its own tests skip it too).
    mail = parse(path.read_bytes())
    assert mail.text.strip() or mail.html or mail.attachments, path.name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_sample_parses_keeps_its_text_and_attachments_and_decodes_as_its_charset_says(name):
    expected = EXPECTED[name]
    mail = parse((CORPUS / f"{name}.eml").read_bytes())
    if "from_email" in expected:
        assert (mail.from_name, mail.from_address) == (expected["from_name"], expected["from_email"])
    if "subject" in expected:
        assert mail.subject == expected["subject"]
    if "text" in expected:
        assert words(original(expected["text"])) in words(mail.text)
    if "html" in expected:
        assert mail.html is not None and words(original(expected["html"])) in words(html_to_text(mail.html))
    assert len(mail.attachments) == expected["attachments"], [a.filename for a in mail.attachments]
    for attachment in mail.attachments:
        kept = CORPUS / "files" / attachment.filename
        if attachment.content_type == "application/mac-binhex40":
            assert "binhex" in expected and attachment.content.lstrip().startswith(b"(This file must be converted")
        elif kept.exists():
            if attachment.content_type.startswith("text/"):
                assert words(attachment.content.decode("iso-8859-1")) == words(original(attachment.filename))
            else:
                assert attachment.content == kept.read_bytes(), attachment.filename
    if expected.get("wrong_charset"):
        assert any("replaced" in p or "was UTF-8" in p or "declared" in p for p in mail.problems), mail.problems
    else:
        # Decoded as declared: nothing replaced, nothing guessed.
        assert "\ufffd" not in mail.text + mail.subject + mail.from_name, mail.problems
