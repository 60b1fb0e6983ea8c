"""The wire protocol, written once and shared by the sync client (requests) and the async client (aiohttp).

settings: a connection turned into client settings; calls: what each endpoint sends;
responses: status and body turned into a model or an error; retry: which failures are retried and
how long to wait; sse: Server-Sent Events decoding; polling: the wait schedule of a run.
"""
