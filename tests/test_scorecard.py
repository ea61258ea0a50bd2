"""The scorecard: one row per claim, verdicts from stored results only, time-to-accuracy pairs."""

import json
import math

import pytest

from superconv import experiments, paper, scorecard, verdicts
from superconv.results import Store
from superconv.studies import one_cycle


HOW = ("papermill", "torchrun", "paper's setting", "not among superconv.models")


@pytest.fixture(scope="module")
def smoke_pair(tmp_path_factory):
    """A store holding the smoke profile's headline pair (seed 0 of each policy)."""
    store = Store(tmp_path_factory.mktemp("store"))
    hist = {p: experiments.run(experiments.make_spec("smoke", p, seed=0), "smoke", device="cpu", store=store,
                               progress=False) for p in ("one_cycle", "pc_lr")}
    return store, hist


def test_every_claim_has_exactly_one_row_even_with_an_empty_store(tmp_path):
    card = scorecard.table(("laptop", "paper"), Store(tmp_path))
    assert list(card["claim"]) == [c.id for c in paper.claims()]
    assert set(card["verdict (laptop)"]) == {"not run"} and set(card["verdict (paper)"]) == {"not run"}
    # a "not run" row says how to run it (a command, or the paper's setting) or why it cannot be run
    for detail in card["detail (paper)"]:
        assert any(w in detail for w in HOW), detail
    assert scorecard.counts(card)["laptop"]["not run"] == len(card)


def test_every_study_returns_known_claim_ids_and_valid_verdicts(tmp_path):
    import importlib
    ids = {c.id for c in paper.claims()}
    for name in scorecard.STUDIES:
        module = importlib.import_module(f"superconv.studies.{name}")
        found = module.findings("paper", store=Store(tmp_path))
        assert found, f"{name}.findings returns nothing"
        for f in found:
            assert f.claim_id in ids, (name, f.claim_id)
            assert f.verdict == "not run" and any(w in f.detail for w in HOW), (name, f.detail)


def test_claims_without_paper_numbers_never_get_a_reproduction_verdict(smoke_pair):
    store, _ = smoke_pair
    card = scorecard.table(("smoke",), store)
    missing = {c.id for c in paper.claims() if c.missing}
    assert missing
    for _, row in card[card["claim"].isin(missing)].iterrows():
        assert row["verdict (smoke)"] in ("no paper number", "not run")


def test_headline_finding_follows_the_chapter_rule(smoke_pair, tmp_path):
    store, _ = smoke_pair
    # the default pair alone is not chapter 3's calibrated sweep: not run
    (f_none,) = [f for f in one_cycle.findings("smoke", store) if f.claim_id == "sc.headline"]
    assert f_none.verdict == "not run"
    own = Store(tmp_path)
    study = one_cycle.run_study("smoke", "cpu", store=own, momentum_ablation=False)
    (f_head,) = [f for f in one_cycle.findings("smoke", own) if f.claim_id == "sc.headline"]
    st = one_cycle.stored("smoke", own)
    assert f_head.verdict == st.verdict["verdict"] == study.verdict["verdict"] and f_head.rule == st.verdict["rule"]
    assert f"{max(study.sweep_summary['pc_lr']):,} it" in f_head.ours


def test_policy_pairs_and_time_to_accuracy_match_the_direct_computation(smoke_pair):
    store, hist = smoke_pair
    pairs = scorecard.policy_pairs("smoke", store)
    # smoke's ladder pair is its headline pair: counted once
    assert len(pairs) == 1 and pairs[0]["pair"] == "headline"
    assert pairs[0]["seeds"] == {"one_cycle": [0], "pc_lr": [0]}
    tta = scorecard.speedup_table("smoke", store)
    direct = experiments.time_to_accuracy(hist["one_cycle"], hist["pc_lr"])
    got = tta.iloc[0]["iteration ratio"]
    if direct["iteration_ratio"] is None:
        assert got is None or (isinstance(got, float) and math.isnan(got))
    else:
        assert got == pytest.approx(direct["iteration_ratio"])
    assert tta.iloc[0]["1cycle it"] == hist["one_cycle"].iterations
    assert tta.iloc[0]["PC-LR it"] == 8 * hist["one_cycle"].iterations


