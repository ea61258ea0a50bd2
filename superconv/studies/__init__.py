"""One module per chapter study: the runs a chapter needs, sized by profile, computed once.

Each study module exposes the configs of its runs for the three profiles (``smoke``, ``laptop``,
``paper``) and a function that runs them (through ``superconv.experiments.run`` or the results
store's ``memo``) and returns plain data for the chapter to plot and tabulate. Notebooks narrate
and plot; these modules compute.

What every study repeats is written once: :mod:`.base` (each study's ``CHAPTER``: its notebook,
default seeds, commands and "not run" findings; walking a tree of run specs through the results
store), :mod:`.ladder` (part 2's pairs over one varied setting and whether their budgets can
answer), :mod:`.seed_mean` (the seed-mean curve), :mod:`.calibration` (the bounds, weight decay
and base LR that chapter 3 and part 2 train with), and :mod:`superconv.verdicts` (the verdict
words and the rules several studies share).
"""
