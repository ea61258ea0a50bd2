"""Chapter 12's study: the contenders' specs, equal tuning effort, the rules, and their words."""

import math

import pytest

from superconv import experiments, schedules, speedup
from superconv._checks import ParameterError
from superconv.studies import schedules_today as st
from superconv.train import History


def test_each_contender_trains_its_schedule_with_its_optimizer():
    cos = st.spec("laptop", "cosine", 400, 1, 0.3, 1e-4)
    ref = schedules.cosine(0.3, 400, warmup_steps=20)
    got = experiments.build_schedule(cos["schedule"])
    assert [got.lr(i) for i in range(400)] == [ref.lr(i) for i in range(400)]
    assert "optimizer" not in cos and cos["momentum"] == st.MOMENTUM and cos["precise_bn"] == 2000
    wsd = experiments.build_schedule(st.spec("laptop", "wsd", 400, 0, 1.0, 1e-4)["schedule"])
    assert wsd.cooldown == "1-sqrt" and wsd.decay_steps == 80 and wsd.lr(100) == 1.0
    tri = experiments.build_schedule(st.spec("laptop", "triangle", 400, 0, 1.0, 1e-4)["schedule"])
    assert tri.lr(0) == pytest.approx(0.2) and tri.lr(int(0.23 * 400)) == pytest.approx(1.0)
    oc = st.spec("laptop", "1cycle", 400, 0, 0.6, 1e-4)
    head = experiments.make_spec("laptop", "one_cycle")
    assert oc["schedule"]["max_lr"] == 0.6 and oc["schedule"]["base_lr"] == 0.06
    assert oc["schedule"]["total_steps"] == 400 and oc["schedule"]["momentum"] == head["schedule"]["momentum"]
    ad = st.spec("laptop", "cosine_adamw", 200, 0, 3e-3, 1e-2)
    assert ad["optimizer"] == "adamw" and ad["weight_decay"] == 1e-2


def test_schedule_free_has_a_constant_lr_its_own_fixed_warmup_and_one_run_per_seed():
    cfg = st.config("laptop")
    sw = st.sweep_specs("laptop", "sf_sgd", 1.0, 1e-4, [0, 1, 2], cfg)
    assert list(sw) == [400] and len(sw[400]) == 3
    s = sw[400][0]
    assert s["schedule"] == {"kind": "fixed", "lr": 1.0} and s["optimizer"] == "sgd_schedulefree"
    assert s["optimizer_warmup"] == cfg["sf_warmup"] == 20 and s["eval_every"] == cfg["anytime_every"]
    # its tuning run (a shorter budget) keeps the same warmup: the run cut at N is the run of N
    assert st.tuning_specs("laptop", "sf_sgd", cfg=cfg)[0]["optimizer_warmup"] == 20
    # ... and neither depends on the ladder: a longer one retrains no tuning run
    _, longer = st.resolve("laptop", None, None, [100, 200, 400, 800])
    assert st.tuning_specs("laptop", "sf_sgd", cfg=longer) == st.tuning_specs("laptop", "sf_sgd", cfg=cfg)
    scheduled = st.sweep_specs("laptop", "cosine", 0.3, 1e-4, [0], cfg)
    assert sorted(scheduled) == [100, 200, 400] and scheduled[100][0]["eval_every"] == 100
    assert scheduled[400][0]["eval_every"] == cfg["anytime_every"]


def test_the_paper_profile_runs_resnet56_on_equal_terms_with_a_holdout():
    s = st.spec("paper", "sf_adamw", 10_000, 0, 1e-2, 1e-2, validation=5000)
    assert s["model"] == "resnet56" and s["dataset"] == "cifar10" and s["batch_size"] == 1000
    assert s["sgd"] == "torch" and "ghost_batch" not in s and "input_norm" not in s and s["precise_bn"] == 10_000
    assert s["train_size"] + s["validation"] == 50_000
    assert experiments.stale_bn(s) is None


def test_every_contender_of_a_family_gets_the_same_tuning_effort():
    for profile in ("smoke", "laptop", "paper"):
        cfg = st.config(profile)
        for fam in ("sgd", "adamw"):
            counts = {n: len(st.tuning_specs(profile, n, lr=cfg["lrs"][fam][0], cfg=cfg))
                      for n, c in st.CONTENDERS.items() if c.family == fam}
            assert len(set(counts.values())) == 1, (profile, counts)
            assert set(counts.values()) == {len(cfg["lrs"][fam]) + len(cfg["weight_decays"][fam]) - 1}
        its = {s["iterations"] for n in st.CONTENDERS for s in st.tuning_specs(profile, n, cfg=cfg)}
        assert its == {cfg["tune_iterations"]} and cfg["tune_iterations"] in cfg["budgets"]
        assert all(s["validation"] for s in st.tuning_specs(profile, "cosine", cfg=cfg))
        assert set(cfg["schedules"]) <= set(st.CONTENDERS) and st.REFERENCE in cfg["schedules"]


