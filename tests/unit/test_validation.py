import pytest

from attune.services.common.errors import InvalidArgument
from attune.services.common.validation import check_id


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "a\x7fb", "x" * 257])
def test_bad_ids_are_refused_naming_the_field(bad):
    with pytest.raises(InvalidArgument) as err:
        check_id("user_id", bad)
    assert err.value.field == "user_id"


def test_good_ids_pass_through():
    assert check_id("card_id", "alice-42") == "alice-42"
    assert check_id("card_id", "x" * 10, max_chars=10) == "x" * 10
