"""pkverify.sources: short ids to full citations."""

from __future__ import annotations

from pkverify.sources import SOURCES, check_source, cite, parts


def test_every_source_has_a_full_citation():
    for sid, src in SOURCES.items():
        assert src.id == sid
        text = src.citation()
        assert src.authors in text and f"({src.year})" in text and src.title in text
        assert src.venue in text


def test_the_sources_the_issue_names_are_there():
    for sid in ("domingos2020", "ntk-notes", "jacot2018", "arora2019", "bell2023"):
        assert sid in SOURCES
    assert "Lemma 1" in SOURCES["ntk-notes"].note  # the notes' lemma numbers are recorded


def test_parts_and_check():
    assert parts("domingos2020 Thm. 1; bell2023") == [("domingos2020", "Thm. 1"), ("bell2023", "")]
    assert check_source("domingos2020 Thm. 1; nowhere2099 eq. 1") == ["nowhere2099"]
    assert cite("bell2023")[0].startswith("Brian Bell")
