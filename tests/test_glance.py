"""The scorecard at a glance: claims grouped into experiments, one verdict each, and the
agreement of every green row with its chapter's own conclusion (on the smoke book)."""

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from superconv import glance, paper, scorecard, verdicts
from superconv.studies import hessian_free, one_cycle

ROOT = Path(__file__).resolve().parents[1]


def _found(**overrides):
    """A ``scorecard.judged``-shaped dict: every claim "not run" in its topic's chapter, except
    ``overrides`` (claim id -> (notebook, Finding))."""
    out = {c.id: (scorecard.NOTEBOOKS[c.chapter], verdicts.Finding(c.id, "smoke", "—", "not run",
                                                                 scorecard.UNTESTED_RULE, "not run in this book"))
           for c in paper.claims()}
    out.update(overrides)
    return out


def _f(cid, verdict, runs=(), experiment="", seeds=(0,), ours="ours", rule="the rule"):
    return verdicts.Finding(cid, "smoke", ours, verdict, rule, "", experiment, "paper-vs-ours", runs, seeds)


LESS = "chapters/06_less_training_data.ipynb"
DEPTH = "chapters/07_depth.ipynb"
TABLE = "chapters/09_datasets_architectures.ipynb"


def test_claims_read_from_the_same_runs_are_one_experiment_across_chapters():
    pair = ("k1", "k2")
    found = _found(**{
        "sc.reduced_data.50000": (LESS, _f("sc.reduced_data.50000", "not reproduced", pair, "pair at 500", (0, 1))),
        "sc.reduced_data.40000": (LESS, _f("sc.reduced_data.40000", "not reproduced", pair, "pair at 500", (0, 1))),
        "sc.depth.resnet20": (DEPTH, _f("sc.depth.resnet20", "not reproduced", pair, "ResNet-8", (0, 2))),
        "sc.cifar100_logs": (TABLE, _f("sc.cifar100_logs", "not reproduced", pair, "ladder pair")),
    })
    exps = glance.experiments_of("smoke", found=found)
    shared = [e for e in exps if set(e.claims) & {"sc.reduced_data.50000"}]
    assert len(shared) == 1
    e = shared[0]
    assert set(e.claims) == {"sc.reduced_data.50000", "sc.reduced_data.40000", "sc.depth.resnet20", "sc.cifar100_logs"}
    assert e.notebook == LESS and e.notebooks == (LESS, DEPTH, TABLE)  # named by the first chapter in book order
    assert e.name == "pair at 500" and e.verdict == "not reproduced"
    assert e.seeds == (0, 1, 2) and e.runs == 2
    # every claim sits in exactly one experiment: nothing is counted twice, nothing dropped
    assert sorted(c for x in exps for c in x.claims) == sorted(c.id for c in paper.claims())
    assert sum(glance.counts(exps).values()) == sum(not x.catch_all for x in exps) >= 1


def test_an_experiments_verdict_is_its_claims_or_mixed():
    runs = ("a",)
    agree = _found(**{"sc.depth.resnet20": (DEPTH, _f("sc.depth.resnet20", "reproduced", runs)),
                      "sc.depth.resnet110": (DEPTH, _f("sc.depth.resnet110", "reproduced", runs))})
    assert [e.verdict for e in glance.experiments_of("smoke", found=agree) if e.runs] == ["reproduced"]
    differ = _found(**{"sc.depth.resnet20": (DEPTH, _f("sc.depth.resnet20", "reproduced", runs)),
                       "sc.depth.resnet110": (DEPTH, _f("sc.depth.resnet110", "inconclusive", runs, rule="other"))})
    (e,) = [e for e in glance.experiments_of("smoke", found=differ) if e.runs]
    assert e.verdict == glance.MIXED and e.rules == ("the rule", "other")
    assert e.verdicts == {"sc.depth.resnet20": "reproduced", "sc.depth.resnet110": "inconclusive"}


def test_a_claim_without_a_paper_number_does_not_vote():
    missing = next(c for c in paper.claims() if c.missing)
    other = next(c for c in paper.claims() if not c.missing and c.chapter == missing.chapter) \
        if any(not c.missing and c.chapter == missing.chapter for c in paper.claims()) \
        else next(c for c in paper.claims() if not c.missing)
    nb = scorecard.NOTEBOOKS[missing.chapter]
    found = _found(**{missing.id: (nb, _f(missing.id, "reproduced", ("r",))),
                      other.id: (nb, _f(other.id, "not reproduced", ("r",)))})
    (e,) = [e for e in glance.experiments_of("smoke", found=found) if e.runs]
    assert e.verdicts[missing.id] == "no paper number"  # as the per-claim table shows it
    assert e.verdict == "not reproduced"


