#!/usr/bin/env python3
"""Watches a Pharos evaluating rules: once per interval it reads /api/v1/rules and /metrics
and prints what the interval cost. Exits 1 when any group missed an iteration or took
longer than its interval."""
import argparse
import json
import time
import urllib.request


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as r:
        return r.read().decode()


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def metric_max(text, name):
    best = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            best = max(best, float(line.rsplit(" ", 1)[1]))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--intervals", type=int, default=8)
    ap.add_argument("--interval", type=float, default=15)
    args = ap.parse_args()
    # Let the first round (which also restores alert state) finish.
    time.sleep(args.interval + 2)
    m0 = get(args.port, "/metrics")
    evals0 = metric_sum(m0, "pharos_rule_evaluations_total")
    missed0 = metric_sum(m0, "pharos_rule_group_iterations_missed_total")
    print(f"{'interval':>8} {'groups':>7} {'rules':>7} {'total s':>9} {'slowest s':>10} "
          f"{'max lag s':>10} {'missed':>7} {'firing':>7} {'pending':>8} {'rss MiB':>8}")
    worst = 0.0
    missed_total = 0
    for n in range(1, args.intervals + 1):
        time.sleep(args.interval)
        rules = json.loads(get(args.port, "/api/v1/rules"))["data"]["groups"]
        m = get(args.port, "/metrics")
        evals = metric_sum(m, "pharos_rule_evaluations_total")
        missed = metric_sum(m, "pharos_rule_group_iterations_missed_total")
        durations = [g["evaluationTime"] for g in rules]
        firing = pending = 0
        for g in rules:
            for r in g["rules"]:
                for a in r.get("alerts", []):
                    if a["state"] == "firing":
                        firing += 1
                    else:
                        pending += 1
        worst = max(worst, max(durations))
        missed_total = int(missed - missed0)
        rss = metric_max(m, "process_resident_memory_bytes") / 2**20
        print(f"{n:>8} {len(rules):>7} {int(evals - evals0):>7} {sum(durations):>9.2f} "
              f"{max(durations):>10.3f} {metric_max(m, 'pharos_rule_group_last_lag_seconds'):>10.3f} "
              f"{int(missed - missed0):>7} {firing:>7} {pending:>8} {rss:>8.0f}")
        evals0, missed0 = evals, missed
    ok = worst < args.interval and missed_total == 0
    print(f"slowest group {worst:.3f} s of a {args.interval:.0f} s interval; "
          f"{'every group finished inside its interval' if ok else 'TARGET MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
