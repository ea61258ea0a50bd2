"""One module per chapter study: the runs a chapter needs, sized by profile, computed once.

Each study module exposes the configs of its runs for the three profiles (``smoke``, ``laptop``,
``paper``) and a function that runs them (through ``superconv.experiments.run`` or the results
store's ``memo``) and returns plain data for the chapter to plot and tabulate. Notebooks narrate
and plot; these modules compute.
"""
