"""The reference PyHall router deciding in-process, for scale (issue 15).

pyhall-wcp's own `make_decision` (installed from PyPI by scripts/bench) routes
the benchmark's requests — the same rule, the same worker species, one in ten
for a capability no rule routes — with its policy gate, in this process, on
one core, with no HTTP, no database, no signature and no audit at all.
Prints decisions per second for `seconds` (default 5).
"""

import sys
import time
import uuid

from pyhall import PolicyGate, RouteInput, load_rules_from_dict, make_decision

RULES = load_rules_from_dict({"rules": [{
    "rule_id": "rr_bench_read",
    "match": {"capability_id": "cap.bench.read", "env": {"any": True}},
    "decision": {"candidate_workers_ranked": [{"worker_species_id": "wrk.bench.worker"}]},
}]})


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    gate = PolicyGate().evaluate
    n = denied = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        cap = "cap.bench.undeclared" if n % 10 == 0 else "cap.bench.read"
        decision = make_decision(
            RouteInput(capability_id=cap, env="dev", data_label="PUBLIC", tenant_risk="low",
                       qos_class="P2", tenant_id="org.bench", correlation_id=str(uuid.uuid4())),
            RULES,
            registry_controls_present=set(),
            registry_worker_available=lambda species: species == "wrk.bench.worker",
            policy_gate_eval=gate,
        )
        denied += bool(decision.denied)
        n += 1
    elapsed = time.perf_counter() - started
    print(f"| reference PyHall router in-process, no audit (pyhall-wcp; {denied} of {n} denied)"
          f" | {n / elapsed:.0f} |")


if __name__ == "__main__":
    main()
