"""The reference side of the differential test (pyhall_differential.rs).

Reads {"cases": [{"rules": <rules document>, "inputs": [<match fields>]}]} on
stdin and writes, per case, pyhall-wcp's shadow pairs (detect_shadow_rules)
and first-matching rule ids (route_first_match) on stdout.
"""

import json
import sys

from pyhall.router import detect_shadow_rules
from pyhall.rules import load_rules_from_dict, route_first_match


def main() -> None:
    doc = json.load(sys.stdin)
    out = []
    for case in doc["cases"]:
        rules = load_rules_from_dict(case["rules"])
        shadows = [[w["shadower"], w["shadowed"]] for w in detect_shadow_rules(rules)]
        matches = []
        for inp in case["inputs"]:
            rule = route_first_match(rules, inp)
            matches.append(rule.rule_id if rule is not None else None)
        out.append({"shadows": shadows, "matches": matches})
    json.dump({"cases": out}, sys.stdout)


if __name__ == "__main__":
    main()
