"""Part 2 answers only at budgets that suffice (issue 14, item 4): ladder.budget_check reads chapter
3's budget sweep, and a ladder whose budgets do not suffice says "not testable at this budget"."""

from types import SimpleNamespace

import pytest

from superconv import experiments as E
from superconv import verdicts
from superconv.studies import ladder, less_data, one_cycle


def fake_sweep(monkeypatch, fast_curve, slow_curve):
    st = SimpleNamespace(speedup=dict(fast_curve=fast_curve, slow_curve=slow_curve), verdict={})
    monkeypatch.setattr(one_cycle, "stored", lambda profile, store=None: st)


def test_paper_ladders_are_the_headline_pair_and_testable():
    assert E.LADDER_FRACTION["paper"] == 1.0
    assert ladder.budget_check("paper")["testable"] is True


def test_a_starved_1cycle_budget_is_not_testable(monkeypatch):
    # laptop ladders: 1cycle 240, PC-LR 1,920 iterations
    assert E.ladder_spec("laptop", "one_cycle")["iterations"] == 240
    fake_sweep(monkeypatch, [(200, 81.4), (400, 85.3), (800, 88.4), (1600, 89.0)],
               [(1600, 88.9), (3200, 89.3), (6400, 89.4)])
    check = ladder.budget_check("laptop")
    oc, pc = check["policies"]["one_cycle"], check["policies"]["pc_lr"]
    assert not oc["sufficient"] and oc["best"] == 89.0 and 81.4 < oc["acc_at"] < 85.3
    assert pc["sufficient"] and pc["acc_at"] == pytest.approx(88.9 + 0.4 * 0.263, abs=0.01)
    assert check["testable"] is False and "1cycle at 240 iterations" in check["sentence"]
    vd = ladder.apply_budget(dict(verdict="not reproduced", gap=-7.7), check)
    assert vd["verdict"] == ladder.NOT_TESTABLE == "not testable at this budget" and vd["untested_verdict"] == "not reproduced"
    assert ladder.NOT_TESTABLE in verdicts.VERDICTS and ladder.NOT_TESTABLE not in verdicts.JUDGED
    rule, why = ladder.judged_by(vd, less_data.SIZE_RULE)
    assert rule == ladder.BUDGET_RULE and "untested verdict: not reproduced" in why
    assert ladder.judged_by(dict(verdict="reproduced"), less_data.SIZE_RULE) == (less_data.SIZE_RULE, "")


def test_sufficient_budgets_leave_the_verdict_alone(monkeypatch):
    fake_sweep(monkeypatch, [(200, 88.7), (400, 89.0)], [(1600, 89.2), (3200, 89.3)])
    check = ladder.budget_check("laptop")
    assert check["testable"] is True
    assert ladder.apply_budget(dict(verdict="reproduced"), check) == dict(verdict="reproduced")


def test_without_chapter_3s_sweep_the_budgets_are_not_known_to_suffice(monkeypatch):
    monkeypatch.setattr(one_cycle, "stored", lambda profile, store=None: None)
    check = ladder.budget_check("laptop")
    assert check["testable"] is False and "not in the store" in check["sentence"]


def test_a_budget_outside_the_sweep_is_not_sufficient(monkeypatch):
    fake_sweep(monkeypatch, [(400, 89.0), (800, 89.1)], [(1600, 89.2)])  # 240 and 1,920 lie outside
    check = ladder.budget_check("laptop")
    assert check["policies"]["one_cycle"]["acc_at"] is None and not check["testable"]
