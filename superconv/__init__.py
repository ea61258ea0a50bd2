"""superconv: the code behind the super-convergence reproduction book.

Modules, one idea each, layered so that imports run one way (a module imports only the layers
below it; ``tests/test_architecture.py`` checks it):

* command line: ``cli`` (``python -m superconv``: chapters through papermill), ``sweep`` (grids,
  locally or on Slurm), ``launch`` (``torchrun -m superconv.launch``: run specs data-parallel);
* ``scorecard``: every claim of the papers beside the stored results;
* ``studies/`` (one module per chapter), ``chapter`` (notebook parameters, provenance, glue),
  ``plots`` (figure theme and tables);
* ``verdicts``: ``Finding``, ``not_run``, shared verdict rules, the papermill command builder;
* ``experiments``: profiles, run specs, ``run(spec)`` through the store;
* ``results`` (the store) and ``fingerprint`` (result keys follow the code that computes them);
* ``train`` (``fit``), built from ``fit_config``, ``history``, ``evaluation``, ``checkpoint``,
  ``callbacks`` and ``devices``; ``distributed`` (process-group helpers for torchrun);
* the method: ``schedules`` (CLR, 1cycle, PC-LR), ``range_test`` (the LR range test),
  ``hessian`` (the Hessian-free LR estimate), ``optim`` (SGD in torch's and Caffe's conventions);
* data and nets: ``data`` (datasets as tensors on the device), ``imagefolder`` (streamed image
  folders), ``models`` (CIFAR ResNets, WRN, DenseNet, LeNet, ResNet-50);
* facts: ``paper`` (the papers' numbers, read from ``facts/*.toml``), ``fact_sheet`` (their book
  page, ``paper_facts.md``; "paper facts §n" in the code and the book is its section n);
* helpers: ``_checks`` (argument checks), ``_io`` (JSON with NaN, atomic writes, RNG state).
"""

__version__ = "0.2.0"
