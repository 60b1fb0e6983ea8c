"""The engine behind ``TelaBatchOperator``: one module per idea.

- ``spec``: the request every record shares, and how a record becomes a request;
- ``records``: reading records (inline, JSONL, CSV; local or object storage) as a stream, and the
  scan that validates, counts and hashes them before anything is sent;
- ``plan``: everything a run of the batch needs, as ``plan.json`` in the batch's state folder;
- ``ledger``: the durable intent / run id / done log, group-committed;
- ``rows``: result rows, committed as sorted parts and merged into ``results.jsonl``;
- ``limiter``: adaptive concurrency (AIMD) and Retry-After pauses;
- ``progress``: the progress line, and the estimate of run durations that times the first check;
- ``engine``: the asyncio engine, run in the worker or in ``TelaBatchTrigger``.
"""
