"""Self-checks: a line on success, and an AssertionError that says what to do on any failure."""

import pytest

from clickkit.course.checks import check


def test_success_prints_the_requirement(capsys):
    with check("the route answers 201"):
        assert 1 + 1 == 2
    assert capsys.readouterr().out == "✓ the route answers 201\n"


@pytest.mark.parametrize("failure, expected", [
    (AssertionError("got 500; expected 201"), "got 500; expected 201"),
    (NotImplementedError("hello() is not written yet"), "hello() is not written yet"),
    (NameError("name 'app' is not defined"), "run the cells above this one first"),
    (KeyError("offset"), "Your code raised KeyError"),
])
def test_every_failure_becomes_an_assertion_naming_the_requirement(failure, expected, capsys):
    with pytest.raises(AssertionError) as raised:
        with check("the route answers 201"):
            raise failure
    assert type(raised.value) is AssertionError
    assert str(raised.value).startswith("✗ the route answers 201\n") and expected in str(raised.value)
    assert capsys.readouterr().out == ""
