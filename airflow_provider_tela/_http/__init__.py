"""The wire protocol, written once and shared by the sync client (requests) and the async client (aiohttp).

settings: a connection turned into client settings; calls: what each endpoint sends; endpoints: each
call with the one parser of its answer; responses: status and body turned into a model or an error;
retry: which failures are retried and how long to wait (the one home of those rules); sse: Server-Sent
Events decoding; deadline: the bound every request and sleep is cut to; sending: whether a stopped
request may have left. The wait schedule of a run is the wait machine's (``_wait``).
"""
