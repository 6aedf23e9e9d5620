"""The seeded corpus of the routing differential test
(`test_route_differential.py`): enrolled workers, a rule set and route
inputs, the same for pyhall-wcp's `make_decision` and our `/api/v1/route`.

The corpus is kept in the repository (`data/routing_corpus.json`) so a
failure reproduces from the file alone; the test checks that the file is
what this generator makes from `SEED`. To change the corpus, change the
generator and run `python tests/e2e/routing_corpus.py` to rewrite the file.
"""

import itertools
import json
import pathlib
import random

SEED = 0x13_2026_1126
CORPUS = pathlib.Path(__file__).parent / "data" / "routing_corpus.json"

TENANT = "org.routing-diff"
NAMESPACE = "x.routing-diff"

CAPS = ["cap.doc.summarize", "cap.doc.translate", "cap.data.read", "cap.data.write",
        "cap.net.fetch", "cap.mail.send"]
# A capability no rule names: always "no matching rule".
UNROUTED_CAP = "cap.zz.unrouted"
ENVS = ["dev", "stage", "prod", "edge"]
LABELS = ["PUBLIC", "INTERNAL", "RESTRICTED"]
RISKS = ["low", "medium", "high"]
QOS = ["P0", "P1", "P2", "P3"]
CONTROLS = ["ctrl.obs.audit-log-append-only", "ctrl.sec.egress-allowlist",
            "ctrl.data.pii-redaction", "ctrl.ops.rate-limit"]

# Species and how they are enrolled in the tenant:
#   "ok": one active, attested worker; "revoked": its only worker is revoked;
#   "absent": nothing enrolled. Each enrolled worker declares every
#   capability, every env and RESTRICTED clearance, so whether it passes the
#   governance chain does not depend on the input; what varies is the
#   controls it implements and its blast radius (WCP §6 dimensions).
SPECIES = {
    "wrk.doc.summarizer": ("ok", CONTROLS[:2], {"data": 1, "network": 0, "financial": 0, "time": 1, "reversibility": 0}),
    "wrk.doc.summarizer-lite": ("ok", CONTROLS[:1], {"data": 1, "network": 0, "financial": 0, "time": 0, "reversibility": 0}),
    "wrk.doc.translator": ("ok", CONTROLS, {"data": 1, "network": 1, "financial": 0, "time": 1, "reversibility": 1}),
    "wrk.data.reader": ("ok", CONTROLS[:3], {"data": 1, "network": 0, "financial": 0, "time": 0, "reversibility": 0}),
    "wrk.data.writer": ("ok", CONTROLS, {"data": 4, "network": 2, "financial": 1, "time": 2, "reversibility": 3}),
    "wrk.net.fetcher": ("ok", [CONTROLS[1]], {"data": 0, "network": 3, "financial": 0, "time": 1, "reversibility": 0}),
    "wrk.mail.sender": ("revoked", CONTROLS, {"data": 1, "network": 2, "financial": 0, "time": 0, "reversibility": 5}),
    "wrk.mail.relay": ("ok", CONTROLS[2:], {"data": 1, "network": 2, "financial": 0, "time": 0, "reversibility": 2}),
    "wrk.ghost.none": ("absent", [], None),
}

MATCH_DOMAIN = {
    "capability_id": CAPS,
    "env": ENVS,
    "data_label": LABELS,
    "tenant_risk": RISKS,
    "qos_class": QOS,
}
RULES = 28
INPUTS = 360


def worker_name(species: str) -> str:
    return species.split(".", 1)[1].replace(".", "-")


def worker_id(species: str) -> str:
    return f"{NAMESPACE}.{worker_name(species)}"


def _condition(rng: random.Random, values: list[str], exact_bias: float):
    r = rng.random()
    if r < exact_bias:
        return rng.choice(values)
    if r < exact_bias + 0.25:
        return {"in": sorted(rng.sample(values, rng.randint(1, len(values) - 1)))}
    if r < exact_bias + 0.35:
        return {"any": True}
    return None  # the key is left out: matches anything


def _matches(cond, value) -> bool:
    if cond is None:
        return True
    if isinstance(cond, dict):
        if cond.get("any") is True:
            return True
        return value in cond["in"]
    return cond == value


