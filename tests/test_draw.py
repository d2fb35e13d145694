import glob
import os

import pytest

from conftest import random_graph
from graphfx.draw import layout, node_lines
from graphfx.graph import AudioGraph

EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "examples", "graphs", "*.json")))
GRAPHS = [AudioGraph.load(p) for p in EXAMPLES] + [random_graph(s, drums=s % 2 == 1) for s in range(40)]


def _boxes(plan):
    return {k: (x - w / 2, x + w / 2, y - h / 2, y + h / 2)
            for k, ((x, y), (w, h)) in ((k, (plan.centers[k], plan.sizes[k])) for k in plan.centers)}


IDS = [os.path.basename(p) for p in EXAMPLES] + [f"random{s}" for s in range(40)]


@pytest.mark.parametrize("graph", GRAPHS, ids=IDS)
def test_no_edge_runs_through_a_box_and_no_boxes_overlap(graph):
    plan = layout(graph)
    boxes = _boxes(plan)
    for route in plan.routes:
        ends = {route.edge.src, route.edge.dst}
        for (x0, y0), (x1, y1) in zip(route.points, route.points[1:]):
            assert x1 >= x0 - 1e-9  # left to right
            for k, (left, right, top, bottom) in boxes.items():
                if y0 == y1:  # a straight stretch: never inside another box
                    inside = left < max(x0, x1) and min(x0, x1) < right and top < y0 < bottom
                    assert not inside or k in ends, (route.edge, k)
                else:  # a curve stays between columns, where there are no boxes
                    assert right <= x0 + 1e-9 or left >= x1 - 1e-9, (route.edge, k)
    items = list(boxes.values())
    for i, (l1, r1, t1, b1) in enumerate(items):
        for l2, r2, t2, b2 in items[i + 1:]:
            assert r1 <= l2 or r2 <= l1 or b1 <= t2 or b2 <= t1


def test_columns_run_left_to_right_and_boxes_show_key_parameters():
    graph = AudioGraph.load(EXAMPLES[0])  # gated_reverb: in -> bell -> reverb -> gate -> pan -> out, an lfo on pan
    plan = layout(graph)
    x = {k: c[0] for k, c in plan.centers.items()}
    assert x["in"] < x["eq"] < x["verb"] < x["gate"] < x["pan"] < x["out"]
    assert x["verb"] < x["lfo"] < x["pan"]  # the lfo sits next to what it drives, not with the inputs
    assert node_lines(graph, "eq") == ["[bell]", "freq 2.5 kHz", "q 1.2", "gain +4 dB"]
    assert node_lines(graph, "gate")[1:] == ["thresh -35 dB", "ratio 10", "attack 1 ms"]


def test_a_picture_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    from graphfx.draw import draw

    draw(random_graph(3, drums=True), str(tmp_path / "g.png"), title="a [drum] graph")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
