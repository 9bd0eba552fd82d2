"""Menu models: a phone menu as data, and a simulator that plays a flow against it.

`model` holds the typed menu, `loader` reads and checks menu files (located errors, as
for flows), `simulator` is the menu's state machine on a clock, `transport` lets the
interpreter talk to it as to the API, and `testing` runs flows' `expect` blocks.
"""
