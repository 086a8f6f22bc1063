#!/usr/bin/env python3
"""Writes a monitoring log as monitor.sh saves it, for bench/report.sh: N samples of one
target 10 s apart (a year is 3153600), mostly healthy, with a failed check now and then
(timeouts, 503s, refused connections), a slow stretch, the service's error_rate, and at
the end three failures in a row with the judge's verdicts. Deterministic.

Usage: gen_monitor_log.py N OUT
"""
import random
import sys
from datetime import datetime, timedelta, timezone

def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(14)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    target = "http://127.0.0.1:8080/health"
    step = timedelta(seconds=10)
    with open(out, "w", buffering=1 << 20) as f:
        w = f.write
        for i in range(1, n + 1):
            ts = (t0 + step * i).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            last = i > n - 3
            r = rnd.random()
            er = 0.01 + 0.005 * rnd.random()
            if last or r < 0.0004:
                kind = "status" if last else rnd.choice(["timeout", "status", "connect"])
                if kind == "timeout":
                    w(f'{{"type":"sample","seq":{i},"ts":"{ts}","target":"{target}","ok":false,"status":null,"latency_ms":5000.0,"error":"timeout","detail":"no answer in 5s","error_rate":{er:.4f}}}\n')
                elif kind == "connect":
                    w(f'{{"type":"sample","seq":{i},"ts":"{ts}","target":"{target}","ok":false,"status":null,"latency_ms":null,"error":"connect","detail":"connection refused","error_rate":{er:.4f}}}\n')
                else:
                    w(f'{{"type":"sample","seq":{i},"ts":"{ts}","target":"{target}","ok":false,"status":503,"latency_ms":{3 + rnd.random():.1f},"error":"status","detail":"503 Service Unavailable","error_rate":{er:.4f}}}\n')
            else:
                lat = 3.0 + 4.0 * rnd.random()
                if n // 2 < i < n // 2 + 500:
                    lat += 800.0
                w(f'{{"type":"sample","seq":{i},"ts":"{ts}","target":"{target}","ok":true,"status":200,"latency_ms":{lat:.1f},"error":null,"detail":"200 OK","error_rate":{er:.4f}}}\n')
        ts = (t0 + step * n).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        reason = f"3 consecutive failed checks of {target} (threshold 3): status 503, status 503, status 503"
        for tgt in (target, "*"):
            w(f'{{"type":"verdict","ts":"{ts}","target":"{tgt}","decision":"rollback","rule":"consecutive_failures","reason":"{reason}","checks":{n},"consecutive_failures":3,"success_rate":0.9996,"p95_ms":6.8,"error_rate":0.012}}\n')

main()