def _get(acc_of):
    def get(spec):
        lr = spec["schedule"].get("max_lr", spec["schedule"].get("lr"))
        acc = acc_of(lr, spec["weight_decay"])
        return History(eval_iters=[spec["iterations"]], test_acc=[acc if acc is not None else 10.0],
                       iterations=spec["iterations"], diverged=acc is None, wall_time=1.0)
    return get


def test_tuning_chooses_by_validation_accuracy_never_a_diverged_run_and_flags_the_grid_edge():
    cfg = st.config("paper")
    acc = {0.1: 80.0, 0.3: 85.0, 1.0: 85.0, 3.0: None}  # a tie goes to the earlier value; 3 diverged
    t = st.tune("paper", "cosine", cfg, _get(lambda lr, wd: None if acc[lr] is None else acc[lr] + (1.0 if wd == 5e-4 else 0.0)))
    assert (t.lr, t.weight_decay, t.at_edge, t.extended) == (0.3, 5e-4, "", [])
    assert len(t.rows) == 6 and sum(r["chosen"] for r in t.rows) == 1 and t.iterations == 6 * 5000
    # a choice at an end of the grid adds ladder steps beyond it, at most MAX_EXTEND
    edge = st.tune("paper", "cosine_adamw", cfg, _get(lambda lr, wd: 50 + 100 * lr))
    assert edge.extended == [0.1, 0.3] and edge.lr == 0.3 and edge.at_edge == "top" and "top of its grid" in edge.note
    low = st.tune("paper", "cosine", cfg, _get(lambda lr, wd: 90 - lr))
    assert low.extended == [0.03, 0.01] and low.lr == 0.01 and low.at_edge == "bottom" and "smaller" in low.note
    peak = {0.1: 80.0, 0.3: 82.0, 1.0: 84.0, 3.0: 86.0, 10.0: 88.0, 30.0: None}
    inside = st.tune("paper", "sf_sgd", cfg, _get(lambda lr, wd: peak[lr]))
    assert inside.extended == [10.0, 30.0] and inside.lr == 10.0 and inside.at_edge == "" and not inside.note
    assert len(inside.rows) == 4 + 2 + 2
    none = st.tune("laptop", "cosine", st.config("laptop"), _get(lambda lr, wd: None))
    assert none.lr is None and "diverged" in none.note
    assert st.tune("laptop", "cosine", st.config("laptop"), lambda spec: None) is None  # a run not stored


def test_next_lr_walks_the_1_3_10_ladder():
    assert [st._next_lr(x, up=True) for x in (0.1, 0.3, 3.0, 3e-2, 1e-3)] == [0.3, 1.0, 10.0, 0.1, 3e-3]
    assert [st._next_lr(x, up=False) for x in (0.1, 0.3, 1e-3)] == [0.03, 0.1, 3e-4]


