"""Word heatmaps of attributions as HTML (escaped) and PNG.

Every piece of text that reaches HTML (words, the text between them, tooltips,
headings and labels) goes through ``html.escape(..., quote=True)`` first, because
texts come from user data: a word such as ``<script>`` must render as text. Captum's
own ``visualize_text`` inserts tokens unescaped, so it is not used.

Colours: red for positive scores (the word raises the explained output), blue for
negative ones, with opacity proportional to |score| / max |score| of that view, so
each view uses its full colour range. Words without a score (cut off by truncation)
are grey and struck through. Labels are passed in by the caller, so the dashboard can
translate them.
"""

from __future__ import annotations

import html
import io
import math
from dataclasses import dataclass

from core.attribution import TextAttribution

POSITIVE_RGB = (214, 39, 40)
NEGATIVE_RGB = (31, 119, 180)
CUT_RGB = (200, 200, 200)
# Fonts tried in order for PNG export; the CJK ones cover Chinese and Japanese words.
PNG_FONTS = ("DejaVu Sans", "Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei")


@dataclass(frozen=True)
class HeatmapLabels:
    """Translated labels of one heatmap view."""

    title: str
    legend: str
    negative: str
    positive: str
    cut: str


def _escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def scale_of(result: TextAttribution) -> float:
    """Return max |word score| of a result, or 0 when no word has a score."""
    scores = [abs(score) for score in result.word_scores if score is not None]
    return max(scores, default=0.0)


def word_colour(score: float | None, scale: float) -> tuple[tuple[int, int, int], float]:
    """Return the RGB colour and opacity in [0, 1] of a word score."""
    if score is None:
        return CUT_RGB, 1.0
    if scale <= 0 or math.isnan(score):
        return POSITIVE_RGB, 0.0
    return (POSITIVE_RGB if score >= 0 else NEGATIVE_RGB), min(1.0, abs(score) / scale)


def heatmap_html(result: TextAttribution, labels: HeatmapLabels) -> str:
    """Return an HTML fragment: the text with each word coloured by its score, and a colour legend."""
    scale = scale_of(result)
    pieces = []
    position = 0
    for word, (start, end), score in zip(result.words, result.word_spans, result.word_scores):
        pieces.append(_escape(result.text[position:start]))
        (red, green, blue), alpha = word_colour(score, scale)
        if score is None:
            style = f"background:rgb({red},{green},{blue});text-decoration:line-through;"
            tooltip = labels.cut
        else:
            style = f"background:rgba({red},{green},{blue},{alpha:.3f});"
            tooltip = f"{score:+.4g}"
        pieces.append(
            f'<span class="ux-word" style="{style}padding:1px 2px;border-radius:3px;" '
            f'title="{_escape(tooltip)}">{_escape(word)}</span>'
        )
        position = end
    pieces.append(_escape(result.text[position:]))
    negative = f"rgba({NEGATIVE_RGB[0]},{NEGATIVE_RGB[1]},{NEGATIVE_RGB[2]},1)"
    positive = f"rgba({POSITIVE_RGB[0]},{POSITIVE_RGB[1]},{POSITIVE_RGB[2]},1)"
    legend = (
        '<div class="ux-legend" style="display:flex;align-items:center;gap:8px;font-size:0.85em;margin-top:8px;">'
        f"<span>{_escape(labels.legend)}</span>"
        f"<span>{_escape(labels.negative)} {-scale:+.3g}</span>"
        f'<span style="display:inline-block;width:160px;height:12px;border:1px solid #ccc;'
        f'background:linear-gradient(to right,{negative},rgba(255,255,255,1),{positive});"></span>'
        f"<span>{scale:+.3g} {_escape(labels.positive)}</span>"
        "</div>"
    )
    return (
        '<div class="ux-heatmap" style="font-family:sans-serif;">'
        f'<div style="font-weight:600;margin-bottom:4px;">{_escape(labels.title)}</div>'
        f'<div style="line-height:1.9;white-space:pre-wrap;">{"".join(pieces)}</div>'
        f"{legend}</div>"
    )


def export_html(title: str, views: list[tuple[TextAttribution, HeatmapLabels]], details: list[tuple[str, str]]) -> str:
    """Return a self-contained HTML page (inline styles, no scripts or external files) with the views side by side.

    Args:
        details: (name, value) rows shown in a table under the views, already translated.
    """
    columns = "".join(
        f'<div style="flex:1;min-width:320px;">{heatmap_html(result, labels)}</div>' for result, labels in views
    )
    rows = "".join(f"<tr><th style='text-align:left;padding-right:12px;'>{_escape(name)}</th>"
                   f"<td>{_escape(value)}</td></tr>" for name, value in details)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{_escape(title)}</title></head>"
        '<body style="font-family:sans-serif;margin:24px;">'
        f"<h1 style='font-size:1.3em;'>{_escape(title)}</h1>"
        f'<div style="display:flex;gap:32px;flex-wrap:wrap;">{columns}</div>'
        f'<table style="margin-top:24px;font-size:0.9em;">{rows}</table>'
        "</body></html>\n"
    )


def export_png(views: list[tuple[TextAttribution, HeatmapLabels]], *, width_inches: float = 10.0, dpi: int = 150) -> bytes:
    """Return a PNG image of the views, one below the other, drawn with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    installed = {font.name for font in font_manager.fontManager.ttflist}
    fonts = [name for name in PNG_FONTS if name in installed] or ["sans-serif"]
    lines_per_view = [max(1, math.ceil(len(result.text) / 90)) + 3 for result, _ in views]
    height = 0.3 * sum(lines_per_view) + 0.4
    with plt.rc_context({"font.family": fonts, "font.size": 11}):
        figure = plt.figure(figsize=(width_inches, height), dpi=dpi)
        renderer = figure.canvas.get_renderer()
        line_height = 0.3 / height
        y = 1.0 - line_height
        for result, labels in views:
            figure.text(0.01, y, labels.title, weight="bold", va="baseline", parse_math=False)
            y -= line_height * 1.2
            y = _draw_words(figure, renderer, result, labels, y, line_height)
            scale = scale_of(result)
            figure.text(0.01, y, f"{labels.legend}: {labels.negative} {-scale:+.3g} … {scale:+.3g} {labels.positive}",
                        fontsize=9, color="#555555", va="baseline", parse_math=False)
            y -= line_height * 1.6
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        plt.close(figure)
    return buffer.getvalue()


def _draw_words(figure, renderer, result: TextAttribution, labels: HeatmapLabels, y: float, line_height: float) -> float:
    """Draw the words of one view left to right, wrapping at the figure edge; return the next line's y."""
    scale = scale_of(result)
    figure_width = figure.get_figwidth() * figure.dpi
    x = 0.01
    space = 0.006
    for word, score in zip(result.words, result.word_scores):
        (red, green, blue), alpha = word_colour(score, scale)
        box = dict(boxstyle="round,pad=0.15", linewidth=0, facecolor=(red / 255, green / 255, blue / 255, alpha))
        artist = figure.text(x, y, word, va="baseline", bbox=box, parse_math=False)
        width = artist.get_window_extent(renderer).width / figure_width
        if x + width > 0.99 and x > 0.01:
            y -= line_height
            x = 0.01
            artist.set_position((x, y))
        x += width + space
    return y - line_height * 1.3
