"""ivrflow."""