def test_claim_rule():
    a = {100: [80.0, 80.2, 79.8], 200: [85.0, 85.2, 84.8]}
    se = math.sqrt(2 * 0.2 ** 2 / 3)  # both spreads std 0.2 over 3 seeds
    assert st.judge(a, {100: [79.9, 80.1, 79.7], 200: [85.0, 85.2, 84.8]})["verdict"] == "reproduced"  # d - 2se > -0.5
    close = st.judge(a, {100: [80.3, 80.5, 80.1], 200: [85.1, 85.3, 84.9]})  # d = -0.3: within, but not by 2 se
    assert close["verdict"] == "inconclusive" and close["worst"]["budget"] == 100
    assert close["worst"]["se"] == pytest.approx(se)
    assert st.judge(a, {100: [82.0, 82.2, 81.8], 200: [85.0, 85.0, 85.0]})["verdict"] == "not reproduced"
    noisy = {100: [78.0, 81.0, 80.0], 200: [85.0, 85.2, 84.8]}
    assert st.judge(noisy, {100: [80.5, 80.7, 80.3], 200: [85.0, 85.0, 85.0]})["verdict"] == "inconclusive"
    ahead_but_noisy = {100: [79.0, 83.0, 81.0], 200: [86.0, 86.2, 85.8]}  # d = +1, se 1.2: not shown
    assert st.judge(ahead_but_noisy, a)["verdict"] == "inconclusive"
    cells = {"1cycle": a, "cosine": {100: [70.0] * 3, 200: [86.0] * 3}, "wsd": {100: [81.0] * 3, 200: [80.0] * 3},
             "sf_adamw": {100: [99.0] * 3, 200: [99.0] * 3}}
    claims = {c["id"]: c for c in st.judge_claims(cells)}
    best = claims["today.one_cycle_best"]  # against SGD schedules only: AdamW's 99 % is not among them
    assert best["best_other"] == {100: "wsd", 200: "cosine"} and best["verdict"] == "not reproduced"
    assert claims["today.wsd_vs_cosine"]["verdict"] == "not reproduced"
    assert claims["today.sf_sgd"]["verdict"] == "not run"
    assert claims["today.one_cycle_best_adamw"]["verdict"] == "not run"  # no 1cycle with AdamW ran
    alone = st.judge_claims({"1cycle_adamw": a, "cosine": cells["cosine"]})
    assert {c["id"]: c["verdict"] for c in alone}["today.one_cycle_best_adamw"] == "not run"  # no other AdamW


def _hist(accs: dict, top: int, seconds: float = 4.0) -> History:
    its = sorted(accs)
    return History(eval_iters=its, test_acc=[accs[i] for i in its], iterations=top, wall_time=seconds + 1.0,
                   eval_time=1.0)


def test_each_family_is_measured_against_its_own_1cycle():
    runs = {"1cycle": (80, 85, 88), "cosine": (81, 86, 88.5), "1cycle_adamw": (83, 87, 89), "sf_adamw": (86, 88, 89.5)}
    hist_map = {}
    for n, (a, b, c) in runs.items():
        if st.CONTENDERS[n].schedule_free:
            hist_map[n] = {400: [_hist({100: a + d, 200: b + d, 400: c + d}, 400) for d in (-0.2, 0.0, 0.2)]}
        else:
            hist_map[n] = {bud: [_hist({bud: v + d}, bud) for d in (-0.2, 0.0, 0.2)]
                           for bud, v in zip((100, 200, 400), (a, b, c))}
    cfg = dict(st.config("laptop"), schedules=list(runs))
    s = st._assemble("laptop", cfg, {}, {}, hist_map)
    assert s.reference == {"1cycle": "1cycle", "cosine": "1cycle", "1cycle_adamw": "1cycle_adamw",
                           "sf_adamw": "1cycle_adamw"}
    assert s.targets == pytest.approx({"1cycle": 87.5, "1cycle_adamw": 88.5})
    assert s.speed["1cycle"] is None and s.speed["1cycle_adamw"] is None
    assert s.to_target["sf_adamw"]["target"] == pytest.approx(88.5)
    assert s.to_target["cosine"]["seconds_per_iteration"] == pytest.approx(4.0 / 400)  # largest-budget runs only
    box = st.result_markdown(s)
    assert "**Faster than 1cycle (SGD)**" in box and "**Faster than 1cycle (AdamW)**" in box
    without = {n: h for n, h in hist_map.items() if n != "1cycle_adamw"}
    s2 = st._assemble("laptop", dict(cfg, schedules=list(without)), {}, {}, without)
    assert s2.reference["sf_adamw"] == "1cycle"  # no AdamW 1cycle: measured against SGD's, across optimizers


def test_schedule_free_cells_are_its_evaluations_at_each_budget():
    h = History(eval_iters=[50, 100, 150, 200], test_acc=[70.0, 80.0, 82.0, 85.0], iterations=200)
    cut = History(eval_iters=[50], test_acc=[71.0], iterations=60, diverged=True)
    cells = st.cells_of("sf_sgd", {200: [h, cut]}, [100, 200])
    assert cells == {100: [80.0, None], 200: [85.0, None]}
    assert st.cells_of("cosine", {100: [h, cut]}, [100]) == {100: [85.0, None]}
    assert st.anytime_curve([h])[1] == (100, 80.0, 0.0, 1)
    both = st.anytime_curve([h, cut])  # the evaluations the diverged run never reached count as 0 %
    assert both[0][:2] == (50, pytest.approx(70.5)) and both[1][1] == pytest.approx(40.0) and both[1][3] == 2


