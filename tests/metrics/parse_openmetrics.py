"""Parses OpenMetrics text (stdin) with the reference Python parser, as a
scraper would, and prints its families as JSON:
[{"name", "type", "unit", "samples": [{"name", "labels", "value"}]}].
Exits 1, naming the problem, when the text does not parse."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    try:
        families = [
            {
                "name": f.name,
                "type": f.type,
                "unit": f.unit,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": s.value}
                    for s in f.samples
                ],
            }
            for f in text_string_to_metric_families(text)
        ]
    except Exception as err:  # the parser raises ValueError and friends
        print(f"not valid OpenMetrics: {err}", file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