def test_pairs_ignore_runs_that_are_not_a_headline_or_ladder_policy(smoke_pair, tmp_path):
    store, _ = smoke_pair
    other = Store(tmp_path)
    spec = experiments.make_spec("smoke", "one_cycle", seed=0, weight_decay=3e-4)
    other.put(spec, "smoke", store.get(experiments.make_spec("smoke", "one_cycle", seed=0), "smoke"))
    assert scorecard.policy_pairs("smoke", other) == []  # a 1cycle run without its PC-LR partner


def test_provenance_counts_the_runs(smoke_pair):
    store, hist = smoke_pair
    prov = scorecard.provenance("smoke", store)
    assert prov["runs"] == 2
    assert prov["wall_time"] == pytest.approx(sum(h.wall_time for h in hist.values()))
    assert prov["hardware"] and prov["superconv"]


# --------------------------------------------------------------------------- verdict rules and commands

def test_shared_verdict_rules():
    assert verdicts.from_conditions(True, True) == "reproduced"
    assert verdicts.from_conditions(True, False) == "partly reproduced"
    assert verdicts.from_conditions(False, False) == "not reproduced"
    assert [verdicts.excess_verdict(x, 1.0) for x in (2.0, 0.5, -0.5, math.nan)] == \
        ["reproduced", "inconclusive", "not reproduced", "not reproduced"]
    assert scorecard.Finding is verdicts.Finding and scorecard.VERDICTS == verdicts.VERDICTS
    assert set(verdicts.JUDGED) < set(verdicts.VERDICTS)


def test_one_papermill_command_builder():
    assert verdicts.command("chapters/03_one_cycle.ipynb", "paper") == \
        "papermill chapters/03_one_cycle.ipynb out.ipynb -p PROFILE paper -p DEVICE cuda"
    assert verdicts.command("chapters/x.ipynb", "laptop", N=3) == \
        "papermill chapters/x.ipynb out.ipynb -p PROFILE laptop -p N 3"
    # what papermill -p would read back changed goes as YAML (-y); everything is shell-quoted
    line = verdicts.papermill_command("my nb.ipynb", {"SEEDS": [0, 1], "TAG": "3", "LR": 0.5, "X": None},
                                      output="out dir/o.ipynb", cwd="chapters", env={"A": "b c"})
    assert line == ("A='b c' papermill 'my nb.ipynb' 'out dir/o.ipynb' -y '{\"SEEDS\": [0, 1]}' "
                    "-y '{\"TAG\": \"3\"}' -p LR 0.5 -p X None --cwd chapters")


def test_an_edited_record_is_listed_and_its_chapter_says_so(tmp_path, smoke_pair, monkeypatch):
    # a hand-edited accuracy is not used: the scorecard lists the file, and the claims of the
    # chapter that reads it say which file instead of a verdict
    import shutil
    from superconv import results
    store, _ = smoke_pair
    own = Store(tmp_path / "store")
    shutil.copytree(store.root, own.root)
    path = own.path(experiments.make_spec("smoke", "pc_lr", seed=0), "smoke")
    rec = json.loads(path.read_text())
    rec["history"]["test_acc"][-1] = 99.9
    path.write_text(json.dumps(rec))
    (listed,) = scorecard.problems(("smoke",), own)
    assert listed["file"] == f"smoke/{path.name}" and "was edited" in listed["why"]
    assert str(own.root) not in listed["why"]  # no build-machine path on the page
    # a chapter whose findings read that record (here: chapter 3's, made to read it)
    spec = experiments.make_spec("smoke", "pc_lr", seed=0)
    ch3 = [f.claim_id for f in one_cycle.findings("smoke", Store(tmp_path / "empty"))]  # the claims ch. 3 judges
    real = one_cycle.findings

    def reading(profile, store=None):
        store.get(spec, profile)  # raises on the edited record
        return real(profile, store)
    monkeypatch.setattr(one_cycle, "findings", reading)
    found = scorecard.findings("smoke", own)
    assert "sc.headline" in ch3 and "sc.cifar100_logs" not in ch3  # judged by chapter 9, not by topic
    for cid in ch3:
        f = found[cid]
        assert f.verdict == "not run" and f.rule == scorecard.UNREADABLE_RULE and path.name in f.detail
        assert str(own.root) not in f.detail
    assert found["clr.range_test"].rule != scorecard.UNREADABLE_RULE  # other chapters judge as usual
    with pytest.raises(results.RecordError, match="was edited"):
        own.get(experiments.make_spec("smoke", "pc_lr", seed=0), "smoke")
    assert scorecard.problems(("smoke",), store) == []