def test_unrun_claims_are_grouped_per_chapter_and_reason_and_not_counted():
    exps = glance.experiments_of("smoke", found=_found())
    assert all(e.verdict == "not run" and e.catch_all for e in exps)
    names = {(e.notebook, e.name) for e in exps}
    assert len(names) == len(exps) == len({e.notebook for e in exps})  # one row per chapter
    assert all(e.name == "claims no chapter of this book runs" for e in exps)
    assert glance.tally_text(exps) == "there is no experiment yet"  # catch-all rows are not experiments
    n = len(paper.claims())
    assert glance.tally_sentence("smoke", exps) == \
        f"At the smoke profile there is no experiment; {n} claims have no experiment at this profile (the last rows)."
    one = _found(**{"sc.depth.resnet20": (DEPTH, _f("sc.depth.resnet20", "reproduced", ("r",)))})
    ex = glance.experiments_of("smoke", found=one)
    assert [e.catch_all for e in ex] == [False] + [True] * (len(ex) - 1)  # experiments first
    assert glance.tally_sentence("smoke", ex).startswith("At the smoke profile, of the 1 experiments, 1 is reproduced; ")


def test_tally_words_agree_with_their_numbers():
    one = [SimpleNamespace(verdict="inconclusive")]
    assert glance.tally_text(one) == "1 is inconclusive"
    two = [SimpleNamespace(verdict=v) for v in ("reproduced", "reproduced", glance.MIXED, "not run")]
    assert glance.tally_text(two) == ("2 are reproduced, 1 has mixed verdicts (its claims' verdicts differ) "
                                      "and 1 was not run")
    assert glance.tally_text([]) == "there is no experiment yet"


def test_the_glance_table_links_each_row_and_hides_the_rule(monkeypatch):
    found = _found(**{"sc.depth.resnet20": (DEPTH, _f("sc.depth.resnet20", "reproduced", ("r",), "ResNet-8 <pair>",
                                                      ours="1cycle 90 % vs PC-LR 89 % | ε*"))})
    exps = glance.experiments_of("smoke", found=found)
    table = glance.glance_markdown(exps).splitlines()
    assert len(table) == len(exps) + 2 and all(line.count(" | ") == 4 for line in table[2:])  # no stray "|"
    row = next(line for line in table if "ResNet-8" in line)
    assert row.startswith("| {ref}`ResNet-8 ‹pair› <ch07-paper-vs-ours>` | 7 | 1 | <details><summary>")
    assert "the rule" in row and "ε\\*" in row and "\\|" in row  # the rule in a dropdown; Markdown escaped
    assert glance.label("chapters/03_one_cycle.ipynb", "budget-sweep") == "ch03-budget-sweep"
    assert glance.chapter_number("chapters/10_imagenet.ipynb") == 10
    monkeypatch.setattr(scorecard, "judged", lambda profile, store=None: found)
    intro = glance.findings_html("smoke")
    assert "href" not in intro and "<b>ResNet-8 &lt;pair&gt;</b>: reproduced (chapter 7; seed 0)" in intro  # no links
    assert "(chapter 11 lists them)" in intro


def test_the_result_box_escapes_markdown(monkeypatch):
    found = _found(**{"hf.range": ("chapters/05_hessian_free_estimate.ipynb",
                                   _f("hf.range", "inconclusive", (), "the estimate", ours="ε* 2–6; ε*/ε 2.2"))})
    monkeypatch.setattr(scorecard, "judged", lambda profile, store=None: found)
    box = glance.result_markdown("chapters/05_hessian_free_estimate.ipynb", "smoke")
    assert "**the estimate: inconclusive** (seed 0). ε\\* 2–6; ε\\*/ε 2.2." in box
    assert box.startswith("At the `smoke` profile")
    assert "judges no claim" in glance.result_markdown("chapters/11_scorecard.ipynb", "smoke")


# --------------------------------------------------------------------------- the rules that can say "inconclusive"

def _ablation(cyc, const, one_cycle_accs):
    summary = one_cycle.summarize([SimpleNamespace(final_test_acc=a, best_test_acc=a, wall_time=1.0, iterations=10,
                                                   diverged=False) for a in one_cycle_accs],
                                  list(range(len(one_cycle_accs))))
    labels = list(one_cycle.ABLATION_MOMENTA)
    return SimpleNamespace(ablation={labels[0]: dict(final_acc=cyc), labels[1]: dict(final_acc=const)},
                           summary={"one_cycle": summary})


def test_a_one_seed_ablation_is_judged_against_the_seed_noise():
    # one 1cycle seed: no noise estimate, so a one-run difference cannot decide
    assert one_cycle.ablation_verdict(_ablation(89.0, 89.2, [89.0]))["verdict"] == "inconclusive"
    # seed std 0.141 -> noise sqrt(2) * 0.141 = 0.2 <= the 0.5 tolerance: 0.2 points worse is "about as good"
    quiet = one_cycle.ablation_verdict(_ablation(89.0, 89.2, [89.0, 89.2]))
    assert quiet["verdict"] == "reproduced" and quiet["noise"] == pytest.approx(0.2, rel=1e-6)
    # seed std 1.41 -> noise 2: the same 0.2 points cannot be told from chance
    loud = one_cycle.ablation_verdict(_ablation(89.0, 89.2, [88.0, 90.0]))
    assert loud["verdict"] == "inconclusive" and "by chance" in loud["why"]
    assert one_cycle.ablation_verdict(_ablation(95.0, 89.2, [88.0, 90.0]))["verdict"] == "reproduced"  # > noise
    assert one_cycle.ablation_verdict(_ablation(86.0, 89.2, [88.0, 90.0]))["verdict"] == "not reproduced"
    assert one_cycle.ablation_verdict(_ablation(89.0, 95.0, [89.0, 89.2]))["verdict"] == "not reproduced"
    assert one_cycle.ablation_verdict(SimpleNamespace(ablation=None, summary={})) is None


