#!/usr/bin/env python3
"""Generates a MOBIUS root holding a year of 10-second monitoring samples for one env:
12 monthly monitor logs (monitor_logs/<env>_<stamp>.jsonl), a verdict at the end of each,
a small config. Deterministic for a given end time. Usage: gen_export_root.py ROOT ENV END_EPOCH
"""
import os
import sys
import time

root, env, end = sys.argv[1], sys.argv[2], int(sys.argv[3])
interval = 10
year = 365 * 86400
start = end - year
os.makedirs(os.path.join(root, "monitor_logs"), exist_ok=True)
os.makedirs(os.path.join(root, "config", env), exist_ok=True)
with open(os.path.join(root, "config", env, "app.json"), "w") as f:
    f.write('{"version": "1.4.2", "health_url": "http://127.0.0.1:8080/health", "password": "bench-secret"}\n')

month = year // 12
lines = 0
for m in range(12):
    t0 = start + m * month
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(t0))
    path = os.path.join(root, "monitor_logs", f"{env}_{stamp}.jsonl")
    out = []
    n = month // interval
    for i in range(n):
        t = t0 + i * interval
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (i * 7 % 1000)
        lat = 3.0 + (i * 37 % 100) / 10.0
        ok = "false" if i % 997 == 0 else "true"
        status = "503" if ok == "false" else "200"
        err = '"status"' if ok == "false" else "null"
        out.append(
            f'{{"type":"sample","seq":{i + 1},"ts":"{ts}","target":"http://127.0.0.1:8080/health",'
            f'"ok":{ok},"status":{status},"latency_ms":{lat:.1f},"error":{err},"detail":"{status}",'
            f'"error_rate":0.001,"p95_ms":{lat + 4:.1f}}}\n'
        )
        if len(out) >= 100000:
            with open(path, "a") as f:
                f.writelines(out)
            out = []
    tend = t0 + n * interval
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(tend)) + ".000Z"
    out.append(
        f'{{"type":"verdict","ts":"{ts}","target":"*","decision":"pass","rule":null,'
        f'"reason":"no rule fired in {n} checks","checks":{n},"consecutive_failures":0,'
        f'"success_rate":0.999,"p95_ms":12.0,"error_rate":0.001}}\n'
    )
    with open(path, "a") as f:
        f.writelines(out)
    os.utime(path, (tend, tend))
    lines += n + 1
print(lines)
