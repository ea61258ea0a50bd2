"""superconv: the code behind the super-convergence reproduction book.

Modules, one idea each, in layers; a module imports only its own layer or the layers below
(``tests/test_architecture.py`` checks it, and that there is no cycle). Top first:

* command line: ``cli`` (``python -m superconv``: chapters through papermill), ``sweep`` (grids,
  locally or on Slurm);
* ``scorecard``: every claim of the papers beside the stored results; ``glance``: the claims
  grouped into the experiments that judge them (the scorecard's first screen, each chapter's
  result box, the introduction's findings);
* chapters: ``studies/``, one module per chapter;
* chapter tools: ``verdicts`` (``Finding``, ``not_run``, shared verdict rules, the papermill
  command builder), ``chapter`` (notebook parameters, provenance, glue), ``plots`` (figures, tables);
* ``experiments`` (profiles, run specs, ``run(spec)`` through the store) and ``launch``
  (``torchrun -m superconv.launch``: run specs data-parallel);
* the store: ``results``;
* training: ``train`` (``fit``), built from ``fit_config``, ``evaluation``, ``checkpoint`` and
  ``callbacks``; ``range_test`` (the LR range test: with ``fit`` on a ``Split``, or with
  ``range_loop``, a plain loop over a user's ``DataLoader``, optimizer and loss),
  ``auto_one_cycle`` (range test -> bounds -> a 1cycle schedule, in one call);
* data, nets and the method: ``data`` (datasets as tensors on the device), ``imagefolder``
  (streamed image folders), ``models``, ``caffe_resnet`` (the authors' own Caffe ResNet),
  ``cifar10_full`` (Caffe's cifar10_full, the CLR paper's CIFAR-10 net),
  ``fillers`` (Caffe's weight fillers), ``ghost_bn`` (BatchNorm over per-GPU slices of the batch),
  ``schedules`` (CLR, 1cycle, PC-LR), ``optim`` (SGD in
  torch's and Caffe's conventions), ``hessian`` (the Hessian-free LR estimate), ``distributed``
  (process-group helpers for torchrun), ``history`` (what a run measured), ``devices``,
  ``speedup`` (a speed-up factor with its interval, from budget sweeps), ``potential`` (the
  super-convergence potential of a range test, read at the top of its ramp), ``bounds`` (1cycle
  bounds from a range test: the plateau rule);
* facts: ``paper`` (the papers' numbers, read from ``facts/*.toml``), ``fact_sheet`` (their book
  page, ``paper_facts.md``; "paper facts §n" in the code and the book is its section n),
  ``paper_setup`` (the authors' setup, setting by setting with its source file, and whether the
  paper profile runs it: the page ``paper_setup.md``), ``conventions`` (the numbers of that setup
  the specs are built from, and the switches back to PyTorch's conventions);
* helpers: ``_checks`` (argument checks), ``_io`` (JSON with NaN, atomic writes, RNG state),
  ``_pages`` (what the generated book pages share: a Markdown table, the ``--write`` command line),
  ``fingerprint`` (the code fingerprint in every result's key).
"""

__version__ = "0.2.0"