def test_an_estimate_at_its_noise_value_tracks_the_learning_rate():
    noise = hessian_free.noise_ratio(0.9, 1)
    assert noise == pytest.approx(1 / math.sqrt(0.2))
    assert hessian_free.tracking(noise, 0.9) == "tracks the learning rate"
    assert hessian_free.tracking(noise * 1.49, 0.9) == "tracks the learning rate"
    assert hessian_free.tracking(noise * 1.6, 0.9) == "above the noise value"
    assert hessian_free.tracking(noise / 1.6, 0.9) == "below the noise value"
    assert hessian_free.tracking(math.nan, 0.9) == "no windows"
    # at the noise value neither a match nor a mismatch with the paper's 2-6 says anything
    track, above = "tracks the learning rate", "above the noise value"
    assert [hessian_free.finding_verdict(o, t) for o, t in (("same order", track), ("smaller", track),
                                                          ("same order", above), ("larger", above))] == \
        ["inconclusive", "inconclusive", "reproduced", "not reproduced"]


# --------------------------------------------------------------------------- the smoke book

def _glue(book_html: Path, stem: str) -> dict:
    path = book_html.parent / "jupyter_execute" / "chapters" / f"{stem}.glue.json"
    assert path.exists(), f"no glue data for {stem} ({path})"
    return {k: v["data"] for k, v in json.loads(path.read_text()).items()}


def _plain(data: dict) -> str:
    return str(data.get("text/plain", "")).strip("'\"")


def _box_verdicts(markdown: str) -> dict:
    """``{experiment name: verdict}`` from a result box (its ``**name: verdict**`` items)."""
    out = {}
    for name, verdict in re.findall(r"^- \*\*(.+?): ([a-z ]+)\*\*", markdown, re.M):
        out[name.replace("\\", "")] = verdict
    for name in re.findall(r"^- \*\*(.+?)\*\*(?:: not run| \([0-9]+\): the book has no run)", markdown, re.M):
        out[name.replace("\\", "")] = "not run"
    return out


def test_every_row_agrees_with_its_chapters_own_conclusion(smoke_book):
    """The scorecard's first screen (chapter 11) and each chapter's result box name the same
    verdict for every experiment, and a green row is green only where the chapter's own
    conclusion (its glued verdict sentences) says so."""
    assert smoke_book.returncode == 0, smoke_book.output
    html = smoke_book.html
    card = _glue(html, "11_scorecard")
    table = [line for line in card["sc_glance"]["text/markdown"].splitlines() if line.startswith("| {ref}")]
    rows = [re.match(r"\| \{ref\}`(.*) <(ch[0-9]{2}-[a-z-]+)>` \| ([0-9, ]+) \| [0-9]+ \| <details><summary>"
                     r"<span[^>]*>([a-z ]+)</span>", line) for line in table]
    assert table and all(rows), table[:3]
    rows = [(m.group(2), m.group(1), m.group(3), m.group(4)) for m in rows]
    boxes = {}
    for target, name, chapters, verdict in rows:
        stem = next(p for p in (ROOT / "chapters").glob(f"{target[2:4]}_*.ipynb")).stem
        page = (html / "chapters" / f"{stem}.html").read_text()
        assert f'id="{target}"' in page, f"{stem}.html has no section labelled {target}"
        for ch in chapters.split(", "):
            nb = next(p for p in (ROOT / "chapters").glob(f"{int(ch):02d}_*.ipynb")).stem
            if nb not in boxes:
                boxes[nb] = _box_verdicts(_glue(html, nb)["result_box"]["text/markdown"])
            assert boxes[nb].get(name) == verdict, (nb, name, verdict, boxes[nb])
        own = _glue(html, stem)
        if stem.startswith("05") and verdict == "inconclusive":  # the chapter says why it cannot decide
            assert "mostly reports the learning rate" in _plain(own["hf_track"])
        if verdict != "reproduced":
            continue
        if stem.startswith("03"):
            key = "oc_verdict" if "speed-up" in name else "oc_abl_sentence"
            assert re.search(rf"\b{verdict}\b", _plain(own[key])) and "not reproduced" not in _plain(own[key])
        elif stem.startswith("05"):
            assert _plain(own["hf_verdict"]) == "same order"
            assert "mostly reports the learning rate" not in _plain(own["hf_track"])
        elif stem.startswith("06") and "trend" in name:
            assert _plain(own["ld_trend_verdict"]) == "reproduced"
        elif stem.startswith("07"):
            assert "reproduced" in (_plain(own["dp_shallow_verdict"]), _plain(own["dp_deep_verdict"]))
