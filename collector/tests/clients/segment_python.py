"""Sends events to a Segment-compatible endpoint with Segment's official
Python library (segment-analytics-python). Usage: segment_python.py URL KEY N"""
import sys

import segment.analytics as analytics

url, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
analytics.write_key = key
analytics.host = url
analytics.sync_mode = False
failures = []
analytics.on_error = lambda error, items: failures.append(repr(error))
for i in range(n):
    if i % 2:
        analytics.track(anonymous_id=f"py-machine-{i % 3}", event="App Created",
                        properties={"command": "push", "flags": ["-b"]})
    else:
        analytics.track(user_id=f"user-{i}", event="Error", properties={"command": "apps", "exit_code": 1})
analytics.identify(user_id="user-0", traits={"plan": "free"})
analytics.flush()
analytics.shutdown()
if failures:
    print("\n".join(failures), file=sys.stderr)
    sys.exit(1)
