"""Draws docs/pipeline.png: the graphfx pipeline from a dry source to an estimated graph.

Self-contained (matplotlib only). Run from anywhere:

    python docs/make_pipeline_figure.py [--out docs/pipeline.png]
"""
import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

BOX_W, BOX_H = 3.0, 1.95
STEP = 3.8               # distance between box centres
ROW_Y = 1.6              # centre of the main row
TOP_Y = 4.6              # centre of the true graph
SYNTH = "#dbe9f6"        # data synthesis
AUDIO = "#fdf0d5"        # audio signals
LEARN = "#e2f0d9"        # blind estimation
EDGE = "#333333"

# name: (x centre, y centre, title, detail, colour)
BOXES = {
    "dry": (1.6, ROW_Y, "dry audio", "singing voice\nor drum stems", AUDIO),
    "graph": (1.6 + STEP, TOP_Y, "graph", "processors and\nrouting (JSON)", SYNTH),
    "render": (1.6 + STEP, ROW_Y, "render", "batched,\ndifferentiable", SYNTH),
    "ref": (1.6 + 2 * STEP, ROW_Y, "reference", "the processed\n(wet) audio", AUDIO),
    "enc": (1.6 + 3 * STEP, ROW_Y, "encoder", "log-mel, conv,\npooling", LEARN),
    "dec": (1.6 + 4 * STEP, ROW_Y, "decoder", "tokengt,\nnode_by_node,\nsingle_stage", LEARN),
    "est": (1.6 + 5 * STEP, ROW_Y, "graph", "the estimate:\ndraw, render", SYNTH),
}


def box(ax, x, y, title, detail, colour):
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=colour, edgecolor=EDGE, linewidth=1.3))
    ax.text(x, y + 0.6, title, ha="center", va="center", fontsize=14, fontweight="bold")
    ax.text(x, y - 0.2, detail, ha="center", va="center", fontsize=11.5, linespacing=1.25, color="#222222")


def arrow(ax, start, end, *, dashed=False, colour=EDGE):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=16, linewidth=1.5,
                                 color=colour, linestyle=(0, (4, 3)) if dashed else "-",
                                 shrinkA=0, shrinkB=0))


def right(name):
    x, y = BOXES[name][:2]
    return x + BOX_W / 2, y


def left(name):
    x, y = BOXES[name][:2]
    return x - BOX_W / 2, y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline.png"))
    args = parser.parse_args()

    width = 3.2 + 5 * STEP                       # data units; 0.6 inch each
    fig = plt.figure(figsize=(0.6 * width, 0.6 * 6.1), dpi=150)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(0, width)
    ax.set_ylim(-0.35, 5.75)
    ax.set_aspect("equal")
    ax.axis("off")

    for x, y, title, detail, colour in BOXES.values():
        box(ax, x, y, title, detail, colour)

    gap = 0.04
    for a, b in [("dry", "render"), ("render", "ref"), ("ref", "enc"), ("enc", "dec"), ("dec", "est")]:
        (x0, y0), (x1, y1) = right(a), left(b)
        arrow(ax, (x0 + gap, y0), (x1 - gap, y1))

    gx, gy = BOXES["graph"][:2]
    arrow(ax, (gx, gy - BOX_H / 2 - gap), (gx, ROW_Y + BOX_H / 2 + gap))

    # the estimate is scored against the true graph
    ex = BOXES["est"][0]
    score = "#8a3b12"
    ax.plot([gx + BOX_W / 2 + gap, ex], [gy, gy], color=score, linewidth=1.5, linestyle=(0, (4, 3)))
    arrow(ax, (ex, gy), (ex, ROW_Y + BOX_H / 2 + gap), dashed=True, colour=score)
    ax.text((gx + BOX_W / 2 + ex) / 2, gy + 0.12, "scored against the true graph (graphfx bench)",
            ha="center", va="bottom", fontsize=12.5, color=score)

    # the two halves of the pipeline
    def bracket(x0, x1, label, colour):
        y = ROW_Y - BOX_H / 2 - 0.28
        ax.plot([x0, x0, x1, x1], [y + 0.1, y, y, y + 0.1], color=colour, linewidth=1.4)
        ax.text((x0 + x1) / 2, y - 0.1, label, ha="center", va="top", fontsize=12.5, color="#222222")

    bracket(BOXES["dry"][0] - BOX_W / 2, BOXES["ref"][0] + BOX_W / 2,
            "synthesis: graphfx generate", "#3a6ea5")
    bracket(BOXES["enc"][0] - BOX_W / 2, BOXES["est"][0] + BOX_W / 2,
            "blind estimation: graphfx train, estimate", "#4b7f3a")

    fig.savefig(args.out, bbox_inches="tight", pad_inches=0.08, facecolor="white")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
