"""The tariff catalogue: HS codes as the declarations carry them."""

from __future__ import annotations

from portsift.synthetic.generator import SyntheticData


def test_hs_codes_are_ten_digit_text_keeping_leading_zeros(data: SyntheticData) -> None:
    codes = data.declarations["hs_code"]
    assert codes.str.fullmatch(r"\d{10}").all()
    assert codes.str.startswith("03").any()
    assert {"2523", "3304", "8517", "8471", "2204", "6109"} <= set(codes.str[:4])
    assert 200 <= codes.str[:6].nunique() <= 600