def _rule_matches(match: dict, point: dict) -> bool:
    return all(_matches(match.get(k), point[k]) for k in MATCH_DOMAIN)


def _domain():
    keys = list(MATCH_DOMAIN)
    for values in itertools.product(*(MATCH_DOMAIN[k] for k in keys)):
        yield dict(zip(keys, values))


def _rules(rng: random.Random) -> list[dict]:
    """Rules, each reachable: some input of the domain meets it before any
    earlier rule (a shadowed rule is refused by the registry)."""
    points = list(_domain())
    taken = [False] * len(points)
    rules = []
    species = list(SPECIES)
    attempts = 0
    while len(rules) < RULES:
        attempts += 1
        assert attempts < 10_000, "the generator cannot find reachable rules"
        # Specific rules first: the later a rule, the broader it may be.
        exact_bias = 0.7 - 0.5 * len(rules) / RULES
        match = {"capability_id": rng.choice(CAPS)}
        for key in ("env", "data_label", "tenant_risk", "qos_class"):
            cond = _condition(rng, MATCH_DOMAIN[key], exact_bias)
            if cond is not None:
                match[key] = cond
        hits = [i for i, p in enumerate(points) if not taken[i] and _rule_matches(match, p)]
        if not hits:
            continue
        for i in hits:
            taken[i] = True
        candidates = []
        for s in rng.sample(species, rng.randint(1, 3)):
            c = {"worker_species_id": s, "score_hint": round(rng.uniform(0.1, 1.0), 2)}
            if rng.random() < 0.15:
                c["requires_controls_minimum"] = [rng.choice(CONTROLS)]
            candidates.append(c)
        decision = {
            "candidate_workers_ranked": candidates,
            "required_controls_suggested": sorted(rng.sample(CONTROLS, rng.choice([0, 0, 1, 1, 2]))),
            "recommended_profiles": [],
            "escalation": {"policy_gate": rng.random() < 0.3,
                           "human_required_default": rng.random() < 0.08},
            "preconditions": {},
        }
        rules.append({"rule_id": f"rr_diff_{len(rules) + 1:03d}", "match": match,
                      "decision": decision})
    return rules


def _value_meeting(rng: random.Random, cond, values: list[str]) -> str:
    if isinstance(cond, str):
        return cond
    if isinstance(cond, dict) and "in" in cond:
        return rng.choice(cond["in"])
    return rng.choice(values)


def _inputs(rng: random.Random, rules: list[dict]) -> list[dict]:
    """Most inputs are aimed at a rule (values meeting its match, which an
    earlier rule may still take), the rest drawn from the whole domain."""
    inputs = []
    for n in range(INPUTS):
        r = rng.random()
        if r < 0.05:
            point = {k: rng.choice(v) for k, v in MATCH_DOMAIN.items()}
            point["capability_id"] = UNROUTED_CAP
        elif r < 0.3:
            point = {k: rng.choice(v) for k, v in MATCH_DOMAIN.items()}
        else:
            match = rng.choice(rules)["match"]
            point = {k: _value_meeting(rng, match.get(k), v) for k, v in MATCH_DOMAIN.items()}
        inp = {
            **point,
            "tenant_id": TENANT,
            "correlation_id": f"00000000-0000-4000-8000-{n:012d}",
            "request": {},
        }
        if rng.random() < 0.15:
            # The chain's earlier steps scored this much (WCP §6, additive).
            inp["blast_score"] = rng.randint(0, 20)
        if rng.random() < 0.1:
            inp["dry_run"] = True
        inputs.append(inp)
    return inputs


def generate(seed: int = SEED) -> dict:
    rng = random.Random(seed)
    workers = []
    for species, (state, controls, blast) in SPECIES.items():
        if state == "absent":
            continue
        workers.append({
            "worker_id": worker_id(species),
            "worker_species_id": species,
            "state": state,
            "currently_implements": controls,
            "blast_radius": blast,
        })
    rules = _rules(rng)
    return {"seed": seed, "tenant": TENANT, "namespace": NAMESPACE, "workers": workers,
            "rules": {"rules": rules}, "inputs": _inputs(rng, rules)}


def render(corpus: dict) -> str:
    return json.dumps(corpus, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    CORPUS.parent.mkdir(exist_ok=True)
    CORPUS.write_text(render(generate()))
    print(f"wrote {CORPUS}")
