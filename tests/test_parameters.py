"""Every notebook parameter is validated before any work: property-based tests feed bad values.

Two levels: the checkers of ``superconv.chapter`` (what every chapter's setup cell uses), and the
chapters themselves -- each chapter's parameters cell plus its setup cell, executed in-process
with one parameter replaced by a bad value, must stop with a one-line ``ParameterError`` (or
``ValueError``) that names that parameter, before anything is trained or written.
"""

import math
import re
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from superconv import chapter

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9]*.ipynb"))
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# values that no parameter of any chapter accepts: containers of the wrong kind, NaN/inf, bytes
never_valid = st.one_of(
    st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
    st.sets(st.integers(), min_size=1, max_size=2),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.binary(min_size=1, max_size=3),
)


def _one_line_naming(err: Exception, name: str) -> None:
    text = str(err)
    assert "\n" not in text, text
    assert name in text, (name, text)


# --------------------------------------------------------------------------- the checkers

@FAST
@given(st.one_of(st.integers(max_value=0), st.floats(max_value=0, allow_nan=False), never_valid, st.text(),
                 st.booleans()))
def test_positive_refuses_non_positive_and_non_numbers(value):
    with pytest.raises(chapter.ParameterError) as e:
        chapter.positive("MAX_LR", value)
    _one_line_naming(e.value, "MAX_LR")


@FAST
@given(st.one_of(st.integers(max_value=0), never_valid, st.floats(allow_nan=False), st.text(), st.booleans()))
def test_positive_int_and_seed_refuse_everything_but_integers(value):
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return
    with pytest.raises(chapter.ParameterError) as e:
        chapter.seed("SEED", value)
    _one_line_naming(e.value, "SEED")
    with pytest.raises(chapter.ParameterError) as e:
        chapter.positive_int("ITERATIONS", value)
    _one_line_naming(e.value, "ITERATIONS")


@FAST
@given(st.one_of(st.text(), st.integers(), never_valid))
def test_profile_and_device_refuse_unknown_names(value):
    if value in ("smoke", "laptop", "paper", "auto", "cpu", "mps") or (isinstance(value, str) and
                                                                        re.match(r"^cuda(:\d+)?$", value)):
        return
    with pytest.raises(chapter.ParameterError) as e:
        chapter.setup(value, "cpu", None)
    _one_line_naming(e.value, "PROFILE")
    with pytest.raises(chapter.ParameterError) as e:
        chapter.setup("smoke", value, None)
    _one_line_naming(e.value, "DEVICE")


@FAST
@given(st.one_of(st.lists(st.integers(max_value=-1), min_size=1, max_size=3),
                 st.lists(st.integers(min_value=0, max_value=3), min_size=2, max_size=5).filter(
                     lambda xs: len(set(xs)) < len(xs)),
                 st.lists(st.floats(), min_size=1, max_size=2), st.just([]), never_valid))
def test_seeds_must_be_distinct_non_negative_integers(value):
    with pytest.raises(chapter.ParameterError) as e:
        chapter.setup("smoke", "cpu", value)
    _one_line_naming(e.value, "SEEDS")


# --------------------------------------------------------------------------- the chapters

def _cells(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    params, setup = code[0].source, code[2].source
    assert "CHAPTER.setup(globals())" in setup, f"{path.name}: the third code cell is the setup cell"
    names = re.findall(r"^([A-Z_][A-Z0-9_]*) =", params, re.M)
    return params, setup, names


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_parameter_is_checked_before_any_work(path, tmp_path, monkeypatch):
    """Each parameter in turn gets a value no parameter accepts; the setup cell must refuse it
    with one line naming the parameter, and must not have trained or written anything."""
    import superconv.experiments as experiments
    monkeypatch.setenv("SUPERCONV_RESULTS", str(tmp_path / "store"))
    trained = []
    monkeypatch.setattr(experiments, "fit", lambda *a, **k: trained.append(1))
    params, setup, names = _cells(path)
    assert {"PROFILE", "DEVICE", "SEEDS"} <= set(names)

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(name=st.sampled_from(names), bad=never_valid)
    def check(name, bad):
        ns: dict = {}
        exec(compile(params, f"{path.name}:parameters", "exec"), ns)
        ns["PROFILE"] = "smoke"
        ns[name] = bad
        with pytest.raises((chapter.ParameterError, ValueError)) as e:
            exec(compile(setup, f"{path.name}:setup", "exec"), ns)
        _one_line_naming(e.value, name)

    check()
    assert not trained
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.json"))
