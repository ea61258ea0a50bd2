"""Chapter 10's study (superconv.studies.imagenet): specs against FACTS §4, the synthetic folder,
a smoke run through the streaming pipeline, and the scorecard findings."""

import json

import pytest

from superconv import imagefolder, paper
from superconv.results import Store
from superconv.studies import imagenet as st
from superconv.train import History


# ------------------------------------------------------------------------------ specs

def test_paper_specs_are_the_papers_settings():
    im = paper.IMAGENET
    oc, base = st.make_spec("paper", "one_cycle"), st.make_spec("paper", "step")
    for s in (oc, base):
        assert s["model"] == "imagenet_resnet50" and s["dataset"] == "imagenet" and s["nesterov"] is True
        assert s["batch_size"] == im["resnet50_log"]["batch_size"] == 128
        assert s["data"]["train_size"] == 1_281_167 and s["image_size"] == 224
        json.dumps(s)  # a store key: JSON-able, no machine-specific path in it
    sched = oc["schedule"]
    assert (sched["base_lr"], sched["max_lr"], sched["tail_lr"]) == (0.05, 1.0, 5e-5) == tuple(im["one_cycle"].values())
    assert sched["momentum"] == [0.95, 0.85] and oc["weight_decay"] == im["weight_decay"] == 3e-6
    assert sched["step_size"] == 95_000 and oc["iterations"] == sched["total_steps"] == 200_000
    assert st.epochs(oc) == pytest.approx(20, abs=0.05)
    spe = 1_281_167 // 128
    assert st.epochs(base) == im["baseline"]["epochs"] == 130 and base["iterations"] == 130 * spe
    b = base["schedule"]
    assert b["gamma"] == 0.94 and b["milestones"] == [k * 2 * spe for k in range(1, 65)]  # every 2 epochs
    assert (b["base_lr"], b["momentum"], base["weight_decay"]) == (0.1, 0.9, 1e-4)  # authors' solver [D]
    assert oc["eval_every"] == spe


@pytest.mark.parametrize("profile", ["smoke", "laptop"])
def test_tiny_specs_keep_the_paper_values_and_scale_time(profile):
    oc, base = st.make_spec(profile, "one_cycle"), st.make_spec(profile, "step")
    paper_oc, paper_base = st.make_spec("paper", "one_cycle")["schedule"], st.make_spec("paper", "step")["schedule"]
    for k in ("base_lr", "max_lr", "tail_lr", "momentum"):
        assert oc["schedule"][k] == paper_oc[k]
    assert (base["schedule"]["gamma"], base["schedule"]["base_lr"]) == (paper_base["gamma"], paper_base["base_lr"])
    assert len(base["schedule"]["milestones"]) == len(paper_base["milestones"])  # 64 decays, as the paper's
    assert st.epochs(base) / st.epochs(oc) == pytest.approx(130 / 20)
    assert oc["schedule"]["step_size"] / oc["iterations"] == pytest.approx(95 / 200, abs=0.03)
    assert oc["model"] == "resnet8" and oc["dataset"] == "synthetic"


def test_bad_arguments_fail_with_one_line():
    with pytest.raises(ValueError, match="policy='sgdr'"):
        st.make_spec("laptop", "sgdr")
    with pytest.raises(ValueError, match="unknown spec field"):
        st.make_spec("laptop", "step", width=3)
    with pytest.raises(ValueError, match="PROFILE='huge'"):
        st.specs("huge")
    assert st.make_spec("laptop", "one_cycle", schedule={"max_lr": 0.5})["schedule"]["max_lr"] == 0.5


# ------------------------------------------------------------------------------ the synthetic folder

def test_synthetic_folder_is_written_once_and_loads(tmp_path):
    recipe = st.synthetic_recipe("smoke")
    root = st.synthetic_root(recipe, tmp_path)
    st.write_synthetic_folder(root, recipe)
    stamp = (root / "train" / "rings-warm" / "rings-warm_0000.jpg").stat().st_mtime_ns
    st.write_synthetic_folder(root, recipe)  # complete copy: untouched
    assert (root / "train" / "rings-warm" / "rings-warm_0000.jpg").stat().st_mtime_ns == stamp
    train = imagefolder.load(root, "train", num_workers=0, image_size=32, resize=36)
    val = imagefolder.load(root, "val", num_workers=0, image_size=32, resize=36)
    assert (len(train), len(val), train.classes) == (200, 100, sorted(st.synthetic_classes(10)))
    with pytest.raises(FileExistsError, match="not written for this recipe"):
        st.write_synthetic_folder(root, {**recipe, "seed": 1})


