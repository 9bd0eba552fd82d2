"""The engine: walking a flow on live calls.

interpreter (the walk, over a `clock` and a transport) with retrying and the
ratelimit gate; batch and calls (many calls at once); events and report (what a
run says); execute (the run command, from checked input to finished flows).
"""