def test_speed_words_follow_the_rule():
    ref = {100: [80.0, 80.5, 79.5], 200: [85.0, 85.5, 84.5], 400: [88.0, 88.2, 87.8]}
    fast = {100: [86.0, 86.5, 85.5], 200: [88.0, 88.3, 87.7], 400: [89.0, 89.1, 88.9]}
    assert st.speed_word(speedup.sweep(fast, ref, margin=st.TARGET_MARGIN)) == "faster"
    slow = {b: [v - 6 for v in vs] for b, vs in ref.items()}
    assert st.speed_word(speedup.sweep(slow, ref, margin=st.TARGET_MARGIN)).startswith("slower")
    assert st.speed_word(speedup.sweep(ref, ref, margin=st.TARGET_MARGIN)) == "no difference shown"
    assert st.speed_word(None) == "—"


def test_bad_parameters_name_themselves():
    with pytest.raises(ParameterError, match="BUDGETS.*multiples of 100"):
        st.resolve("laptop", None, None, [100, 150])
    with pytest.raises(ParameterError, match="SCHEDULES='cosin'.*'cosine'"):
        st.resolve("laptop", ["cosin"], None, None)
    with pytest.raises(ParameterError, match="SCHEDULES"):
        st.check_schedules("SCHEDULES", ["cosine", "cosine"])
    assert st.check_schedules("SCHEDULES", "wsd") == ["wsd"]  # one name: a sweep grid point
    assert st.CHAPTER.parameters == ("PROFILE", "DEVICE", "SEEDS", "SCHEDULES", "BUDGETS")


def test_time_to_target_interval():
    cells = {100: [80.0, 81.0, 79.0], 200: [85.0, 86.0, 84.0], 400: [88.0, 89.0, 88.5]}
    tt = speedup.time_to_target(cells, 86.0)
    want = math.exp(math.log(200) + (86 - 85) / (88.5 - 85) * (math.log(400) - math.log(200)))  # means 85 → 88.5
    assert tt["budget"] == pytest.approx(want) and tt["low"] <= tt["budget"] <= tt["high"]
    far = speedup.time_to_target(cells, 95.0)
    assert far["budget"] is None and far["not_reached"] == 1.0 and math.isinf(far["high"])
    assert speedup.time_to_target(cells, 50.0)["at_floor"]
    assert speedup.time_to_target({100: [80.0]}, 70.0)["low"] is None  # one seed: no interval


def test_the_paper_command_is_one_sweep_point_per_contender(tmp_path):
    import contextlib
    import io
    import shlex

    from superconv import cli
    argv = shlex.split(st.command("paper"))[3:]  # after "python -m superconv"
    assert argv[:2] == ["sweep", "12"] and "&&" not in argv
    i = argv.index("--gpus")
    argv = argv[:i] + argv[i + 2:]  # this machine has no GPU: the point is the grid
    argv[argv.index("--device") + 1] = "cpu"
    argv[argv.index("--out") + 1] = str(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        rc = cli.main(argv + ["--dry-run"])
    assert rc == 0 and f"{len(st.CONTENDERS)} grid point(s)" in out.getvalue()
    for name in st.CONTENDERS:
        assert f"-p SCHEDULES {name} " in out.getvalue()


def test_the_evaluation_that_finds_a_divergence_counts_as_0():
    blown = History(eval_iters=[100, 200], test_acc=[80.0, 10.0], iterations=200, diverged=True, diverged_at=200)
    fine = History(eval_iters=[100, 200], test_acc=[81.0, 85.0], iterations=200)
    assert st.cells_of("sf_sgd", {200: [fine, blown]}, [100, 200]) == {100: [81.0, 80.0], 200: [85.0, None]}
    assert st.anytime_curve([fine, blown])[1][1] == pytest.approx(42.5)


def test_one_seed_gives_no_verdict_beyond_the_noise():
    one = {100: [80.0], 200: [85.0]}
    assert st.judge(one, {100: [70.0], 200: [75.0]})["verdict"] == "inconclusive"
    assert st.judge(one, {100: [90.0], 200: [95.0]})["verdict"] == "inconclusive"


def test_the_plan_checks_the_lrs_an_extension_may_add():
    plan = st.plan_specs("laptop")
    lrs = [s["schedule"].get("max_lr", s["schedule"].get("lr")) for s in plan["sf_sgd"]["extensions"]]
    assert lrs == [10.0, 30.0, 0.03, 0.01]
    assert all(s["validation"] and s["iterations"] == 200 for s in plan["sf_sgd"]["extensions"])
