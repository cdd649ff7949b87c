"""Spoken numbers in a transcript become digits where they surely are numbers, and stay words where
Vietnamese uses the same word otherwise ("không" no, "một" a, "năm" year, "thứ ba" Tuesday)."""

from __future__ import annotations

from datetime import date

import pytest

from vntext.spoken import digits_from_speech

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize(("heard", "written"), [
    # A CCCD and a phone number read digit by digit ("năm" among digits is five).
    ("không không ba một bảy năm một hai ba chín tám bảy", "003175123987"),
    ("số điện thoại không chín bảy bảy một hai ba chín tám bảy", "số điện thoại 0977123987"),
    ("không chín tám bảy một trăm hai mươi ba bốn năm sáu", "0987 123 456"),
    # Birth dates, with the year in two digits (the century that puts it in the past) or in full.
    ("mười bốn tháng ba năm tám bảy", "14/03/1987"),
    ("ngày mười bốn tháng ba năm một nghìn chín trăm tám mươi bảy", "14/03/1987"),
    ("ngày năm tháng sáu năm hai nghìn không trăm mười lăm", "05/06/2015"),
    ("mùng một tháng tư năm bảy hai", "01/04/1972"),
    ("ngày hai mươi tháng mười một năm chín lăm", "20/11/1995"),
    ("ba mươi mốt tháng mười hai năm hai không không năm", "31/12/2005"),
    ("sinh năm một chín năm tám", "sinh năm 1958"),
    ("sinh năm năm tám", "sinh năm 58"),
    # Numbers in words.
    ("năm nay tôi sáu mươi lăm tuổi", "năm nay tôi 65 tuổi"),
    ("hai mươi mốt", "21"), ("năm mươi", "50"), ("hai lăm", "25"), ("một trăm linh năm", "105"),
    # Words that only look like numbers.
    ("tôi không biết", "tôi không biết"), ("có không", "có không"), ("không một ai", "không một ai"),
    ("tôi muốn hỏi một chút", "tôi muốn hỏi một chút"), ("lịch thứ ba", "lịch thứ ba"),
    ("khám vào thứ năm", "khám vào thứ năm"), ("năm nay", "năm nay"), ("năm năm", "năm năm"),
    ("ba bốn người", "ba bốn người"), ("", ""),
    ("mười năm trước", "10 năm trước"), ("khám ba năm một lần", "khám ba năm một lần"),
    ("tháng mười năm ngoái", "tháng 10 năm ngoái"), ("ba bốn năm nay", "ba bốn năm nay"),
    ("hẹn ngày mốt", "hẹn ngày mốt"), ("không không không phải", "không không không phải"),
    ("hai mươi năm", "25"), ("số nhà hai năm", "số nhà hai năm"),
])
def test_spoken_numbers_are_written_as_digits_only_where_they_are_numbers(heard: str, written: str) -> None:
    assert digits_from_speech(heard, today=TODAY) == written


def test_an_impossible_date_is_left_as_heard() -> None:
    assert digits_from_speech("ba mươi hai tháng mười ba năm tám bảy", today=TODAY) == "32 tháng 13 năm 87"
