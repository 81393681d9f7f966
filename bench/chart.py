"""Draws bench/run.py's table as an SVG bar chart: requests per server CPU-second for
each server, one group per path and shape.

Usage: python3 bench/chart.py TABLE.md OUT.svg
TABLE.md is run.py's output (its first markdown table is read); no third-party module.
"""

import html
import sys

BAR = 16
GAP = 6
LABEL = 330
WIDTH = 980
COLORS = {
    "chopin": "#2f6fb3",
    "hyper": "#7a7a7a",
    "axum": "#b0b0b0",
    "may-minihttp": "#d08a2c",
}


def rows(markdown):
    """The rows of the first table whose header has `req/CPU-s`."""
    header = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            if header:
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            if "req/CPU-s" in cells:
                header = cells
            continue
        if set(cells[0]) <= {"-", ":"}:
            continue
        yield dict(zip(header, cells))


def color(server):
    for prefix, value in COLORS.items():
        if server.startswith(prefix):
            return value
    return "#555555"


def draw(table):
    groups = {}
    for row in table:
        key = f"{row['path'].strip('`')} {row['shape']}"
        groups.setdefault(key, []).append(
            (row["server"], float(row["req/CPU-s"].replace(",", "")))
        )
    top = max(value for bars in groups.values() for _, value in bars)
    scale = (WIDTH - LABEL - 90) / top
    parts, y = [], 40
    for key, bars in groups.items():
        parts.append(
            f'<text x="10" y="{y + 12}" font-weight="bold">{html.escape(key)}</text>'
        )
        y += 22
        for server, value in bars:
            width = max(1, round(value * scale))
            parts.append(
                f'<text x="{LABEL - 8}" y="{y + BAR - 4}" text-anchor="end">'
                f"{html.escape(server)}</text>"
                f'<rect x="{LABEL}" y="{y}" width="{width}" height="{BAR}" '
                f'fill="{color(server)}"/>'
                f'<text x="{LABEL + width + 6}" y="{y + BAR - 4}">{value:,.0f}</text>'
            )
            y += BAR + GAP
        y += 12
    title = (
        '<text x="10" y="22" font-size="15" font-weight="bold">'
        "Requests per server CPU-second (bench/run.sh, medians; higher is better)</text>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y}" '
        f'font-family="sans-serif" font-size="12">'
        f'<rect width="100%" height="100%" fill="white"/>{title}{"".join(parts)}</svg>\n'
    )


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python3 bench/chart.py TABLE.md OUT.svg")
    with open(sys.argv[1], encoding="utf-8") as table:
        found = list(rows(table.read()))
    if not found:
        sys.exit(f"{sys.argv[1]}: no table with a req/CPU-s column")
    with open(sys.argv[2], "w", encoding="utf-8") as out:
        out.write(draw(found))


if __name__ == "__main__":
    main()
