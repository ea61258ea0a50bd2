"""The book's figure style and the plots several chapters share.

One theme (:func:`use_theme`): seaborn's ticks style with a colour-blind-safe palette, opaque
white figure background (so figures stay readable on the dark theme of the rendered book and in
print), text of at least :data:`MIN_TEXT_PT` points. :func:`finish` shows a figure as the reader
meets it (:func:`figure_html`): each panel a PNG at page scale, so a 10 pt label reads as 10 pt
and the panels of a wide figure wrap onto the next line of a narrow screen, with alt text, and
its provenance (profile, data, model, seeds, hardware) as a numbered HTML caption.

Policies have fixed colours everywhere (:data:`COLORS`), so a reader can follow 1cycle vs PC-LR
from chapter to chapter.
"""

from __future__ import annotations

import base64
import html
import io
import re
from typing import Iterable, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator
from matplotlib.transforms import Bbox
from PIL import Image

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


def log_lr_axis(ax) -> None:
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")


def sparse_log_axis(ax, axis: str = "y") -> None:
    """A log axis labelled at 1, 2 and 5 times each power of ten, as plain numbers, and no
    labels at the minor ticks: an axis spanning less than a decade otherwise labels every
    minor tick, and the labels overlap."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    # call it after plotting: a view narrower than 1 to 5 needs more labels to have any inside
    subs = (1.0, 2.0, 5.0) if lo > 0 and hi / lo >= 5 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


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


def finish(fig, caption_text: str | None = None, alt: str | None = None) -> None:
    """Tight layout, then the figure as the book shows it (:func:`figure_html`), numbered in the
    page's order, with ``caption_text`` (its provenance) as the HTML caption."""
    from IPython.display import HTML, display  # only inside a notebook
    if not fig.legends:  # a figure-wide legend was placed by the cell's own tight_layout(rect=...)
        fig.tight_layout()
    _FIGURE_NUMBER[0] += 1
    display(HTML(figure_html(fig, caption_text, alt, _FIGURE_NUMBER[0])))
    plt.close(fig)


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
            ax.text(d, 0.09, "diverged", transform=tr, color=color, fontsize=10, ha="center", va="bottom")
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


# --------------------------------------------------------------------------- figures as the reader sees them

#: The width a figure is shown at, per inch of figure (CSS px per inch): figures are shown at page
#: scale, so a 10 pt label reads as 10 pt text. The content column is about 690 px (7.2 in).
PX_PER_INCH = 96
#: Pixels per inch of the PNG (1.5x the page scale: sharp on high-density screens).
PNG_DPI = 144
#: The smallest text the book's figures aim at, in points at page scale (the theme's sizes are
#: above it); ``tools/browser_check.py`` fails a figure whose smallest text renders below 9 pt.
MIN_TEXT_PT = 10

_FIGURE_NUMBER = [0]  # the figures of this page (one kernel per page), numbered as shown


def text_sizes(artist) -> list:
    """The font sizes (points) of every visible, non-empty text of ``artist`` (a figure, or axes)."""
    return [t.get_fontsize() for t in artist.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _owner(ax):
    """The axes a colorbar describes (matplotlib marks a colorbar's axes with ``_colorbar``), else ``ax``."""
    bar = getattr(ax, "_colorbar", None)
    owner = getattr(getattr(bar, "mappable", None), "axes", None)
    return owner if owner is not None else ax


def panels(fig) -> list:
    """The panels of a figure that can be shown one by one (so they stack on a narrow screen):
    groups of axes that share a place (an axes and its twin), left to right, top to bottom.
    A colorbar goes with the axes it describes. One group (the whole figure) when a panel
    cannot stand alone: a figure legend or figure text."""
    axes = [ax for ax in fig.axes if ax.get_visible()]
    if len(axes) < 2 or fig.legends or [t for t in fig.texts if t.get_text().strip()]:
        return [axes]
    groups: dict = {}
    for ax in axes:
        b = _owner(ax).get_position()
        groups.setdefault((round(b.y0, 3), round(b.x0, 3), round(b.width, 3), round(b.height, 3)), []).append(ax)
    return [groups[k] for k in sorted(groups, key=lambda k: (-k[0], k[1]))]


def alt_text(axes: Sequence) -> str:
    """Alt text from what the panel shows: its title, y label against x label, the legend."""
    parts = []
    for ax in axes:
        title = ax.get_title() or ax.get_title(loc="left")
        y, x = ax.get_ylabel(), ax.get_xlabel()
        what = f"{y} against {x}" if y and x else (y or x)
        leg = ax.get_legend()
        series = [t.get_text() for t in leg.get_texts()] if leg else []
        bits = [b for b in (title, what, ("lines: " + ", ".join(series)) if series else "") if b]
        if bits:
            parts.append("; ".join(bits))
    return "Plot: " + " | ".join(parts) if parts else "Plot"


def _png(fig, bbox=None) -> tuple:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, bbox_inches=bbox, facecolor="white")
    data = buf.getvalue()
    w, h = Image.open(io.BytesIO(data)).size
    return base64.b64encode(data).decode(), w / PNG_DPI, h / PNG_DPI


def figure_html(fig, caption_text: str | None = None, alt: str | None = None, number: int | None = None) -> str:
    """``fig`` as the book shows it: each panel a PNG at page scale (``PX_PER_INCH`` per inch, so
    panels wrap onto the next line of a narrow screen), with alt text, and the caption with its
    number in HTML below. Each image carries ``data-width-in`` and ``data-text-pt`` (its
    smallest text) for the browser check's legibility test."""
    renderer = fig.canvas.get_renderer()
    imgs = []
    groups = panels(fig)
    for group in groups:
        smallest = min((size for ax in group for size in text_sizes(ax)), default=MIN_TEXT_PT)
        if len(groups) == 1:
            smallest = min(text_sizes(fig), default=MIN_TEXT_PT)
            b64, w_in, _ = _png(fig, "tight")
        else:
            box = Bbox.union([ax.get_tightbbox(renderer) for ax in group]).transformed(fig.dpi_scale_trans.inverted())
            b64, w_in, _ = _png(fig, box.padded(0.05))
        imgs.append(f'<img src="data:image/png;base64,{b64}" alt="{html.escape(alt or alt_text(group))}" '
                    f'style="width: {w_in * PX_PER_INCH:.0f}px; max-width: 100%; height: auto" '
                    f'data-width-in="{w_in:.3f}" data-text-pt="{smallest:g}">')
    cap = ""
    if caption_text or number:
        label = f"<b>Figure {number}.</b> " if number else ""
        cap = f'<figcaption class="sc-caption">{label}{html.escape(caption_text or "")}</figcaption>'
    return f'<figure class="sc-figure"><div class="sc-panels">{"".join(imgs)}</div>{cap}</figure>'
