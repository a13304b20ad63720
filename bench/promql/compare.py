#!/usr/bin/env python3
"""PromQL side by side: Pharos and Prometheus, loaded with the same data, answer the
PromQL compliance query list (results compared) and a set of dashboard queries (timed).

    compare.py --pharos PORT --prometheus PORT --queries promql-test-queries.yml \
               --end UNIX_SECONDS [--runs 5] [--compat docs/promql-compat.md]

Compliance: every template of the list is expanded over the tester's value lists (the
table in the list's README), run as a range query ending 12 minutes before the end of the
data over 10 minutes at a 10 s step, as the upstream tester does, and compared: same
series and labels, values within a relative 1e-6, NaN equal to NaN; queries marked
should_fail must fail on both. A mismatch counts as explained when its query appears in
the compat document's table of known differences.

Latency: each dashboard query runs as a range query over 1 h, 6 h and 24 h, `runs` times
on each store alternately (Pharos, Prometheus, and VictoriaMetrics with --victoria); the
median latency of each and each peer's ratio to Pharos are printed.
"""
import argparse
import itertools
import json
import math
import os
import re
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

EXPANSIONS = {
    "range": ["1s", "15s", "1m", "5m", "15m", "1h"],
    "offset": ["1m", "5m", "10m"],
    "simpleAggrOp": ["sum", "avg", "max", "min", "count", "stddev", "stdvar"],
    "simpleTimeAggrOp": ["sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent", "last"],
    "topBottomOp": ["topk", "bottomk"],
    "quantile": ["-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5"],
    "arithBinOp": ["+", "-", "*", "/", "%", "^"],
    "compBinOp": ["==", "!=", "<", ">", "<=", ">="],
    "binOp": ["+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">="],
    "simpleMathFunc": ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round"],
    "extrapolatedRateFunc": ["delta", "rate", "increase"],
    "clampFunc": ["clamp_min", "clamp_max"],
    "instantRateFunc": ["idelta", "irate"],
    "dateFunc": ["day_of_month", "day_of_week", "days_in_month", "hour", "minute", "month", "year"],
    "smoothingFactor": ["0.1", "0.5", "0.8"],
}

DASHBOARD = [
    ("sum by rate", "sum by (handler) (rate(http_requests_total[5m]))"),
    ("histogram_quantile",
     "histogram_quantile(0.99, sum by (le, handler) (rate(http_request_duration_seconds_bucket[5m])))"),
    ("topk", "topk(5, sum by (instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])))"),
    ("avg_over_time", "avg_over_time(node_hwmon_temp_celsius[10m])"),
    ("group_left join",
     "rate(node_disk_io_total[5m]) * on(instance) group_left() "
     "count by (instance) (node_cpu_seconds_total{mode=\"idle\"})"),
    ("regex matcher",
     "sum by (mode) (rate(node_cpu_seconds_total{mode=~\"user|system|iowait\",instance=~\"host-1?[0-9]:9100\"}[5m]))"),
]
RANGES = [("1h", 3600, 15), ("6h", 6 * 3600, 60), ("24h", 24 * 3600, 300)]


def expand(cases):
    out = []
    for case in cases:
        query = case["query"]
        args = case.get("variant_args") or []
        if not args:
            out.append((query, bool(case.get("should_fail"))))
            continue
        for combo in itertools.product(*(EXPANSIONS[a] for a in args)):
            q = query
            for name, value in zip(args, combo):
                q = q.replace("{{." + name + "}}", value)
            out.append((q, bool(case.get("should_fail"))))
    return out


def query_range(port, query, start, end, step, timeout=120):
    data = urllib.parse.urlencode(
        {"query": query, "start": start, "end": end, "step": step}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/query_range", data=data)
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body = e.read()
        status = e.code
    elapsed = time.perf_counter() - t0
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"status": "error", "error": body[:200].decode(errors="replace")}
    return status, doc, elapsed


def parse_value(s):
    return float(s.replace("+Inf", "inf").replace("-Inf", "-inf"))


def normalize(doc):
    result = doc["data"]["result"]
    series = {}
    for s in result:
        key = tuple(sorted(s["metric"].items()))
        series[key] = [(float(t), parse_value(v)) for t, v in s.get("values", [])]
    return series


def close(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def diff(pharos, prom):
    if pharos.keys() != prom.keys():
        only_p = sorted(set(pharos) - set(prom))[:2]
        only_r = sorted(set(prom) - set(pharos))[:2]
        return f"series differ: only pharos {only_p}, only prometheus {only_r}"
    for key in prom:
        a, b = pharos[key], prom[key]
        if len(a) != len(b):
            return f"{dict(key)}: {len(a)} points vs {len(b)}"
        for (ta, va), (tb, vb) in zip(a, b):
            if ta != tb or not close(va, vb):
                return f"{dict(key)}: ({ta}, {va}) vs ({tb}, {vb})"
    return None


def explained_queries(path, windows):
    """Queries the compat document's known-differences table explains, as regexes. Rows
    are | `regex` | kind | why |; rows of kind "window" (Prometheus 3's left-open windows)
    do not apply when Pharos runs with Prometheus 2's windows."""
    if not path or not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*(\w+)\s*\|", line)
            if m and (windows or m.group(2) != "window"):
                out.append(re.compile(m.group(1)))
    return out


def compliance(args, queries):
    end = args.end - 12 * 60
    start = end - 10 * 60
    explained = explained_queries(args.compat, not args.prometheus2_windows)
    matched = failed = explained_n = 0
    mismatches = []
    for query, should_fail in queries:
        sp, dp, _ = query_range(args.pharos, query, start, end, 10)
        sr, dr, _ = query_range(args.prometheus, query, start, end, 10)
        ok_p = dp.get("status") == "success"
        ok_r = dr.get("status") == "success"
        if should_fail:
            problem = None if (not ok_p and not ok_r) else f"should fail: pharos ok={ok_p}, prometheus ok={ok_r}"
        elif ok_p != ok_r:
            problem = f"pharos {dp.get('error', 'ok')!r} vs prometheus {dr.get('error', 'ok')!r}"
        elif not ok_r:
            problem = None  # both refused it
        else:
            problem = diff(normalize(dp), normalize(dr))
        if problem is None:
            matched += 1
        elif any(r.fullmatch(query) for r in explained):
            explained_n += 1
            mismatches.append(("explained", query, problem))
        else:
            failed += 1
            mismatches.append(("MISMATCH", query, problem))
    total = len(queries)
    for kind, query, problem in mismatches:
        print(f"  {kind}: {query}\n      {problem}")
    print(f"compliance: {total} queries, {matched} match, {explained_n} explained "
          f"(docs/promql-compat.md), {failed} unexplained; "
          f"{100.0 * (matched + explained_n) / total:.1f}% match or are explained")
    return failed


def latency(args):
    stores = [("pharos", args.pharos), ("prometheus", args.prometheus)]
    if args.victoria:
        stores.append(("victoria-metrics", args.victoria))
    head = f"\n{'query':<20} {'range':>5} {'pharos ms':>10} {'prometheus ms':>14} {'ratio':>7}"
    if args.victoria:
        head += f" {'victoria ms':>12} {'ratio':>7}"
    print(head + "   (median of runs; ratio = peer / pharos, >1 means Pharos is faster)")
    ratios = {name: [] for name, _ in stores[1:]}
    for name, query in DASHBOARD:
        for label, span, step in RANGES:
            end = args.end
            start = end - span
            times = {store: [] for store, _ in stores}
            series = {}
            for _ in range(args.runs):
                for store, port in stores:
                    status, doc, elapsed = query_range(port, query, start, end, step)
                    if doc.get("status") != "success":
                        print(f"  {store} failed {name} {label}: {doc.get('error')}")
                    else:
                        series[store] = len(doc["data"]["result"])
                    times[store].append(elapsed * 1000)
            med = {store: statistics.median(times[store]) for store, _ in stores}
            line = f"{name:<20} {label:>5} {med['pharos']:>10.1f}"
            for store, _ in stores[1:]:
                ratio = med[store] / med["pharos"]
                ratios[store].append(ratio)
                width = 14 if store == "prometheus" else 12
                line += f" {med[store]:>{width}.1f} {ratio:>6.2f}x"
            print(line + "   series " + " / ".join(str(series.get(s)) for s, _ in stores))
    for store, _ in stores[1:]:
        r = ratios[store]
        print(f"speed-up over {store}: median {statistics.median(r):.2f}x, "
              f"slowest query {min(r):.2f}x, fastest {max(r):.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pharos", type=int, required=True)
    ap.add_argument("--prometheus", type=int, required=True)
    ap.add_argument("--victoria", type=int, default=0,
                    help="VictoriaMetrics port: timed beside the others (not compared)")
    ap.add_argument("--queries", required=True)
    ap.add_argument("--end", type=int, required=True, help="end of the loaded data, Unix s")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--compat", default="")
    ap.add_argument("--skip-compliance", action="store_true")
    ap.add_argument("--prometheus2-windows", action="store_true",
                    help="Pharos runs with query.prometheus2_windows: window rows explain nothing")
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    with open(args.queries) as f:
        cases = yaml.safe_load(f)["test_cases"]
    queries = expand(cases)
    unexplained = 0
    if not args.skip_compliance:
        unexplained = compliance(args, queries)
    if not args.skip_latency:
        latency(args)
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
