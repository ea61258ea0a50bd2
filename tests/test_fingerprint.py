"""The code fingerprint in every result key: docstring and comment edits keep it, behaviour changes move it."""

import ast
import json
import re
import shutil

import pytest

from superconv import fingerprint as fp
from superconv import results
from superconv.results import Store, spec_key
from superconv.train import History


@pytest.fixture
def sources(tmp_path):
    """Copies of the computing modules' sources in a temp folder (the package is never edited)."""
    for name in fp.COMPUTING_MODULES:
        rel = f"{name.replace('.', '/')}.py"
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(fp.PACKAGE_DIR / rel, tmp_path / rel)
    return tmp_path


def edit(folder, name, old, new):
    path = folder / f"{name.replace('.', '/')}.py"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_the_fingerprint_of_the_copies_is_the_packages(sources):
    assert fp.fingerprint(fp.read_sources(folder=sources)) == fp.code_fingerprint()
    assert fp.code_fingerprint() is fp.code_fingerprint()  # computed once per process


def test_docstrings_comments_and_layout_keep_the_fingerprint(sources):
    before = fp.fingerprint(fp.read_sources(folder=sources))
    edit(sources, "train", '    """Train ``model`` for ``iterations``', '    """Train the given ``model`` for ``iterations``')
    edit(sources, "evaluation", "EVAL_BATCH = {", "# a comment that says why\n\nEVAL_BATCH = {  # per device\n")
    edit(sources, "schedules", '"""Learning-rate and momentum schedules', '"""Schedules.\n\nLearning-rate and momentum schedules')
    assert fp.fingerprint(fp.read_sources(folder=sources)) == before


@pytest.mark.parametrize("name, old, new", [
    ("evaluation", 'EVAL_BATCH = {"cpu": 256}', 'EVAL_BATCH = {"cpu": 512}'),   # a changed constant
    ("fit_config", "DEFAULT_MOMENTUM = 0.9", "DEFAULT_MOMENTUM = 0.95"),
    ("train", "optimizer.zero_grad(set_to_none=True)", "optimizer.zero_grad(set_to_none=False)"),
])
def test_a_behaviour_change_moves_the_fingerprint(sources, name, old, new):
    before = fp.fingerprint(fp.read_sources(folder=sources))
    edit(sources, name, old, new)
    assert fp.fingerprint(fp.read_sources(folder=sources)) != before


def _package_imports(name):
    tree = ast.parse((fp.PACKAGE_DIR / f"{name}.py").read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.update([node.module] if node.module else [a.name for a in node.names])
    return out - {"__version__"}


def test_every_module_that_training_and_the_specs_use_is_fingerprinted():
    seen, todo = set(), ["train", "experiments", "range_test", "hessian", "imagefolder"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_package_imports(name) - {"results", "fingerprint"})  # the store itself computes nothing
    assert seen <= set(fp.COMPUTING_MODULES), seen - set(fp.COMPUTING_MODULES)


def test_every_study_that_computes_by_itself_is_fingerprinted():
    """A study that calls ``fit`` or ``Store.memo``/``store.run`` itself stores what its own code
    computed: its code is part of the key, as the training loop's is."""
    for path in sorted((fp.PACKAGE_DIR / "studies").glob("*.py")):
        calls = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                 for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)}
        text = path.read_text()
        computes = "fit" in calls or "memo" in calls or "store.run(" in text
        assert not computes or f"studies.{path.stem}" in fp.COMPUTING_MODULES, path.name


def test_python_versions_agree_on_f_string_format_specs():
    # Python 3.12.1 alone parses f"{x:{w}}"'s format spec with an extra empty Constant('')
    plain = ast.parse('f"{x:{w}}"')
    spec = plain.body[0].value.values[0].format_spec
    padded = ast.JoinedStr(values=[*spec.values, ast.Constant("")])
    plain_fp = fp._plain(spec)
    assert fp._plain(padded) == plain_fp


def test_keys_and_records_follow_the_code(tmp_path, monkeypatch):
    store, spec = Store(tmp_path), {"toy": 1}
    path = store.put(spec, "smoke", History(iterations=3))
    record = json.loads(path.read_text())
    assert record["code"] == fp.code_fingerprint() and record["key"] == spec_key(spec) == path.stem
    memo = store.memo("probe", spec, "smoke", lambda: {"n": 1})
    specs = sorted(json.dumps(r["spec"], sort_keys=True) for r in store.records("smoke"))
    assert specs == sorted(json.dumps(s, sort_keys=True) for s in ({"kind": "probe", **spec}, spec))

    monkeypatch.setattr(results, "code_fingerprint", lambda: "0" * 16)  # other code computes
    assert spec_key(spec) != path.stem and store.get(spec, "smoke") is None and store.records("smoke") == []
    assert store.memo("probe", spec, "smoke", lambda: {"n": 2}) == {"n": 2} != memo
    monkeypatch.undo()
    assert store.get(spec, "smoke").iterations == 3 and store.memo("probe", spec, "smoke", lambda: {"n": 3}) == memo


def test_a_record_that_does_not_hold_its_spec_is_refused(tmp_path):
    store, spec = Store(tmp_path), {"toy": 2}
    path = store.put(spec, "smoke", History())
    record = json.loads(path.read_text())
    other = {**record, "spec": {"toy": 3}}
    path.write_text(json.dumps({**other, results.HASH: results.content_hash(other)}))  # intact, but another spec
    with pytest.raises(results.RecordError, match="does not hold this spec"):
        store.get(spec, "smoke")


def test_an_edited_or_broken_record_is_reported_never_used(tmp_path):
    # a hand-edited accuracy, a truncated file: named on read and listed by problems(), not used
    store, spec = Store(tmp_path), {"toy": 4}
    path = store.put(spec, "smoke", History(iterations=3, test_acc=[50.0]))
    assert store.problems() == [] and len(store.records("smoke")) == 1
    assert results.read_record(path)[results.HASH] == results.content_hash(json.loads(path.read_text()))
    edited = json.loads(path.read_text())
    edited["history"]["test_acc"] = [99.0]
    path.write_text(json.dumps(edited, indent=1))
    with pytest.raises(results.RecordError, match=rf"^result file {re.escape(str(path))} was edited after it was "
                                                  "written .*; move it away to recompute it$"):
        store.get(spec, "smoke")
    assert store.records("smoke") == [] and [p for p, _ in store.problems("smoke")] == [path]
    memo_path = tmp_path / "smoke" / f"probe-{spec_key({'kind': 'probe', **spec})}.json"
    store.memo("probe", spec, "smoke", lambda: {"n": 1})
    memo_path.write_text(memo_path.read_text()[:40])  # truncated
    with pytest.raises(results.RecordError, match=rf"^result file {re.escape(str(memo_path))} cannot be read"):
        store.memo("probe", spec, "smoke", lambda: {"n": 1})
    assert sorted(p for p, _ in store.problems()) == sorted([path, memo_path])
    # a record of the store's earlier format (no hash) was computed by older code: left alone
    old = tmp_path / "smoke" / "0123456789abcdef.json"
    old.write_text(json.dumps({"format": "superconv-result-1", "code": "x", "spec": {}}))
    assert old not in [p for p, _ in store.problems()]
