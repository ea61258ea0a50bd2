"""The book's figure style and the plots several chapters share.

One theme (:func:`use_theme`): seaborn's ticks style with a colour-blind-safe palette, opaque
white figure background (so figures stay readable on the dark theme of the rendered book and in
print), sizes that fit the book's column. Every figure carries its provenance: :func:`caption`
writes a small line under the axes (profile, data, model, seeds, hardware).

Policies have fixed colours everywhere (:data:`COLORS`), so a reader can follow 1cycle vs PC-LR
from chapter to chapter.
"""

from __future__ import annotations

import html
import re
import textwrap
from typing import Iterable, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.ticker import NullLocator

# policy / series name -> colour (seaborn "colorblind" palette entries)
COLORS = {
    "one_cycle": "#0173B2", "1cycle": "#0173B2", "clr": "#0173B2",
    "pc_lr": "#DE8F05", "PC-LR": "#DE8F05",
    "fixed": "#029E73", "triangular": "#0173B2", "triangular2": "#CC78BC", "exp_range": "#D55E00",
    "paper": "#949494", "momentum": "#CA9161",
}


def use_theme() -> None:
    """Apply the book's figure style (call once per notebook)."""
    import seaborn as sns  # an optional dependency (the book's); only notebooks set the theme
    sns.set_theme(context="notebook", style="ticks", palette="colorblind", font_scale=0.95)
    matplotlib.rcParams.update({
        "figure.figsize": (7.0, 3.6), "figure.dpi": 110, "savefig.dpi": 150,
        "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "legend.frameon": False, "lines.linewidth": 1.6,
    })


def color(name: str) -> str | None:
    return COLORS.get(name)


def caption(fig, text: str, width: int = 120) -> None:
    """A small provenance line under the figure (wrapped), e.g. ``ctx.caption(...)``."""
    wrapped = "\n".join(textwrap.wrap(text, width))
    fig.text(0.01, -0.02, wrapped, ha="left", va="top", fontsize=7.5, color="#555555")


