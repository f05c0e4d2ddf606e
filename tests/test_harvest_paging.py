"""The shared paging invariants (harvesters.paging.Pager) that the CKAN, cloud and CSW harvesters rely on."""

from __future__ import annotations

import pytest

from harvesters.base import SourceChangedError, SourceFormatError
from harvesters.paging import Pager


def read(pager: Pager, pages: list[tuple[int | None, list[str]]]) -> list[str]:
    kept = []
    for n, (total, ids) in enumerate(pages, 1):
        if not pager.more:
            break
        kept += [ids[i] for i in pager.take(f"p{n}", total, ids)]
    pager.finish()
    return kept


def test_a_whole_listing_is_read_and_complete():
    pager = Pager("src", 10)
    assert read(pager, [(5, ["a", "b"]), (5, ["c", "d"]), (5, ["e"])]) == list("abcde")
    assert pager.complete and pager.pages == 3 and not pager.problems


def test_an_empty_page_ends_the_listing():
    pager = Pager("src", 10, strict_total=False)
    assert read(pager, [(None, ["a"]), (None, []), (None, ["never"])]) == ["a"]
    assert pager.pages == 2 and pager.complete


def test_a_moving_total_fails():
    with pytest.raises(SourceChangedError, match="moved from 4 to 5"):
        read(Pager("src", 10), [(4, ["a", "b"]), (5, ["c", "d"])])


def test_a_repeated_page_means_the_server_ignores_paging():
    pager = Pager("src", 10)
    assert read(pager, [(6, ["a", "b", "c"]), (6, ["a", "b", "c"]), (6, ["d"])]) == list("abc")
    assert pager.ignores_paging and not pager.complete
    assert "ignores paging" in pager.problems[0] and "3 records of 6" in pager.problems[0]


def test_a_partly_repeated_page_means_the_listing_moved():
    with pytest.raises(SourceChangedError, match="b came twice"):
        read(Pager("src", 10), [(4, ["a", "b"]), (4, ["b", "c"])])


def test_a_duplicate_within_a_page_is_reported_and_the_first_kept():
    pager = Pager("src", 10, strict_total=False)
    assert read(pager, [(3, ["a", "b", "a"])]) == ["a", "b"]
    assert "came twice on the page" in pager.problems[0]


def test_max_pages_cuts_an_unfinished_listing_with_an_error():
    with pytest.raises(SourceFormatError, match="stopped after 2 pages"):
        read(Pager("src", 2), [(9, ["a"]), (9, ["b"]), (9, ["c"])])


def test_a_total_not_reached_fails_when_strict_and_is_incomplete_otherwise():
    with pytest.raises(SourceChangedError, match="2 records read but the total says 3"):
        pager = Pager("src", 10)
        pager.take("p1", 3, ["a", "b"])
        pager.stop()
        pager.finish()
    lenient = Pager("src", 10, strict_total=False)
    lenient.take("p1", 3, ["a", "b"])
    lenient.stop()
    lenient.finish()
    assert not lenient.complete and "announced 3" in lenient.problems[0]
