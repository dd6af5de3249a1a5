"""The pytest plugin: known deviations become strict xfails; bad deviation files fail."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TESTS = """
def test_deviates():
    assert 1 == 2

def test_conforms():
    assert 1 == 1
"""


def _setup(pytester: pytest.Pytester, toml: str) -> None:
    pytester.makepyfile(test_suite=TESTS)
    d = pytester.path / "suites" / "known-deviations"
    d.mkdir(parents=True)
    (d / "faketarget.toml").write_text(toml)


def test_known_deviation_that_still_deviates_passes_as_xfail(pytester: pytest.Pytester) -> None:
    _setup(pytester, '[[deviation]]\ntest = "test_suite.py::test_deviates"\n'
                     'observed = "1"\nexpected = "2"\n')
    res = pytester.runpytest("--target", "faketarget")
    res.assert_outcomes(passed=1, xfailed=1)


def test_known_deviation_that_was_fixed_fails_the_suite(pytester: pytest.Pytester) -> None:
    _setup(pytester, '[[deviation]]\ntest = "test_suite.py::test_conforms"\n'
                     'observed = "x"\nexpected = "y"\n')
    res = pytester.runpytest("--target", "faketarget")
    res.assert_outcomes(failed=2)  # test_deviates fails, test_conforms XPASS(strict)


def test_malformed_deviation_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _setup(pytester, '[[deviation]]\ntest = "test_suite.py::test_deviates"\n')
    res = pytester.runpytest("--target", "faketarget")
    assert res.ret != 0
    assert "each [[deviation]] needs test, observed, expected" in res.stderr.str()