def log_lr_axis(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")


def plot_schedule(ax, schedule, stop: int | None = None, label: str | None = None, momentum_ax=None,
                  **kw) -> None:
    """LR (and, on ``momentum_ax``, momentum) of a ``superconv.schedules`` object over iterations."""
    its, lrs, moms = schedule.sample(0, stop)
    ax.plot(its, lrs, label=label or schedule.describe(), **kw)
    ax.set_xlabel("iteration")
    ax.set_ylabel("learning rate")
    if momentum_ax is not None and not np.all(np.isnan(moms)):
        momentum_ax.plot(its, moms, ls="--", color=kw.get("color", COLORS["momentum"]), alpha=0.8)
        momentum_ax.set_ylabel("momentum")


def plot_test_accuracy(ax, histories: Sequence, label: str, color: str | None = None,
                       x: str = "iterations") -> None:
    """Test accuracy vs iterations of one or several seeds' histories: mean line, ±std band."""
    grid = histories[0].eval_iters
    accs = np.array([h.test_acc[:len(grid)] for h in histories if len(h.test_acc) >= len(grid)], dtype=float)
    if accs.size == 0:
        return
    mean = accs.mean(0)
    ax.plot(grid, mean, label=label + (f" (n={len(accs)})" if len(accs) > 1 else ""), color=color)
    if len(accs) > 1:
        sd = accs.std(0, ddof=1)
        ax.fill_between(grid, mean - sd, mean + sd, alpha=0.2, color=color, lw=0)
    ax.set_xlabel("iteration")
    ax.set_ylabel("test accuracy (%)")


def mean_band(ax, x: Iterable[float], ys: np.ndarray, label: str, color: str | None = None, **kw) -> None:
    """Mean of the rows of ``ys`` with a ±std band (NaNs ignored)."""
    ys = np.asarray(ys, dtype=float)
    mean = np.nanmean(ys, axis=0)
    ax.plot(list(x), mean, label=label, color=color, **kw)
    if ys.shape[0] > 1:
        sd = np.nanstd(ys, axis=0, ddof=1)
        ax.fill_between(list(x), mean - sd, mean + sd, alpha=0.2, color=color, lw=0)


def finish(fig, caption_text: str | None = None) -> None:
    """Tight layout, then the provenance caption."""
    fig.tight_layout()
    if caption_text:
        caption(fig, caption_text)
    plt.show()


def sweep_line(ax, x: Sequence[float], mean: Sequence[float], std: Sequence[float] | None = None,
               label: str | None = None, color: str | None = None, diverged: Iterable[float] = (),
               best: float | None = None, logx: bool = True, marker: str = "o", **kw) -> None:
    """One series of a hyper-parameter sweep: mean ± std (error bars) at each ``x``.

    Points whose mean is NaN (no finished run) are left out of the line; every ``x`` in
    ``diverged`` gets an "×" on the bottom edge of the axes, labelled "diverged", so a run that
    blew up stays visible; ``best`` (an ``x``) is ringed with a star. ``logx`` sets a log x axis.
    """
    x = np.asarray(list(x), dtype=float)
    m = np.asarray(list(mean), dtype=float)
    s = np.zeros_like(m) if std is None else np.nan_to_num(np.asarray(list(std), dtype=float))
    ok = np.isfinite(m)
    ax.errorbar(x[ok], m[ok], yerr=s[ok], label=label, color=color, marker=marker, ms=5, capsize=3, **kw)
    div = [d for d in diverged]
    if div:
        tr = ax.get_xaxis_transform()
        ax.plot(div, [0.04] * len(div), "x", color=color, ms=9, mew=2.2, transform=tr, clip_on=False)
        for d in div:
            ax.text(d, 0.09, "diverged", transform=tr, color=color, fontsize=7.5, ha="center", va="bottom")
    if best is not None:
        i = int(np.argmin(np.abs(x - best)))
        if ok[i]:
            ax.plot([x[i]], [m[i]], "*", color=color, ms=15, mec="black", mew=0.6, zorder=5)
    if logx:
        ax.set_xscale("log")


def not_run_note(command: str, what: str = "Paper profile (GPU)") -> None:
    """Instead of a table column that only says "not run": one sentence under the table, with the
    command that computes it (the table keeps its width for the claims and verdicts)."""
    from IPython.display import Markdown, display
    display(Markdown(f"**{what}:** not run yet; the command: `{command}`"))


def show_table(df, caption_text: str | None = None) -> None:
    """Display a DataFrame as an HTML table with a small provenance line under it.

    HTML because the built book renders ``text/markdown`` outputs as CommonMark, which has no
    tables. Cell text is HTML-escaped; backtick spans become ``<code>``. No index column.
    """
    from IPython.display import HTML, display  # only inside a notebook

    def cell(value) -> str:
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(value)))

    head = "".join(f'<th style="text-align:left">{cell(c)}</th>' for c in df.columns)
    body = "".join("<tr>" + "".join(f'<td style="text-align:left">{cell(v)}</td>' for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    out = f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    if caption_text:
        out += f'<p style="font-size:0.8em;color:#555555">{cell(caption_text)}</p>'
    display(HTML(out))


def value_axis(ax, values: Sequence[float], base: float = 2, axis: str = "x", fmt: str = "{:g}") -> None:
    """A log axis (``base``) whose ticks are exactly ``values`` with plain labels -- for sweeps
    over batch sizes or training-set sizes, where every swept value should be readable."""
    vals = sorted(float(v) for v in values)
    set_scale, set_ticks = (ax.set_xscale, ax.set_xticks) if axis == "x" else (ax.set_yscale, ax.set_yticks)
    set_scale("log", base=base)
    set_ticks(vals, [fmt.format(v) for v in vals])
    (ax.xaxis if axis == "x" else ax.yaxis).set_minor_locator(NullLocator())


def series_colors(n: int, cmap: str = "viridis", lo: float = 0.1, hi: float = 0.85) -> list:
    """``n`` colours in order along a sequential colormap (ordered series: batch sizes, depths)."""
    return [to_hex(plt.get_cmap(cmap)(x)) for x in np.linspace(lo, hi, max(n, 1))][:n]


def seed_band(ax, x: Sequence[float], mean: Sequence[float], std: Sequence[float], counts: Sequence[int],
              label: str | None = None, color: str | None = None, marker: str = "o", **kw) -> None:
    """One series measured over seeds at several ``x``: mean line with markers, a ±std band
    (and error bars) where at least two seeds back a point (``counts >= 2``), hollow markers
    where a single seed does (no spread to show). NaN means are left out."""
    x = np.asarray(list(x), dtype=float)
    m = np.asarray(list(mean), dtype=float)
    s = np.nan_to_num(np.asarray(list(std), dtype=float))
    c = np.asarray(list(counts), dtype=int)
    ok = np.isfinite(m)
    x, m, s, c = x[ok], m[ok], s[ok], c[ok]
    order = np.argsort(x)
    x, m, s, c = x[order], m[order], s[order], c[order]
    ax.plot(x, m, color=color, label=label, **kw)
    multi = c >= 2
    if multi.any():
        ax.fill_between(x, m - s, m + s, where=multi, alpha=0.2, color=color, lw=0, interpolate=False)
        ax.errorbar(x[multi], m[multi], yerr=s[multi], fmt=marker, color=color, ms=5, capsize=3)
    if (~multi).any():
        ax.plot(x[~multi], m[~multi], marker, color=color, ms=6, ls="none", mfc="white", mew=1.5)