def test_paper_profile_without_imagenet_fails_fast_with_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv(imagefolder.ENV, raising=False)
    with pytest.raises(imagefolder.ImageFolderNotFoundError) as info:
        st.run_study("paper", store=Store(tmp_path / "store"))
    assert "\n" not in str(info.value) and imagefolder.ENV in str(info.value)
    recipe = st.synthetic_recipe("smoke")  # a folder, but not ILSVRC-2012
    root = st.write_synthetic_folder(st.synthetic_root(recipe, tmp_path), recipe)
    with pytest.raises(ValueError, match="needs all of ILSVRC-2012"):
        st.open_data(st.make_spec("paper", "step"), root=root, workers=0)
    with pytest.raises(SystemExit):
        st.main(["--profile", "paper"])
    from superconv import chapter
    with pytest.raises(chapter.ParameterError) as info:  # the notebook's first check
        st.require_data("paper", None, store=Store(tmp_path / "store"))
    assert "\n" not in str(info.value) and "IMAGENET_DIR" in str(info.value)
    st.require_data("laptop", None, store=Store(tmp_path / "store"))  # tiny profiles need no folder


def test_the_chapter_states_the_commands_the_study_runs():
    from pathlib import Path
    import nbformat
    nb = nbformat.read(Path(__file__).resolve().parents[1] / st.CHAPTER.notebook, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert st.torchrun_command() in text and st.paper_command() in text


# ------------------------------------------------------------------------------ runs and findings

@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("imagenet_study")
    store = Store(tmp / "store")
    return store, st.run_study("smoke", "cpu", store=store, cache=tmp / "cache")


def test_smoke_study_runs_the_streaming_pipeline(smoke):
    store, study = smoke
    assert study.pipeline_check and study.verdict is None
    for p in st.POLICIES:
        (h,) = study.histories[p]
        assert h.iterations == study.specs[p][0]["iterations"] and not h.diverged
        assert "synthetic train" in h.config["train_data"] and h.test_acc and h.train_acc is not None
        assert store.get(study.specs[p][0], "smoke") is not None
    assert study.speedup["budget_ratio"] == pytest.approx(6.5)
    again = st.stored("smoke", store)  # loads, trains nothing
    assert again.summary["step"]["final_mean"] == study.summary["step"]["final_mean"]


def test_findings_below_paper_never_judge(smoke):
    store, _ = smoke
    fs = {f.claim_id: f for f in st.findings("smoke", store)}
    assert set(fs) == {"imagenet.resnet50", "imagenet.inception_resnet_v2"}
    assert {f.verdict for f in fs.values()} == {"not run"}
    assert "pipeline" in fs["imagenet.resnet50"].detail and "torchrun" in fs["imagenet.resnet50"].detail
    assert {c.id for c in paper.claims(chapter="imagenet")} == set(fs)


def _history(iters, accs, every, wall):
    return History(eval_iters=[every * (i + 1) for i in range(len(accs))], test_acc=list(accs),
                   iterations=iters, wall_time=wall)


@pytest.mark.parametrize("one, step, word", [
    ([40.0, 60.0, 68.0], [50.0, 63.0, 64.0], "reproduced"),          # reaches 64 % at its end: ratio 6.5
    ([40.0, 60.0, 63.8], [50.0, 63.0, 64.0], "partly reproduced"),    # within 0.5 points, never reaches 64 %
    ([40.0, 50.0, 55.0], [50.0, 63.0, 64.0], "not reproduced"),
])
def test_paper_findings_follow_the_rule(tmp_path, one, step, word):
    store = Store(tmp_path)
    sp = st.specs("paper")
    store.put(sp["one_cycle"][0], "paper", _history(200_000, one, 66_667, 3600.0))
    fs = {f.claim_id: f for f in st.findings("paper", store)}
    assert fs["imagenet.resnet50"].verdict == "not run" and "other run missing" in fs["imagenet.resnet50"].detail
    store.put(sp["step"][0], "paper", _history(1_301_170, step, 433_723, 6.5 * 3600))
    f = {f.claim_id: f for f in st.findings("paper", store)}["imagenet.resnet50"]
    assert f.verdict == word and f.rule == st.RULE
    assert st.stored("paper", store).verdict["verdict"] == word
