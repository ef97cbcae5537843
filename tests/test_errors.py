"""The one check of count-like settings, against a literal reading of its contract."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from streamnets.errors import SettingError, whole_number

values = st.one_of(st.integers(-5, 12), st.floats(-5, 12), st.booleans(), st.none(),
                   st.text(max_size=2), st.integers(-5, 12).map(np.int64))


@given(value=values, lo=st.integers(-2, 3), span=st.one_of(st.none(), st.integers(0, 6)),
       default=st.booleans())
def test_whole_number_takes_exactly_the_integers_in_range(value, lo, span, default):
    hi = None if span is None else lo + span
    if value is None and default:
        assert whole_number("k", value, lo, hi, default=default) is None
        return
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    in_range = whole and value >= lo and (hi is None or value <= hi)
    if in_range:
        result = whole_number("k", value, lo, hi, default=default)
        assert result == value and type(result) is int
    else:
        with pytest.raises(SettingError, match="^k(=| must be a whole number)"):
            whole_number("k", value, lo, hi, default=default)


def test_messages_name_the_setting_the_value_the_range_and_why():
    with pytest.raises(SettingError, match=r"^workers must be a whole number >= 1 \(or None for the "
                                           r"default\), got 0$"):
        whole_number("workers", 0, default=True)
    with pytest.raises(SettingError, match=r"^step must be a whole number in 0\.\.6, got 2\.0: see the "
                                           r"tableau$"):
        whole_number("step", 2.0, 0, 6, why="see the tableau")
    with pytest.raises(SettingError, match=r"^step=7 is out of range 0\.\.6: see the tableau$"):
        whole_number("step", 7, 0, 6, why="see the tableau")
    with pytest.raises(SettingError, match=r"^size must be a whole number >= 1, got None$"):
        whole_number("size", None)  # None is only a default where the caller says so
