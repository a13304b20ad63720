#!/usr/bin/env python3
"""Writes a Prometheus rule file of GROUPS groups x RULES rules over rwbench's node-like
series (host-N:9100 instances): per-instance recording rules and the alerts built on them,
the shapes an operations team writes (CPU, memory, disk, network, HTTP error ratio and
latency quantiles, temperatures), plus fleet-wide aggregations.

    genrules.py --groups 500 --rules 20 --instances 185 --interval 15s > rules.yaml
"""
import argparse


def host_rules(h):
    i = f'instance="{h}"'
    return [
        ("record", "instance:node_cpu_busy:rate5m",
         f'1 - avg by (instance) (rate(node_cpu_seconds_total{{{i},mode="idle"}}[5m]))'),
        ("alert", "HostHighCpu", f'instance:node_cpu_busy:rate5m{{{i}}} > 0.8', "5m", "warning"),
        ("record", "instance:node_cpu_mode:rate5m",
         f'sum by (instance, mode) (rate(node_cpu_seconds_total{{{i}}}[5m]))'),
        ("record", "instance:node_memory_bytes:sum", f'sum by (instance) (node_memory_bytes{{{i}}})'),
        ("alert", "HostMemoryGrowing",
         f'predict_linear(node_memory_bytes{{{i},kind=~"k[0-4]"}}[10m], 3600) > 2e10', "10m",
         "warning"),
        ("record", "instance:node_disk_io:rate5m",
         f'sum by (instance, device) (rate(node_disk_io_total{{{i}}}[5m]))'),
        ("alert", "HostDiskBusy", f'instance:node_disk_io:rate5m{{{i}}} > 10', "5m", "info"),
        ("record", "instance:node_network_bytes:rate5m",
         f'sum by (instance, device) (rate(node_network_bytes_total{{{i}}}[5m]))'),
        ("alert", "HostNetworkSaturated", f'instance:node_network_bytes:rate5m{{{i}}} > 1e9', "2m",
         "warning"),
        ("record", "handler:http_requests:rate5m",
         f'sum by (instance, handler) (rate(http_requests_total{{{i}}}[5m]))'),
        ("record", "handler:http_errors:rate5m",
         f'sum by (instance, handler) (rate(http_requests_total{{{i},code="500"}}[5m]))'),
        ("alert", "HttpErrorRatio",
         f'handler:http_errors:rate5m{{{i}}} / handler:http_requests:rate5m{{{i}}} > 0.05', "3m",
         "critical"),
        ("record", "handler:http_latency:p99",
         f'histogram_quantile(0.99, sum by (instance, handler, le) '
         f'(rate(http_request_duration_seconds_bucket{{{i}}}[5m])))'),
        ("alert", "HttpSlow", f'handler:http_latency:p99{{{i}}} > 2', "5m", "warning"),
        ("record", "handler:http_latency:mean",
         f'sum by (instance, handler) (rate(http_request_duration_seconds_sum{{{i}}}[5m])) / '
         f'sum by (instance, handler) (rate(http_request_duration_seconds_count{{{i}}}[5m]))'),
        ("record", "instance:node_temp:max", f'max by (instance) (node_hwmon_temp_celsius{{{i}}})'),
        ("alert", "HostHot", f'node_hwmon_temp_celsius{{{i}}} > 59.5', "1m", "warning"),
        ("alert", "HostTempRising", f'deriv(node_hwmon_temp_celsius{{{i},sensor=~"s1.?"}}[5m]) > 1',
         "5m", "info"),
        ("record", "instance:node_temp:avg_over_time5m",
         f'avg by (instance) (avg_over_time(node_hwmon_temp_celsius{{{i}}}[5m]))'),
        ("alert", "HostDown", f'absent_over_time(node_cpu_seconds_total{{{i},cpu="0",mode="idle"}}[5m])',
         "1m", "critical"),
    ]


def fleet_rules():
    return [
        ("record", "job:http_requests:rate5m", 'sum by (job) (rate(http_requests_total[5m]))'),
        ("record", "job:http_errors:rate5m", 'sum by (job) (rate(http_requests_total{code="500"}[5m]))'),
        ("alert", "FleetErrorRatio", 'job:http_errors:rate5m / job:http_requests:rate5m > 0.05', "3m",
         "critical"),
        ("record", "job:node_cpu_busy:avg", 'avg by (job) (instance:node_cpu_busy:rate5m)'),
        ("record", "handler:http_latency:p99_fleet",
         'histogram_quantile(0.99, sum by (handler, le) (rate(http_request_duration_seconds_bucket[5m])))'),
        ("alert", "FleetTopTalkers", 'topk(5, instance:node_network_bytes:rate5m) > 1e12', "5m", "info"),
        ("record", "job:node_temp:max", 'max by (job) (node_hwmon_temp_celsius)'),
        ("record", "job:instances_up:count", 'count by (job) (node_cpu_seconds_total{cpu="0",mode="idle"})'),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=500)
    ap.add_argument("--rules", type=int, default=20)
    ap.add_argument("--instances", type=int, default=185)
    ap.add_argument("--interval", default="15s")
    args = ap.parse_args()
    out = ["groups:"]
    total = 0
    for g in range(args.groups):
        if g % 100 == 99:
            rules = fleet_rules() * ((args.rules + 7) // 8)
        else:
            rules = host_rules(f"host-{g % args.instances}:9100")
        rules = rules[: args.rules]
        out.append(f"  - name: g{g:04d}")
        out.append(f"    interval: {args.interval}")
        out.append("    rules:")
        for k, r in enumerate(rules):
            if r[0] == "record":
                out.append(f"      - record: {r[1]}")
                out.append(f"        expr: '{r[2]}'")
                if g % 100 == 99:  # fleet groups repeat their rules; keep the series apart
                    out.append(f"        labels: {{variant: v{k // 8}}}")
            else:
                out.append(f"      - alert: {r[1]}")
                out.append(f"        expr: '{r[2]}'")
                out.append(f"        for: {r[3]}")
                out.append(f"        labels: {{severity: {r[4]}}}")
                out.append("        annotations:")
                out.append("          summary: '{{ $labels.instance }} {{ $value | humanize }}'")
            total += 1
    print("\n".join(out))


if __name__ == "__main__":
    main()
