import re
import xml.etree.ElementTree as ET

from apps.core.charts import _nice_max, bar_chart, line_chart


def test_line_chart_is_valid_svg_with_one_dot_per_point_and_its_values():
    points = [("11-01", 0), ("11-02", 9900), ("11-03", 4950)]

    svg = line_chart(points, title="GMV <30 天>")

    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("data-values") == "0.0,9900.0,4950.0"
    assert len(root.findall("{http://www.w3.org/2000/svg}circle")) == 3
    assert "GMV &lt;30 天&gt;" in svg


def test_line_chart_scales_to_a_round_maximum():
    svg = line_chart([("a", 0), ("b", 10000)], title="t", height=220)

    ys = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert ys == [194.0, 10.0]  # 0 on the baseline (10 + 184 plot height), 10000 at the top


def test_bar_chart_escapes_labels_and_draws_bars_in_proportion():
    svg = bar_chart([("<script>", 200), ("明前龙井 250g 特级礼盒装", 100)], title="top")

    root = ET.fromstring(svg)
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths == [380.0, 190.0]  # 640 wide, less 150 for labels and 110 for values
    assert "<script>" not in svg
    assert "明前龙井 250g 特…" in svg


def test_empty_charts_render():
    assert ET.fromstring(line_chart([], title="none")).get("data-values") == ""
    assert ET.fromstring(bar_chart([], title="none")).get("data-values") == ""


def test_nice_max():
    assert [_nice_max(v) for v in (0, 1, 7, 12, 99, 101, 4500, 9900)] == [4, 4, 8, 20, 100, 200, 8000, 10000]


def test_a_running_last_day_is_dashed_hollow_and_labelled_as_partial():
    points = [("11-29", 100), ("11-30", 200), ("12-01", 20)]

    svg = line_chart(points, title="t", partial_note="今日截至 09:30")
    plain = line_chart(points, title="t")

    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("data-partial") == "今日截至 09:30"
    dashed = [p for p in root.iter(f"{ns}path") if p.get("stroke-dasharray")]
    assert len(dashed) == 1 and dashed[0].get("class") == "chart-partial"
    circles = list(root.iter(f"{ns}circle"))
    assert [c.get("fill") for c in circles] == ["#0f766e", "#0f766e", "none"]
    labels = [t.text for t in root.iter(f"{ns}text") if t.get("y") == "212"]
    assert labels[-1] == "12-01（今日截至 09:30）"
    assert "stroke-dasharray" not in plain and "data-partial" not in plain


def test_chart_text_carries_theme_classes_for_dark_mode():
    ns = "{http://www.w3.org/2000/svg}"
    bars = ET.fromstring(bar_chart([("小红", 12345.5)], title="t", fmt=lambda v: f"¥{v:,.2f}"))
    line = ET.fromstring(line_chart([("a", 1), ("b", 2)], title="t"))

    assert {t.get("class") for t in bars.iter(f"{ns}text")} == {"chart-ink", "chart-ink chart-value"}
    assert [t.text for t in bars.iter(f"{ns}text")] == ["小红", "¥12,345.50"]
    assert {t.get("class") for t in line.iter(f"{ns}text")} == {"chart-muted"}
    assert {g.get("class") for g in line.iter(f"{ns}line")} == {"chart-grid"}
