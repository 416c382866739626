"""`bench/accuracy.py --paired` only: puts this folder on the daemon's PYTHONPATH, so that every
monitor process (the daemon and its probe workers) also logs each HTTP probe's latency as it was
timed before the transport stamped it: when the probe's coroutine had judged the response.

One line per probe to $MONITOR_PAIRED_LOG: `unix_time url latency old_latency` (seconds), so the
two timings of the same probes compare in the same run.
"""

import os

if os.environ.get("MONITOR_PAIRED_LOG"):
    import time
    from time import perf_counter

    from monitor.probes import http

    _judge = http._judge
    _out = open(os.environ["MONITOR_PAIRED_LOG"], "a", buffering=1)  # noqa: SIM115

    async def _judge_timed(check, exchange, start, *rest):  # type: ignore[no-untyped-def]
        result = await _judge(check, exchange, start, *rest)
        old = perf_counter() - start  # where the old timing ended
        _out.write(f"{time.time():.3f} {check.url} {result.latency:.6f} {old:.6f}\n")
        return result

    http._judge = _judge_timed
