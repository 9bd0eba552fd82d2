"""The seam between the interpreter and the telephony API.

`base` defines the interface and its typed outcomes; `vobiz` is the production adapter
over HTTP; `fake` is a scripted stand-in for unit tests.
"""

from ivrflow.transport.base import (
    Accepted,
    AuthDenied,
    CallGone,
    LiveOutcome,
    Rejected,
    SendOutcome,
    Transient,
    Transport,
    Unknown,
)

__all__ = ["Accepted", "AuthDenied", "CallGone", "LiveOutcome", "Rejected", "SendOutcome",
           "Transient", "Transport", "Unknown"]
